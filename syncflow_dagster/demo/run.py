"""The demo: a full sync, ERP activity, an incremental sync and a reconciliation, each a
run of the real Dagster jobs (``sync_all``, ``reconcile``) on a temporary Dagster instance
and SQLite state, against both emulators in processes of their own.

The ERP holds rows over the last ``days`` days up to yesterday; the full sync is the
partition range of those days as one run. The activity lands today, so the incremental
sync is today's partition. Reconciliation finds the rows the ERP deleted.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import dagster as dg

from syncflow_core.catalog import load_catalog
from syncflow_dagster import progress
from syncflow_dagster.demo.display import LiveProgress, Row, table
from syncflow_dagster.demo.emulators import Emulators, emulators, sizes_for
from syncflow_dagster.jobs import RECONCILE, SYNC_ALL
from syncflow_dagster.order import parents_first
from syncflow_dagster.tags import partition_tags

ACTIVITY = {"change_share": 0.02, "touch_share": 0.01, "add_share": 0.01}
#: deletes go to entities no other entity refers to: an ERP deletes a parent with its
#: children, and ScheduleHub refuses to delete a parent that has children (409)
LEAF_DELETE_SHARE = 0.005
INSTANCE_YAML = "telemetry:\n  enabled: false\n"


@dataclass(frozen=True)
class DemoOptions:
    """What the demo does (the ``syncflow demo`` options)."""

    items: int = 20_000
    days: int = 3
    chunk_rows: int = 5000
    seed: int = 42
    keep: bool = False
    verbose: bool = False


class DemoRunFailedError(RuntimeError):
    """A Dagster run of the demo failed."""


def run_demo(options: DemoOptions, out: TextIO = sys.stdout) -> list[Row]:
    """Run the whole demo, print its progress and table to ``out``; returns the rows."""
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="syncflow-demo-"))
    try:
        rows = _run_in(workdir, options, out)
    finally:
        if options.keep:
            out.write(f"\nkept {workdir} (Dagster home: {workdir / 'dagster_home'})\n")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    out.write(f"\n{table(rows)}\n\ndemo finished in {time.perf_counter() - started:.1f} s\n")
    return rows


def _run_in(workdir: Path, options: DemoOptions, out: TextIO) -> list[Row]:
    today = dt.datetime.now(dt.UTC).date()
    first = today - dt.timedelta(days=options.days)
    sizes = sizes_for(options.items)
    out.write(
        "Starting APISmith and ScheduleHub emulators: "
        + ", ".join(f"{n} {k:,}" for k, n in ((v, k) for k, v in sizes.items()))
        + f" rows over {first}...{today - dt.timedelta(days=1)}\n"
    )
    with emulators(
        sizes=sizes,
        start_day=first,
        days=options.days,
        storage=workdir / "schedulehub.db",
        seed=options.seed,
    ) as systems:
        home = workdir / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text(INSTANCE_YAML)
        environment = {
            **systems.environment(),
            "SYNCFLOW_DATABASE_URL": f"sqlite:///{workdir / 'state.db'}",
            "SYNCFLOW_PARTITIONS_START": first.isoformat(),
            "SYNCFLOW_CHUNK_ROWS": str(options.chunk_rows),
            "SYNCFLOW_DAGSTER_EXECUTOR": "in_process",
            "DAGSTER_HOME": str(home),
        }
        with patched_environ(environment), quiet(options.verbose):
            return _phases(systems, first, today, options, out)


def _phases(
    systems: Emulators, first: dt.date, today: dt.date, options: DemoOptions, out: TextIO
) -> list[Row]:
    from syncflow_dagster.definitions import build_definitions  # reads the environment set

    defs = build_definitions()
    with dg.DagsterInstance.get() as instance:
        runner = Runner(defs, instance, options.verbose, out)
        last = (today - dt.timedelta(days=1)).isoformat()
        rows = runner.sync("full", first.isoformat(), last)
        apply_activity(systems, today, out)
        rows += runner.sync("today", today.isoformat())
        rows += runner.reconcile()
    return rows


def apply_activity(systems: Emulators, today: dt.date, out: TextIO) -> None:
    """Change, touch and add a share of each entity's rows (and delete some of the rows
    no other entity refers to), landing today."""
    catalog = load_catalog()
    referred = {ref.entity for spec in catalog.values() for ref in spec.parents}
    out.write(
        "\nERP activity today: "
        + ", ".join(_shares())
        + f" of each entity; delete {LEAF_DELETE_SHARE:.1%} of "
        + ", ".join(name for name in catalog if name not in referred)
        + "\n"
    )
    at = dt.datetime.combine(today, dt.time(0, 0, 1))
    for entity in parents_first(catalog):
        delete = 0.0 if entity in referred else LEAF_DELETE_SHARE
        done = systems.activity(entity, at=at, delete_share=delete, **ACTIVITY)
        out.write(
            f"  {entity:<14} changed {done['changed']:,}, touched {done['touched']:,}, "
            f"added {done['added']:,}, deleted {done['deleted']:,}\n"
        )


def _shares() -> list[str]:
    return [f"{name.removesuffix('_share')} {share:.1%}" for name, share in ACTIVITY.items()]


class Runner:
    """Runs the demo's jobs on one instance and turns their metadata into table rows."""

    def __init__(
        self, defs: dg.Definitions, instance: dg.DagsterInstance, verbose: bool, out: TextIO
    ) -> None:
        self.defs, self.instance, self.out = defs, instance, out
        level = "INFO" if verbose else "CRITICAL"
        self.run_config = {"loggers": {"console": {"config": {"log_level": level}}}}

    def entities(self) -> list[str]:
        """Entity assets in the order ``sync_all`` runs them (parents first)."""
        job = self.defs.resolve_job_def(SYNC_ALL)
        keys = job.asset_layer.asset_graph.toposorted_asset_keys
        return [key.to_user_string() for key in keys]

    def sync(self, phase: str, start: str, end: str | None = None) -> list[Row]:
        """``sync_all`` over one partition, or the range ``start...end`` as one run."""
        span = start if end is None or end == start else f"{start}...{end}"
        self.out.write(f"\n{phase} sync: sync_all over {span}\n")
        tags = partition_tags(self.entities(), start, end)
        key = start if end is None or end == start else None
        with LiveProgress(progress.board, self.out):
            result = self._execute(SYNC_ALL, tags=tags, partition_key=key)
        seen: dict[str, Row] = {}
        for event in result.get_asset_materialization_events():
            materialization = event.step_materialization_data.materialization
            name = materialization.asset_key.to_user_string()
            seen.setdefault(name, Row(phase, name, _values(materialization.metadata)))
        return [seen[name] for name in self.entities() if name in seen]

    def reconcile(self) -> list[Row]:
        """The ``reconcile`` job (children first)."""
        self.out.write("\nreconcile: deletes of what the ERP no longer has, children first\n")
        result = self._execute(RECONCILE, tags={})
        rows = []
        for event in result.all_events:
            if event.is_successful_output and event.step_output_data is not None:
                entity = str(event.node_name).removeprefix("reconcile_")
                numbers = _values(event.step_output_data.metadata)
                rows.append(Row("reconcile", entity, numbers))
                self.out.write(
                    f"  {entity:<14} deleted {int(numbers.get('rows_deleted', 0)):,}, "
                    f"failed {int(numbers.get('rows_failed', 0)):,}\n"
                )
        return rows

    def _execute(
        self, job_name: str, *, tags: Mapping[str, str], partition_key: str | None = None
    ) -> dg.ExecuteInProcessResult:
        job = self.defs.resolve_job_def(job_name)
        result = job.execute_in_process(
            run_config=self.run_config,
            instance=self.instance,
            partition_key=partition_key,
            tags=tags,
            raise_on_error=False,
        )
        if not result.success:
            messages = [
                f"{e.step_key}: {e.event_specific_data.error.message.strip()}"  # type: ignore[union-attr]
                for e in result.all_events
                if e.is_step_failure
            ]
            raise DemoRunFailedError(
                f"{job_name} run {result.run_id} failed: " + "; ".join(messages)
            )
        return result


def _values(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {name: getattr(value, "value", value) for name, value in metadata.items()}


@contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` set inside the block, as it was after."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def quiet(verbose: bool) -> Iterator[None]:
    """Dagster's beta and supersession warnings off, unless ``verbose``."""
    with warnings.catch_warnings():
        if not verbose:
            warnings.simplefilter("ignore")
        yield
