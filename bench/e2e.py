"""End to end through the Dagster definitions: N items (default 1,000,000) served by the
APISmith emulator, synced by the ``sync_items`` job into the ScheduleHub emulator, with the
state in a PostgreSQL database of its own.

    uv run python bench/e2e.py [--items 1000000] [--days 7]

Prints, for (a) the initial full load, (b) a no-change re-sync, (c) a re-sync after 1 % of
the rows changed in the ERP: wall time, rows/s, rows written to ScheduleHub, the seconds of
each of the nine stages (from the materialization's metadata), and peak memory. Then, in
the same run, the transport floor: a bare client that only pages through APISmith (the
same page size and prefetch) and posts the same records, built beforehand, to a fresh
ScheduleHub in batches of 1000 (the same requests in flight), and the ratio SyncFlow /
floor. Both emulators run in processes of their own on the same two cores. Prints
figures; asserts nothing.

The job runs in this process (``execute_in_process`` on the definitions built from the
``SYNCFLOW_*`` environment, a Dagster instance in a temp dir): what is measured is the
sync, not the start-up of the ``dagster`` command line (about 3 s, the same for any job).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import os
import pstats
import resource
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
from psycopg import sql
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402
from measure import cpu_seconds, machine_busy_seconds  # noqa: E402

from syncflow_core.catalog import load_catalog  # noqa: E402
from syncflow_core.clients.apismith import ApiSmithClient  # noqa: E402
from syncflow_core.clients.schedulehub import ScheduleHubClient  # noqa: E402
from syncflow_core.emulators.schedulehub import create_app as schedulehub_app  # noqa: E402
from syncflow_core.emulators.schedulehub_service import ScheduleHubConfig  # noqa: E402
from syncflow_core.emulators.servers import run_in_process  # noqa: E402
from syncflow_core.ingest import encode_bodies  # noqa: E402
from syncflow_core.metrics import OUTCOMES  # noqa: E402
from syncflow_core.normalize.batch import prepare  # noqa: E402
from syncflow_core.settings import Settings  # noqa: E402
from syncflow_core.track import record_fields  # noqa: E402
from syncflow_dagster.demo.emulators import Emulators, emulators  # noqa: E402

ADMIN = os.environ.get("SYNCFLOW_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
START = dt.date(2025, 1, 1)
ENTITY = "items"


class PeakRss:
    """The highest resident set size of this process while it runs (sampled every 50 ms),
    so each phase gets its own peak rather than the process's lifetime high."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.is_set():
            rss = int(Path("/proc/self/statm").read_text().split()[1]) * page
            self.peak = max(self.peak, rss)
            self._stop.wait(0.05)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mb(self) -> float:
        return self.peak / 2**20


def written(systems: Emulators) -> int:
    """Writes ScheduleHub has applied to items so far (inserts, updates, deletes)."""
    entity = systems.hub_stats()["entities"][ENTITY]
    return sum(int(entity[kind]["applied"]) for kind in ("insert", "update", "delete"))


def run_sync(
    defs: dg.Definitions, instance: dg.DagsterInstance, first: dt.date, last: dt.date
) -> dict[str, Any]:
    """``sync_items`` over the whole range as one run; the materialization's metadata."""
    result = defs.resolve_job_def(f"sync_{ENTITY}").execute_in_process(
        instance=instance,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
    )
    if not result.success:
        raise SystemExit("the run failed")
    record = instance.fetch_materializations(dg.AssetKey(ENTITY), limit=1).records[0]
    metadata = record.asset_materialization.metadata  # type: ignore[union-attr]
    return {k: getattr(v, "value", v) for k, v in metadata.items()}


def report(
    label: str, wall: float, m: dict[str, Any], writes: int, peak: float, cpu: tuple[float, float]
) -> None:
    stages = {k.removeprefix("seconds_"): v for k, v in m.items() if k.startswith("seconds_")}
    stages.pop("work", None)
    fetched = int(m.get("rows_fetched", 0))
    print(f"\n{label}: {wall:6.2f} s wall, {fetched:,} rows fetched, {fetched / wall:,.0f} rows/s")
    print("  " + "  ".join(f"{k.removeprefix('rows_')} {int(m.get(k, 0)):,}" for k in OUTCOMES))
    print(f"  writes to ScheduleHub: {writes:,}")
    print("  stage seconds: " + "  ".join(f"{k} {float(v):.2f}" for k, v in stages.items()))
    print(f"  peak memory (this process, the run included): {peak:,.0f} MB")
    own, busy = cpu
    per_cpu = f", {fetched / own:,.0f} rows per CPU second" if own > 0 else ""
    print(f"  CPU of this process (Dagster and SyncFlow): {own:.2f} s{per_cpu}")
    print(
        f"  CPU of the whole machine (emulators and PostgreSQL too): {busy:.2f} s of "
        f"{(os.cpu_count() or 1) * wall:.2f} s available"
    )


PROFILE: list[str] = []


def measured(work: Callable[[], Any]) -> tuple[Any, float, float, tuple[float, float]]:
    """``work()``, its wall seconds, this process's peak RSS (MB), and the CPU seconds of
    this process and of the whole machine."""
    profiler = cProfile.Profile() if PROFILE else None
    with PeakRss() as peak:
        cpu, busy = cpu_seconds(), machine_busy_seconds()
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        out = work()
        if profiler is not None:
            profiler.disable()
        wall = time.perf_counter() - started
        cpu, busy = cpu_seconds() - cpu, machine_busy_seconds() - busy
    if profiler is not None:
        stats = pstats.Stats(profiler)
        stats.sort_stats(PROFILE[0]).print_stats(30)
    return out, wall, peak.mb, (cpu, busy)


