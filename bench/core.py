"""Benchmark of stages 2-5: ``prepare`` on N messy items rows against the per-row reference.

    uv run python bench/core.py [--rows 1000000] [--sample 20000] [--seed 7] [--repeat 5]
                                [--messy 1.0] [--list-rows 200000]

Generates N deterministic messy INVENTORY_PART rows as the APISmith client yields them
(every column ``pl.String``): each column mostly in its usual form, plus every other
form layers 2-4 accept (about 20-40 % of a column's values; ``--messy 2`` doubles
that), a few per cent failing rows, duplicates of earlier keys (about 1 %) with newer
rowversions. Prints rows/s of
``prepare`` on that frame and of the tests' per-row reference (run on a sample and
scaled), their ratio, a per-phase breakdown, the list-of-dicts input path, and the peak
memory (``ru_maxrss``) of a fresh process that reads the frame and runs ``prepare``.
Targets: >= 500,000 rows/s on 1M rows, >= 30x the reference, peak < 1.5 GB. The machine
is shared: the best of ``--repeat`` runs, the median, the CPU seconds of all threads and
the load average are printed, since wall times follow whatever else is running.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from syncflow_core import load_catalog, prepare  # noqa: E402
from syncflow_core.identity import add_identity, encoding_needs  # noqa: E402
from syncflow_core.normalize import batch, dedup, failures, parsers  # noqa: E402
from syncflow_core.normalize.columns import FAIL_FIELD, ROW  # noqa: E402
from syncflow_core.normalize.source import read_rows  # noqa: E402

# ------------------------------------------------------------------ messy rows


Forms = list[tuple[float, Callable[[int], Any]]]


def _pick(rng: random.Random, n: int, usual: Forms, messy: Forms, factor: float) -> list[Any]:
    """For each row i one form applied to i: ``usual`` forms by weight, the ``messy`` forms
    (every other accepted form, the blanks and the failing values) at ``factor`` x weight."""
    forms = usual + [(w * factor, f) for w, f in messy]
    chosen = rng.choices(range(len(forms)), [w for w, _ in forms], k=n)
    makers = [f for _, f in forms]
    return [makers[c](i) for i, c in enumerate(chosen)]


_WORDS = ["Widget", "Bolt M8", "Flansch DN50", "Pump housing", "Gear 12T"]
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


def _day(i: int) -> int:
    return 1 + i % 28


def _date(i: int) -> str:
    return f"2024-{1 + i % 12:02d}-{_day(i):02d}"


def messy_items(n: int, seed: int, factor: float = 1.0) -> pl.DataFrame:
    """N raw INVENTORY_PART rows, all ``pl.String``, deterministic for (n, seed, factor).

    Each column has its usual form (what a consistent ERP mostly sends) and every other
    form the contract accepts, blanks and a few failing values; ``factor`` scales the
    weight of the latter (1: about 20-40 % of the values of a column are not in its
    usual form; 2: about twice that).
    """
    rng = random.Random(seed)
    # ~1% of rows repeat an earlier key (a row updated during the scan comes again).
    key_of = [rng.randrange(max(i, 1)) if i and rng.random() < 0.01 else i for i in range(n)]
    columns: dict[str, list[Any]] = {}
    columns["PART_NO"] = _pick(rng, n, [(80, lambda i: f"PART-{key_of[i]:07d}")], [
        (8, lambda i: f"part-{key_of[i]:07d}"),
        (6, lambda i: f"  PART-{key_of[i]:07d}   "),
        (2, lambda i: f"\tPart-{key_of[i]:07d}\r\n"),
        (0.3, lambda i: "   "),  # missing_required on the key
    ], factor)  # fmt: skip
    columns["DESCRIPTION"] = _pick(rng, n, [(75, lambda i: f"{_WORDS[i % 5]} {i % 977}")], [
        (8, lambda i: f"  {_WORDS[i % 5]} type {i % 13}  "),
        (5, lambda i: f"{_WORDS[i % 5]}\r\nline two\x07"),
        (3, lambda i: f"Gera\u0308t Nr.{i % 101}"),  # NFD: NFC makes it Gerät
        (2, lambda i: f"Ger\u00e4t Nr.{i % 101}"),
        (4, lambda i: "back\\slash a|b=c"),
        (3, lambda i: "\u00a0Caf\u00e9\u2003"),
        (0.5, lambda i: ""),  # missing_required
    ], factor)  # fmt: skip
    columns["UNIT_MEAS"] = _pick(rng, n, [(70, lambda i: "EA")], [
        (10, lambda i: "ea"), (5, lambda i: " kg "), (10, lambda i: None), (5, lambda i: ""),
    ], factor)  # fmt: skip
    columns["LIST_PRICE"] = _pick(rng, n, [
        (60, lambda i: f"{i % 5000}.{i % 100:02d}"), (15, lambda i: None)
    ], [
        (6, lambda i: f"{i % 900 + 1},{i % 1000:03d}.50"),
        (4, lambda i: f"${i % 90}.00"),
        (3, lambda i: f"{i % 90}.00 USD"),
        (3, lambda i: f"EUR {i % 90}.5"),
        (3, lambda i: f"({i % 90}.50)"),
        (2, lambda i: f"{i % 90}.50-"),
        (3, lambda i: f"{i % 9}.5E+3"),
        (1, lambda i: "1e+20"),
        (0.4, lambda i: "1,00"),  # invalid_number
        (0.1, lambda i: "NaN"),
    ], factor)  # fmt: skip
    columns["WEIGHT_NET"] = _pick(rng, n, [
        (75, lambda i: f"{i % 50}.{i % 4 * 25}"), (20, lambda i: None)
    ], [(5, lambda i: f" {i % 7}.25 ")], factor)  # fmt: skip
    columns["LEAD_TIME"] = _pick(rng, n, [(70, lambda i: str(i % 60)), (20, lambda i: None)], [
        (4, lambda i: f"{i % 60}.0"),
        (2, lambda i: "1,000"),
        (1, lambda i: "1e2"),
        (3, lambda i: f" {i % 9} "),
        (0.5, lambda i: "1.5"),  # invalid_integer
    ], factor)  # fmt: skip
    columns["PART_STATUS"] = _pick(rng, n, [(80, lambda i: "A")], [
        (8, lambda i: "a"), (2, lambda i: "A   "), (10, lambda i: None),
    ], factor)  # fmt: skip
    columns["CREATION_DATE"] = _pick(rng, n, [
        (55, lambda i: f"{_date(i)} {i % 24:02d}:{i % 60:02d}:00"), (8, lambda i: None)
    ], [
        (10, lambda i: _date(i)),
        (5, lambda i: f"{_date(i)} 08:00:00.{i % 999999:06d}"),
        (3, lambda i: f"{_date(i)}T10:30:00.5Z"),
        (3, lambda i: f"{_date(i)}T10:30:00+02:00"),
        (4, lambda i: f"{_day(i):02d}-{_MONTHS[i % 12]}-24"),
        (3, lambda i: f"{_day(i):02d}-Dec-2024"),
        (4, lambda i: f"{1 + i % 12:02d}/{_day(i):02d}/2024"),
        (2, lambda i: f" {_date(i)} "),
        (0.3, lambda i: "2024-02-30"),  # invalid_datetime
        (0.2, lambda i: "yesterday"),
    ], factor)  # fmt: skip
    columns["NOTE_TEXT"] = _pick(rng, n, [(60, lambda i: None), (25, lambda i: f"note {i}")], [
        (10, lambda i: f"line one\r\nline two {i}\r\n"), (5, lambda i: "x|y=z \\ w"),
    ], factor)  # fmt: skip
    # Rowversions rise with the scan; a repeated key comes back later, so newer.
    columns["ROWVERSION"] = [
        f"2025-12-{1 + i * 28 // n:02d} {i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}."
        f"{(i * 7919) % 1000000:06d}"
        for i in range(n)
    ]
    for i in rng.sample(range(n), max(1, n // 2000)):
        columns["ROWVERSION"][i] = None  # missing_required on ROWVERSION
    return pl.DataFrame(columns, schema={c: pl.String for c in columns})


# ------------------------------------------------------------------ timing


def best_of(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    """(fastest wall seconds of ``repeat`` runs, the last result)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def timings(repeat: int, run: Callable[[], Any]) -> tuple[list[float], list[float], Any]:
    """Sorted wall and CPU seconds (all threads) of ``repeat`` runs, and the last result."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        result = run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return sorted(walls), sorted(cpus), result


Phase = tuple[str, float, float]  # name, wall seconds, CPU seconds (all threads)


def _timed(out: list[Phase], name: str, run: Callable[[], Any]) -> Any:
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    out.append((name, time.perf_counter() - wall, time.process_time() - cpu))
    return result


def breakdown(frame: pl.DataFrame) -> list[Phase]:
    """Wall and CPU seconds per phase of ``prepare`` (the same calls, one by one)."""
    spec = load_catalog()["items"]
    out: list[Phase] = []
    raw = _timed(out, "read rows", lambda: read_rows(frame, spec.source_columns))
    plans = batch.entity_plans(spec)
    parse = {p.name: p.parse for p in plans}
    indexed = raw.frame.with_row_index(ROW)
    parsed = _timed(out, "layers 1-4 (fast paths + slow paths)",
                    lambda: parsers.parse_columns(indexed, parse))  # fmt: skip
    for p in plans:  # each slow path alone, for scale (prepare runs them together)
        rows = parsed.frame.filter(pl.col(f"{p.name}slow_rows")).select(p.parse.raw.alias("raw"))
        name = f"    slow path {p.spec.source:13s} {rows.height:>9,} rows"
        _timed(out, name, lambda r=rows, slow=p.parse.slow: slow(r.lazy()).collect())
    work = _timed(out, "layers 1-5 + first failure (run_fields)",
                  lambda: batch.run_fields(indexed, plans))  # fmt: skip
    passed = pl.col(FAIL_FIELD).is_null()
    keys = work.select(ROW, *spec.key_fields, "erp_rowversion", FAIL_FIELD).filter(passed)
    superseded = _timed(out, "dedup", lambda: dedup.superseded_rows(keys, spec.key_fields))
    columns = [ROW, *spec.data_fields, "erp_rowversion"]
    kept = work.lazy().filter(passed & ~pl.col(ROW).is_in(superseded.implode())).select(columns)
    needs = _timed(out, "identity: encoders needed", lambda: encoding_needs(work, spec))
    hashed = add_identity(kept, spec, needs)
    _timed(out, "identity: encode, canonical, 2 hashes", lambda: hashed.collect(engine="streaming"))
    failing = work.filter(pl.col(FAIL_FIELD).is_not_null())
    raw_json = raw.raw_json(failing[ROW])
    records_of_failures = lambda: failures.failed_records(spec, plans, failing, raw_json)  # noqa: E731
    _timed(out, f"failures ({failing.height:,} rows)", records_of_failures)
    return out


_MEASURE = """
import resource, sys, time
import polars as pl
sys.path.insert(0, {root!r})
from syncflow_core import load_catalog, prepare
spec = load_catalog()["items"]
frame = pl.read_ipc({path!r}).rechunk()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
prepare(spec, frame)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before / 1024, after / 1024)
"""
_GENERATE = """
import sys
sys.path.insert(0, {bench!r})
from core import messy_items
messy_items({rows}, {seed}, {factor}).write_ipc({path!r})
"""


def peak_memory(rows: int, seed: int, factor: float) -> tuple[float, float]:
    """(MB after reading the frame, peak MB after prepare) of a fresh process.

    Run before this process grows: Linux carries ru_maxrss over fork and exec, so the
    measuring child must start from a small parent. The rows are written by another child.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "items.arrow")
        generate = _GENERATE.format(
            bench=str(ROOT / "bench"), rows=rows, seed=seed, factor=factor, path=path
        )
        subprocess.run([sys.executable, "-c", generate], check=True)
        measure = _MEASURE.format(root=str(ROOT), path=path)
        done = subprocess.run(
            [sys.executable, "-c", measure], capture_output=True, text=True, check=True
        )
    before, after = (float(x) for x in done.stdout.split())
    return before, after


