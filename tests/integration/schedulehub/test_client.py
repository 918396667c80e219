"""ScheduleHubClient against the emulator, with fault injection switched on."""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
import polars as pl
import pytest

from syncflow_core.clients.errors import AuthError, RequestError, TransientError
from syncflow_core.clients.retry import RetryPolicy
from syncflow_core.clients.schedulehub import OpResult, ScheduleHubClient
from syncflow_core.settings import Settings
from tests.integration.schedulehub.conftest import SECRET, Hub, item, line, make_client, order

ABSENT = "01890a5d-ac96-774b-bcce-b302099a8057"


def inserts(records: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "op": ["insert"] * len(records),
            "uid": pl.Series([None] * len(records), dtype=pl.String),
            "body": [orjson.dumps(r).decode() for r in records],
        }
    )


def index_of(client: ScheduleHubClient, entity: str) -> pl.DataFrame:
    return pl.concat(list(client.index(entity, page_size=500)))


# --- single records ---------------------------------------------------------------------


def test_single_record_writes_answer_op_results(client: ScheduleHubClient) -> None:
    record = item()
    first = client.insert("items", record)
    assert (first.ok, first.status) == (True, 201)
    assert first.uid
    assert client.insert("items", record) == OpResult(409, first.uid, "duplicate")
    refused = client.insert("items", item(lead_time_days="x"))
    assert (refused.status, refused.error, refused.field) == (422, "validation", "lead_time_days")
    assert refused.message
    assert "lead_time_days" in refused.message
    assert client.update("items", first.uid, {"description": "New"}) == OpResult(200, first.uid)
    assert client.update("items", ABSENT, {"description": "x"}).error == "not_found"
    assert client.delete("items", first.uid) == OpResult(204, first.uid)
    assert client.delete("items", first.uid) == OpResult(404, None, "not_found")


def test_parents_and_children(client: ScheduleHubClient) -> None:
    order_uid = client.insert("orders", order()).uid
    item_uid = client.insert("items", item()).uid
    assert order_uid
    assert item_uid
    orphan = client.insert("order_lines", line(ABSENT, item_uid))
    assert (orphan.status, orphan.error, orphan.field) == (404, "parent_not_found", "order_uid")
    assert client.insert("order_lines", line(order_uid, item_uid)).status == 201
    held = client.delete("orders", order_uid)
    assert (held.status, held.error) == (409, "has_children")


def test_reads(client: ScheduleHubClient) -> None:
    records = [item() for _ in range(30)]
    frame = client.apply("items", inserts(records))
    assert client.health() == {"status": "ok"}
    found = client.get_by_key("items", records[3]["erp_key_hash"])
    assert found is not None
    assert found["uid"] == frame["result_uid"][3]
    assert client.get_by_key("items", "0" * 32) is None
    hashes = [r["erp_key_hash"] for r in records[:12]] + ["0" * 32]
    by_keys = client.get_by_keys("items", hashes)
    assert by_keys.height == 12
    assert set(by_keys["erp_key_hash"]) == set(hashes[:12])
    assert by_keys.schema["erp_rowversion"] == pl.Datetime("us")
    assert orjson.loads(by_keys["record"][0])["description"] == "Widget"
    pages = list(client.index("items", page_size=7))
    assert [p.height for p in pages] == [7, 7, 7, 7, 2]
    index = pl.concat(pages)
    assert index["uid"].to_list() == frame["result_uid"].to_list()
    assert index["erp_rowversion"].dt.microsecond().to_list() == [123456] * 30
    assert [p.height for p in client.index("orders")] == [0]


def test_unknown_entity_is_a_request_error(client: ScheduleHubClient) -> None:
    with pytest.raises(RequestError, match=r"ScheduleHub: POST /api/v1/nothing/batch -> 404"):
        client.apply("nothing", inserts([item()]))
    with pytest.raises(RequestError, match="unknown_entity"):
        client.insert("nothing", item())


