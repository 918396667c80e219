"""Benchmarks of the two ends of SyncFlow: prints figures, asserts nothing.

    uv run python bench/ends.py                      # every section
    uv run python bench/ends.py apismith --rows 1000000
    uv run python bench/ends.py decode

Sections register in ``SECTIONS``; each takes the parsed arguments. ``apismith``: rows/s
that the emulator serves through ``ApiSmithClient`` into raw frames, the server in its own
process (no shared GIL), cold (first scan: rows generated) and warm (chunks cached), at
the default page size and at 10000, and the key-only scan. ``decode``: ways of turning
one page into a frame of String columns.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
import polars as pl

from syncflow_core.clients.apismith import ApiSmithClient
from syncflow_core.clients.pages import decode_page
from syncflow_core.emulators.apismith import ApiSmithConfig, create_app
from syncflow_core.emulators.servers import RunningServer, run_in_process
from syncflow_core.settings import Settings

SECRET = "bench-secret-not-a-real-one-0123456789"


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


SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {
    "apismith": bench_apismith,
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
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} (other processes share the cores)")
    for name in args.sections or SECTIONS:
        SECTIONS[name](args)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