def reference_rate(spec: Any, frame: pl.DataFrame, sample_rows: int) -> float:
    """Rows/s of the tests' per-row reference on the first ``sample_rows`` rows."""
    import reference  # the tests' per-row reading of the contracts

    sample = frame.head(sample_rows).to_dicts()
    seconds, _ = best_of(3, lambda: reference.prepare_rows(spec, sample))
    rate = len(sample) / seconds
    print(
        f"reference (per row):   {seconds:6.3f} s  {rate:12,.0f} rows/s   (sample {len(sample):,})"
    )
    return rate


def list_input(spec: Any, frame: pl.DataFrame, rows: int, repeat: int) -> None:
    """``prepare`` on a list of row dicts (the other accepted input)."""
    dicts = frame.head(rows).to_dicts()
    seconds, _ = best_of(repeat, lambda: prepare(spec, dicts))
    rate = len(dicts) / seconds
    print(f"prepare (list of dicts, {len(dicts):,} rows): {seconds:6.3f} s  {rate:12,.0f} rows/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--list-rows", type=int, default=200_000)
    parser.add_argument(
        "--messy", type=float, default=1.0, help="weight of the unusual forms (2: twice)"
    )
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "tests" / "unit"))
    before, after = peak_memory(args.rows, args.seed, args.messy)
    spec = load_catalog()["items"]
    t = time.perf_counter()
    frame = messy_items(args.rows, args.seed, args.messy)
    print(
        f"generated {args.rows:,} messy items rows (messy x{args.messy:g}) "
        f"in {time.perf_counter() - t:.1f} s"
    )

    walls, cpus, prepared = timings(args.repeat, lambda: prepare(spec, frame))
    seconds = walls[0]
    rate = args.rows / seconds
    print(
        f"prepare (raw frame):   {seconds:6.3f} s  {rate:12,.0f} rows/s   "
        f"records {prepared.records.height:,}  failed {prepared.failed.height:,}  "
        f"superseded {prepared.superseded:,}"
    )
    median = walls[len(walls) // 2]
    print(
        f"  of {args.repeat} runs: median {median:.3f} s ({args.rows / median:,.0f} rows/s); "
        f"CPU of all threads {cpus[0]:.3f} s best, load average {os.getloadavg()[0]:.2f}"
    )
    print("  breakdown (wall s / CPU s of all threads):")
    for name, wall, cpu in breakdown(frame):
        print(f"    {name:44s} {wall:6.3f} / {cpu:6.3f}")

    ref_rate = reference_rate(spec, frame, args.sample)
    print(f"ratio prepare / reference: {rate / ref_rate:,.1f}x")
    list_input(spec, frame, args.list_rows, args.repeat)
    del prepared
    print(f"peak memory, fresh process: {after:,.0f} MB (frame read: {before:,.0f} MB)")
    print(
        f"targets: >= 500,000 rows/s -> {rate:,.0f}; >= 30x -> {rate / ref_rate:,.1f}x; "
        f"< 1,500 MB -> {after:,.0f} MB"
    )


if __name__ == "__main__":
    main()
