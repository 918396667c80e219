"""Fixtures of the Dagster tests: both emulators over loopback HTTP (in threads, so a
test can drive the ERP's Python API), a state store, the ``SYNCFLOW_*`` environment
pointing at them, and the definitions built from that environment."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from syncflow_core.state import StateStore
from syncflow_dagster.definitions import build_definitions
from tests.support.world import START, World, world


@dataclass
class DagsterWorld:
    """A world, its definitions, and a Dagster instance of its own."""

    world: World
    defs: dg.Definitions
    instance: dg.DagsterInstance
    home: Path

    def run(
        self,
        job_name: str,
        *,
        start: str | None = None,
        end: str | None = None,
        tags: Mapping[str, str] | None = None,
        run_config: Mapping[str, Any] | None = None,
        raise_on_error: bool = True,
    ) -> dg.ExecuteInProcessResult:
        """Execute a job of the definitions in process (a partition, a range, or none)."""
        run_tags = dict(tags or {})
        partition_key = None
        if start is not None and (end is None or end == start):
            partition_key = start
        elif start is not None and end is not None:
            run_tags.update(
                {
                    "dagster/asset_partition_range_start": start,
                    "dagster/asset_partition_range_end": end,
                }
            )
        run_tags.pop("dagster/partition", None)  # given as partition_key
        return self.defs.resolve_job_def(job_name).execute_in_process(
            instance=self.instance,
            partition_key=partition_key,
            tags=run_tags,
            run_config=run_config,
            raise_on_error=raise_on_error,
        )


def environment_of(w: World, state_url: str) -> dict[str, str]:
    """The ``SYNCFLOW_*`` variables for a world."""
    s = w.settings
    return {
        "SYNCFLOW_DATABASE_URL": state_url,
        "SYNCFLOW_APISMITH_URL": s.apismith_url,
        "SYNCFLOW_APISMITH_JWT_SECRET": s.apismith_jwt_secret.get_secret_value(),
        "SYNCFLOW_SCHEDULEHUB_URL": s.schedulehub_url,
        "SYNCFLOW_SCHEDULEHUB_JWT_SECRET": s.schedulehub_jwt_secret.get_secret_value(),
        "SYNCFLOW_CHUNK_ROWS": "1000",
        "SYNCFLOW_PARTITIONS_START": START.isoformat(),
        "SYNCFLOW_BACKOFF_BASE_SECONDS": "0.01",
        "SYNCFLOW_BACKOFF_MAX_SECONDS": "0.05",
    }


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with StateStore(url) as store:
        store.upgrade()
    return url


@contextmanager
def dagster_world(
    state_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **options: Any
) -> Iterator[DagsterWorld]:
    """Emulators, the state at ``state_url``, the environment and the definitions;
    ``options`` go to :func:`tests.support.world.world` (``sizes`` ...)."""
    with world(state_url, tmp_path, **options) as w:
        for name, value in environment_of(w, state_url).items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("SYNCFLOW_DAGSTER_EXECUTOR", raising=False)
        home = tmp_path / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        with dg.DagsterInstance.get() as instance:
            yield DagsterWorld(w, build_definitions(), instance, home)


@pytest.fixture
def dworld(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DagsterWorld]:
    """Emulators, SQLite state, the environment and the definitions (in-process)."""
    with dagster_world(sqlite_url, tmp_path, monkeypatch) as dw:
        yield dw


@pytest.fixture
def pg_dworld(
    pg_database_factory: Callable[[], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DagsterWorld]:
    """The same on a PostgreSQL state database of the test's own."""
    url = pg_database_factory()
    with StateStore(url) as store:
        store.upgrade()
    with dagster_world(url, tmp_path, monkeypatch) as dw:
        yield dw


def last_day(w: World) -> str:
    """The last day with ERP data of a world (initial rows over ``days`` days)."""
    import datetime as dt

    return (START + dt.timedelta(days=w.days - 1)).isoformat()
