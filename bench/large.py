"""Background sync of a large items table: does memory stay flat and throughput hold as the
table grows?

For each size (default 1M, 3M and 7M rows; about ``--rows-per-day`` rows of ERP activity
a day, so 7M rows lie over 7 days), with fresh emulators (each in a process of its own;
APISmith generates the rows from their index, it holds none) and a fresh PostgreSQL state
database:

1. a process plans the background sync (``plan_background``: a key-and-rowversion scan cut
   into slices of ``--rows-per-day`` rows, one a day);
2. the slices run back to back (``run_slice``, chunks of ``--chunk-rows`` rows, state
   committed after each), each in a process of its own as the daily schedule runs them
   (a run a day), or with ``--one-process`` all in one process, as a backfill's single
   run does.

The ScheduleHub emulator stands in for a remote system, but its SQLite file (about 450
bytes a record, 3.1 GB at 7M) is written on this machine: on disk, the kernel's write-back
of those gigabytes slowed every process of the later slices (the 7M run's slices fell
from 43k to 33k rows/s; with the file in memory they held 43-45k, the emulator's CPU per
slice flat instead of +40 %). So it lives in ``/dev/shm`` when that has room
(``--hub-dir`` to choose). The state's PostgreSQL stays where its server keeps it.

Prints, per size, rows/s of the slices (wall time), rows per CPU second of the syncing
process (less sensitive to other work on a shared machine) and the peak resident memory
(``ru_maxrss``) of each process, then the ratios of the largest size to the smallest, of
the medians and slice by slice (first slices against the largest size's later ones, and
the mean peak of a slice). The APISmith emulator does the same work for every slice (it
generates the slice's rows), so its CPU seconds per slice show how fast the shared machine
ran: on the 2-core machines they moved from 1.5 to 2.3 s within one run, and a ratio of
slices is only as good as that line says. Asserts nothing.

    uv run python bench/large.py                       # 1M, 3M, 7M
    uv run python bench/large.py 1000000 3000000      # some sizes only
    uv run python bench/large.py --admin-url postgresql://postgres@127.0.0.1:5433/postgres
    uv run python bench/large.py 1000000 7000000 --repeat 3   # medians of 3 rounds

On a shared machine one slice's rows/s moves by about 10 % from run to run (the same first
slice: 70k to 86k rows/s on one day); ``--repeat N`` runs the sizes in N interleaved
rounds and compares the medians.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from measure import cpu_seconds, machine_busy_seconds, peak_mb

A_SECRET = "bench-apismith-secret-0123456789abcdef"  # bench-only
H_SECRET = "bench-schedulehub-secret-0123456789ab"  # bench-only
START = dt.date(2025, 1, 1)
ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
#: the PostgreSQL settings that decide how the state's writes scale (docs/operations.md)
#: the ScheduleHub emulator's SQLite file per record (3.1 GB at 7M)
HUB_BYTES_PER_RECORD = 450
PG_SETTINGS = ("shared_buffers", "max_wal_size", "wal_compression", "checkpoint_timeout")


def server_settings(admin: str) -> str:
    """The settings of ``PG_SETTINGS`` on the server of ``admin``, as ``name=value`` text."""
    with psycopg.connect(admin) as conn:
        values = {
            name: conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
            for name in PG_SETTINGS
        }
    return ", ".join(f"{name}={v[0] if v else '?'}" for name, v in values.items())


def database_url(admin: str, database: str) -> str:
    """The SQLAlchemy URL of ``database`` on the server of the libpq URL ``admin``."""
    server = admin.split("://", 1)[1].rsplit("/", 1)[0]
    return f"postgresql+psycopg://{server}/{database}"


def cpu_by_side() -> dict[str, float]:
    """CPU seconds so far of this process, each emulator (their pids in ``BENCH_PIDS``)
    and the whole machine."""
    pids = json.loads(os.environ.get("BENCH_PIDS", "{}"))
    sides = {name: cpu_seconds(pid) for name, pid in pids.items()}
    return {"syncflow": cpu_seconds(), **sides, "machine": machine_busy_seconds()}


def child(step: str, only: list[int] | None = None) -> None:
    """One step in this process (settings from the environment): the plan, or the slices
    ``only`` (default: all) back to back; prints a JSON line."""
    from syncflow_core.background import plan_background, run_slice
    from syncflow_core.env import SyncEnv
    from syncflow_core.settings import Settings

    started = time.perf_counter()
    with SyncEnv.from_settings(Settings()) as env:
        if step == "plan":
            plan = plan_background(env, "items")
            out: dict[str, Any] = {"rows": plan.rows, "slices": plan.slices.height}
        else:
            slices = []
            plan_id = env.store.schedule.latest_plan_id("items")
            assert plan_id is not None
            count = env.store.schedule.plan(plan_id).height
            for slice_no in only if only is not None else range(count):
                began, cpu, sides = time.perf_counter(), cpu_seconds(), cpu_by_side()
                result = run_slice(env, "items", slice_no, plan_id=plan_id)
                assert result is not None, f"slice {slice_no} was done already"
                assert result.status == "succeeded", result
                seconds = time.perf_counter() - began
                rows = result.metrics.rows_fetched
                cpu = cpu_seconds() - cpu
                spent = {k: v - sides[k] for k, v in cpu_by_side().items()}
                spent["postgres+rest"] = spent.pop("machine") - sum(spent.values())
                split = ", ".join(f"{k} {v:.1f}" for k, v in spent.items())
                slices.append(
                    {
                        "rows": rows,
                        "seconds": seconds,
                        "cpu": cpu,
                        "peak_mb": peak_mb(),
                        "apismith_cpu": spent.get("apismith", 0.0),
                    }
                )
                stages = result.metrics.stage_seconds
                busiest = sorted(stages, key=stages.__getitem__, reverse=True)[:4]
                shown = ", ".join(f"{name} {stages[name]:.1f}" for name in busiest)
                print(
                    f"    slice {slice_no}: {rows:,} rows, {rows / seconds:,.0f} rows/s, "
                    f"{cpu:.1f} CPU s, peak {peak_mb():,.0f} MB (stage seconds: {shown})\n"
                    f"      CPU s by process: {split}",
                    file=sys.stderr,
                    flush=True,
                )
            out = {"rows": sum(s["rows"] for s in slices), "slices": slices}
    out["seconds"] = time.perf_counter() - started
    out["peak_mb"] = peak_mb()
    print(json.dumps(out), flush=True)


def run_child(
    step: str, environment: dict[str, str], only: list[int] | None = None
) -> dict[str, Any]:
    chosen = ["--slices", ",".join(map(str, only))] if only is not None else []
    done = subprocess.run(
        [sys.executable, __file__, "--child", step, *chosen],
        env={**os.environ, **environment},
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def sync_slices(environment: dict[str, str], slices: int, *, one_process: bool) -> dict[str, Any]:
    """Every slice: in one process (a backfill as one run), or each in a process of its own
    (the daily schedule: a run a day); the peak is the largest process's."""
    if one_process:
        return run_child("sync", environment)
    runs = [run_child("sync", environment, [n]) for n in range(slices)]
    return {
        "rows": sum(r["rows"] for r in runs),
        "slices": [s for r in runs for s in r["slices"]],
        "peak_mb": max(r["peak_mb"] for r in runs),
    }


