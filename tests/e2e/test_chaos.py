"""The chaos suite: real ``dagster job execute`` runs against both emulators (each in a
process of its own) with the state on PostgreSQL, under faults at either end, a killed
run, two runs at once, edits behind SyncFlow's back and bad credentials. Every case ends
with ScheduleHub equal to the prepared source record by record, no duplicate key, and the
accounting of every batch adding up (:meth:`CliWorld.assert_exact`).

Sizes and latencies are small (hundreds to a few thousand rows, tens of milliseconds, a
Retry-After of one second) so that the suite stays within minutes on two cores.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from syncflow_core.catalog import load_catalog
from syncflow_core.redrive import due
from tests.e2e.harness import DAY, EXECUTE, CliWorld, Started, cli_world, partition_tags
from tests.e2e.private_pg import private_postgres

pytestmark = pytest.mark.postgres

#: no ERP rows that fail or wait for a parent the source lacks: every failed record and
#: every parked child is a fault's, and the re-drives clear them all
ENTITIES = "items,work_centers,orders,order_lines"
CLEAN_ERP = {"failing_share": 0.0, "late_parent_share": 0.0, "future_parent_share": 0.0}


@pytest.fixture
def pg_url(pg_database_factory: Callable[[], str]) -> str:
    """A fresh PostgreSQL database of this test (created empty; the first run migrates)."""
    return pg_database_factory()


def hub_records(w: CliWorld) -> int:
    """Records ScheduleHub holds, all entities."""
    entities = w.systems.stats("schedulehub")["entities"]
    return sum(int(e["records"]) for e in entities.values())


def wait_for_records(w: CliWorld, run: Started, count: int, *, timeout: float = 300) -> None:
    """Until ScheduleHub holds ``count`` records while ``run`` still runs."""
    deadline = time.monotonic() + timeout
    while hub_records(w) < count:
        if run.process.poll() is not None:
            raise AssertionError(f"the run ended early ({run.process.returncode}):\n{run.output}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {count} records")
        time.sleep(0.05)


def test_faults_at_both_ends_then_redrives_converge(tmp_path: Path, pg_url: str) -> None:
    extra = {
        "SYNCFLOW_PAGE_SIZE": "20",  # many pages: APISmith faults fall mid-scan
        # ~150 writes: each kind of ScheduleHub fault meets some (no lost answer: 0.95^150)
        "SYNCFLOW_BATCH_SIZE": "10",
        "SYNCFLOW_HTTP_MAX_ATTEMPTS": "3",  # a few writes may run out of attempts: re-drives
        "SYNCFLOW_BACKOFF_BASE_SECONDS": "0.01",
        "SYNCFLOW_BACKOFF_MAX_SECONDS": "0.05",
        "SYNCFLOW_FAILED_RETRY_DELAYS_SECONDS": "[0, 0, 0, 0, 0, 0]",  # due at once
        "SYNCFLOW_PENDING_CHECK_SECONDS": "0",
    }
    with cli_world(tmp_path, items=600, database_url=pg_url, extra=extra, apismith=CLEAN_ERP) as w:
        w.systems.set_faults(
            "schedulehub",
            error_rate=0.05,
            lost_answer_rate=0.05,
            rate_limit_rate=0.05,
            retry_after_seconds=1,
            latency_ms=5,
        )
        w.systems.set_faults(
            "apismith", error_rate=0.05, rate_limit_rate=0.05, retry_after_seconds=1
        )
        runs = []
        # A run whose scan ran out of attempts fails as a whole; the next run resumes.
        for _ in range(4):
            runs.append(("sync_all", w.execute("sync_all", check=False).returncode))
            if runs[-1][1] == 0:
                break
        else:
            raise AssertionError(f"sync_all failed four times in a row: {runs}")
        for _ in range(6):  # what the re-drive sensor would launch, while anything is due
            with w.env() as env:
                waiting = due(env)
            if not waiting.any:
                break
            runs.append((f"redrive {waiting}", w.execute("redrive", None, check=False).returncode))
        else:
            raise AssertionError(f"records still due after six re-drives: {runs}")
        hub, erp = w.systems.stats("schedulehub"), w.systems.stats("apismith")
        hub_faults = [hub["events"].get(k, 0) for k in ("injected_errors", "rate_limited")]
        assert hub["events"].get("lost_answers", 0) > 0, hub["events"]
        assert sum(hub_faults) > 0, hub["events"]
        assert sum(erp["faults"].values()) > 0, erp["faults"]
        counts = w.assert_exact()
        assert counts["items"] > 500


def test_a_run_killed_mid_ingest_then_rerun(tmp_path: Path, pg_url: str) -> None:
    extra = {"SYNCFLOW_BATCH_SIZE": "50", "SYNCFLOW_MAX_IN_FLIGHT": "1"}
    with cli_world(tmp_path, items=1000, database_url=pg_url, extra=extra) as w:
        w.systems.set_faults("schedulehub", latency_ms=200)  # ingest takes a few seconds
        run = w.start("job", "execute", "-m", "syncflow_dagster", "-j", "sync_items",
                      "--tags", '{"dagster/partition": "2025-01-01"}', name="killed")  # fmt: skip
        wait_for_records(w, run, 200)
        run.kill()
        written = hub_records(w)
        assert 0 < written < 950, written  # killed in the middle
        w.systems.set_faults("schedulehub", latency_ms=0)
        w.execute("sync_items")
        with w.env() as env:
            batches = env.store.batches.recent("items")
        assert batches["status"].to_list() == ["succeeded", "running"]  # the killed one
        assert w.assert_exact(only=("items",))["items"] > 950


def test_two_runs_of_one_partition_at_once_only_one_writes(tmp_path: Path, pg_url: str) -> None:
    extra = {"SYNCFLOW_BATCH_SIZE": "25", "SYNCFLOW_MAX_IN_FLIGHT": "1"}
    with cli_world(tmp_path, items=800, database_url=pg_url, extra=extra) as w:
        # Both stores created and migrated before the race, so that the two runs meet at
        # the lease, not at DDL: the state, and Dagster's SQLite instance (two processes
        # creating its databases at once race on its own alembic_version; seen in a run).
        with w.env():
            pass
        w.dagster("instance", "migrate")
        # Slow writes (32 x 0.5 s) keep the winner writing until the loser has given up ...
        w.systems.set_faults("schedulehub", latency_ms=500)
        args = (*EXECUTE, "sync_items", "--tags", partition_tags(DAY))
        runs = [w.start(*args, name=f"twin{i}") for i in (1, 2)]
        while all(r.process.poll() is None for r in runs):
            time.sleep(0.05)
        loser = next(r for r in runs if r.process.poll() is not None)
        w.systems.set_faults("schedulehub", latency_ms=0)  # ... then it may finish
        winner = next(r for r in runs if r is not loser)
        assert loser.wait() != 0, loser.output[-3000:]
        assert winner.wait() == 0, winner.output[-3000:]
        assert "is being synced by another run" in loser.output
        hub = w.systems.stats("schedulehub")["entities"]["items"]
        assert hub["insert"]["applied"] == hub["records"]  # nothing written twice
        with w.env() as env:
            batches = env.store.batches.recent("items")
        assert sorted(batches["status"].to_list()) == ["failed", "succeeded"]
        assert batches.filter(status="failed")["rows_fetched"].item() == 0
        assert w.assert_exact(only=("items",))["items"] > 750


def test_reconcile_repairs_what_changed_in_schedulehub(tmp_path: Path, pg_url: str) -> None:
    with cli_world(tmp_path, items=400, database_url=pg_url) as w:
        w.execute("sync_all")
        with w.env() as env:
            items = env.store.load_sync_state("items").sort("erp_key_hash")
            lines = env.store.load_sync_state("order_lines").sort("erp_key_hash")
        deleted, changed = lines["uid"][0], items["uid"][0]
        before = w.systems.control("schedulehub", "GET", f"/_emulator/records/items/{changed}")
        # behind SyncFlow's back, through ScheduleHub's own API (a JWT of its secret)
        w.systems.control("schedulehub", "DELETE", f"/api/v1/order_lines/{deleted}")
        w.systems.control(
            "schedulehub",
            "PATCH",
            f"/api/v1/items/{changed}",
            {"description": "edited by a planner", "erp_data_hash": "f" * 64},
        )
        with pytest.raises(AssertionError):
            w.assert_schedulehub_equals_source()  # the check sees both
        w.execute("reconcile", None)
        after = w.systems.control("schedulehub", "GET", f"/_emulator/records/items/{changed}")
        assert after["description"] == before["description"]
        assert after["erp_data_hash"] == before["erp_data_hash"]
        w.assert_exact()


JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


def leaked(w: CliWorld, texts: list[str], secrets_: list[str]) -> list[str]:
    """Where a secret or a token shows: the runs' output, the JSON log file, and every
    file under DAGSTER_HOME (the event log of every run, in its SQLite storage)."""
    places = {f"output {i}": text.encode() for i, text in enumerate(texts)}
    log_file = Path(w.environment["SYNCFLOW_LOG_FILE"])
    places["log file"] = log_file.read_bytes()
    home = Path(w.environment["DAGSTER_HOME"])
    places |= {str(p): p.read_bytes() for p in home.rglob("*") if p.is_file()}
    found = [
        f"{name}: {s[:4]}…" for name, data in places.items() for s in secrets_ if s.encode() in data
    ]
    found += [
        f"{name}: a JWT" for name, data in places.items() if JWT.search(data.decode("latin-1"))
    ]
    return found


def test_bad_credentials_fail_clearly_without_retries_or_leaks(tmp_path: Path, pg_url: str) -> None:
    extra = {"SYNCFLOW_LOG_FILE": str(tmp_path / "syncflow.jsonl")}
    with cli_world(tmp_path, items=300, database_url=pg_url, extra=extra) as w:
        real = [w.systems.apismith_secret, w.systems.schedulehub_secret]
        cases = [
            ("apismith", "APISmith", "bad signature"),
            ("schedulehub", "ScheduleHub", "bad signature"),
            ("schedulehub", "ScheduleHub", "token expired"),  # its clock runs 2 h ahead
        ]
        for system, name, why in cases:
            wrong = secrets.token_urlsafe(32)
            expired = why == "token expired"
            if expired:
                w.systems.set_faults(system, clock_ahead_seconds=7200)
            before = refusals(w, system)
            secret = {} if expired else {f"SYNCFLOW_{system.upper()}_JWT_SECRET": wrong}
            done = w.execute("sync_items", check=False, env=secret)
            output = done.stdout + done.stderr
            assert done.returncode != 0
            said = re.search(rf"{name}: \w+ /api/v1/\S+ -> 401[^(]*\({why}\)", output)
            assert said is not None, output[-3000:]
            refused = refusals(w, system) - before
            assert 1 <= refused <= 2, refused  # the first answer, one retry with a fresh token
            assert hub_records(w) == 0
            assert leaked(w, [output], [wrong, *real]) == []
            home = Path(w.environment["DAGSTER_HOME"])
            assert any(said[0].encode() in p.read_bytes() for p in home.rglob("*.db"))
        w.faults_off()
        w.execute("sync_items")  # with the right secrets and clocks
        w.assert_exact(only=("items",))


def refusals(w: CliWorld, system: str) -> int:
    """401s the emulator of ``system`` answered so far."""
    stats = w.systems.stats(system)
    if system == "apismith":
        return int(stats["by_status"].get("401", 0))
    return int(stats["events"].get("unauthorized", 0))


def test_state_store_restarted_during_a_run(tmp_path: Path) -> None:
    extra = {"SYNCFLOW_BATCH_SIZE": "50", "SYNCFLOW_MAX_IN_FLIGHT": "1"}
    with (
        private_postgres() as pg,
        cli_world(tmp_path, items=1000, database_url=pg.url, extra=extra) as w,
    ):
        w.systems.set_faults("schedulehub", latency_ms=100)
        run = w.start(*EXECUTE, "sync_items", "--tags", partition_tags(DAY), name="restarted")
        wait_for_records(w, run, 200)
        assert run.process.poll() is None  # still running
        pg.restart()
        code = run.wait()
        if code != 0:  # a clean failure: says what went wrong, in one line
            assert "PostgreSQL" in run.output or "psycopg.OperationalError" in run.output
        w.systems.set_faults("schedulehub", latency_ms=0)
        w.execute("sync_items")
        assert w.assert_exact(only=("items",))["items"] > 950


def text(value: str) -> str:
    """The JSON text of a string (what the raw-rows control serves verbatim)."""
    return json.dumps(value, ensure_ascii=False)


#: (column of items, JSON text served, error_type the row must fail with)
BAD_ITEM_VALUES = [
    *(("LIST_PRICE", text(v), "invalid_number")
      for v in ("1,2.3", "--1", "NaN", "nan", "inf", "-Infinity", "1e999", "1,00", "12..5",
                "1 2", "$", "0x1F", "1e", "١٢٣")),
    ("LIST_PRICE", "1e999", "invalid_number"),  # a JSON number too big for any float
    *(("LEAD_TIME", t, "invalid_integer") for t in (text("1.5"), "1.5", text("2e-1"))),
    ("LEAD_TIME", text("99999999999999999999999"), "invalid_integer"),  # past int64
    ("LEAD_TIME", text("abc"), "invalid_number"),
    *(("CREATION_DATE", text(v), "invalid_datetime")
      for v in ("2025-13-01", "31/02/2025", "2025-02-30", "garbage", "13/45/2025",
                "2025-12-08T25:00:00", "08-FOO-25")),
    *(("DESCRIPTION", t, "missing_required") for t in ("null", text("   "), text("\x00\r\n"))),
    ("PART_NO", "null", "missing_required"),  # the key itself
]  # fmt: skip
#: 1 MB strings: SyncFlow passes them (no length rule in normalization), ScheduleHub
#: refuses them (422 validation, naming the field): dead-lettered for a person
HUGE_ITEM_VALUES = [
    ("DESCRIPTION", text("x" * 1_000_000), "validation"),
    ("NOTE_TEXT", text("y" * 1_000_000), "validation"),
]
#: (column of items, JSON text served): odd but valid; these rows must sync
ODD_ITEM_VALUES = [
    ("DESCRIPTION", '"a\\ud800b"'),  # a lone surrogate: U+FFFD
    ("DESCRIPTION", '"\\ud83d\\ude00 smile"'),  # an escaped pair: the emoji
    ("DESCRIPTION", text("a\x00b\x07c")),  # control characters: removed
    ("DESCRIPTION", text("\u202eabc\u200f \u200b")),  # RTL override, RTL mark, zero width
    ("LIST_PRICE", text("")),
    ("LIST_PRICE", text("   ")),
    ("LIST_PRICE", text("(1,234.50)")),
    ("LEAD_TIME", "7"),
]


def test_hidden_corner_inputs_fail_row_by_row(tmp_path: Path, pg_url: str) -> None:
    with cli_world(tmp_path, items=300, database_url=pg_url, apismith=CLEAN_ERP) as w:
        cases = [*BAD_ITEM_VALUES, *HUGE_ITEM_VALUES, *((c, t, None) for c, t in ODD_ITEM_VALUES)]
        keys = [f"CHAOS-{i:03d}" for i in range(len(cases))]
        rows = [
            {"PART_NO": text(key), column: value} if column != "PART_NO" else {column: value}
            for key, (column, value, _) in zip(keys, cases, strict=True)
        ]
        w.systems.control("apismith", "POST", "/_emulator/rows", {"entity": "items", "rows": rows})
        maybe = {"CONTRACT": text("CH1"), "WORK_CENTER_NO": text("W1"), "ACTIVE": text("maybe")}
        w.systems.control("apismith", "POST", "/_emulator/rows",
                          {"entity": "work_centers", "rows": [maybe]})  # fmt: skip
        added = {"name": "COLOR", "type": "VARCHAR2(10)"}
        w.systems.control(
            "apismith", "POST", "/_emulator/drift", {"entity": "items", "add": [added]}
        )
        w.systems.control("apismith", "POST", "/_emulator/drift",
                          {"entity": "orders", "drop": ["PRIORITY"]})  # fmt: skip
        days = ("--partition-range", f"{DAY}...{DAY + dt.timedelta(days=1)}")
        every = ("asset", "materialize", "-m", "syncflow_dagster", "--select", ENTITIES, *days)
        lost = w.dagster(*every, check=False)
        assert lost.returncode != 0  # orders failed
        assert (
            "orders: APISmith's schema drifted from the catalog: column(s) removed: PRIORITY"
            in (lost.stdout + lost.stderr)
        )
        assert "COLOR" in lost.stdout + lost.stderr  # the new column is reported
        w.systems.control("apismith", "POST", "/_emulator/drift",
                          {"entity": "orders", "add": [{"name": "PRIORITY"}]})  # fmt: skip
        w.dagster(
            "asset",
            "materialize",
            "-m",
            "syncflow_dagster",
            "--select",
            "orders,order_lines",
            *days,
        )
        with w.env() as env:
            failed = env.store.failed.find(status="open", entity="items")
            (wc_failure,) = env.store.failed.find(entity="work_centers").iter_rows(named=True)
        assert (wc_failure["error_type"], wc_failure["field"]) == ("invalid_boolean", "is_active")
        assert '"maybe"' in wc_failure["error_message"]
        by_key = {}
        for row in failed.iter_rows(named=True):
            data = json.loads(row["raw_data"] or row["mapped_data"])
            by_key[data.get("PART_NO") or data.get("item_number")] = row
        assert len(by_key) == len(BAD_ITEM_VALUES) + len(HUGE_ITEM_VALUES)  # the others synced
        targets = {f.source: f.target for f in load_catalog()["items"].fields}
        for key, (column, value, error) in zip(keys, cases, strict=True):
            if error is None:
                continue
            row = by_key[None if column == "PART_NO" else key]
            assert row["error_type"] == error, (column, value, row)
            if error == "validation":  # ScheduleHub's 422 names the field
                assert f"$.{targets[column]}" in row["error_message"], row["error_message"]
            else:  # normalization's names the field, the column and the value
                assert row["field"] == targets[column], (column, value, row)
                shown = value.strip('"') if value != "null" else "null"
                assert f"{column} -> {targets[column]}" in row["error_message"]
                assert shown in row["error_message"], (value, row["error_message"])
        counts = w.assert_exact()
        assert counts["items"] == 300 + len(ODD_ITEM_VALUES)
