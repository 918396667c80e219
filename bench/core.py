"""Benchmark of stages 2-5: ``prepare`` on N messy items rows against the per-row reference.

    uv run python bench/core.py [--rows 1000000] [--sample 20000] [--seed 7] [--repeat 3]

Generates N deterministic messy INVENTORY_PART rows as the APISmith client yields them
(every column ``pl.String``): every accepted form of layers 2-4, a few per cent failing
rows, duplicates of earlier keys with newer or equal rowversions. Prints rows/s of
``prepare`` on that frame and of the tests' per-row reference (run on a sample and
scaled), their ratio, a per-phase breakdown, the list-of-dicts input path, and the peak
memory (``ru_maxrss``) of a fresh process that reads the frame and runs ``prepare``.
Targets: >= 500,000 rows/s on 1M rows, >= 30x the reference, peak < 1.5 GB.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
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
from syncflow_core.identity import with_identity  # noqa: E402
from syncflow_core.normalize import batch, fields  # noqa: E402
from syncflow_core.normalize.source import read_rows  # noqa: E402

# ------------------------------------------------------------------ messy rows


def _pick(rng: random.Random, n: int, forms: list[tuple[float, Callable[[int], Any]]]) -> list[Any]:
    """For each row i, one of ``forms`` (by weight) applied to i."""
    weights = [w for w, _ in forms]
    chosen = rng.choices(range(len(forms)), weights, k=n)
    makers = [f for _, f in forms]
    return [makers[c](i) for i, c in enumerate(chosen)]


def messy_items(n: int, seed: int) -> pl.DataFrame:
    """N raw INVENTORY_PART rows, all ``pl.String``, deterministic for (n, seed)."""
    rng = random.Random(seed)
    # ~1% of rows repeat an earlier key (a row updated during the scan comes again).
    key_of = [rng.randrange(max(i, 1)) if i and rng.random() < 0.01 else i for i in range(n)]
    part_no = _pick(
        rng,
        n,
        [
            (50, lambda i: f"PART-{key_of[i]:07d}"),
            (20, lambda i: f"part-{key_of[i]:07d}"),
            (15, lambda i: f"  PART-{key_of[i]:07d}   "),
            (5, lambda i: f"\tPart-{key_of[i]:07d}\r\n"),
            (5, lambda i: f"PART-{key_of[i]:07d}"),
            (0.3, lambda i: "   "),  # missing_required on the key
        ],
    )
    words = [
        "Widget",
        "Bolt M8",
        "Flansch DN50",
        "Ger\u00e4t",
        "Gera\u0308t",
        "Rohr|Stahl=verzinkt",
    ]
    description = _pick(
        rng,
        n,
        [
            (55, lambda i: f"{words[i % 4]} {i % 977}"),
            (10, lambda i: f"  {words[i % 6]} type {i % 13}  "),
            (8, lambda i: f"{words[i % 6]}\r\nline two\x07"),
            (8, lambda i: f"Gera\u0308t Nr.{i % 101}"),
            (4, lambda i: "back\\slash a|b=c"),
            (4, lambda i: "\u00a0Caf\u00e9\u2003"),
            (0.5, lambda i: ""),  # missing_required
        ],
    )
    uom = _pick(rng, n, [(60, lambda i: "EA"), (10, lambda i: "ea"), (10, lambda i: " kg "),
                         (15, lambda i: None), (5, lambda i: "")])  # fmt: skip
    list_price = _pick(
        rng,
        n,
        [
            (40, lambda i: f"{i % 5000}.{i % 100:02d}"),
            (10, lambda i: f"{i % 900 + 1},{i % 1000:03d}.50"),
            (5, lambda i: f"${i % 90}.00"),
            (5, lambda i: f"{i % 90}.00 USD"),
            (3, lambda i: f"EUR {i % 90}.5"),
            (3, lambda i: f"({i % 90}.50)"),
            (2, lambda i: f"{i % 90}.50-"),
            (3, lambda i: f"{i % 9}.5E+3"),
            (1, lambda i: "1e+20"),
            (20, lambda i: None),
            (0.4, lambda i: "1,00"),  # invalid_number
            (0.2, lambda i: "NaN"),
        ],
    )
    weight = _pick(rng, n, [(70, lambda i: f"{i % 50}.{i % 4 * 25}"), (5, lambda i: str(i % 9)),
                            (5, lambda i: f" {i % 7}.25 "), (20, lambda i: None)])  # fmt: skip
    lead_time = _pick(
        rng,
        n,
        [
            (60, lambda i: str(i % 60)),
            (5, lambda i: f"{i % 60}.0"),
            (20, lambda i: None),
            (2, lambda i: "1,000"),
            (1, lambda i: "1e2"),
            (5, lambda i: f" {i % 9} "),
            (0.5, lambda i: "1.5"),  # invalid_integer
        ],
    )
    status = _pick(rng, n, [(60, lambda i: "A"), (10, lambda i: "a"), (20, lambda i: "A   "),
                            (10, lambda i: None)])  # fmt: skip
    day = lambda i: 1 + i % 28  # noqa: E731
    created = _pick(
        rng,
        n,
        [
            (30, lambda i: f"2024-{1 + i % 12:02d}-{day(i):02d} {i % 24:02d}:{i % 60:02d}:00"),
            (20, lambda i: f"2024-{1 + i % 12:02d}-{day(i):02d}"),
            (5, lambda i: f"2024-{1 + i % 12:02d}-{day(i):02d}T10:30:00.5Z"),
            (5, lambda i: f"2024-{1 + i % 12:02d}-{day(i):02d}T10:30:00+02:00"),
            (10, lambda i: f"{day(i):02d}-{['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN'][i % 6]}-24"),
            (5, lambda i: f"{day(i):02d}-Dec-2024"),
            (10, lambda i: f"{1 + i % 12:02d}/{day(i):02d}/2024"),
            (5, lambda i: f"2024-{1 + i % 12:02d}-{day(i):02d} 08:00:00.{i % 999999:06d}"),
            (9, lambda i: None),
            (0.3, lambda i: "2024-02-30"),  # invalid_datetime
            (0.2, lambda i: "yesterday"),
        ],
    )
    notes = _pick(rng, n, [(50, lambda i: None), (30, lambda i: f"note {i}"),
                           (15, lambda i: f"line one\r\nline two {i}\r\n"),
                           (5, lambda i: "x|y=z \\ w")])  # fmt: skip
    # Rowversions rise with the scan; a repeated key comes back later, so newer.
    rowversion = [
        f"2025-12-{1 + i * 28 // n:02d} {i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}."
        f"{(i * 7919) % 1000000:06d}"
        for i in range(n)
    ]
    for i in rng.sample(range(n), max(1, n // 2000)):
        rowversion[i] = None  # missing_required on ROWVERSION
    return pl.DataFrame(
        {
            "PART_NO": part_no, "DESCRIPTION": description, "UNIT_MEAS": uom,
            "LIST_PRICE": list_price, "WEIGHT_NET": weight, "LEAD_TIME": lead_time,
            "PART_STATUS": status, "CREATION_DATE": created, "NOTE_TEXT": notes,
            "ROWVERSION": rowversion,
        },
        schema={c: pl.String for c in (
            "PART_NO", "DESCRIPTION", "UNIT_MEAS", "LIST_PRICE", "WEIGHT_NET", "LEAD_TIME",
            "PART_STATUS", "CREATION_DATE", "NOTE_TEXT", "ROWVERSION")},
    )  # fmt: skip


# ------------------------------------------------------------------ timing


def best_of(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def _timed(out: list[tuple[str, float]], name: str, run: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    result = run()
    out.append((name, time.perf_counter() - start))
    return result


def breakdown(frame: pl.DataFrame) -> list[tuple[str, float]]:
    """Seconds per phase of ``prepare`` (the same calls, timed one by one)."""
    spec = load_catalog()["items"]
    out: list[tuple[str, float]] = []
    raw = _timed(out, "read rows", lambda: read_rows(frame, spec.source_columns))
    plans = batch.entity_plans(spec)
    parse = {p.name: p.parse for p in plans}
    work = raw.frame.with_row_index(batch._ROW)
    for k, step in enumerate(fields._merge_dense_steps(parse)):
        name = f"dense step {k} ({len(step)} columns)"
        work = _timed(out, name, lambda w=work, s=step: w.with_columns(**s))
    masks = [plan.slow_rows.fill_null(False).alias(f"{n}slow_rows") for n, plan in parse.items()]
    work = _timed(out, "slow-row masks", lambda: work.with_columns(masks))
    for p in plans:
        rows = work.filter(pl.col(f"{p.name}slow_rows")).select(p.parse.raw.alias("raw"))
        name = f"  slow path {p.spec.source} ({rows.height:,} rows)"
        _timed(out, name, lambda r=rows, s=p.parse.slow: s(r.lazy()).collect())
    indexed = raw.frame.with_row_index(batch._ROW)
    work = _timed(
        out, "layers 1-4 all at once (run_parse)", lambda: fields.run_parse(indexed, parse)
    )
    mapped = {k: v for p in plans for k, v in p.mapped.items()}
    work = _timed(out, "layer 5: defaults, transforms", lambda: work.with_columns(**mapped))
    work = _timed(out, "values, error codes, first failure", lambda: work.select(
        batch._ROW,
        *(p.value.alias(p.spec.target) for p in plans),
        *(p.error.alias(batch._error_column(i)) for i, p in enumerate(plans)),
    ).with_columns(batch._first_failure(len(plans))))  # fmt: skip
    passed = work.filter(pl.col(batch._FAIL_FIELD).is_null())
    columns = [batch._ROW, *spec.data_fields, "erp_rowversion"]
    records = _timed(out, "identity (canonical + 2 hashes)",
                     lambda: with_identity(passed.select(columns), spec))  # fmt: skip
    _timed(out, "dedup", lambda: batch._keep_newest(records))
    return out


def peak_memory(rows: int, seed: int) -> tuple[float, float]:
    """(MB after reading the frame, peak MB after prepare) in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "items.arrow"
        messy_items(rows, seed).write_ipc(path)
        code = (
            "import resource, sys, polars as pl\n"
            f"sys.path.insert(0, {str(ROOT)!r})\n"
            "from syncflow_core import load_catalog, prepare\n"
            "spec = load_catalog()['items']\n"
            f"frame = pl.read_ipc({str(path)!r}, memory_map=False)\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "prepared = prepare(spec, frame)\n"
            "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "print(before / 1024, after / 1024)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
    before, after = (float(x) for x in done.stdout.split())
    return before, after


def reference_rate(spec: Any, frame: pl.DataFrame, sample_rows: int) -> float:
    """Rows/s of the tests' per-row reference on the first ``sample_rows`` rows."""
    import reference  # the tests' per-row reading of the contracts

    sample = frame.head(sample_rows).to_dicts()
    seconds, _ = best_of(1, lambda: reference.prepare_rows(spec, sample))
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
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--list-rows", type=int, default=200_000)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "tests" / "unit"))
    spec = load_catalog()["items"]
    t = time.perf_counter()
    frame = messy_items(args.rows, args.seed)
    print(f"generated {args.rows:,} messy items rows in {time.perf_counter() - t:.1f} s")

    seconds, prepared = best_of(args.repeat, lambda: prepare(spec, frame))
    rate = args.rows / seconds
    print(
        f"prepare (raw frame):   {seconds:6.3f} s  {rate:12,.0f} rows/s   "
        f"records {prepared.records.height:,}  failed {prepared.failed.height:,}  "
        f"superseded {prepared.superseded:,}"
    )
    for name, s in breakdown(frame):
        print(f"    {name:38s} {s:6.3f} s")

    ref_rate = reference_rate(spec, frame, args.sample)
    print(f"ratio prepare / reference: {rate / ref_rate:,.1f}x")
    list_input(spec, frame, args.list_rows, args.repeat)
    del prepared
    before, after = peak_memory(args.rows, args.seed)
    print(f"peak memory, fresh process: {after:,.0f} MB (frame read: {before:,.0f} MB)")
    print(
        f"targets: >= 500,000 rows/s -> {rate:,.0f}; >= 30x -> {rate / ref_rate:,.1f}x; "
        f"< 1,500 MB -> {after:,.0f} MB"
    )
    _ = resource  # peak memory is read in the child process


if __name__ == "__main__":
    main()
