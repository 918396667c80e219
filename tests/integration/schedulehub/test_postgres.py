"""The emulator on PostgreSQL (a database of its own, dropped afterwards)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import create_engine, text

from syncflow_core.emulators.schedulehub import ScheduleHubConfig, create_app, emulator_of
from syncflow_core.emulators.servers import run_in_thread
from tests.integration.schedulehub.conftest import SECRET, item, line, order, token

pytestmark = pytest.mark.postgres
SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    name = f"sf_hub_{uuid.uuid4().hex[:12]}"
    admin = create_engine(f"{SERVER}/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{SERVER}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_the_contract_on_postgresql(pg_url: str) -> None:
    config = ScheduleHubConfig(storage=pg_url, jwt_secret=SECRET)
    app = create_app(config)
    server = run_in_thread(app)
    headers = {"Authorization": f"Bearer {token()}"}
    try:
        with httpx.Client(base_url=server.url, headers=headers) as http:
            record = item()
            uid = http.post("/api/v1/items", json=record).json()["uid"]
            assert http.post("/api/v1/items", json=record).json() == {
                "error": "duplicate",
                "uid": uid,
            }
            order_uid = http.post("/api/v1/orders", json=order()).json()["uid"]
            ops = [
                {"op": "insert", "data": line(order_uid, uid)},
                {"op": "insert", "data": line("01890a5d-ac96-774b-bcce-b302099a8057", uid)},
            ]
            results = http.post("/api/v1/order_lines/batch", json={"operations": ops}).json()
            assert [r["status"] for r in results["results"]] == [201, 404]
            assert http.delete(f"/api/v1/orders/{order_uid}").json()["error"] == "has_children"
            patched = http.patch(f"/api/v1/items/{uid}", json={"description": "PG"})
            assert patched.json()["description"] == "PG"
            batch = [{"op": "insert", "data": item()} for _ in range(1000)]
            answer = http.post("/api/v1/items/batch", json={"operations": batch}).json()
            assert {r["status"] for r in answer["results"]} == {201}
            page = http.get("/api/v1/items/index", params={"limit": 600}).json()
            rest = http.get(
                "/api/v1/items/index", params={"limit": 600, "cursor": page["next_cursor"]}
            ).json()
            assert len(page["items"]) + len(rest["items"]) == 1001
            assert rest["next_cursor"] is None
            uids = [r["uid"] for r in answer["results"][:3]]
            full = [{**b["data"], "description": "Bulk"} for b in batch[:3]]
            updates = [
                {"op": "update", "uid": u, "data": d} for u, d in zip(uids, full, strict=True)
            ]
            updated = http.post("/api/v1/items/batch", json={"operations": updates}).json()
            assert [r["status"] for r in updated["results"]] == [200, 200, 200]
            deletes = [{"op": "delete", "uid": u} for u in uids]
            deleted = http.post("/api/v1/items/batch", json={"operations": deletes}).json()
            assert [r["status"] for r in deleted["results"]] == [204, 204, 204]
            mixed = [{"op": "delete", "uid": uids[0]}, {"op": "insert", "data": batch[0]["data"]}]
            again = http.post("/api/v1/items/batch", json={"operations": mixed}).json()
            assert [r["status"] for r in again["results"]] == [404, 201]
    finally:
        server.stop()
    reopened = emulator_of(create_app(config))  # the maps come back from the tables
    try:
        assert reopened.count("items") == 999
        assert reopened.find("items", record["erp_key_hash"])["description"] == "PG"  # type: ignore[index]
        assert reopened.store.children["orders"]
    finally:
        reopened.close()
