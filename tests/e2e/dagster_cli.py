"""``dagster job execute`` of the real definitions against both emulators, then a check
that ScheduleHub equals the source. CI runs it as a script::

    uv run python -m tests.e2e.dagster_cli            # sync_all, in-process executor
    uv run python -m tests.e2e.dagster_cli --executor multiprocess

The emulators run in processes of their own on free ports; the ERP's rows all lie in one
day, so that one partition is the whole source.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncflow_core.env import SyncEnv
from syncflow_core.settings import Settings
from syncflow_dagster.demo.emulators import Emulators, emulators, sizes_for
from tests.support.world import World

ROOT = Path(__file__).resolve().parents[2]
DAY = dt.date(2025, 1, 1)


@dataclass
class CliWorld:
    """Emulators, a state database, a Dagster home, and the environment for the CLI."""

    systems: Emulators
    environment: dict[str, str]
    workdir: Path

    def dagster(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the ``dagster`` CLI (of this environment) in the repository root."""
        command = [str(Path(sys.executable).with_name("dagster")), *args]
        done = subprocess.run(
            command,
            cwd=ROOT,
            env={**os.environ, **self.environment},
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

    def settings(self) -> Settings:
        """The core settings the CLI runs saw."""
        values = {k.removeprefix("SYNCFLOW_").lower(): v for k, v in self.environment.items()}
        return Settings(**{k: v for k, v in values.items() if k in Settings.model_fields})

    def assert_schedulehub_equals_source(self) -> dict[str, int]:
        """ScheduleHub holds exactly the prepared source (see ``World.assert_exact``)."""
        with SyncEnv.from_settings(self.settings()) as env:
            checker = World(erp=None, hub=None, settings=env.settings, env=env, days=1)  # type: ignore[arg-type]
            return checker.assert_exact()


@contextmanager
def cli_world(
    workdir: Path,
    *,
    items: int = 3000,
    executor: str = "in_process",
    days: int = 1,
    extra: dict[str, str] | None = None,
) -> Iterator[CliWorld]:
    """Both emulators with ``items`` items on ``days`` days from :data:`DAY`; ``extra``
    variables go into the CLI's environment too."""
    with emulators(
        sizes=sizes_for(items), start_day=DAY, days=days, storage=workdir / "hub.db"
    ) as systems:
        home = workdir / "dagster_home"
        home.mkdir(exist_ok=True)
        shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
        environment = {
            **systems.environment(),
            "SYNCFLOW_DATABASE_URL": f"sqlite:///{workdir / 'state.db'}",
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--executor", default="in_process", choices=["in_process", "multiprocess"])
    parser.add_argument("--items", type=int, default=3000)
    options = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="syncflow-e2e-"))
    try:
        with cli_world(workdir, items=options.items, executor=options.executor) as world:
            started = time.perf_counter()
            args = ["job", "execute", "-m", "syncflow_dagster", "-j", "sync_all"]
            print("$ dagster", *args, "--tags", partition_tags(DAY), flush=True)
            world.dagster(*args, "--tags", partition_tags(DAY))
            print(f"sync_all took {time.perf_counter() - started:.1f} s ({options.executor})")
            counts: dict[str, Any] = world.assert_schedulehub_equals_source()
            print("ScheduleHub equals the source:", counts)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