def test_wrong_secret_is_an_auth_error_without_secrets(hub: Hub) -> None:
    wrong = "a-wrong-secret-a-wrong-secret-a-wrong"
    settings = Settings(schedulehub_url=hub.url, schedulehub_jwt_secret=wrong)
    with ScheduleHubClient(settings) as client, pytest.raises(AuthError) as caught:
        client.health()
    text = str(caught.value)
    assert "ScheduleHub: GET /api/v1/health -> 401" in text
    for secret in (wrong, SECRET, "eyJ"):  # eyJ: how every JWT starts
        assert secret not in text
    assert hub.emulator.stats()["events"]["unauthorized"] == 2  # one fresh token, then fail


# --- batches ----------------------------------------------------------------------------


def test_apply_answers_every_row_in_order(hub: Hub) -> None:
    records = [item() for _ in range(2500)]
    with make_client(hub, batch_size=1000, max_in_flight=3) as client:
        out = client.apply("items", inserts(records))
    assert out.columns == ["op", "uid", "body", "status", "result_uid", "error", "message", "field"]
    assert out["status"].to_list() == [201] * 2500
    assert out["result_uid"].n_unique() == 2500
    assert hub.emulator.count("items") == 2500
    stored = index_of_emulator(hub)
    assert stored == dict(zip(out["result_uid"], [r["erp_key_hash"] for r in records], strict=True))


def index_of_emulator(hub: Hub) -> dict[str, str]:
    items, cursor = hub.emulator.index("items", None, 10_000)
    assert cursor is None
    return {i["uid"]: i["erp_key_hash"] for i in items}


def test_apply_mixes_operations_and_keeps_uids(client: ScheduleHubClient) -> None:
    first = client.apply("items", inserts([item(), item(), item()]))
    uids = first["result_uid"].to_list()
    ops = pl.DataFrame(
        {
            "op": ["update", "delete", "delete", "insert", "update"],
            "uid": [uids[0], uids[1], uids[1], None, ABSENT],
            "body": ['{"description":"Changed"}', None, None, orjson.dumps(item()).decode(), "{}"],
        }
    )
    out = client.apply("items", ops)
    assert out["status"].to_list() == [200, 204, 404, 201, 404]
    assert out["result_uid"].to_list()[:2] == [uids[0], uids[1]]
    assert (out["result_uid"][2], out["result_uid"][4]) == (None, None)
    assert out["error"].to_list() == [None, None, "not_found", None, "not_found"]
    assert client.get_by_key("items", orjson.loads(ops["body"][3])["erp_key_hash"]) is not None


def test_apply_refuses_a_frame_it_cannot_send(client: ScheduleHubClient) -> None:
    bad = pl.DataFrame(
        {"op": ["update"], "uid": pl.Series([None], dtype=pl.String), "body": ["{}"]}
    )
    with pytest.raises(ValueError, match="row 0"):
        client.apply("items", bad)
    with pytest.raises(ValueError, match="lacks"):
        client.apply("items", bad.drop("body"))
    empty = client.apply("items", bad.clear())
    assert (empty.height, empty.columns[-5:]) == (
        0,
        ["status", "result_uid", "error", "message", "field"],
    )


# --- faults -----------------------------------------------------------------------------


def test_lost_answers_never_duplicate_a_record(hub: Hub) -> None:
    """A third of the writes are applied and then answered 503; the client repeats them."""
    hub.emulator.set_faults(lost_answer_rate=0.3, seed=7)
    records = [item() for _ in range(3000)]
    policy = RetryPolicy(max_attempts=12, base_seconds=0.01, max_seconds=0.05)
    with make_client(hub, batch_size=200, max_in_flight=4, retry=policy) as client:
        out = client.apply("items", inserts(records))
        assert hub.emulator.count("items") == 3000
        assert set(out["status"].to_list()) <= {201, 409}
        assert out["status"].to_list().count(409) > 0  # some answers were lost and repeated
        assert out["result_uid"].null_count() == 0
        assert out["result_uid"].n_unique() == 3000
        index = index_of(client, "items")
    stored = dict(zip(index["erp_key_hash"], index["uid"], strict=True))
    assert [stored[r["erp_key_hash"]] for r in records] == out["result_uid"].to_list()
    assert hub.emulator.stats()["events"]["lost_answers"] > 0


def test_single_insert_with_lost_answers(hub: Hub) -> None:
    hub.emulator.set_faults(lost_answer_rate=1.0)
    record = item()
    with make_client(hub, retry=RetryPolicy(max_attempts=3, base_seconds=0.01)) as client:
        with pytest.raises(TransientError, match="after 3 attempts"):
            client.insert("items", record)
        hub.emulator.set_faults(lost_answer_rate=0.0)
        again = client.insert("items", record)
    assert (again.status, again.error) == (409, "duplicate")
    assert hub.emulator.count("items") == 1


