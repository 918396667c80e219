"""Benchmarks of the two ends of SyncFlow: prints figures, asserts nothing.

    uv run python bench/ends.py                      # every section
    uv run python bench/ends.py apismith --rows 1000000
    uv run python bench/ends.py schedulehub --hub-rows 300000 [--entity order_lines]
    uv run python bench/ends.py schedulehub --storage postgresql+psycopg://postgres@127.0.0.1/db
    uv run python bench/ends.py decode

Sections register in ``SECTIONS``; each takes the parsed arguments. Every server runs in
a process of its own (no shared GIL), the client in this one, on the same machine.
``apismith``: rows/s that the emulator serves through ``ApiSmithClient`` into raw frames,
cold (first scan: rows generated) and warm (chunks cached), at the default page size and
at 10000, and the key-only scan. ``schedulehub``: rows/s of ``ScheduleHubClient.apply``
batch inserts (then /index, a repeated load, updates, deletes), CPU per row on each side.
``decode``: ways of turning one page into a frame of String columns. The last lines sum
up the headline figure of each section run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
import polars as pl
import polars_hash as plh

from syncflow_core.catalog import load_catalog
from syncflow_core.clients.apismith import ApiSmithClient
from syncflow_core.clients.pages import decode_page
from syncflow_core.clients.schedulehub import ScheduleHubClient
from syncflow_core.emulators import schedulehub
from syncflow_core.emulators.apismith import ApiSmithConfig, create_app
from syncflow_core.emulators.servers import RunningServer, run_in_process
from syncflow_core.settings import Settings

SECRET = "bench-secret-not-a-real-one-0123456789"
HEADLINES: list[str] = []  # one line per section, printed at the end


@dataclass
class Clock:
    """Wall time, this process's CPU time and the server process's CPU time."""

    server_pid: int | None

    def __post_init__(self) -> None:
        self.wall, self.cpu, self.server_cpu = (
            time.perf_counter(),
            time.process_time(),
            self._server(),
        )

    def _server(self) -> float:
        if self.server_pid is None:
            return 0.0
        with open(f"/proc/{self.server_pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def lap(self) -> tuple[float, float, float]:
        """Seconds since the start: wall, client CPU, server CPU."""
        return (
            time.perf_counter() - self.wall,
            time.process_time() - self.cpu,
            self._server() - self.server_cpu,
        )


def server_rss_mb(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Run:
    """One scan: rows/s, and CPU per page of this process and of the server."""

    rows_per_second: float
    client_ms: float
    server_ms: float
    server_rss_mb: float


def scan(server: RunningServer, **pages_args: object) -> Run:
    settings = Settings(apismith_url=server.url, apismith_jwt_secret=SECRET)
    with ApiSmithClient(settings) as client:
        clock = Clock(server.pid)
        rows = sum(frame.height for frame in client.pages("items", **pages_args))  # type: ignore[arg-type]
        wall, cpu, server_cpu = clock.lap()
        pages = client.counters.pages
    return Run(rows / wall, cpu / pages * 1e3, server_cpu / pages * 1e3, server_rss_mb(server.pid))


# In this order on a fresh server: the first scan of each kind renders the rows (cold).
CASES: list[tuple[str, dict[str, object]]] = [
    ("cold, limit 1000 (default)", {}),
    ("warm, limit 1000 (default)", {}),
    ("warm, limit 10000", {"limit": 10_000}),
    ("key-only fields=PART_NO, cold", {"fields": ["PART_NO"]}),
    ("key-only fields=PART_NO, warm", {"fields": ["PART_NO"]}),
]


def bench_apismith(args: argparse.Namespace) -> None:
    """APISmith -> ApiSmithClient -> frames, the server in its own process."""
    print(
        f"== apismith: items of {args.rows:,} rows, server in its own process, "
        f"{args.repeat} fresh server(s); rows/s best / median"
    )
    config = ApiSmithConfig(sizes={"items": args.rows}, jwt_secret=SECRET, cache_mb=args.cache_mb)
    runs: dict[str, list[Run]] = {label: [] for label, _ in CASES}
    for _ in range(args.repeat):
        with run_in_process(create_app, config) as server:
            for label, pages_args in CASES:
                runs[label].append(scan(server, **pages_args))
    for label, done in runs.items():
        speeds = sorted(r.rows_per_second for r in done)
        middle = done[len(done) // 2]
        print(
            f"  {label:31s} {speeds[-1]:>10,.0f} / {statistics.median(speeds):>10,.0f} rows/s | "
            f"per page: client CPU {middle.client_ms:5.2f} ms, server CPU "
            f"{middle.server_ms:5.2f} ms | server RSS {max(r.server_rss_mb for r in done):,.0f} MB"
        )
    warm = sorted(r.rows_per_second for r in runs["warm, limit 1000 (default)"])
    HEADLINES.append(
        f"APISmith -> ApiSmithClient -> frames (warm, limit 1000): best {warm[-1]:,.0f}, "
        f"median {statistics.median(warm):,.0f} rows/s"
    )


def bench_decode(args: argparse.Namespace) -> None:
    """Page bytes -> frame of String columns, several ways (one real emulator page)."""
    print("== decode: one page of 1000 items rows into String columns")
    app = create_app(ApiSmithConfig(sizes={"items": 1000}, jwt_secret=SECRET))
    emulator = app.emulator  # type: ignore[attr-defined]
    state = emulator.erp.entities["items"]
    columns = tuple(state.column_names)
    page = emulator.erp.page("items", lo=None, hi=None, after=None, limit=1000, columns=columns)
    body = b'{"entity":"items","rows":[' + page.rows_json + b'],"next_cursor":null}'
    print(f"  page: {len(body):,} bytes")

    def orjson_lists() -> pl.DataFrame:
        rows = orjson.loads(body)["rows"]
        data = {
            c: pl.Series(c, [r.get(c) for r in rows], dtype=pl.String, strict=False)
            for c in columns
        }
        return pl.DataFrame(data)

    def from_dicts() -> pl.DataFrame:
        rows = orjson.loads(body)["rows"]
        return pl.from_dicts(rows, schema={c: pl.String for c in columns}, strict=False)

    def json_decode_expr() -> pl.DataFrame:
        dtype = pl.Struct({"rows": pl.List(pl.Struct({c: pl.String for c in columns}))})
        decoded = pl.Series([body.decode()]).str.json_decode(dtype)
        return decoded.struct.field("rows").explode().struct.unnest()

    ways: dict[str, Callable[[], object]] = {
        "orjson.loads only (lower bound)": lambda: orjson.loads(body),
        "orjson + per-column lists": orjson_lists,
        "orjson + pl.from_dicts(String)": from_dicts,
        "str.json_decode on the page": json_decode_expr,
        "pl.read_json(schema) (chosen)": lambda: decode_page(body, columns),
    }
    for name, way in ways.items():
        way()
        start, n = time.perf_counter(), 200
        for _ in range(n):
            way()
        seconds = (time.perf_counter() - start) / n
        print(f"  {name:34s} {seconds * 1e3:6.2f} ms/page {1000 / seconds:>12,.0f} rows/s")


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


# label -> [(rows/s, server CPU µs per row, client CPU µs per row)], one per apply()
FIGURES: dict[str, list[tuple[float, float, float]]] = {}


def _timed(
    label: str, client: ScheduleHubClient, entity: str, ops: pl.DataFrame, server: RunningServer
) -> pl.DataFrame:
    clock = Clock(server.pid)
    out = client.apply(entity, ops)
    seconds, cpu_client, cpu_server = clock.lap()
    statuses = dict(out.group_by("status").len().iter_rows())
    per_row = 1e6 / ops.height
    FIGURES.setdefault(label, []).append(
        (ops.height / seconds, cpu_server * per_row, cpu_client * per_row)
    )
    print(
        f"  {label:<8} {entity:<12} {ops.height:>9,} rows {seconds:7.2f} s "
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
            f"  {label:<8} best {rates[-1]:>9,.0f} rows/s, median {rates[len(rates) // 2]:>9,.0f}"
            f"; CPU per row: server {server:5.1f} µs, client {client:4.1f} µs"
        )
        if label == "insert":
            HEADLINES.append(
                f"ScheduleHub batch inserts: best {rates[-1]:,.0f}, median "
                f"{rates[len(rates) // 2]:,.0f} rows/s; CPU per row: server {server:.1f} µs, "
                f"client {client:.1f} µs"
            )


def bench_schedulehub(args: argparse.Namespace) -> None:
    """ScheduleHubClient.apply -> the emulator, the server in its own process."""
    with tempfile.TemporaryDirectory(prefix="bench_hub_") as workdir:  # hundreds of MB
        storage = args.storage or str(Path(workdir) / "schedulehub.db")
        _bench_hub_on(args, storage)
    _summary()


def _bench_hub_on(args: argparse.Namespace, storage: str) -> None:
    config = schedulehub.ScheduleHubConfig(storage=storage, jwt_secret=SECRET)
    where = "SQLite file" if args.storage is None else args.storage.split("@")[-1]
    with run_in_process(schedulehub.create_app, config) as server:
        print(
            f"== schedulehub: {args.hub_rows:,} {args.entity} rows, server in its own process, "
            f"storage {where}; batch {args.batch_size}, in flight {args.in_flight}"
        )
        settings = Settings(
            schedulehub_url=server.url,
            schedulehub_jwt_secret=SECRET,
            batch_size=args.batch_size,
            max_in_flight=args.in_flight,
        )
        with ScheduleHubClient(settings) as client:
            _hub_rounds(args, client, server)
        print(f"  server memory {server_rss_mb(server.pid):,.0f} MB")


def _hub_rounds(args: argparse.Namespace, client: ScheduleHubClient, server: RunningServer) -> None:
    entity = args.entity
    parents = _parents(client, entity, server)
    frames = [
        _records(entity, min(args.chunk, args.hub_rows - s), s, parents)
        for s in range(0, args.hub_rows, args.chunk)
    ]
    inserted = [_timed("insert", client, entity, _ops(f, "insert"), server) for f in frames]
    start = time.perf_counter()
    pages = sum(p.height for p in client.index(entity))
    seconds = time.perf_counter() - start
    rate = pages / seconds
    print(f"  index    {entity:<12} {pages:>9,} rows {seconds:7.2f} s {rate:>10,.0f} rows/s")
    _timed("repeat", client, entity, _ops(frames[0], "insert"), server)
    changed = frames[0].with_columns(erp_rowversion=pl.lit(dt.datetime(2025, 12, 9)))
    uids = inserted[0]["result_uid"]
    _timed("update", client, entity, _ops(changed, "update", uids), server)
    _timed("delete", client, entity, _ops(frames[0], "delete", uids), server)


SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {
    "apismith": bench_apismith,
    "schedulehub": bench_schedulehub,
    "decode": bench_decode,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("sections", nargs="*", choices=[*SECTIONS, []], help="default: all")
    parser.add_argument("--rows", type=int, default=1_000_000, help="items rows (apismith)")
    parser.add_argument("--cache-mb", type=int, default=512, help="emulator chunk cache")
    parser.add_argument("--repeat", type=int, default=3, help="fresh servers (apismith)")
    parser.add_argument("--hub-rows", type=int, default=300_000, help="rows (schedulehub)")
    parser.add_argument("--entity", default="items", help="entity (schedulehub)")
    parser.add_argument("--chunk", type=int, default=100_000, help="rows per apply() call")
    parser.add_argument("--batch-size", type=int, default=1000, help="operations a request")
    parser.add_argument("--in-flight", type=int, default=4, help="requests at a time")
    parser.add_argument("--storage", default=None, help="ScheduleHub: SQLite path or URL")
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} cores; load average before (1, 5, 15 min): "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg())
        + " (other processes share the cores)"
    )
    for name in args.sections or SECTIONS:
        SECTIONS[name](args)
    print("== summary")
    for line in HEADLINES:
        print(f"  {line}")
    print("load average after (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
