"""The emulator's controls (/_emulator/...): ERP activity, faults, schema drift, stats."""

from __future__ import annotations

import httpx
import pytest

from syncflow_core.emulators.apismith import ApiSmithConfig, create_app
from syncflow_core.emulators.servers import run_in_process
from tests.integration.apismith_support import SECRET, apismith, auth, scan


def test_controls_need_a_token() -> None:
    with apismith() as (server, _):
        for method, path in [("GET", "/_emulator/stats"), ("POST", "/_emulator/activity")]:
            assert httpx.request(method, server.url + path).status_code == 401


def test_activity_over_http_changes_touches_deletes_and_adds() -> None:
    with (
        apismith() as (server, emulator),
        httpx.Client(base_url=server.url, headers=auth()) as http,
    ):
        before = {r["ORDER_NO"].strip().upper(): r for r in scan(server.url, "orders")}
        watermark = max(r["ROWVERSION"] for r in before.values())
        body = {"entity": "orders", "change": 4, "touch": 3, "delete": 2, "add": 5}
        done = http.post("/_emulator/activity", json=body).json()
        assert (done["changed"], done["touched"], done["deleted"], done["added"]) == (4, 3, 2, 5)
        assert done["first_rowversion"] > watermark
        assert done["live_rows"] == len(before) + 3
        after = {r["ORDER_NO"].strip().upper(): r for r in scan(server.url, "orders")}
        assert len(before.keys() - after.keys()) == 2
        assert len(after.keys() - before.keys()) == 5
        newer = scan(server.url, "orders", {"rowversion_gt": watermark.replace(" ", "T")})
        assert len(newer) == 4 + 3 + 5
        changed = [r for r in newer if r["ORDER_NO"].strip().upper() in before]
        differs = [
            r
            for r in changed
            if r["CUSTOMER_NO"] != before[r["ORDER_NO"].strip().upper()]["CUSTOMER_NO"]
        ]
        assert len(differs) == 4  # a touch keeps the data, a change alters it
        assert emulator.stats()["live_rows"]["orders"] == len(after)  # type: ignore[index]


def test_activity_by_share_and_at_a_given_day() -> None:
    with apismith() as (_, emulator):
        done = emulator.activity("items", change_share=0.1, at="2025-03-01T00:00:00Z")
        assert done["changed"] == 250
        assert str(done["first_rowversion"]).startswith("2025-03-01 00:00:00")


def test_future_orders_arrive_with_add_activity() -> None:
    """Some lines reference orders that only exist after orders are added."""
    with apismith() as (server, emulator):
        known = {r["ORDER_NO"].strip().upper() for r in scan(server.url, "orders")}
        lines = scan(server.url, "order_lines", {"fields": "ORDER_NO"})
        orphans = {r["ORDER_NO"].strip().upper() for r in lines} - known
        assert orphans
        emulator.activity("orders", add=300)
        known = {r["ORDER_NO"].strip().upper() for r in scan(server.url, "orders")}
        assert orphans <= known


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"entity": "nope", "change": 1}, 404),
        ({"entity": "items", "change": -1}, 422),
        ({"entity": "items", "explode": 1}, 422),
    ],
)
def test_bad_activity_requests(body: dict[str, object], status: int) -> None:
    with apismith() as (server, _), httpx.Client(base_url=server.url, headers=auth()) as http:
        response = http.post("/_emulator/activity", json=body)
        assert response.status_code == status
        assert "detail" in response.json()


def test_faults_at_runtime_over_http() -> None:
    with (
        apismith() as (server, emulator),
        httpx.Client(base_url=server.url, headers=auth()) as http,
    ):
        assert http.get("/_emulator/faults").json()["error_rate"] == 0.0
        updated = http.put("/_emulator/faults", json={"error_rate": 1.0, "error_statuses": [502]})
        assert updated.json()["error_rate"] == 1.0
        assert emulator.faults.error_rate == 1.0
        assert http.get("/api/v1/runtime/entities").status_code == 502
        assert http.put("/_emulator/faults", json={"error_rate": 2}).status_code == 422
        http.put("/_emulator/faults", json={"error_rate": 0.0})
        assert http.get("/api/v1/runtime/entities").status_code == 200
        stats = http.get("/_emulator/stats").json()
        assert stats["faults"]["errors"] == 1
        assert stats["by_status"]["502"] == 1


