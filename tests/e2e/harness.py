"""What the end-to-end tests share: both emulators in processes of their own, a state
database, a Dagster home, the ``dagster`` CLI run (or started) as a subprocess, and the
checks a run must leave true.

>>> partition_tags(DAY)
'{"dagster/partition": "2025-01-01"}'
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from syncflow_core.env import SyncEnv
from syncflow_core.metrics import OUTCOMES
from syncflow_core.settings import Settings
from syncflow_dagster.demo.emulators import Emulators, emulators, sizes_for
from tests.support.world import World

ROOT = Path(__file__).resolve().parents[2]
DAY = dt.date(2025, 1, 1)
EXECUTE = ("job", "execute", "-m", "syncflow_dagster", "-j")


@dataclass
class CliWorld:
    """Emulators, a state database, a Dagster home, and the environment for the CLI."""

    systems: Emulators
    environment: dict[str, str]
    workdir: Path

    def dagster(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the ``dagster`` CLI (of this environment) in the repository root; ``env``
        overrides variables of this run only."""
        done = subprocess.run(
            self._command(args),
            cwd=ROOT,
            env=self._env(env),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-4000:]}\n"
                f"{done.stderr[-4000:]}"
            )
        return done

    def start(self, *args: str, name: str, env: dict[str, str] | None = None) -> Started:
        """Start the ``dagster`` CLI in a session of its own (so that :meth:`Started.kill`
        reaches every process it spawns); its output goes to ``<name>.out``/``.err``."""
        out, err = self.workdir / f"{name}.out", self.workdir / f"{name}.err"
        with out.open("w") as stdout, err.open("w") as stderr:
            process = subprocess.Popen(
                self._command(args),
                cwd=ROOT,
                env=self._env(env),
                stdout=stdout,
                stderr=stderr,
                text=True,
                start_new_session=True,
            )
        return Started(process, out, err)

    def execute(
        self, job: str, day: dt.date | None = DAY, *, check: bool = True, **kw: Any
    ) -> subprocess.CompletedProcess[str]:
        """``dagster job execute -j job`` (of partition ``day`` unless None)."""
        tags = ("--tags", partition_tags(day)) if day is not None else ()
        return self.dagster(*EXECUTE, job, *tags, check=check, **kw)

    def _command(self, args: tuple[str, ...]) -> list[str]:
        return [str(Path(sys.executable).with_name("dagster")), *args]

    def _env(self, overrides: dict[str, str] | None) -> dict[str, str]:
        return {**os.environ, **self.environment, **(overrides or {})}

    def settings(self) -> Settings:
        """The core settings the CLI runs saw (read from their environment, as they do)."""
        saved = dict(os.environ)
        os.environ.update(self.environment)
        try:
            return Settings()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    @contextmanager
    def env(self) -> Iterator[SyncEnv]:
        """A SyncEnv on the same state store and systems as the CLI runs."""
        with SyncEnv.from_settings(self.settings()) as env:
            yield env

    def assert_schedulehub_equals_source(
        self, only: tuple[str, ...] | None = None
    ) -> dict[str, int]:
        """ScheduleHub holds exactly the prepared source (see ``World.assert_exact``), of
        ``only`` these entities."""
        with self.env() as env:
            checker = World(erp=None, hub=None, settings=env.settings, env=env, days=1)  # type: ignore[arg-type]
            return checker.assert_exact(only)

    def faults_off(self) -> None:
        """No more injected faults at either end."""
        quiet = {"error_rate": 0.0, "rate_limit_rate": 0.0, "latency_ms": 0.0}
        quiet |= {"clock_ahead_seconds": 0.0}
        self.systems.set_faults("apismith", **quiet, scan_update_share=0.0)
        self.systems.set_faults("schedulehub", **quiet, lost_answer_rate=0.0)

    def batches(self) -> pl.DataFrame:
        """Every ``sync_batches`` row."""
        with self.env() as env:
            return env.store.batches.recent(limit=100_000)

    def assert_accounting(self) -> pl.DataFrame:
        """Every batch's outcomes add up to the rows that entered it; returns the batches."""
        batches = self.batches()
        assert batches.height > 0, "no batch recorded"
        sums = batches.with_columns(accounted=pl.sum_horizontal(*OUTCOMES))
        wrong = sums.filter(pl.col("accounted") != pl.col("rows_fetched"))
        assert wrong.is_empty(), f"batches whose outcomes do not add up:\n{wrong}"
        return batches

    def assert_exact(self, only: tuple[str, ...] | None = None) -> dict[str, int]:
        """The end of every chaos case: faults off, ScheduleHub equal to the source record
        by record (of ``only`` these entities) with no duplicate, every batch's accounting
        adding up."""
        self.faults_off()
        counts = self.assert_schedulehub_equals_source(only)
        self.assert_accounting()
        return counts


@dataclass
class Started:
    """A CLI process started by :meth:`CliWorld.start`."""

    process: subprocess.Popen[str]
    stdout_path: Path
    stderr_path: Path

    def wait(self, timeout: float = 600) -> int:
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL to the whole session: the CLI and whatever it spawned."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=60)

    @property
    def output(self) -> str:
        return self.stdout_path.read_text() + self.stderr_path.read_text()


@contextmanager
def cli_world(
    workdir: Path,
    *,
    items: int = 3000,
    executor: str = "in_process",
    days: int = 1,
    database_url: str | None = None,
    extra: dict[str, str] | None = None,
    apismith: dict[str, Any] | None = None,
) -> Iterator[CliWorld]:
    """Both emulators with ``items`` items on ``days`` days from :data:`DAY`; the state on
    ``database_url`` (default: a SQLite file in ``workdir``); ``extra`` variables go into
    the CLI's environment too; ``apismith`` are further APISmith emulator settings."""
    with emulators(
        sizes=sizes_for(items),
        start_day=DAY,
        days=days,
        storage=workdir / "hub.db",
        apismith_options=apismith,
    ) as systems:
        home = workdir / "dagster_home"
        home.mkdir(exist_ok=True)
        shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
        environment = {
            **systems.environment(),
            "SYNCFLOW_DATABASE_URL": database_url or f"sqlite:///{workdir / 'state.db'}",
            "SYNCFLOW_PARTITIONS_START": DAY.isoformat(),
            "SYNCFLOW_CHUNK_ROWS": "1000",
            "SYNCFLOW_DAGSTER_EXECUTOR": executor,
            "SYNCFLOW_DAGSTER_HANDOFF_DIR": str(workdir / "handoff"),
            "DAGSTER_HOME": str(home),
            **(extra or {}),
        }
        yield CliWorld(systems, environment, workdir)


def partition_tags(day: dt.date) -> str:
    return json.dumps({"dagster/partition": day.isoformat()})
