"""kill -9 in the middle of a background slice, then a re-run: ScheduleHub ends exact, with
no duplicate, and the chunks committed before the kill are not fetched or written again.

The slice runs in ``dagster job execute`` (a process of its own, killed with SIGKILL once
two chunks are committed); ScheduleHub answers slowly (latency injected) so the kill lands
mid-slice. The re-run is the same command; the dead process's lease is taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest

from syncflow_core.state import StateStore
from syncflow_dagster.background import PLAN_JOB
from syncflow_dagster.definitions import build_definitions
from tests.dagster.conftest import DagsterWorld, environment_of
from tests.support.world import world

ROOT = Path(__file__).resolve().parents[2]
ROWS, CHUNK = 2000, 200
SIZES = {"items": ROWS, "work_centers": 5, "orders": 5, "order_lines": 5}


@pytest.fixture
def slow_world(
    pg_database_factory: Callable[[], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DagsterWorld]:
    url = pg_database_factory()
    with StateStore(url) as store:
        store.upgrade()
    with world(url, tmp_path, sizes=SIZES, days=1) as w:
        for name, value in environment_of(w, url).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("SYNCFLOW_BATCH_SIZE", "50")  # several slow requests per chunk
        monkeypatch.delenv("SYNCFLOW_DAGSTER_EXECUTOR", raising=False)
        home = tmp_path / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        with dg.DagsterInstance.get() as instance:
            yield DagsterWorld(w, build_definitions(), instance, home)


def execute_slice(log: Path) -> subprocess.Popen[bytes]:
    """``dagster job execute`` of the first day's slice, in a session of its own."""
    command = [str(Path(sys.executable).with_name("dagster")), "job", "execute"]
    command += ["-m", "syncflow_dagster", "-j", "items_background_job"]
    command += ["--tags", json.dumps({"dagster/partition": "2025-01-01"})]
    with log.open("ab") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=dict(os.environ), stdout=out, stderr=out, start_new_session=True
        )


@pytest.mark.postgres
def test_a_slice_killed_mid_way_resumes_at_its_first_uncommitted_chunk(
    slow_world: DagsterWorld, tmp_path: Path
) -> None:
    dw, env = slow_world, slow_world.world.env
    config = {"rows_per_day": ROWS, "chunk_rows": CHUNK, "first_day": "2025-01-01"}
    planned = dw.defs.resolve_job_def(PLAN_JOB).execute_in_process(
        instance=dw.instance, run_config={"ops": {"plan_items_background": {"config": config}}}
    )
    assert planned.success
    plan_id = env.store.schedule.latest_plan_id("items")
    assert plan_id is not None
    chunks = len(json.loads(env.store.schedule.plan(plan_id)["chunk_bounds"][0])) - 1
    assert chunks >= 8

    dw.world.hub.set_faults(latency_ms=150)
    log = tmp_path / "slice.log"
    proc = execute_slice(log)
    deadline = time.monotonic() + 120
    while env.store.schedule.plan(plan_id)["chunks_done"][0] < 2:
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "two chunks were not committed in time"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    dw.world.hub.set_faults(latency_ms=0)

    killed = env.store.schedule.plan(plan_id).row(0, named=True)
    assert killed["status"] == "running"  # the process had no chance to say otherwise
    assert 2 <= killed["chunks_done"] < chunks  # mid-slice
    first_batch = env.store.batches.get(killed["batch_uid"])
    assert first_batch.status == "running"
    sent_before = settled(dw)  # after the dead process's requests still in flight

    again = execute_slice(log)
    assert again.wait(timeout=180) == 0, log.read_text()[-3000:]
    done = env.store.schedule.plan(plan_id).row(0, named=True)
    assert done["status"] == "done"
    assert done["chunks_done"] == chunks
    assert done["rows_done"] == ROWS
    rerun = env.store.batches.get(done["batch_uid"])
    assert rerun.batch_uid != first_batch.batch_uid
    assert rerun.status == "succeeded"
    # the committed chunks were neither fetched nor written again
    assert rerun.counts["rows_fetched"] == ROWS - killed["rows_done"]
    stats = dw.world.writes()["entities"]["items"]
    assert stats["insert"]["applied"] == stats["records"]  # no record written twice
    resent = sent(dw) - sent_before
    assert resent <= ROWS - killed["rows_done"]
    counts = dw.world.assert_exact(only=("items",))
    assert counts["items"] == stats["records"]


def sent(dw: DagsterWorld) -> int:
    """Inserts ScheduleHub received for items: applied or refused (409s included)."""
    insert = dw.world.writes()["entities"]["items"]["insert"]
    return int(insert["applied"]) + sum(insert["refused"].values())


def settled(dw: DagsterWorld) -> int:
    """:func:`sent` once it has stopped moving (requests of the killed process that were
    already on the wire are answered after its death)."""
    last = -1
    while (now := sent(dw)) != last:
        last = now
        time.sleep(1.0)
    return now
