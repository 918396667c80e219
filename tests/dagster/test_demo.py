"""``syncflow demo``: the README's first command, end to end (small)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from syncflow_dagster.demo.run import DemoOptions, run_demo

ENTITIES = {"items", "work_centers", "orders", "order_lines"}


def leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("syncflow-demo-*")}


def ours() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(("SYNCFLOW_", "DAGSTER_"))}


def test_the_demo_syncs_changes_and_deletes_and_prints_a_table() -> None:
    before, environment = leftovers(), ours()
    out = io.StringIO()
    rows = run_demo(DemoOptions(items=2000, days=2, chunk_rows=1000), out=out)
    by = {(r.phase, r.entity): r.numbers for r in rows}
    assert {entity for _, entity in by} == ENTITIES
    assert {phase for phase, _ in by} == {"full", "today", "reconcile"}
    full = by[("full", "items")]
    assert full["rows_fetched"] == 2000
    assert full["rows_inserted"] + full["rows_failed"] == 2000
    today = by[("today", "items")]
    assert today["rows_updated"] > 0
    assert today["rows_inserted"] > 0
    assert today["rows_skipped"] > 0
    assert today["rows_fetched"] < full["rows_fetched"]
    assert by[("reconcile", "order_lines")]["rows_deleted"] > 0
    assert by[("reconcile", "items")]["rows_deleted"] == 0  # only leaves lose rows
    text = out.getvalue()
    assert "phase      entity" in text
    assert "rows/s" in text
    assert "ERP activity today" in text
    assert leftovers() == before  # the temporary home and databases are gone
    assert ours() == environment  # the environment is as it was


def test_the_console_script_runs_the_demo() -> None:
    script = Path(sys.executable).with_name("syncflow")
    done = subprocess.run(
        [str(script), "demo", "--items", "1500", "--days", "1"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    table = lines[lines.index(next(x for x in lines if x.startswith("phase "))) :]
    assert sum(line.startswith(("full ", "today ", "reconcile ")) for line in table) == 12
    assert "demo finished in" in done.stdout
