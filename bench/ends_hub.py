"""ScheduleHub half of the ends benchmark: rows/s through the batch client.

The emulator runs in its own process (uvicorn, uvloop, httptools), the client in this one,
both on the same machine. Prints figures, asserts nothing.

    uv run python bench/ends_hub.py --rows 300000
    uv run python bench/ends_hub.py --rows 100000 --entity order_lines
    uv run python bench/ends_hub.py --storage postgresql+psycopg://postgres@127.0.0.1:5432/db
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

import polars as pl
import polars_hash as plh

from syncflow_core.catalog import load_catalog
from syncflow_core.clients.schedulehub import ScheduleHubClient
from syncflow_core.emulators._run import RunningServer, run_in_process
from syncflow_core.emulators.schedulehub import ScheduleHubConfig, create_app
from syncflow_core.settings import Settings

SECRET = "bench-secret-bench-secret-bench-secret"


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU of a process, from /proc (Linux)."""
    if pid is None:
        return float("nan")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int | None) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    if pid is None:
        return float("nan")
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _records(entity: str, rows: int, offset: int, parents: dict[str, pl.Series]) -> pl.DataFrame:
    """Valid records of ``entity``, built column-wise; parent uids drawn from ``parents``."""
    spec = load_catalog()[entity]
    i = pl.int_range(offset, offset + rows, eager=True)
    columns: dict[str, pl.Series] = {}
    for f in spec.fields:
        kind, oracle = f.value_type.value, f.oracle
        if kind == "string":
            width = min(oracle.precision or 40, 40)
            text = (pl.lit(f.target[:3].upper() + "-") + i.cast(pl.String)).str.slice(0, width)
            columns[f.target] = pl.select(text).to_series()
        elif kind == "integer":
            columns[f.target] = i % 100
        elif kind == "float":
            columns[f.target] = i.cast(pl.Float64) / 4
        elif kind == "boolean":
            columns[f.target] = i % 2 == 0
        else:
            start = dt.datetime(2025, 1, 1)
            columns[f.target] = pl.select(pl.lit(start) + pl.duration(seconds=i)).to_series()
    key = pl.select(pl.concat_str([pl.lit(f"{entity}:"), pl.lit(i)])).to_series()
    frame = (
        pl.DataFrame(columns)
        .with_columns(key.alias("k"))
        .with_columns(
            erp_key_hash=plh.col("k").chash.blake3().str.slice(0, 32),
            erp_data_hash=plh.col("k").chash.blake3(),
            erp_rowversion=pl.lit(dt.datetime(2025, 12, 8, 10, 30)),
        )
        .drop("k")
    )
    for ref in spec.parents:
        pool = parents[ref.uid_field]
        frame = frame.with_columns(pool.gather(i % pool.len()).alias(ref.uid_field))
    return frame


def _ops(frame: pl.DataFrame, op: str, uids: pl.Series | None = None) -> pl.DataFrame:
    body = frame.select(pl.struct(pl.all()).struct.json_encode()).to_series()
    return pl.DataFrame(
        {
            "op": [op] * frame.height,
            "uid": uids if uids is not None else pl.Series([None] * frame.height, dtype=pl.String),
            "body": body if op != "delete" else pl.Series([None] * frame.height, dtype=pl.String),
        }
    )


FIGURES: dict[
    str, list[tuple[float, float, float]]
] = {}  # label -> (rows/s, µs/row server, client)


def _timed(
    label: str, client: ScheduleHubClient, entity: str, ops: pl.DataFrame, server: RunningServer
) -> pl.DataFrame:
    cpu_client, cpu_server = time.process_time(), _cpu_seconds(server.pid)
    start = time.perf_counter()
    out = client.apply(entity, ops)
    seconds = time.perf_counter() - start
    cpu_client = time.process_time() - cpu_client
    cpu_server = _cpu_seconds(server.pid) - cpu_server
    statuses = dict(out.group_by("status").len().iter_rows())
    per_row = 1e6 / ops.height
    FIGURES.setdefault(label, []).append(
        (ops.height / seconds, cpu_server * per_row, cpu_client * per_row)
    )
    print(
        f"{label:<8} {entity:<12} {ops.height:>9,} rows {seconds:7.2f} s "
        f"{ops.height / seconds:>10,.0f} rows/s  cpu client {cpu_client:5.2f} s "
        f"server {cpu_server:5.2f} s  statuses {statuses}"
    )
    return out


def _parents(client: ScheduleHubClient, entity: str, server: RunningServer) -> dict[str, pl.Series]:
    """Insert a few parents so that children can refer to them."""
    uids: dict[str, pl.Series] = {}
    for ref in load_catalog()[entity].parents:
        frame = _records(ref.entity, 5000, 0, {})
        out = _timed("parents", client, ref.entity, _ops(frame, "insert"), server)
        uids[ref.uid_field] = out["result_uid"]
    return uids


def _summary() -> None:
    for label, runs in FIGURES.items():
        if label == "parents":
            continue
        rates = sorted(r for r, _, _ in runs)
        server = sum(s for _, s, _ in runs) / len(runs)
        client = sum(c for _, _, c in runs) / len(runs)
        print(
            f"{label:<8} best {rates[-1]:>9,.0f} rows/s, median {rates[len(rates) // 2]:>9,.0f}"
            f"; CPU per row: server {server:5.1f} µs, client {client:4.1f} µs"
        )
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--entity", default="items")
    parser.add_argument("--chunk", type=int, default=100_000, help="rows per apply() call")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--storage", default=None, help="SQLite path or SQLAlchemy URL")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="bench_hub_")
    storage = args.storage or str(Path(workdir) / "schedulehub.db")
    config = ScheduleHubConfig(storage=storage, jwt_secret=SECRET)
    server = run_in_process(create_app, config)
    settings = Settings(
        schedulehub_url=server.url,
        schedulehub_jwt_secret=SECRET,
        batch_size=args.batch_size,
        max_in_flight=args.in_flight,
    )
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(
        f"ScheduleHub emulator at {server.url} (own process), storage "
        f"{'SQLite file' if args.storage is None else args.storage.split('@')[-1]}; "
        f"batch {args.batch_size}, in flight {args.in_flight}, {os.cpu_count()} cores"
    )
    try:
        with ScheduleHubClient(settings) as client:
            parents = _parents(client, args.entity, server)
            frames = [
                _records(args.entity, min(args.chunk, args.rows - s), s, parents)
                for s in range(0, args.rows, args.chunk)
            ]
            inserted = [
                _timed("insert", client, args.entity, _ops(f, "insert"), server) for f in frames
            ]
            total = sum(f.height for f in frames)
            start = time.perf_counter()
            pages = sum(p.height for p in client.index(args.entity))
            seconds = time.perf_counter() - start
            print(
                f"index    {args.entity:<12} {pages:>9,} rows {seconds:7.2f} s "
                f"{pages / seconds:>10,.0f} rows/s"
            )
            _timed("repeat", client, args.entity, _ops(frames[0], "insert"), server)
            changed = frames[0].with_columns(erp_rowversion=pl.lit(dt.datetime(2025, 12, 9)))
            _timed(
                "update",
                client,
                args.entity,
                _ops(changed, "update", inserted[0]["result_uid"]),
                server,
            )
            _timed(
                "delete",
                client,
                args.entity,
                _ops(frames[0], "delete", inserted[0]["result_uid"]),
                server,
            )
            print(f"total inserted {total:,}; server memory {_rss_mb(server.pid):,.0f} MB")
            _summary()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
