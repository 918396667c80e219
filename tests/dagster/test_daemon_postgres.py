"""Scale-out on Dagster's own machinery: ``dagster-daemon`` on dagster-postgres instance
storage (``deploy/dagster-postgres.yaml``) with the queued run coordinator. Four runs
(two entities, two partitions each) are submitted at once through the queue with
``dagster job launch``; the daemon dequeues and launches them, each in a process of its
own; all four succeed and ScheduleHub holds exactly the source. The state store is
PostgreSQL too, as on several nodes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from syncflow_core.env import SyncEnv
from syncflow_core.state import StateStore
from tests.e2e.dagster_cli import DAY, cli_world
from tests.support.world import World

ROOT = Path(__file__).resolve().parents[2]
DAY2 = DAY.replace(day=DAY.day + 1)
RUNS = [
    ("sync_items", DAY),
    ("sync_items", DAY2),
    ("sync_work_centers", DAY),
    ("sync_work_centers", DAY2),
]
ENQUEUED = dg.DagsterEventType.RUN_ENQUEUED
LAUNCHED, SUCCEEDED = dg.DagsterEventType.RUN_STARTING, dg.DagsterEventType.RUN_SUCCESS
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def postgres_home(home: Path) -> None:
    """``deploy/dagster-postgres.yaml``, dequeuing every second (the default is 5 s)."""
    config = yaml.safe_load((ROOT / "deploy" / "dagster-postgres.yaml").read_text())
    assert config["run_coordinator"]["config"]["dequeue_use_threads"] is True
    config["run_coordinator"]["config"]["dequeue_interval_seconds"] = 1
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))


def submit(instance: dg.DagsterInstance) -> None:
    """Submit the four runs back to back through the instance's run coordinator (the
    queue), as ``dagster job launch`` does, from one workspace (one code server)."""
    from dagster import __version__
    from dagster._cli.job import _create_run
    from dagster._cli.workspace.cli_target import (
        WorkspaceOpts,
        get_code_location_from_workspace,
        get_remote_job_from_remote_repo,
        get_remote_repository_from_code_location,
        get_workspace_from_cli_opts,
    )

    opts = WorkspaceOpts(module_name=["syncflow_dagster"], working_directory=str(ROOT))
    with get_workspace_from_cli_opts(instance, __version__, opts) as workspace:
        location = get_code_location_from_workspace(workspace, None)
        repo = get_remote_repository_from_code_location(location, None)
        runs = []
        for job, day in RUNS:
            tags = {"dagster/partition": str(day), f"syncflow-entity/{job[5:]}": str(day)}
            remote_job = get_remote_job_from_remote_repo(repo, job)
            runs.append(_create_run(instance, location, repo, remote_job, {}, tags, None, None))
        for run in runs:
            instance.submit_run(run.run_id, workspace)


@pytest.mark.postgres
def test_the_daemon_runs_four_queued_runs_on_postgres_storage(
    pg_database_factory: Callable[[], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dagster_url = sa.make_url(pg_database_factory()).set(drivername="postgresql+psycopg2")
    state_url = pg_database_factory()
    with StateStore(state_url) as store:
        store.upgrade()
    extra = {
        "DAGSTER_PG_URL": dagster_url.render_as_string(hide_password=False),
        "SYNCFLOW_DATABASE_URL": state_url,
    }
    with cli_world(tmp_path, items=2000, days=2, extra=extra) as w:
        for name, value in w.environment.items():  # for the instance and code server here
            monkeypatch.setenv(name, value)
        home = Path(w.environment["DAGSTER_HOME"])
        postgres_home(home)
        daemon_log = tmp_path / "daemon.log"
        command = [str(Path(sys.executable).with_name("dagster-daemon")), "run"]
        command += ["-m", "syncflow_dagster"]
        with daemon_log.open("wb") as out:
            daemon = subprocess.Popen(
                command, cwd=ROOT, env={**os.environ, **w.environment}, stdout=out, stderr=out
            )
            try:
                with dg.DagsterInstance.from_config(str(home)) as instance:
                    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
                    submit(instance)
                    runs = wait_for_runs(instance, daemon, daemon_log)
                    failures = [
                        (e.dagster_event.event_type_value, e.dagster_event.message, failure_of(e))
                        for r in runs
                        for e in instance.all_logs(r.dagster_run.run_id)
                        if e.dagster_event is not None and e.dagster_event.is_failure
                    ]
                    events = {
                        kind: [instance.all_logs(r.dagster_run.run_id, of_type=kind) for r in runs]
                        for kind in (ENQUEUED, LAUNCHED, SUCCEEDED)
                    }
            finally:
                daemon.terminate()
                daemon.wait(timeout=30)
        assert {r.dagster_run.job_name for r in runs} == {"sync_items", "sync_work_centers"}
        assert [r.dagster_run.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * 4, failures
        # each went through the queue; the daemon launched all four before any had finished
        assert [len(e) for e in events[ENQUEUED]] == [1] * 4
        launched = [e[0].timestamp for e in events[LAUNCHED]]
        assert max(launched) < min(e[0].timestamp for e in events[SUCCEEDED])
        with SyncEnv.from_settings(w.settings()) as env:
            checker = World(erp=None, hub=None, settings=env.settings, env=env, days=2)  # type: ignore[arg-type]
            counts = checker.assert_exact(only=("items", "work_centers"))
            assert counts["items"] > 1500
            batches = env.store.batches.recent("items", limit=5)
            assert batches["status"].to_list() == ["succeeded"] * 2


def failure_of(event: dg.EventLogEntry) -> str:
    """The error a failure event carries (a step's or a run's), with its cause."""
    data = event.dagster_event.event_specific_data if event.dagster_event else None
    error = getattr(data, "error", None)
    return error.to_string() if error is not None else ""


def wait_for_runs(
    instance: dg.DagsterInstance, daemon: subprocess.Popen[bytes], log: Path
) -> list[dg.RunRecord]:
    """The four runs' records once all have finished."""
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        records = instance.get_run_records()
        if len(records) == len(RUNS) and all(r.dagster_run.status in FINISHED for r in records):
            return list(records)
        if daemon.poll() is not None:
            break
        time.sleep(1)
    raise AssertionError(
        f"runs: {[(r.dagster_run.job_name, r.dagster_run.status) for r in records]}; "
        f"daemon log:\n{log.read_text()[-3000:]}"
    )
