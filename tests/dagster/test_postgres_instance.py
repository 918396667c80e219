"""``deploy/dagster-postgres.yaml``: a Dagster instance on PostgreSQL (psycopg2 URL) runs
the sync and keeps its runs, materializations and check results there."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from tests.dagster.conftest import DagsterWorld

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
def test_a_postgres_instance_records_the_sync(
    dworld: DagsterWorld,
    pg_database_factory: Callable[[], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = sa.make_url(pg_database_factory()).set(drivername="postgresql+psycopg2")
    monkeypatch.setenv("DAGSTER_PG_URL", url.render_as_string(hide_password=False))
    home = tmp_path / "pg_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "deploy" / "dagster-postgres.yaml").read_text())
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        result = dworld.defs.resolve_job_def("sync_work_centers").execute_in_process(
            instance=instance, partition_key="2025-01-02"
        )
        assert result.success
        [run] = instance.get_runs()
        assert run.run_id == result.run_id
        events = instance.fetch_materializations(dg.AssetKey("work_centers"), limit=5).records
        assert [e.partition_key for e in events] == ["2025-01-02"]
        value = events[0].asset_materialization.metadata["rows_inserted"].value  # type: ignore[union-attr]
        assert value > 0
    # a second instance on the same database sees the same history
    with dg.DagsterInstance.from_config(str(home)) as again:
        assert [r.run_id for r in again.get_runs()] == [result.run_id]
