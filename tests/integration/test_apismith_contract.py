"""contracts/apismith.md, row by row, against the emulator over real loopback HTTP."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from syncflow_core.catalog import load_catalog, parse_oracle_type
from syncflow_core.emulators.apismith import ApiSmithEmulator
from syncflow_core.emulators.servers import RunningServer
from tests.integration.apismith_support import SMALL_SIZES, apismith, auth, scan, token

RUNTIME = "/api/v1/runtime"


@pytest.fixture(scope="module")
def emulated() -> Iterator[tuple[RunningServer, ApiSmithEmulator]]:
    with apismith() as pair:
        yield pair


@pytest.fixture(scope="module")
def http(emulated: tuple[RunningServer, ApiSmithEmulator]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulated[0].url, headers=auth(), timeout=30) as client:
        yield client


def execute(http: httpx.Client, entity: str = "items", **params: Any) -> httpx.Response:
    return http.get(f"{RUNTIME}/{entity}/execute", params=params)


def assert_error(response: httpx.Response, status: int, *fragments: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["detail"]
    assert isinstance(body["detail"], str)
    for fragment in fragments:
        assert fragment in body["detail"]


# --- Authentication ----------------------------------------------------------------------

BAD_TOKENS = {
    "missing": None,
    "other scheme": "Basic dXNlcjpwYXNz",
    "malformed": "Bearer not.a.jwt",
    "wrongly signed": "Bearer " + token(secret="another-secret-of-enough-length-000000"),
    "wrong audience": "Bearer " + token(aud="schedulehub"),
    "expired": "Bearer " + token(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
    "lives over an hour": "Bearer " + token(exp=int(time.time()) + 7200),
    "no sub claim": "Bearer " + token(sub=None),
    "other algorithm": "Bearer " + token().rsplit(".", 1)[0] + ".",
}


@pytest.mark.parametrize("why", sorted(BAD_TOKENS))
@pytest.mark.parametrize(
    "path", [f"{RUNTIME}/entities", f"{RUNTIME}/items/schema", f"{RUNTIME}/items/execute"]
)
def test_every_endpoint_refuses_bad_tokens_with_401(
    emulated: tuple[RunningServer, ApiSmithEmulator], path: str, why: str
) -> None:
    header = BAD_TOKENS[why]
    headers = {} if header is None else {"authorization": header}
    response = httpx.get(emulated[0].url + path, headers=headers)
    assert_error(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_token_that_expires_between_two_calls_is_refused(
    emulated: tuple[RunningServer, ApiSmithEmulator],
) -> None:
    short = {"authorization": "Bearer " + token(exp=int(time.time()) + 2)}
    url = emulated[0].url + f"{RUNTIME}/entities"
    assert httpx.get(url, headers=short).status_code == 200
    time.sleep(3.1)
    assert_error(httpx.get(url, headers=short), 401, "expired")


def test_an_unknown_entity_without_token_is_still_401(
    emulated: tuple[RunningServer, ApiSmithEmulator],
) -> None:
    assert_error(httpx.get(emulated[0].url + f"{RUNTIME}/nope/schema"), 401)


# --- Endpoints ----------------------------------------------------------------------------


def test_entities(http: httpx.Client) -> None:
    response = http.get(f"{RUNTIME}/entities")
    assert response.status_code == 200
    assert response.json() == {"entities": list(load_catalog())}


@pytest.mark.parametrize("entity", sorted(SMALL_SIZES))
def test_schema_reports_oracle_types(http: httpx.Client, entity: str) -> None:
    body = http.get(f"{RUNTIME}/{entity}/schema").json()
    assert body["entity"] == entity
    assert body["rowversion_column"] == "ROWVERSION"
    spec = load_catalog()[entity]
    names = [c["name"] for c in body["columns"]]
    assert names == [*spec.source_columns]
    for column in body["columns"]:
        assert set(column) == {"name", "type", "nullable"}
        assert column["name"] == column["name"].upper()
        parse_oracle_type(column["type"])
    assert body["columns"][-1] == {"name": "ROWVERSION", "type": "TIMESTAMP(6)", "nullable": False}
    keys = {f.source for f in spec.fields if f.target in spec.key}
    assert all(not c["nullable"] for c in body["columns"] if c["name"] in keys)


def test_schema_404_for_unknown_entity(http: httpx.Client) -> None:
    assert_error(http.get(f"{RUNTIME}/nope/schema"), 404, "nope")


def test_execute_404_for_unknown_entity(http: httpx.Client) -> None:
    assert_error(execute(http, "nope"), 404, "nope")


def test_default_page_is_1000_rows_in_schema_columns(http: httpx.Client) -> None:
    body = execute(http).json()
    assert body["entity"] == "items"
    assert isinstance(body["next_cursor"], str)
    assert len(body["rows"]) == 1000
    schema = [c["name"] for c in http.get(f"{RUNTIME}/items/schema").json()["columns"]]
    assert all(list(row) == schema for row in body["rows"])


@pytest.mark.parametrize("limit", ["1", "10000"])
def test_limit_bounds_are_accepted(http: httpx.Client, limit: str) -> None:
    assert len(execute(http, limit=limit).json()["rows"]) == min(int(limit), SMALL_SIZES["items"])


@pytest.mark.parametrize("limit", ["0", "10001", "-1", "abc", "1.5", ""])
def test_limit_out_of_range_is_400(http: httpx.Client, limit: str) -> None:
    assert_error(execute(http, limit=limit), 400, "limit")


def test_pages_cover_every_row_once_in_a_stable_order(
    emulated: tuple[RunningServer, ApiSmithEmulator],
) -> None:
    url, emulator = emulated[0].url, emulated[1]
    first, second = scan(url, "items", limit=700), scan(url, "items", limit=333)
    assert first == second  # stable order, whatever the page size
    keys = [row["PART_NO"].strip().upper() for row in first]
    assert len(keys) == len(set(keys)) == emulator.stats()["live_rows"]["items"]  # type: ignore[index]
    stamps = [row["ROWVERSION"] for row in first]
    assert stamps == sorted(stamps)


def test_next_cursor_is_null_on_the_last_page(http: httpx.Client) -> None:
    body = execute(http, limit="10000").json()
    assert len(body["rows"]) == SMALL_SIZES["items"]
    assert body["next_cursor"] is None


def test_bad_cursors_are_400(http: httpx.Client) -> None:
    assert_error(execute(http, cursor="garbage"), 400, "cursor")
    windowed = execute(http, limit="5", rowversion_ge="2025-01-01").json()["next_cursor"]
    assert_error(execute(http, cursor=windowed), 400, "cursor")  # other bounds
    assert_error(execute(http, "orders", cursor=windowed, rowversion_ge="2025-01-01"), 400)


def test_a_cursor_is_stateless_and_outlives_the_server(
    emulated: tuple[RunningServer, ApiSmithEmulator],
) -> None:
    """No server state: a new server with the same secret continues an old cursor."""
    with httpx.Client(base_url=emulated[0].url, headers=auth()) as old:
        page = old.get(f"{RUNTIME}/orders/execute", params={"limit": 10}).json()
    with apismith() as (other, _), httpx.Client(base_url=other.url, headers=auth()) as new:
        params = {"limit": 10, "cursor": page["next_cursor"]}
        continued = new.get(f"{RUNTIME}/orders/execute", params=params).json()
    assert continued["rows"] == scan(emulated[0].url, "orders")[10:20]


def _stamps(rows: list[dict[str, Any]]) -> list[str]:
    return [row["ROWVERSION"] for row in rows]


def test_rowversion_bounds_at_an_exact_value(
    emulated: tuple[RunningServer, ApiSmithEmulator],
) -> None:
    url = emulated[0].url
    everything = _stamps(scan(url, "orders"))
    pivot = everything[120]
    iso = pivot.replace(" ", "T")
    cases = {
        "rowversion_ge": [s for s in everything if s >= pivot],
        "rowversion_gt": [s for s in everything if s > pivot],
        "rowversion_le": [s for s in everything if s <= pivot],
        "rowversion_lt": [s for s in everything if s < pivot],
    }
    for name, expected in cases.items():
        assert _stamps(scan(url, "orders", {name: iso}, limit=77)) == expected, name


def test_daily_windows_partition_the_table(
    emulated: tuple[RunningServer, ApiSmithEmulator],
) -> None:
    url = emulated[0].url
    everything = scan(url, "order_lines")
    pieces = []
    for day in range(5):
        start = dt.date(2025, 1, 1) + dt.timedelta(days=day)
        window = {"rowversion_ge": str(start), "rowversion_lt": str(start + dt.timedelta(days=1))}
        rows = scan(url, "order_lines", window, limit=250)
        assert all(r["ROWVERSION"].startswith(str(start)) for r in rows)
        pieces += rows
    assert pieces == everything


def test_a_watermark_with_offset_and_a_combination(
    emulated: tuple[RunningServer, ApiSmithEmulator],
) -> None:
    url = emulated[0].url
    everything = _stamps(scan(url, "items"))
    # 02:00 at +02:00 is midnight UTC.
    after = _stamps(scan(url, "items", {"rowversion_gt": "2025-01-02T02:00:00+02:00"}))
    assert after == [s for s in everything if s > "2025-01-02 00:00:00.000000"]
    both = {"rowversion_gt": "2025-01-01T12:00:00Z", "rowversion_le": "2025-01-02 06:00:00"}
    expected = [
        s for s in everything if "2025-01-01 12:00:00.000000" < s <= "2025-01-02 06:00:00.000000"
    ]
    assert _stamps(scan(url, "items", both)) == expected


@pytest.mark.parametrize(
    "value", ["yesterday", "2025-13-01", "2025-01-01T10:00:00.1234567", "", "01/02/2025"]
)
def test_bad_bounds_are_400(http: httpx.Client, value: str) -> None:
    assert_error(execute(http, rowversion_ge=value), 400, "rowversion_ge")


def test_fields_projection_keeps_rowversion(http: httpx.Client) -> None:
    for fields in ("PART_NO", "PART_NO,ROWVERSION", "ROWVERSION,PART_NO"):
        rows = execute(http, fields=fields, limit="50").json()["rows"]
        assert all(list(row) == ["PART_NO", "ROWVERSION"] for row in rows)
    rows = execute(http, "order_lines", fields="ORDER_NO,LINE_NO,REL_NO").json()["rows"]
    assert set(rows[0]) == {"ORDER_NO", "LINE_NO", "REL_NO", "ROWVERSION"}


@pytest.mark.parametrize("fields", ["NOPE", "part_no", "PART_NO,,ROWVERSION", ""])
def test_unknown_fields_are_400(http: httpx.Client, fields: str) -> None:
    assert_error(execute(http, fields=fields), 400, "fields")


def test_unknown_or_repeated_parameters_are_400(http: httpx.Client) -> None:
    assert_error(execute(http, rowversion_gte="2025-01-01"), 400, "rowversion_gte")
    repeated = http.get(f"{RUNTIME}/items/execute", params=[("limit", "5"), ("limit", "6")])
    assert_error(repeated, 400, "more than once")


def test_values_are_oracle_like_json(http: httpx.Client) -> None:
    rows = execute(http, limit="2000").json()["rows"]
    for row in rows:
        assert isinstance(row["PART_NO"], str)
        assert isinstance(row["ROWVERSION"], str)
        assert row["DESCRIPTION"] is not None  # NOT NULL
        assert row["LIST_PRICE"] is None or isinstance(row["LIST_PRICE"], int | float | str)
    assert any(isinstance(r["LIST_PRICE"], str) for r in rows)
    assert any(isinstance(r["LIST_PRICE"], float) for r in rows)
    assert any("\r\n" in (r["NOTE_TEXT"] or "") for r in rows)


def test_a_row_updated_during_a_scan_comes_again_later() -> None:
    with apismith(faults={"scan_update_share": 0.05}) as (server, emulator):
        rows = scan(server.url, "orders", limit=50)
        seen: dict[str, str] = {}
        again = 0
        for row in rows:
            key = row["ORDER_NO"].strip().upper()
            if key in seen:
                again += 1
                assert row["ROWVERSION"] > seen[key]  # the newer version comes later
            seen[key] = row["ROWVERSION"]
        assert again > 0
        assert again == emulator.stats()["scan_updates"]
        assert len(seen) == SMALL_SIZES["orders"]


# --- Errors ------------------------------------------------------------------------------


def test_429_carries_retry_after(
    emulated: tuple[RunningServer, ApiSmithEmulator], http: httpx.Client
) -> None:
    emulator = emulated[1]
    emulator.set_faults(rate_limit_rate=1.0, retry_after_seconds=7)
    try:
        response = execute(http)
    finally:
        emulator.set_faults(rate_limit_rate=0.0)
    assert_error(response, 429)
    assert response.headers["retry-after"] == "7"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_transient_errors(
    emulated: tuple[RunningServer, ApiSmithEmulator], http: httpx.Client, status: int
) -> None:
    emulator = emulated[1]
    emulator.set_faults(error_rate=1.0, error_statuses=(status,))
    try:
        response = execute(http)
    finally:
        emulator.set_faults(error_rate=0.0)
    assert_error(response, status)


def test_unknown_paths_and_methods(http: httpx.Client) -> None:
    assert_error(http.get("/api/v1/elsewhere"), 404)
    assert_error(http.post(f"{RUNTIME}/items/execute"), 405)