def test_transient_errors_are_retried(hub: Hub) -> None:
    hub.emulator.set_faults(error_rate=0.4, seed=3)
    policy = RetryPolicy(max_attempts=14, base_seconds=0.01, max_seconds=0.05)  # 0.4^14: never
    with make_client(hub, batch_size=100, retry=policy) as client:
        out = client.apply("items", inserts([item() for _ in range(1500)]))
        assert out["status"].to_list() == [201] * 1500
        assert client.health() == {"status": "ok"}  # health has no faults
    assert hub.emulator.stats()["events"]["injected_errors"] > 0
    assert hub.emulator.count("items") == 1500


def test_spent_retries_give_transient_rows_not_an_exception(hub: Hub) -> None:
    hub.emulator.set_faults(error_rate=1.0)
    policy = RetryPolicy(max_attempts=2, base_seconds=0.0)
    with make_client(hub, retry=policy, batch_size=2) as client:
        out = client.apply("items", inserts([item(), item(), item()]))
    assert out["status"].null_count() == 3
    assert out["error"].to_list() == ["transient"] * 3
    assert all("after 2 attempts" in m for m in out["message"])
    assert hub.emulator.count("items") == 0


def test_429_waits_retry_after(hub: Hub) -> None:
    hub.emulator.set_faults(rate_limit_rate=1.0, retry_after_seconds=1)
    lift = threading.Timer(0.3, lambda: hub.emulator.set_faults(rate_limit_rate=0.0))
    lift.start()
    with make_client(hub) as client:
        start = time.monotonic()
        result = client.insert("items", item())
        waited = time.monotonic() - start
    assert result.status == 201
    assert waited >= 1.0  # the server's Retry-After, not the 0.01 s backoff
    assert hub.emulator.stats()["events"]["rate_limited"] >= 1


def test_429_forever_ends_as_a_transient_error(hub: Hub) -> None:
    hub.emulator.set_faults(rate_limit_rate=1.0, retry_after_seconds=0)
    policy = RetryPolicy(max_attempts=3, base_seconds=0.0, max_rate_limited=4)
    with make_client(hub, retry=policy) as client, pytest.raises(TransientError, match="429"):
        client.insert("items", item())
    assert hub.emulator.stats()["events"]["rate_limited"] == 5


def test_read_timeouts_are_retried_without_duplicates(hub: Hub) -> None:
    """The answer comes after the client gave up, every time: a lost answer by timeout."""
    hub.emulator.set_faults(latency_ms=400)
    record = item()
    policy = RetryPolicy(max_attempts=2, base_seconds=0.0)
    with make_client(hub, retry=policy, timeout_seconds=0.1) as client:
        with pytest.raises(TransientError, match="ReadTimeout"):
            client.insert("items", record)
        hub.emulator.set_faults(latency_ms=0)
        time.sleep(1.0)  # the abandoned requests are still being served
        assert client.insert("items", record).error == "duplicate"
    assert hub.emulator.count("items") == 1


def test_connect_errors_are_transient() -> None:
    settings = Settings(schedulehub_url="http://127.0.0.1:9", schedulehub_jwt_secret=SECRET)
    policy = RetryPolicy(max_attempts=2, base_seconds=0.0)
    with ScheduleHubClient(settings, retry=policy) as client:
        with pytest.raises(TransientError, match="ConnectError"):
            client.health()
        out = client.apply("items", inserts([item()]))
    assert out["error"].to_list() == ["transient"]


def test_a_whole_batch_refused_is_a_request_error(client: ScheduleHubClient) -> None:
    broken = pl.DataFrame({"op": ["insert"], "uid": [None], "body": ["{not json"]})
    with pytest.raises(RequestError, match=r"batch -> 422: validation malformed batch"):
        client.apply("items", broken)
    client.batch_size = 1001  # past the contract's limit, as a misconfigured caller would
    with pytest.raises(RequestError, match=r"-> 413: too_many_operations"):
        client.apply("items", inserts([item() for _ in range(1001)]))