def transport_floor(settings: Settings, systems: Emulators, workdir: Path) -> tuple[float, float]:
    """Seconds to page through every item with a bare client, and to post the same records
    (built beforehand, not timed) to a fresh ScheduleHub in batches of 1000."""
    spec = load_catalog()[ENTITY]
    with ApiSmithClient(settings) as erp:
        started = time.perf_counter()
        pages = list(erp.pages(ENTITY))
        fetch = time.perf_counter() - started
    prepared = prepare(spec, pl.concat(pages, how="vertical_relaxed")).records
    del pages
    fields = record_fields(spec)
    ops = prepared.select(
        pl.lit("insert").alias("op"),
        pl.lit(None, pl.String).alias("uid"),
        encode_bodies(prepared, fields),
    )
    del prepared
    hub_secret = secrets.token_urlsafe(32)
    fresh = run_in_process(
        schedulehub_app,
        ScheduleHubConfig(storage=str(workdir / "floor-hub.db"), jwt_secret=hub_secret),
    )
    try:
        hub_settings = settings.model_copy(
            update={"schedulehub_url": fresh.url, "schedulehub_jwt_secret": SecretStr(hub_secret)}
        )
        with ScheduleHubClient(hub_settings) as hub:
            started = time.perf_counter()
            answered = hub.apply(ENTITY, ops)
            post = time.perf_counter() - started
        bad = answered.filter(pl.col("status") != 201).height
        if bad:
            print(f"  (floor: {bad:,} posts not answered 201)")
    finally:
        fresh.stop()
    return fetch, post


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument(
        "--instance",
        choices=["postgres", "sqlite"],
        default="postgres",
        help="Dagster instance storage: deploy/dagster-postgres.yaml (default) or dagster.yaml",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument(
        "--profile",
        choices=["cumulative", "tottime"],
        help="print a cProfile of each sync (this process only), sorted so",
    )
    options = parser.parse_args()
    if options.profile:
        PROFILE.append(options.profile)
    workdir = Path(tempfile.mkdtemp(prefix="syncflow-e2e-"))
    database = f"sf_e2e_{secrets.token_hex(4)}"
    databases = [database, database + "_dagster"]
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        for name in databases:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    state_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
    sizes = {ENTITY: options.items, "work_centers": 1, "orders": 1, "order_lines": 1}
    # one partition more than the data: ERP activity lands right after the latest ROWVERSION
    first, last = START, START + dt.timedelta(days=options.days)
    try:
        with emulators(
            sizes=sizes, start_day=START, days=options.days, storage=workdir / "hub.db"
        ) as systems:
            home = workdir / "dagster_home"
            home.mkdir()
            if options.instance == "postgres":
                shutil.copy(ROOT / "deploy" / "dagster-postgres.yaml", home / "dagster.yaml")
            else:
                shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
            os.environ.update(
                {
                    "DAGSTER_PG_URL": (
                        f"postgresql+psycopg2://postgres@127.0.0.1:5432/{databases[1]}"
                    ),
                    **systems.environment(),
                    "SYNCFLOW_DATABASE_URL": state_url,
                    "SYNCFLOW_PARTITIONS_START": START.isoformat(),
                    "DAGSTER_HOME": str(home),
                }
            )
            from syncflow_dagster.definitions import build_definitions

            settings = Settings()
            defs = build_definitions(settings)
            print(
                f"{options.items:,} items over {options.days} days, one run over "
                f"{first}...{last}; state: PostgreSQL; Dagster instance: {options.instance}; "
                "in-process executor"
            )
            with dg.DagsterInstance.from_config(str(home)) as instance:
                walls: dict[str, float] = {}
                for label in ("(a) initial full load", "(b) no-change re-sync"):
                    before = written(systems)
                    m, wall, peak, cpu = measured(lambda: run_sync(defs, instance, first, last))
                    report(label, wall, m, written(systems) - before, peak, cpu)
                    walls[label[:3]] = wall
                changed = systems.activity(ENTITY, change=options.items // 100)
                print(f"\nERP activity: {changed}")
                before = written(systems)
                m, wall, peak, cpu = measured(lambda: run_sync(defs, instance, first, last))
                report(
                    "(c) re-sync after 1 % changed", wall, m, written(systems) - before, peak, cpu
                )
                walls["(c)"] = wall
            fetch, post = transport_floor(settings, systems, workdir)
            floor = fetch + post
            print(
                f"\ntransport floor: page through APISmith {fetch:.2f} s + post the same "
                f"records in batches of 1000 {post:.2f} s = {floor:.2f} s "
                f"({options.items / floor:,.0f} rows/s)"
            )
            print(f"SyncFlow initial load / floor: {walls['(a)'] / floor:.2f}x")
            print(
                "\ntargets: (a) <= 10 s and <= 1.5x floor: "
                f"{walls['(a)']:.1f} s, {walls['(a)'] / floor:.2f}x; "
                f"(b) <= 3 s: {walls['(b)']:.1f} s; (c) <= 4 s: {walls['(c)']:.1f} s"
            )
            children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(f"peak RSS of an emulator process: {children:,.0f} MB")
    finally:
        if options.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            for name in databases:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


if __name__ == "__main__":
    main()