def hub_directory(chosen: str | None, rows: int) -> str | None:
    """Where the ScheduleHub emulator keeps its SQLite file: ``chosen``, else ``/dev/shm``
    when it has room for ``rows`` records (about 450 bytes each), else the temp directory
    (``None``)."""
    if chosen:
        return chosen
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > 2 * HUB_BYTES_PER_RECORD * rows:
        return str(shm)
    return None


def one_size(
    rows: int,
    rows_per_day: int,
    chunk_rows: int,
    one_process: bool,
    admin: str,
    hub_dir: str | None,
) -> dict[str, Any]:
    from syncflow_core.emulators.apismith import ApiSmithConfig
    from syncflow_core.emulators.apismith import create_app as apismith_app
    from syncflow_core.emulators.schedulehub import ScheduleHubConfig
    from syncflow_core.emulators.schedulehub import create_app as schedulehub_app
    from syncflow_core.emulators.servers import run_in_process
    from syncflow_core.state import StateStore

    work = Path(tempfile.mkdtemp(prefix="sf-large-", dir=hub_dir))
    database = f"sf_large_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as server:
        server.execute(f'CREATE DATABASE "{database}"')
    state_url = database_url(admin, database)
    with StateStore(state_url) as store:
        store.upgrade()
    days = max(1, math.ceil(rows / rows_per_day))
    sizes = {"items": rows, "work_centers": 10, "orders": 10, "order_lines": 10}
    erp = run_in_process(
        apismith_app,
        ApiSmithConfig(sizes=sizes, days=days, start_day=START, jwt_secret=A_SECRET),
    )
    hub = run_in_process(
        schedulehub_app, ScheduleHubConfig(storage=str(work / "hub.db"), jwt_secret=H_SECRET)
    )
    environment = {
        "SYNCFLOW_DATABASE_URL": state_url,
        "SYNCFLOW_APISMITH_URL": erp.url,
        "SYNCFLOW_APISMITH_JWT_SECRET": A_SECRET,
        "SYNCFLOW_SCHEDULEHUB_URL": hub.url,
        "SYNCFLOW_SCHEDULEHUB_JWT_SECRET": H_SECRET,
        "SYNCFLOW_ROWS_PER_DAY": str(rows_per_day),
        "SYNCFLOW_BACKGROUND_CHUNK_ROWS": str(chunk_rows),
        "BENCH_PIDS": json.dumps({"apismith": erp.pid, "schedulehub": hub.pid}),
    }
    try:
        print(f"{rows:,} items over {days} days", file=sys.stderr, flush=True)
        plan = run_child("plan", environment)
        print(
            f"  plan: {plan['slices']} slices in {plan['seconds']:.1f} s, "
            f"peak {plan['peak_mb']:,.0f} MB",
            file=sys.stderr,
            flush=True,
        )
        sync = sync_slices(environment, plan["slices"], one_process=one_process)
    finally:
        erp.stop()
        hub.stop()
        with psycopg.connect(admin, autocommit=True) as server:
            server.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)  # 3 GB at 7M records
    seconds = sum(s["seconds"] for s in sync["slices"])
    cpu = sum(s["cpu"] for s in sync["slices"])
    return {
        "rows": rows,
        "slices": len(sync["slices"]),
        "synced": sync["rows"],
        "seconds": seconds,
        "rows_per_second": sync["rows"] / seconds if seconds else 0.0,
        "rows_per_cpu_second": sync["rows"] / cpu if cpu else 0.0,
        "sync_peak_mb": sync["peak_mb"],
        "plan_seconds": plan["seconds"],
        "plan_peak_mb": plan["peak_mb"],
        "slice_rates": [s["rows"] / s["seconds"] for s in sync["slices"]],
        "slice_peaks_mb": [s["peak_mb"] for s in sync["slices"]],
        "slice_apismith_cpu": [s["apismith_cpu"] for s in sync["slices"]],
    }


