"""A full load and a no-change re-sync of N items through the Dagster definitions.

    uv run python bench/dagster_load.py [--items 1000000] [--days 7] [--state postgres|sqlite]

Both emulators run in processes of their own (ScheduleHub on SQLite in a temp dir); the
state store is a PostgreSQL database of its own on 127.0.0.1 (created and dropped here) or
a SQLite file. Each sync is one ``dagster asset materialize -m syncflow_dagster --select
items --partition-range FIRST...LAST`` (CLI start-up included): the full load, a re-sync
(watermarks: nothing to fetch), and a full rescan (every row fetched again, the delta
stage skips them all). Each batch's figures are read back from the materialization
metadata: the seconds in the nine stages (the pipeline) against the run's wall time (the
rest is Dagster and the CLI). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402

from syncflow_dagster.demo.emulators import emulators  # noqa: E402

ADMIN = os.environ.get("SYNCFLOW_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
START = dt.date(2025, 1, 1)


RESCAN = {"ops": {"items": {"ops": {"items_fetch": {"config": {"full_rescan": True}}}}}}


def materialize(
    env: dict[str, str], first: dt.date, last: dt.date, config: dict[str, Any] | None = None
) -> float:
    """One CLI run over the range; its wall seconds."""
    command = [
        str(Path(sys.executable).with_name("dagster")),
        "asset", "materialize", "-m", "syncflow_dagster", "--select", "items",
        "--partition-range", f"{first}...{last}",
    ]  # fmt: skip
    if config is not None:
        command += ["--config-json", json.dumps(config)]
    started = time.perf_counter()
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
    return seconds


def last_metadata(home: str) -> dict[str, Any]:
    with dg.DagsterInstance.from_config(home) as instance:
        record = instance.fetch_materializations(dg.AssetKey("items"), limit=1).records[0]
        metadata = record.asset_materialization.metadata  # type: ignore[union-attr]
        return {k: getattr(v, "value", v) for k, v in metadata.items()}


def report(label: str, wall: float, m: dict[str, Any]) -> None:
    stages = {k.removeprefix("seconds_"): v for k, v in m.items() if k.startswith("seconds_")}
    work = stages.pop("work")
    print(
        f"{label}: wall {wall:.1f} s; batch {m['seconds']:.1f} s, stages {work:.1f} s; "
        f"fetched {m['rows_fetched']:,}, inserted {m['rows_inserted']:,}, "
        f"skipped {m['rows_skipped']:,}, failed {m['rows_failed']:,}; "
        f"{m['rows_fetched'] / wall if wall else 0:,.0f} rows/s over the wall time"
    )
    print("   stage seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--state", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (Dagster home)")
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="syncflow-bench-"))
    database = f"sf_bench_{secrets.token_hex(4)}"
    try:
        if options.state == "postgres":
            with psycopg.connect(ADMIN, autocommit=True) as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            state_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
        else:
            state_url = f"sqlite:///{workdir / 'state.db'}"
        sizes = {"items": options.items, "work_centers": 1, "orders": 1, "order_lines": 1}
        print(f"starting emulators: {options.items:,} items over {options.days} days")
        with emulators(
            sizes=sizes, start_day=START, days=options.days, storage=workdir / "hub.db"
        ) as systems:
            home = workdir / "dagster_home"
            home.mkdir()
            shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
            env = {
                **systems.environment(),
                "SYNCFLOW_DATABASE_URL": state_url,
                "SYNCFLOW_PARTITIONS_START": START.isoformat(),
                "DAGSTER_HOME": str(home),
            }
            last = START + dt.timedelta(days=options.days - 1)
            print(f"state: {options.state}; range {START}...{last} as one run")
            wall = materialize(env, START, last)
            report("full load", wall, last_metadata(str(home)))
            wall = materialize(env, START, last)
            report("no-change re-sync", wall, last_metadata(str(home)))
            wall = materialize(env, START, last, RESCAN)
            report("no-change full rescan", wall, last_metadata(str(home)))
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak RSS of a child process (emulators or a dagster run): {peak:,.0f} MB")
    finally:
        if options.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        if options.state == "postgres":
            with psycopg.connect(ADMIN, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(database)
                    )
                )


if __name__ == "__main__":
    main()