def test_schema_drift_adds_and_drops_columns() -> None:
    with apismith() as (server, _), httpx.Client(base_url=server.url, headers=auth()) as http:
        drift = {"entity": "items", "add": [{"name": "EXTRA_CODE", "type": "VARCHAR2(30)"}],
                 "drop": ["NOTE_TEXT"]}  # fmt: skip
        schema = http.post("/_emulator/drift", json=drift).json()
        names = [c["name"] for c in schema["columns"]]
        assert "EXTRA_CODE" in names
        assert "NOTE_TEXT" not in names
        assert http.get("/api/v1/runtime/items/schema").json() == schema
        rows = scan(server.url, "items", limit=500)
        assert all(list(row) == names for row in rows)
        assert any(row["EXTRA_CODE"] for row in rows)
        missing = http.get("/api/v1/runtime/items/execute", params={"fields": "NOTE_TEXT"})
        assert missing.status_code == 400
        back = {"entity": "items", "add": [{"name": "NOTE_TEXT"}], "drop": ["EXTRA_CODE"]}
        restored = http.post("/_emulator/drift", json=back).json()
        assert [c["name"] for c in restored["columns"]][-2:] == ["NOTE_TEXT", "ROWVERSION"]
        bad_drifts = [
            {"entity": "items", "drop": ["ROWVERSION"]},
            {"entity": "items", "add": [{"name": "NEW_ONE"}]},
            {"entity": "items", "add": [{"name": "bad name", "type": "DATE"}]},
        ]
        for bad in bad_drifts:
            assert http.post("/_emulator/drift", json=bad).status_code in (400, 422)


def test_raw_rows_are_served_verbatim_after_everything_else() -> None:
    with apismith() as (server, _), httpx.Client(base_url=server.url, headers=auth()) as http:
        rows = [
            {"PART_NO": '"RAW-1"', "LIST_PRICE": '"1,2.3"', "DESCRIPTION": '"\\ud800 \\u0000"'},
            {"PART_NO": '"RAW-2"', "LEAD_TIME": "1e999", "NOTE_TEXT": "null"},
        ]
        done = http.post("/_emulator/rows", json={"entity": "items", "rows": rows}).json()
        assert done["added"] == 2
        page = http.get(
            "/api/v1/runtime/items/execute",
            params={"rowversion_ge": done["first_rowversion"].replace(" ", "T")},
        )
        assert '"LIST_PRICE":"1,2.3","WEIGHT_NET"' in page.text  # the text itself, in place
        assert '"DESCRIPTION":"\\ud800 \\u0000"' in page.text
        assert '"LEAD_TIME":1e999' in page.text
        served = scan(server.url, "items", {"rowversion_ge": done["first_rowversion"][:10]})
        assert [r["PART_NO"] for r in served][-1:] == ["RAW-2"]
        assert served[-1]["NOTE_TEXT"] is None
        assert served[-1]["DESCRIPTION"]  # a column not given: drawn as for any row
        unknown = {"entity": "items", "rows": [{"NO_SUCH": "1"}]}
        assert http.post("/_emulator/rows", json=unknown).status_code == 400


def test_stats_count_requests_and_rows() -> None:
    with apismith() as (server, emulator):
        scan(server.url, "work_centers", limit=15)
        stats = emulator.stats()
        assert stats["rows_served"] == {"work_centers": 40}
        assert stats["pages"] == {"work_centers": 3}


def test_a_server_in_its_own_process() -> None:
    config = ApiSmithConfig(sizes={"items": 30}, jwt_secret=SECRET)
    with run_in_process(create_app, config) as server:
        rows = scan(server.url, "items", limit=7)
        assert len(rows) == 30
        url = server.url
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "/", timeout=2)
