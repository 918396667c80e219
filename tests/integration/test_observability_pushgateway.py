"""Pushing to a Pushgateway over real loopback HTTP.

The Pushgateway is a third-party server we cannot run here; a tiny receiver in the test
stands in for it: it records each request and answers like the gateway (200, or an error
when told to). The bodies are parsed with prometheus_client's own parser.
"""

from __future__ import annotations

import base64
import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from syncflow_core.metrics import BatchMetrics
from syncflow_core.observability import (
    BridgeRegistry,
    publish_metrics,
    record_batch,
    set_depths,
    textfile_path,
)
from syncflow_core.settings import Settings


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def gateway() -> Iterator[Receiver]:
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length).decode()
            receiver.requests.append(
                Received(self.command, self.path, dict(self.headers.items()), body)
            )
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            self._record()

        def do_PUT(self) -> None:
            self._record()

        def log_message(self, format: str, *args: object) -> None:  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def samples_of(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def one_batch(inserted: int, failed: int, duration: float) -> BridgeRegistry:
    registry = BridgeRegistry()
    metrics = BatchMetrics(rows_fetched=inserted + failed, rows_inserted=inserted,
                           rows_failed=failed)  # fmt: skip
    errors = {("normalize", "invalid_datetime"): failed}
    record_batch(registry, "items", "sync", "partial", metrics, duration, errors)
    set_depths(registry, dlq={"items": failed}, pending={"items": 0})
    return registry


def test_push_carries_the_running_totals_of_the_textfile(gateway: Receiver, tmp_path: Path) -> None:
    settings = Settings(metrics_textfile_dir=tmp_path, pushgateway_url=gateway.url)
    publish_metrics(one_batch(90, 10, 12.0), settings, instance="host-a")
    report = publish_metrics(one_batch(40, 2, 30.0), settings, instance="host-a")

    assert report.pushed == ["items"]
    assert report.failures == []
    assert [(r.method, r.path) for r in gateway.requests] == [
        ("POST", "/metrics/job/syncflow/entity/items/instance/host-a")] * 2  # fmt: skip
    assert gateway.requests[-1].headers["Content-Type"].startswith("text/plain; version=0.0.4")
    pushed = samples_of(gateway.requests[-1].body)
    assert value(pushed, "bridge_rows_processed_total", entity="items", outcome="inserted") == 130
    assert value(pushed, "bridge_rows_processed_total", entity="items", outcome="failed") == 12
    assert value(pushed, "bridge_sync_total", entity="items", kind="sync", status="partial") == 2
    assert value(pushed, "bridge_errors_total", entity="items", stage="normalize",
                 error_type="invalid_datetime") == 12  # fmt: skip
    assert value(pushed, "bridge_sync_duration_seconds_sum", entity="items", kind="sync") == 42
    assert value(pushed, "bridge_sync_duration_seconds_count", entity="items", kind="sync") == 2
    assert value(pushed, "bridge_dead_letter_depth", entity="items") == 2  # the latest, not a sum
    # The push and the textfile say the same thing.
    assert pushed == samples_of(textfile_path(tmp_path, "items").read_text())


def test_without_a_textfile_the_push_carries_the_batch_alone(gateway: Receiver) -> None:
    settings = Settings(pushgateway_url=gateway.url)
    publish_metrics(one_batch(90, 10, 12.0), settings)
    publish_metrics(one_batch(40, 2, 30.0), settings)
    pushed = samples_of(gateway.requests[-1].body)
    assert value(pushed, "bridge_rows_processed_total", entity="items", outcome="inserted") == 40
    assert gateway.requests[-1].path.endswith(f"/instance/{socket.gethostname()}")


def test_one_group_per_entity(gateway: Receiver) -> None:
    registry = one_batch(1, 0, 1.0)
    set_depths(registry, dlq={"work_orders": 5}, pending={"work_orders": 3})
    publish_metrics(registry, Settings(pushgateway_url=gateway.url), instance="h")
    by_path = {r.path: samples_of(r.body) for r in gateway.requests}
    orders = by_path["/metrics/job/syncflow/entity/work_orders/instance/h"]
    assert orders == {
        ("bridge_dead_letter_depth", (("entity", "work_orders"),)): 5,
        ("bridge_pending_children_depth", (("entity", "work_orders"),)): 3,
    }
    items = by_path["/metrics/job/syncflow/entity/items/instance/h"]
    assert {labels for _, labels in items} >= {(("entity", "items"), ("outcome", "inserted"))}
    assert all(("entity", "items") in labels for _, labels in items)


def test_credentials_in_the_url_become_basic_auth_and_never_a_log_line(
    gateway: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    password = "pw-" + secrets.token_hex(8)
    url = gateway.url.replace("http://", f"http://pusher:{password}@")
    publish_metrics(one_batch(1, 0, 1.0), Settings(pushgateway_url=url), instance="h")
    request = gateway.requests[-1]
    assert request.path == "/metrics/job/syncflow/entity/items/instance/h"
    scheme, encoded = request.headers["Authorization"].split(" ")
    assert (scheme, base64.b64decode(encoded).decode()) == ("Basic", f"pusher:{password}")

    gateway.status = 500
    report = publish_metrics(one_batch(1, 0, 1.0), Settings(pushgateway_url=url))
    assert report.pushed == []
    assert report.failures == ["pushgateway items: HTTPError"]
    assert "not pushed" in caplog.text
    assert "500" in caplog.text
    assert password not in caplog.text


def test_an_unreachable_gateway_does_not_fail_the_batch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:  # a port that nobody listens on any more
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(metrics_textfile_dir=tmp_path, pushgateway_url=f"http://127.0.0.1:{port}",
                        http_timeout_seconds=2)  # fmt: skip
    report = publish_metrics(one_batch(5, 0, 1.0), settings)
    assert report.failures == ["pushgateway items: URLError"]
    assert report.textfiles == [textfile_path(tmp_path, "items")]  # the file is still written
    assert "not pushed" in caplog.text