def main() -> None:
    from syncflow_core.settings import Settings

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1_000_000, 3_000_000, 7_000_000])
    parser.add_argument("--rows-per-day", type=int, default=1_000_000)
    chunk_rows = Settings.model_fields["background_chunk_rows"].default
    parser.add_argument(
        "--chunk-rows", type=int, default=chunk_rows, help=f"the setting's default: {chunk_rows:,}"
    )
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="run every slice in one process (a backfill as one run); default: a process per "
        "slice (the daily schedule, a run a day)",
    )
    parser.add_argument(
        "--admin-url",
        default=ADMIN,
        help="libpq URL of the PostgreSQL server for the state (a database is created and "
        f"dropped on it per size; default {ADMIN})",
    )
    parser.add_argument(
        "--hub-dir",
        help="directory of the ScheduleHub emulator's SQLite file (default: /dev/shm when it "
        "has room, else the temp directory)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of all sizes, interleaved; the ratios compare each size's medians",
    )
    parser.add_argument("--child", choices=["plan", "sync"], help=argparse.SUPPRESS)
    parser.add_argument("--slices", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, [int(n) for n in args.slices.split(",")] if args.slices else None)
        return
    settings = server_settings(args.admin_url)
    # chosen once, for the largest size, so that every size's file is where the header says
    hub = hub_directory(args.hub_dir, max(args.sizes)) or tempfile.gettempdir()
    print(f"state server: {settings}; ScheduleHub emulator's file in {hub}", file=sys.stderr)
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in args.sizes}
    for _ in range(max(1, args.repeat)):
        for n in args.sizes:
            runs[n].append(
                one_size(
                    n,
                    args.rows_per_day,
                    args.chunk_rows,
                    args.one_process,
                    args.admin_url,
                    hub,
                )
            )
    how = "all in one process" if args.one_process else "a process per slice"
    print(
        f"\nbackground sync, slices of {args.rows_per_day:,} rows ({how}), chunks of "
        f"{args.chunk_rows:,} rows, state on PostgreSQL ({settings}), ScheduleHub emulator's "
        f"file in {hub}"
    )
    print(
        f"{'rows':>10}  {'run':>6}  {'synced':>10}  {'seconds':>8}  {'rows/s':>8}  "
        f"{'rows/CPU s':>10}  {'sync peak MB':>12}  {'plan s':>7}  {'plan peak MB':>12}"
    )
    medians = []
    for n in args.sizes:
        rows = [(str(i + 1), r) for i, r in enumerate(runs[n])]
        if len(runs[n]) > 1:
            rows.append(("median", median_of(runs[n])))
        for label, r in rows:
            print(
                f"{r['rows']:>10,}  {label:>6}  {r['synced']:>10,}  {r['seconds']:>8.1f}  "
                f"{r['rows_per_second']:>8,.0f}  {r['rows_per_cpu_second']:>10,.0f}  "
                f"{r['sync_peak_mb']:>12,.0f}  "
                f"{r['plan_seconds']:>7.1f}  {r['plan_peak_mb']:>12,.0f}"
            )
        medians.append(rows[-1][1])
    if len(medians) > 1:
        small, large = medians[0], medians[-1]
        label = f"{large['rows'] / 1e6:g}M/{small['rows'] / 1e6:g}M"
        print(
            f"\nratios {label}: rows/s {large['rows_per_second'] / small['rows_per_second']:.3f}, "
            f"rows per CPU second "
            f"{large['rows_per_cpu_second'] / small['rows_per_cpu_second']:.3f}, "
            f"sync peak memory {large['sync_peak_mb'] / small['sync_peak_mb']:.3f}, "
            f"plan peak memory {large['plan_peak_mb'] / small['plan_peak_mb']:.3f}"
        )
        print(slice_summary(runs[args.sizes[0]], runs[args.sizes[-1]]))


