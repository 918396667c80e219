"""A whole sync of N items through ``syncflow_core.pipeline`` (no Dagster).

Both emulators run in processes of their own on the same machine; the state store is a
fresh PostgreSQL database (or SQLite with --sqlite). Prints, for (a) the initial full
load, (b) a no-change re-sync (watermarks: nothing to fetch), (c) a full re-scan with no
change (the hash path: every row fetched, none written) and (d) a re-sync after 1 % of the
rows changed: wall time, rows/s, the time of each stage and the process's peak memory.

    uv run python bench/pipeline.py --rows 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from measure import cpu_seconds, machine_busy_seconds, peak_mb

from syncflow_core.emulators.apismith import ApiSmithConfig
from syncflow_core.emulators.apismith import create_app as apismith_app
from syncflow_core.emulators.schedulehub import ScheduleHubConfig
from syncflow_core.emulators.schedulehub import create_app as schedulehub_app
from syncflow_core.emulators.servers import run_in_process
from syncflow_core.env import SyncEnv
from syncflow_core.pipeline import BatchResult, sync_window
from syncflow_core.settings import Settings
from syncflow_core.windows import Window

A_SECRET = "bench-apismith-secret-0123456789abcdef"  # bench-only
H_SECRET = "bench-schedulehub-secret-0123456789ab"  # bench-only
START = dt.date(2025, 1, 1)
ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def report(label: str, result: BatchResult, wall: float, cpu: dict[str, float]) -> None:
    m = result.metrics
    rate = m.rows_fetched / wall if wall else 0.0
    print(f"\n{label}: {wall:6.2f} s wall, {m.rows_fetched:,} rows fetched, {rate:,.0f} rows/s")
    print(
        f"  inserted {m.rows_inserted:,}  updated {m.rows_updated:,}  skipped {m.rows_skipped:,}"
        f"  failed {m.rows_failed:,}  pending {m.rows_pending:,}  superseded {m.rows_superseded:,}"
    )
    stages = "  ".join(f"{k} {v:.2f}" for k, v in m.stage_seconds.items())
    print(f"  stage seconds: {stages}")
    print(f"  peak memory so far: {peak_mb():,.0f} MB")
    shown = "  ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items())
    print(f"  CPU seconds: {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--sqlite", action="store_true", help="SQLite state instead of PostgreSQL")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sf-bench-"))
    database = None
    if args.sqlite:
        state_url = f"sqlite:///{work / 'state.db'}"
    else:
        database = f"sf_bench_{secrets.token_hex(4)}"
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')
        state_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
    sizes = {"items": args.rows, "work_centers": 10, "orders": 10, "order_lines": 10}
    erp_config = ApiSmithConfig(
        sizes=sizes, days=args.days, start_day=START, jwt_secret=A_SECRET, failing_share=0.01
    )
    hub_config = ScheduleHubConfig(storage=str(work / "hub.db"), jwt_secret=H_SECRET)
    erp = run_in_process(apismith_app, erp_config)
    hub = run_in_process(schedulehub_app, hub_config)
    try:
        settings = Settings(
            database_url=state_url,
            apismith_url=erp.url,
            apismith_jwt_secret=A_SECRET,
            schedulehub_url=hub.url,
            schedulehub_jwt_secret=H_SECRET,
        )
        windows = Window.days(START, START + dt.timedelta(days=args.days + 1))
        print(f"{args.rows:,} items over {args.days} days; state: {state_url.split('://')[0]}")
        with SyncEnv.from_settings(settings) as env:
            for label, rescan in (
                ("(a) initial full load", False),
                ("(b) no-change re-sync", False),
                ("(c) no-change full re-scan (hash path)", True),
            ):
                run = _measured(
                    erp.pid,
                    hub.pid,
                    lambda r=rescan: sync_window(env, "items", windows, full_rescan=r),
                )
                report(label, *run)
            _change_one_percent(erp.url, args.rows)
            run = _measured(erp.pid, hub.pid, lambda: sync_window(env, "items", windows))
            report("(d) re-sync after 1 % changed", *run)
    finally:
        erp.stop()
        hub.stop()
        if database:
            with psycopg.connect(ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _measured(
    erp_pid: int | None, hub_pid: int | None, work: Callable[[], BatchResult]
) -> tuple[BatchResult, float, dict[str, float]]:
    """Run ``work``; its result, wall seconds, and CPU seconds by process."""
    before = (cpu_seconds(), cpu_seconds(erp_pid), cpu_seconds(hub_pid), machine_busy_seconds())
    started = time.perf_counter()
    result = work()
    wall = time.perf_counter() - started
    after = (cpu_seconds(), cpu_seconds(erp_pid), cpu_seconds(hub_pid), machine_busy_seconds())
    names = ("syncflow", "apismith", "schedulehub", "whole machine")
    cpu = {n: b - a for n, a, b in zip(names, before, after, strict=True)}
    cpu["other (PostgreSQL …)"] = (
        cpu["whole machine"] - cpu["syncflow"] - cpu["apismith"] - cpu["schedulehub"]
    )
    return result, wall, cpu


def _change_one_percent(url: str, rows: int) -> None:
    import httpx

    from syncflow_core.clients.auth import TokenMinter

    token = TokenMinter(A_SECRET, audience="apismith").token()
    response = httpx.post(
        f"{url}/_emulator/activity",
        json={"entity": "items", "change": rows // 100},
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )
    response.raise_for_status()


if __name__ == "__main__":
    main()
