"""The APISmith client against the emulator over loopback, with and without faults."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import orjson
import polars as pl
import pytest

from syncflow_core.clients.apismith import ApiSmithClient
from syncflow_core.clients.bounds import RowversionBounds
from syncflow_core.clients.errors import AuthError, RequestError, TransientError
from syncflow_core.clients.pages import decode_page_slowly
from syncflow_core.clients.retry import RetryPolicy
from syncflow_core.emulators.apismith import ApiSmithEmulator
from syncflow_core.emulators.servers import RunningServer
from syncflow_core.settings import Settings
from tests.integration.apismith_support import SECRET, SMALL_SIZES, apismith, scan

FAST_RETRY = RetryPolicy(max_attempts=12, base_seconds=0.001, max_seconds=0.01)


def client_for(url: str, **kw: object) -> ApiSmithClient:
    settings = Settings(apismith_url=url, apismith_jwt_secret=SECRET)
    return ApiSmithClient(settings, retry=kw.pop("retry", FAST_RETRY), **kw)  # type: ignore[arg-type]


@pytest.fixture
def emulated() -> Iterator[tuple[RunningServer, ApiSmithEmulator]]:
    with apismith() as pair:
        yield pair


def keyed(frame: pl.DataFrame, key: str) -> list[tuple[str, str]]:
    return list(
        frame.select(pl.col(key).str.strip_chars().str.to_uppercase(), "ROWVERSION").iter_rows()
    )


def test_entities_schema_and_raw_frames(emulated: tuple[RunningServer, ApiSmithEmulator]) -> None:
    server, _ = emulated
    with client_for(server.url) as client:
        assert client.entities() == ["items", "work_centers", "orders", "order_lines"]
        schema = client.schema("items")
        assert schema.rowversion_column == "ROWVERSION"
        assert schema.names[0] == "PART_NO"
        pages = list(client.pages("items", limit=600))
        assert [p.height for p in pages] == [600, 600, 600, 600, 100]
        assert all(p.schema == pl.Schema({n: pl.String for n in schema.names}) for p in pages)
        counters = client.counters
        assert (counters.pages, counters.rows, counters.retries) == (5, 2500, 0)


def test_frames_equal_the_servers_rows(emulated: tuple[RunningServer, ApiSmithEmulator]) -> None:
    """The raw frame is what the JSON said: strings as sent, numbers as their text."""
    server, _ = emulated
    raw = scan(server.url, "items")
    body = orjson.dumps({"rows": raw, "next_cursor": None})
    with client_for(server.url) as client:
        names = client.schema("items").names
        expected, _ = decode_page_slowly(body, names)
        got = pl.concat(list(client.pages("items")))
    assert got.equals(expected)
    assert got["PART_NO"].to_list() == [r["PART_NO"] for r in raw]


def test_frames_come_in_chunks(emulated: tuple[RunningServer, ApiSmithEmulator]) -> None:
    with client_for(emulated[0].url) as client:
        sizes = [f.height for f in client.frames("items", limit=300, chunk_rows=1000)]
    assert sizes == [1200, 1200, 100]


def test_every_row_exactly_once_despite_faults() -> None:
    faults = {"error_rate": 0.25, "rate_limit_rate": 0.1, "retry_after_seconds": 0, "seed": 5}
    with apismith() as (server, emulator):
        expected = scan(server.url, "order_lines", limit=10_000)
        emulator.set_faults(**faults)
        with client_for(server.url) as client:
            frame = pl.concat(list(client.pages("order_lines", limit=50)))
            counters = client.counters
        injected = emulator.stats()["faults"]
    assert frame.height == len(expected) == SMALL_SIZES["order_lines"]
    assert frame["ROWVERSION"].to_list() == [r["ROWVERSION"] for r in expected]
    assert frame["ORDER_NO"].to_list() == [r["ORDER_NO"] for r in expected]
    assert counters.retries == injected["errors"] + injected["rate_limited"] > 0  # type: ignore[index]
    assert counters.rate_limited == injected["rate_limited"] > 0  # type: ignore[index]
    assert counters.rows == len(expected)


def test_read_timeouts_spend_the_retries() -> None:
    with apismith(faults={"latency_ms": 400}) as (server, _):
        policy = RetryPolicy(max_attempts=2, base_seconds=0.001)
        client = client_for(server.url, timeout_seconds=0.1, retry=policy)
        with client, pytest.raises(TransientError) as err:
            list(client.pages("items"))
    assert "ReadTimeout" in str(err.value)
    assert "APISmith" in str(err.value)


def test_wrong_secret_is_an_auth_error_after_one_new_token(
    emulated: tuple[RunningServer, ApiSmithEmulator],
) -> None:
    wrong = "a-wrong-secret-that-is-long-enough-000000"
    settings = Settings(apismith_url=emulated[0].url, apismith_jwt_secret=wrong)
    with ApiSmithClient(settings) as client, pytest.raises(AuthError) as err:
        client.entities()
    assert "APISmith" in str(err.value)
    assert err.value.status == 401
    assert wrong not in str(err.value)
    assert wrong not in repr(client)
    assert client.counters.reauthenticated == 1
    assert client.counters.requests == 2


def test_unknown_entity_and_bad_field_are_request_errors(
    emulated: tuple[RunningServer, ApiSmithEmulator],
) -> None:
    with client_for(emulated[0].url) as client:
        with pytest.raises(RequestError) as missing:
            client.schema("nope")
        assert missing.value.status == 404
        with pytest.raises(RequestError) as bad:
            list(client.pages("items", fields=["NOPE"]))
        assert bad.value.status == 400
        assert "NOPE" in str(bad.value)


def test_daily_partitions_add_up_to_the_full_load(
    emulated: tuple[RunningServer, ApiSmithEmulator],
) -> None:
    with client_for(emulated[0].url) as client:
        full = keyed(pl.concat(list(client.pages("orders"))), "ORDER_NO")
        days = [
            keyed(frame, "ORDER_NO")
            for day in range(3)
            for frame in client.pages(
                "orders", bounds=RowversionBounds.day(dt.date(2025, 1, 1 + day)), limit=70
            )
        ]
    assert [row for day in days for row in day] == full


def test_key_only_scan(emulated: tuple[RunningServer, ApiSmithEmulator]) -> None:
    with client_for(emulated[0].url) as client:
        keys = pl.concat(
            list(client.pages("order_lines", fields=["ORDER_NO", "LINE_NO", "REL_NO"]))
        )
    assert keys.columns == ["ORDER_NO", "LINE_NO", "REL_NO", "ROWVERSION"]
    assert keys.height == SMALL_SIZES["order_lines"]


def test_incremental_sync_after_erp_activity(
    emulated: tuple[RunningServer, ApiSmithEmulator],
) -> None:
    server, emulator = emulated
    with client_for(server.url) as client:
        full = pl.concat(list(client.pages("items")))
        watermark = dt.datetime.fromisoformat(str(full["ROWVERSION"].max()))
        emulator.activity("items", change=7, touch=5, delete=3, add=11)
        newer = pl.concat(list(client.pages("items", bounds=RowversionBounds(gt=watermark))))
        keys_now = pl.concat(list(client.pages("items", fields=["PART_NO"])))
    assert newer.height == 7 + 5 + 11
    assert keys_now.height == full.height - 3 + 11
    before = set(full["PART_NO"].str.strip_chars().str.to_uppercase())
    after = set(keys_now["PART_NO"].str.strip_chars().str.to_uppercase())
    assert len(before - after) == 3
    assert len(after - before) == 11


def test_schema_drift_shows_in_the_frames(emulated: tuple[RunningServer, ApiSmithEmulator]) -> None:
    server, emulator = emulated
    emulator.drift("work_centers", add=[("SHIFT_PATTERN", "VARCHAR2(20)")], drop=["EFFICIENCY"])
    with client_for(server.url) as client:
        frame = pl.concat(list(client.pages("work_centers")))
    assert "SHIFT_PATTERN" in frame.columns
    assert "EFFICIENCY" not in frame.columns


def test_one_client_reads_entities_in_parallel(
    emulated: tuple[RunningServer, ApiSmithEmulator],
) -> None:
    with client_for(emulated[0].url) as client, ThreadPoolExecutor(4) as pool:
        counts = dict(
            pool.map(lambda e: (e, sum(f.height for f in client.pages(e, limit=100))), SMALL_SIZES)
        )
        assert counts == SMALL_SIZES
        assert client.counters.rows == sum(SMALL_SIZES.values())