def slice_summary(small: list[dict[str, Any]], large: list[dict[str, Any]]) -> str:
    """The same comparison slice by slice, over every round: first slices (slice 0 of
    every run, the same work whatever the size) against the largest size's later slices,
    and the mean peak of a slice (its process's peak, with a process per slice) of the
    smallest size against the largest's. Less noisy than the ratios of the medians: more
    slices, and a mean of peaks rather than the largest of many processes against one."""
    first = [r["slice_rates"][0] for r in (*small, *large)]
    later = [rate for r in large for rate in r["slice_rates"][1:]]
    # the APISmith emulator's CPU per slice: the same work in every slice
    canary_first = [r["slice_apismith_cpu"][0] for r in (*small, *large)]
    canary_later = [cpu for r in large for cpu in r["slice_apismith_cpu"][1:]]
    peaks = [
        statistics.mean(p for r in runs for p in r["slice_peaks_mb"]) for runs in (small, large)
    ]
    if not later:
        return "slices: the largest size has a single slice"
    first_mean, later_mean = statistics.mean(first), statistics.mean(later)
    cpu_first, cpu_later = statistics.mean(canary_first), statistics.mean(canary_later)
    return (
        f"slices, every round: first slices {first_mean:,.0f} rows/s ({len(first)}), the "
        f"largest size's later slices {later_mean:,.0f} ({len(later)}): "
        f"{later_mean / first_mean:.3f}; mean peak of a slice {peaks[0]:,.0f} and "
        f"{peaks[1]:,.0f} MB: {peaks[1] / peaks[0]:.3f}\n"
        f"machine speed: the APISmith emulator's CPU for a slice (the same work in every "
        f"slice) {cpu_first:.2f} s in the first slices, {cpu_later:.2f} s in the later ones: "
        f"{cpu_first / cpu_later:.3f}"
    )


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over ``runs`` of one size."""
    return {
        key: statistics.median([r[key] for r in runs]) if isinstance(value, float) else value
        for key, value in runs[0].items()
        if not isinstance(value, list)
    }


if __name__ == "__main__":
    main()
