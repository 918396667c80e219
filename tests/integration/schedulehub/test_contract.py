"""contracts/schedulehub.md, row by row, against the emulator over loopback HTTP."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import jwt
import orjson
import pytest

from syncflow_core.emulators.schedulehub import ScheduleHubConfig, create_app, emulator_of
from syncflow_core.emulators.schedulehub_ops import Operation
from syncflow_core.emulators.schedulehub_uid import id_of
from tests.integration.schedulehub.conftest import SECRET, Hub, item, line, order, token

UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def post(http: httpx.Client, entity: str, record: Any) -> httpx.Response:
    return http.post(f"/api/v1/{entity}", json=record)


def created(http: httpx.Client, entity: str, record: dict[str, Any]) -> str:
    response = post(http, entity, record)
    assert response.status_code == 201, response.text
    uid: str = response.json()["uid"]
    return uid


def family(http: httpx.Client) -> tuple[str, str, str]:
    """An order, an item, and a line that refers to both."""
    order_uid, item_uid = created(http, "orders", order()), created(http, "items", item())
    return order_uid, item_uid, created(http, "order_lines", line(order_uid, item_uid))


# --- POST /api/v1/{entity} --------------------------------------------------------------


def test_insert_answers_201_with_the_record_and_a_uuid7(http: httpx.Client) -> None:
    record = item()
    response = post(http, "items", record)
    assert response.status_code == 201
    body = response.json()
    assert UUID7.fullmatch(body["uid"])
    assert {k: body[k] for k in record} == record
    assert body["hub_created_at"] == body["hub_updated_at"]
    assert body["hub_created_at"].endswith("Z")


def test_uids_grow_with_time(http: httpx.Client) -> None:
    uids = [created(http, "items", item()) for _ in range(5)]
    assert uids == sorted(uids)
    assert len(set(uids)) == 5


def test_second_insert_of_a_key_hash_is_409_with_the_existing_uid(http: httpx.Client) -> None:
    record = item()
    uid = created(http, "items", record)
    again = post(http, "items", {**record, "description": "other data, same key"})
    assert again.status_code == 409
    assert again.json() == {"error": "duplicate", "uid": uid}


def test_key_hash_is_unique_per_entity_not_across(http: httpx.Client) -> None:
    ids = item()
    created(http, "items", ids)
    keyed = {k: ids[k] for k in ("erp_key_hash", "erp_data_hash", "erp_rowversion")}
    assert post(http, "orders", order(**keyed)).status_code == 201


@pytest.mark.parametrize("missing", ["order_uid", "item_uid"])
def test_child_without_its_parent_is_404_parent_not_found(http: httpx.Client, missing: str) -> None:
    order_uid, item_uid = created(http, "orders", order()), created(http, "items", item())
    absent = "01890a5d-ac96-774b-bcce-b302099a8057"
    record = {**line(order_uid, item_uid), missing: absent}
    response = post(http, "order_lines", record)
    assert response.status_code == 404
    assert response.json() == {"error": "parent_not_found", "field": missing}


def test_a_uid_of_another_entity_is_not_a_parent(http: httpx.Client) -> None:
    item_uid = created(http, "items", item())
    response = post(http, "order_lines", line(item_uid, item_uid))
    assert response.json() == {"error": "parent_not_found", "field": "order_uid"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lead_time_days": "3"}, "lead_time_days"),  # a string for an integer
        ({"lead_time_days": 3.5}, "lead_time_days"),
        ({"lead_time_days": 100_000}, "lead_time_days"),  # NUMBER(5)
        ({"list_price": "12.5"}, "list_price"),
        ({"item_number": "X" * 26}, "item_number"),  # VARCHAR2(25)
        ({"status": "AB"}, "status"),  # CHAR(1)
        ({"notes": "n" * 32_768}, "notes"),  # CLOB: 32767 characters at most
        ({"description": None}, "description"),  # required
        ({"created_at": "2025-13-01T00:00:00"}, "created_at"),
        ({"created_at": "2025-02-30T00:00:00"}, "created_at"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"erp_key_hash": "A" * 32}, "erp_key_hash"),  # lowercase hex only
        ({"erp_key_hash": "a" * 31}, "erp_key_hash"),
        ({"erp_data_hash": "g" * 64}, "erp_data_hash"),
        ({"erp_rowversion": "2025-12-08"}, "erp_rowversion"),  # a datetime, not a date
        ({"surprise": 1}, "surprise"),  # unknown field
        ({"uid": "01890a5d-ac96-774b-bcce-b302099a8057"}, "uid"),  # the server's name
        ({"hub_created_at": "2025-12-08T10:30:00"}, "hub_created_at"),
    ],
)
def test_invalid_records_are_422_validation(
    http: httpx.Client, change: dict[str, Any], field: str
) -> None:
    response = post(http, "items", item(**change))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation"
    assert field in body["detail"]
    assert body["field"] == field


def test_missing_required_field_and_absent_optional_field(http: httpx.Client) -> None:
    record = item()
    del record["description"]
    assert post(http, "items", record).json()["field"] == "description"
    optional = item()
    del optional["notes"]
    assert post(http, "items", optional).status_code == 201


def test_types_that_fit(http: httpx.Client) -> None:
    """Integers for float fields, booleans, datetimes with offset, Z or a space."""
    ok = item(list_price=12, created_at="2025-01-02T03:04:05.5+02:00")
    assert post(http, "items", ok).status_code == 201
    center = {
        "site": "S1",
        "work_center_code": "WC1",
        "name": "Saw",
        "capacity_hours_per_day": 8,
        "efficiency_pct": 99.5,
        "is_active": True,
    }
    center.update({k: v for k, v in item().items() if k.startswith("erp_")})
    assert post(http, "work_centers", center).status_code == 201
    assert post(http, "work_centers", {**center, "is_active": "Y"}).status_code == 422


@pytest.mark.parametrize("body", [b"[1, 2]", b"{not json", b"", b'"text"'])
def test_a_body_that_is_not_a_record_is_422(http: httpx.Client, body: bytes) -> None:
    response = http.post("/api/v1/items", content=body)
    assert response.status_code == 422
    assert response.json()["error"] == "validation"


# --- PATCH /api/v1/{entity}/{uid} -------------------------------------------------------


def test_patch_changes_the_fields_given_and_answers_the_record(http: httpx.Client) -> None:
    record = item()
    uid = created(http, "items", record)
    time.sleep(0.002)
    response = http.patch(f"/api/v1/items/{uid}", json={"description": "New", "notes": "n"})
    assert response.status_code == 200
    body = response.json()
    assert body["uid"] == uid
    assert (body["description"], body["notes"], body["uom"]) == ("New", "n", "EA")
    assert body["hub_updated_at"] > body["hub_created_at"]
    found = http.get("/api/v1/items", params={"erp_key_hash": record["erp_key_hash"]})
    assert found.json()["items"][0]["description"] == "New"


def test_patch_is_idempotent(http: httpx.Client) -> None:
    uid = created(http, "items", item())
    change = {"description": "Same", "erp_data_hash": "e" * 64}
    first = http.patch(f"/api/v1/items/{uid}", json=change).json()
    second = http.patch(f"/api/v1/items/{uid}", json=change).json()
    assert {k: v for k, v in first.items() if k != "hub_updated_at"} == {
        k: v for k, v in second.items() if k != "hub_updated_at"
    }


@pytest.mark.parametrize("uid", ["deleted", "01890a5d-ac96-774b-bcce-b302099a8057", "nonsense"])
def test_patch_of_a_missing_record_is_404_not_found(http: httpx.Client, uid: str) -> None:
    if uid == "deleted":
        uid = created(http, "items", item())
        assert http.delete(f"/api/v1/items/{uid}").status_code == 204
    response = http.patch(f"/api/v1/items/{uid}", json={"description": "x"})
    assert response.status_code == 404
    assert response.json() == {"error": "not_found"}


def test_patch_to_a_missing_parent_is_404_parent_not_found(http: httpx.Client) -> None:
    _, _, line_uid = family(http)
    absent = "01890a5d-ac96-774b-bcce-b302099a8057"
    response = http.patch(f"/api/v1/order_lines/{line_uid}", json={"item_uid": absent})
    assert response.status_code == 404
    assert response.json() == {"error": "parent_not_found", "field": "item_uid"}


@pytest.mark.parametrize(
    "change",
    [{"lead_time_days": "x"}, {"description": None}, {"bogus": 1}, {"erp_key_hash": "f" * 32}],
)
def test_invalid_patch_is_422(http: httpx.Client, change: dict[str, Any]) -> None:
    uid = created(http, "items", item())
    response = http.patch(f"/api/v1/items/{uid}", json=change)
    assert response.status_code == 422
    assert response.json()["error"] == "validation"


def test_patch_may_move_a_child_to_another_parent(http: httpx.Client) -> None:
    order_uid, _, line_uid = family(http)
    other = created(http, "items", item())
    assert http.patch(f"/api/v1/order_lines/{line_uid}", json={"item_uid": other}).is_success
    first_item = http.get("/api/v1/items/index").json()["items"][0]["uid"]
    assert http.delete(f"/api/v1/items/{first_item}").status_code == 204  # no child left
    assert http.delete(f"/api/v1/orders/{order_uid}").status_code == 409


# --- DELETE /api/v1/{entity}/{uid} ------------------------------------------------------


def test_delete_is_204_then_404_not_found(http: httpx.Client) -> None:
    record = item()
    uid = created(http, "items", record)
    gone = http.delete(f"/api/v1/items/{uid}")
    assert (gone.status_code, gone.content) == (204, b"")
    again = http.delete(f"/api/v1/items/{uid}")
    assert (again.status_code, again.json()) == (404, {"error": "not_found"})
    found = http.get("/api/v1/items", params={"erp_key_hash": record["erp_key_hash"]})
    assert found.json() == {"items": []}
    assert post(http, "items", record).status_code == 201  # the key is free again


def test_a_parent_with_children_is_409_has_children(http: httpx.Client) -> None:
    order_uid, item_uid, line_uid = family(http)
    for entity, uid in (("orders", order_uid), ("items", item_uid)):
        response = http.delete(f"/api/v1/{entity}/{uid}")
        assert response.status_code == 409
        assert response.json()["error"] == "has_children"
    assert http.delete(f"/api/v1/order_lines/{line_uid}").status_code == 204
    assert http.delete(f"/api/v1/orders/{order_uid}").status_code == 204


# --- GET /api/v1/{entity}?erp_key_hash=H ------------------------------------------------


def test_get_by_key_hash_zero_or_one(http: httpx.Client) -> None:
    record = item()
    uid = created(http, "items", record)
    found = http.get("/api/v1/items", params={"erp_key_hash": record["erp_key_hash"]})
    assert found.status_code == 200
    (only,) = found.json()["items"]
    assert (only["uid"], only["description"]) == (uid, record["description"])
    none = http.get("/api/v1/items", params={"erp_key_hash": "0" * 32})
    assert none.json() == {"items": []}
    assert http.get("/api/v1/items", params={"erp_key_hash": "zz"}).status_code == 422


# --- GET /api/v1/{entity}/index ---------------------------------------------------------


def test_index_pages_in_a_stable_order_until_next_cursor_is_null(http: httpx.Client) -> None:
    records = [item() for _ in range(25)]
    uids = [created(http, "items", r) for r in records]
    seen: list[dict[str, str]] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 10} | ({"cursor": cursor} if cursor else {})
        page = http.get("/api/v1/items/index", params=params).json()
        pages += 1
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert [s["uid"] for s in seen] == uids
    assert set(seen[0]) == {"uid", "erp_key_hash", "erp_data_hash", "erp_rowversion"}
    assert [s["erp_key_hash"] for s in seen] == [r["erp_key_hash"] for r in records]


def test_index_limits(http: httpx.Client) -> None:
    assert http.get("/api/v1/items/index", params={"limit": 10_000}).status_code == 200
    for limit in (0, 10_001, "x"):
        assert http.get("/api/v1/items/index", params={"limit": limit}).status_code == 422
    assert http.get("/api/v1/items/index", params={"cursor": "bogus"}).status_code == 422
    empty = http.get("/api/v1/orders/index").json()
    assert empty == {"items": [], "next_cursor": None}


def test_a_cursor_of_one_entity_is_refused_by_another(http: httpx.Client) -> None:
    for _ in range(3):
        created(http, "items", item())
    cursor = http.get("/api/v1/items/index", params={"limit": 1}).json()["next_cursor"]
    assert http.get("/api/v1/orders/index", params={"cursor": cursor}).status_code == 422


# --- POST /api/v1/{entity}/batch --------------------------------------------------------


def test_batch_answers_each_operation_in_order_without_all_or_nothing(
    http: httpx.Client,
) -> None:
    keep, twice, bad = item(), item(), item(lead_time_days="x")
    existing = created(http, "items", item())
    ops = [
        {"op": "insert", "data": keep},
        {"op": "insert", "data": twice},
        {"op": "insert", "data": twice},
        {"op": "insert", "data": bad},
        {"op": "update", "uid": existing, "data": {"description": "Batch"}},
        {"op": "update", "uid": "01890a5d-ac96-774b-bcce-b302099a8057", "data": {}},
        {"op": "delete", "uid": existing},
        {"op": "delete", "uid": existing},
    ]
    response = http.post("/api/v1/items/batch", json={"operations": ops})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 201, 409, 422, 200, 404, 204, 404]
    assert results[2]["uid"] == results[1]["uid"]
    assert (results[3]["error"], results[3]["field"]) == ("validation", "lead_time_days")
    assert results[4] == {"status": 200, "uid": existing}
    assert results[5]["error"] == results[7]["error"] == "not_found"
    index = http.get("/api/v1/items/index").json()["items"]
    assert [r["uid"] for r in index] == [results[0]["uid"], results[1]["uid"]]


def test_batch_delete_then_insert_of_the_same_key(http: httpx.Client) -> None:
    record = item()
    uid = created(http, "items", record)
    ops = [{"op": "delete", "uid": uid}, {"op": "insert", "data": record}]
    results = http.post("/api/v1/items/batch", json={"operations": ops}).json()["results"]
    assert [r["status"] for r in results] == [204, 201]
    assert results[1]["uid"] != uid


def test_batch_of_children_and_parents_errors(http: httpx.Client) -> None:
    order_uid, item_uid = created(http, "orders", order()), created(http, "items", item())
    absent = "01890a5d-ac96-774b-bcce-b302099a8057"
    ops = [
        {"op": "insert", "data": line(order_uid, item_uid)},
        {"op": "insert", "data": line(absent, item_uid)},
    ]
    results = http.post("/api/v1/order_lines/batch", json={"operations": ops}).json()["results"]
    assert results[0]["status"] == 201
    assert results[1] == {"status": 404, "error": "parent_not_found", "field": "order_uid"}
    refused = http.post(
        "/api/v1/orders/batch", json={"operations": [{"op": "delete", "uid": order_uid}]}
    )
    assert refused.json()["results"] == [{"status": 409, "error": "has_children", "uid": order_uid}]


def test_batch_of_1000_is_taken_and_1001_is_413(http: httpx.Client) -> None:
    ops = [{"op": "insert", "data": item()} for _ in range(1001)]
    too_many = http.post("/api/v1/items/batch", json={"operations": ops})
    assert too_many.status_code == 413
    assert http.get("/api/v1/items/index").json()["items"] == []
    fits = http.post("/api/v1/items/batch", json={"operations": ops[:1000]})
    assert fits.status_code == 200
    assert {r["status"] for r in fits.json()["results"]} == {201}


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b"{}",
        b'{"operations": {}}',
        b'{"operations": [{"op": "upsert", "data": {}}]}',
        b'{"operations": [{"op": "insert"}]}',
        b'{"operations": [{"op": "update", "data": {}}]}',
        b'{"operations": [{"op": "delete"}]}',
        b'{"operations": [{"op": "delete", "uid": "u", "data": {}}]}',
        b'{"operations": [], "extra": 1}',
    ],
)
def test_malformed_batch_is_422(http: httpx.Client, body: bytes) -> None:
    response = http.post("/api/v1/items/batch", content=body)
    assert response.status_code == 422
    assert response.json()["error"] == "validation"


def test_empty_batch(http: httpx.Client) -> None:
    response = http.post("/api/v1/items/batch", json={"operations": []})
    assert response.json() == {"results": []}


# --- health, unknown entities, authentication --------------------------------------------


def test_health(http: httpx.Client) -> None:
    response = http.get("/api/v1/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/nothing"),
        ("GET", "/api/v1/nothing/index"),
        ("POST", "/api/v1/nothing/batch"),
        ("DELETE", "/api/v1/nothing/01890a5d-ac96-774b-bcce-b302099a8057"),
    ],
)
def test_unknown_entity_is_404(http: httpx.Client, method: str, path: str) -> None:
    response = http.request(method, path, json={"operations": []})
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_entity"


def _expired() -> str:
    now = int(time.time())
    claims = {
        "iss": "syncflow",
        "aud": "schedulehub",
        "sub": "t",
        "iat": now - 120,
        "exp": now - 60,
    }
    return jwt.encode(claims, SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Basic abc",
        "Bearer not-a-jwt",
        f"Bearer {token(secret='another-secret-another-secret-another')}",
        f"Bearer {token(audience='apismith')}",
        "expired",
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/health", "/api/v1/items/index", "/_emulator/stats"])
def test_every_call_needs_a_valid_token(hub: Hub, header: str | None, path: str) -> None:
    headers = {} if header is None else {"Authorization": header}
    if header == "expired":
        headers["Authorization"] = f"Bearer {_expired()}"
    response = httpx.get(hub.url + path, headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"]
    assert SECRET not in response.text


# --- persistence ------------------------------------------------------------------------


def test_records_survive_a_restart(http: httpx.Client, hub: Hub) -> None:
    record = item()
    uid = created(http, "items", record)
    order_uid, item_uid, _ = family(http)
    again = ScheduleHubConfig(storage=str(hub.storage), jwt_secret=SECRET)
    reopened = emulator_of(create_app(again))
    try:
        assert reopened.record("items", uid) is not None
        assert reopened.find("items", record["erp_key_hash"])["uid"] == uid  # type: ignore[index]
        dup = reopened.apply("items", [Operation.of("insert", data=_json(record))])
        assert dup == [{"status": 409, "error": "duplicate", "uid": uid}]
        fresh = reopened.apply("items", [Operation.of("insert", data=_json(item()))])[0]
        assert id_of(fresh["uid"]) > id_of(item_uid)  # type: ignore[operator]
        blocked = reopened.apply("orders", [Operation.of("delete", uid=order_uid)])
        assert blocked[0]["error"] == "has_children"
    finally:
        reopened.close()


def _json(value: Any) -> bytes:
    return orjson.dumps(value)


# --- admin endpoints (outside the contract) ----------------------------------------------


def test_admin_stats_faults_reset_and_edits_behind_the_back(http: httpx.Client, hub: Hub) -> None:
    record = item()
    uid = created(http, "items", record)
    post(http, "items", record)
    post(http, "items", item(lead_time_days="x"))
    stats = http.get("/_emulator/stats").json()
    assert stats["entities"]["items"]["records"] == 1
    assert stats["entities"]["items"]["insert"] == {
        "applied": 1,
        "refused": {"duplicate": 1, "validation": 1},
    }
    tampered = http.patch(f"/_emulator/records/items/{uid}", json={"description": "Tampered"})
    assert tampered.json()["description"] == "Tampered"
    assert tampered.json()["erp_data_hash"] == record["erp_data_hash"]
    assert http.get(f"/_emulator/records/items/{uid}").json()["description"] == "Tampered"
    faults = http.put("/_emulator/faults", json={"latency_ms": 1}).json()
    assert faults["latency_ms"] == 1
    assert http.put("/_emulator/faults", json={"error_rate": 2}).status_code == 422
    assert http.delete(f"/_emulator/records/items/{uid}").status_code == 204
    assert http.get(f"/_emulator/records/items/{uid}").status_code == 404
    created(http, "items", item())
    assert http.post("/_emulator/reset").status_code == 200
    assert hub.emulator.count("items") == 0
    assert http.get("/_emulator/stats").json()["entities"]["items"]["insert"]["applied"] == 0


def test_a_parent_removed_behind_the_back_leaves_children(http: httpx.Client, hub: Hub) -> None:
    order_uid, _, line_uid = family(http)
    bad = http.patch(f"/_emulator/records/order_lines/{line_uid}", json={"order_uid": "x"})
    assert bad.status_code == 422
    assert hub.emulator.remove("orders", order_uid)
    assert hub.emulator.record("order_lines", line_uid) is not None
    assert http.delete(f"/api/v1/orders/{order_uid}").status_code == 404


def test_batches_of_new_children_count_their_parents_once(http: httpx.Client) -> None:
    """Insert-only batches take a column-wise path; a missing parent sends a batch down
    the in-order path after the first parent was already looked up."""
    order_uid, item_uid = created(http, "orders", order()), created(http, "items", item())
    ops = [
        {"op": "insert", "data": line(order_uid, item_uid)},
        {"op": "insert", "data": line(order_uid, item_uid, quantity="x")},
        {"op": "insert", "data": line(order_uid, item_uid)},
    ]
    results = http.post("/api/v1/order_lines/batch", json={"operations": ops}).json()["results"]
    assert [r["status"] for r in results] == [201, 422, 201]
    assert http.delete(f"/api/v1/orders/{order_uid}").status_code == 409
    for result in (results[0], results[2]):
        assert http.delete(f"/api/v1/order_lines/{result['uid']}").status_code == 204
    assert http.delete(f"/api/v1/orders/{order_uid}").status_code == 204

    other_order, other_item = created(http, "orders", order()), created(http, "items", item())
    absent = "01890a5d-ac96-774b-bcce-b302099a8057"
    ops = [
        {"op": "insert", "data": line(other_order, absent)},
        {"op": "insert", "data": line(other_order, other_item)},
    ]
    results = http.post("/api/v1/order_lines/batch", json={"operations": ops}).json()["results"]
    assert [r["status"] for r in results] == [404, 201]
    assert http.delete(f"/api/v1/order_lines/{results[1]['uid']}").status_code == 204
    assert http.delete(f"/api/v1/orders/{other_order}").status_code == 204
    assert http.delete(f"/api/v1/items/{other_item}").status_code == 204


def test_batches_of_full_updates_and_of_deletes(http: httpx.Client) -> None:
    """Update-only and delete-only batches take column-wise paths; their answers and the
    parent counts are those of the in-order path."""
    order_uid, item_uid = created(http, "orders", order()), created(http, "items", item())
    other_item = created(http, "items", item())
    records = [line(order_uid, item_uid) for _ in range(3)]
    inserted = http.post(
        "/api/v1/order_lines/batch",
        json={"operations": [{"op": "insert", "data": r} for r in records]},
    ).json()["results"]
    uids = [r["uid"] for r in inserted]
    moved = [{**r, "item_uid": other_item, "quantity": 9} for r in records]
    updates = [{"op": "update", "uid": u, "data": m} for u, m in zip(uids, moved, strict=True)]
    results = http.post("/api/v1/order_lines/batch", json={"operations": updates}).json()
    assert results["results"] == [{"status": 200, "uid": u} for u in uids]
    stored = http.get("/api/v1/order_lines", params={"erp_key_hash": records[0]["erp_key_hash"]})
    assert (stored.json()["items"][0]["quantity"], stored.json()["items"][0]["item_uid"]) == (
        9,
        other_item,
    )
    assert http.delete(f"/api/v1/items/{item_uid}").status_code == 204  # no child left
    assert http.delete(f"/api/v1/items/{other_item}").status_code == 409
    held = http.post(
        "/api/v1/orders/batch", json={"operations": [{"op": "delete", "uid": order_uid}]}
    )
    assert held.json()["results"][0]["error"] == "has_children"
    deletes = [{"op": "delete", "uid": u} for u in uids]
    gone = http.post("/api/v1/order_lines/batch", json={"operations": deletes}).json()["results"]
    assert gone == [{"status": 204, "uid": u} for u in uids]
    again = http.post("/api/v1/order_lines/batch", json={"operations": deletes}).json()["results"]
    assert {r["error"] for r in again} == {"not_found"}
    assert http.delete(f"/api/v1/items/{other_item}").status_code == 204
    assert http.delete(f"/api/v1/orders/{order_uid}").status_code == 204
    assert post(http, "order_lines", records[0]).status_code == 404  # the key is free, no parent


def test_a_large_batch_of_new_records_is_stored_as_sent(http: httpx.Client, hub: Hub) -> None:
    """613 inserts: written as whole multi-row statements and a rest; every record comes
    back byte for byte as sent, with its own uid, in uid order."""
    order_uid, item_uid = created(http, "orders", order()), created(http, "items", item())
    records = [line(order_uid, item_uid, quantity=n) for n in range(613)]
    body = {"operations": [{"op": "insert", "data": r} for r in records]}
    results = http.post("/api/v1/order_lines/batch", json=body).json()["results"]
    uids = [r["uid"] for r in results]
    assert {r["status"] for r in results} == {201}
    assert uids == sorted(uids)
    assert len(set(uids)) == 613
    for position in (0, 249, 250, 499, 500, 612):
        stored = hub.emulator.record("order_lines", uids[position])
        assert stored is not None
        assert {k: stored[k] for k in records[position]} == records[position]
    pages = http.get("/api/v1/order_lines/index", params={"limit": 1000}).json()["items"]
    assert [p["uid"] for p in pages] == uids
    assert [p["erp_key_hash"] for p in pages] == [r["erp_key_hash"] for r in records]
    held = http.delete(f"/api/v1/orders/{order_uid}").json()
    assert held["error"] == "has_children"
    assert hub.emulator.stats()["entities"]["order_lines"]["records"] == 613
