"""The shared request loop against a scripted real HTTP server on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from syncflow_core.clients.auth import TokenMinter
from syncflow_core.clients.errors import AuthError, PermanentError, RequestError, TransientError
from syncflow_core.clients.http import ServiceClient
from syncflow_core.clients.retry import RetryPolicy
from syncflow_core.emulators.asgi import AsgiApp
from syncflow_core.emulators.servers import RunningServer, run_in_thread
from tests.integration.scripted_server import Script, Step

SECRET = "scripted-server-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def scripted() -> Iterator[tuple[RunningServer, Script]]:
    script = Script()
    with run_in_thread(AsgiApp(script.handle)) as server:
        yield server, script


class Sleeps(list[float]):
    """Records the waits instead of sleeping (the test runs fast and can check them)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(url: str, sleeps: Sleeps, **kw: object) -> ServiceClient:
    policy = kw.pop("retry", RetryPolicy(max_attempts=4, base_seconds=0.5, max_seconds=4))
    return ServiceClient(
        "Scripted", url, TokenMinter(SECRET, audience="scripted"), retry=policy,  # type: ignore[arg-type]
        sleep=sleeps, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_transient_statuses_are_retried_with_growing_backoff(
    scripted: tuple[RunningServer, Script],
) -> None:
    server, script = scripted
    script.play(Step(503), Step(502), Step(500), Step(200, {"n": 1}))
    sleeps = Sleeps()
    with client(server.url, sleeps) as http:
        assert http.request("GET", "/thing", params={"cursor": "c1"}).json() == {"n": 1}
        assert http.counters.retries == 3
        assert http.counters.requests == 4
    assert [0 <= s <= 0.5 * 2**i for i, s in enumerate(sleeps)] == [True] * 3
    assert {r.query_string for r in script.seen} == {b"cursor=c1"}  # the same cursor each time
    assert all(r.bearer_token() for r in script.seen)


def test_429_waits_retry_after_and_does_not_spend_attempts(
    scripted: tuple[RunningServer, Script],
) -> None:
    server, script = scripted
    limited = Step(429, {"detail": "slow down"}, {"retry-after": "3"})
    script.play(limited, limited, limited, limited, limited, Step(200))
    sleeps = Sleeps()
    with client(server.url, sleeps) as http:
        assert http.request("GET", "/x").status_code == 200
        assert http.counters.rate_limited == 5
    assert sleeps == [3.0] * 5


def test_too_many_429s_give_up(scripted: tuple[RunningServer, Script]) -> None:
    server, script = scripted
    script.play(Step(429, {"detail": "no"}, {"retry-after": "0"}))
    policy = RetryPolicy(max_attempts=3, max_rate_limited=4)
    with client(server.url, Sleeps(), retry=policy) as http, pytest.raises(TransientError) as err:
        http.request("GET", "/x")
    assert err.value.status == 429
    assert len(script.seen) == 5


def test_401_mints_a_new_token_once_then_fails(scripted: tuple[RunningServer, Script]) -> None:
    server, script = scripted
    script.play(Step(401, {"detail": "token expired"}), Step(200))
    with client(server.url, Sleeps()) as http:
        assert http.request("GET", "/x").status_code == 200
        assert http.counters.reauthenticated == 1
    script.play(Step(401, {"detail": "bad signature"}))
    with client(server.url, Sleeps()) as http, pytest.raises(AuthError) as err:
        http.request("GET", "/api/thing", params={"cursor": "secret-ish"})
    message = str(err.value)
    assert "Scripted" in message
    assert "GET /api/thing" in message
    assert "bad signature" in message
    assert SECRET not in message
    assert "secret-ish" not in message
    assert "Bearer" not in message
    assert len(script.seen) == 2


@pytest.mark.parametrize(
    ("status", "kind"), [(400, RequestError), (404, RequestError), (422, RequestError),
                         (403, PermanentError)]
)  # fmt: skip
def test_other_4xx_fail_at_once_with_the_reason(
    scripted: tuple[RunningServer, Script], status: int, kind: type[PermanentError]
) -> None:
    server, script = scripted
    script.play(Step(status, {"detail": f"reason {status}"}))
    with client(server.url, Sleeps()) as http, pytest.raises(kind) as err:
        http.request("GET", "/api/v1/runtime/items/execute", params={"limit": 0})
    assert err.value.status == status
    assert f"reason {status}" in str(err.value)
    assert "/api/v1/runtime/items/execute" in str(err.value)
    assert "limit" not in str(err.value)
    assert type(err.value) is kind
    assert len(script.seen) == 1


def test_accepted_statuses_are_returned(scripted: tuple[RunningServer, Script]) -> None:
    server, script = scripted
    script.play(Step(409, {"error": "duplicate", "uid": "u1"}))
    with client(server.url, Sleeps()) as http:
        response = http.request("POST", "/items", json={"a": 1}, accept={201, 409})
    assert response.status_code == 409
    assert script.seen[0].body == b'{"a":1}'


def test_spent_retries_raise_transient(scripted: tuple[RunningServer, Script]) -> None:
    server, script = scripted
    script.play(Step(504, {"detail": "gateway"}))
    with client(server.url, Sleeps()) as http, pytest.raises(TransientError) as err:
        http.request("GET", "/x")
    assert "after 4 attempts" in str(err.value)
    assert len(script.seen) == 4


def test_read_timeouts_are_retried(scripted: tuple[RunningServer, Script]) -> None:
    server, script = scripted
    script.play(Step(delay=1.0), Step(200, {"late": False}))
    with client(server.url, Sleeps(), timeout_seconds=0.2) as http:
        assert http.request("GET", "/x").json() == {"late": False}
        assert http.counters.retries == 1


def test_connect_errors_are_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nobody listens here once the socket closes
    sleeps = Sleeps()
    with client(f"http://127.0.0.1:{port}", sleeps) as http, pytest.raises(TransientError) as err:
        http.request("GET", "/x")
    assert "ConnectError" in str(err.value)
    assert len(sleeps) == 3


def test_one_client_serves_a_thread_pool(scripted: tuple[RunningServer, Script]) -> None:
    server, script = scripted
    script.play(Step(200))
    with client(server.url, Sleeps()) as http, ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: http.request("GET", "/x").status_code, range(160)))
        assert statuses == [200] * 160
        assert http.counters.requests == 160
