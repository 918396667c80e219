"""``syncflow plan ENTITY``: a dry run of a sync, printed as counts and samples."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click

from syncflow_core.clients.errors import SyncFlowHTTPError
from syncflow_core.commands.common import echo_json, open_env, today_utc
from syncflow_core.drift import SchemaDriftError
from syncflow_core.plan import DEFAULT_SAMPLE, OUTCOMES, SyncPlan, plan_sync
from syncflow_core.text_table import render
from syncflow_core.windows import Window

DAY = click.DateTime(formats=["%Y-%m-%d"])


@click.command()
@click.argument("entity")
@click.option(
    "--partition",
    type=DAY,
    help="the day D: rows with ROWVERSION in [D, D+1) [default: today, UTC]",
)
@click.option("--from", "first", type=DAY, help="first day of a range (with --to)")
@click.option("--to", "last", type=DAY, help="last day of a range, inclusive")
@click.option("--full-rescan", is_flag=True, help="ignore the watermarks: every row of the windows")
@click.option(
    "--deletes",
    is_flag=True,
    help="also what a reconciliation would delete (scans every key of the source)",
)
@click.option("--sample", type=click.IntRange(min=0), default=DEFAULT_SAMPLE, show_default=True,
              help="rows shown per outcome")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="print the plan as JSON")
def plan(
    entity: str,
    partition: dt.datetime | None,
    first: dt.datetime | None,
    last: dt.datetime | None,
    full_rescan: bool,
    deletes: bool,
    sample: int,
    as_json: bool,
) -> None:
    """What a sync of ENTITY would do, without writing anything anywhere."""
    windows = choose_windows(partition, first, last)
    with open_env() as env:
        if entity not in env.catalog:
            known = ", ".join(env.catalog)
            raise click.BadParameter(f"unknown entity {entity!r} (the catalog has {known})")
        try:
            result = plan_sync(
                env, entity, windows, full_rescan=full_rescan, deletes=deletes, sample=sample
            )
        except (SchemaDriftError, SyncFlowHTTPError) as exc:  # said in one line, no traceback
            raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json(result.as_dict())
    else:
        click.echo(plan_text(result))


def choose_windows(
    partition: dt.datetime | None, first: dt.datetime | None, last: dt.datetime | None
) -> list[Window]:
    """``--partition D`` or ``--from D1 --to D2`` (inclusive); default: today's partition."""
    if partition is not None and (first or last):
        raise click.UsageError("give --partition or --from/--to, not both")
    if (first is None) != (last is None):
        raise click.UsageError("--from and --to go together")
    if first is not None and last is not None:
        if last < first:
            raise click.UsageError("--to is before --from")
        return Window.days(first.date(), last.date() + dt.timedelta(days=1))
    return [Window.day(partition.date() if partition else today_utc())]


# --- text ------------------------------------------------------------------------------------


def plan_text(plan: SyncPlan) -> str:
    """The plan as people read it: what, compared with what, counts, then samples."""
    windows = (
        plan.windows[0] if len(plan.windows) == 1 else f"{plan.windows[0]} .. {plan.windows[-1]}"
    )
    scope = "every row (full rescan)" if plan.full_rescan else "rows above the watermarks"
    lines = [
        f"Dry run of {plan.entity}, {len(plan.windows)} day(s) {windows}: {scope}.",
        f"Compared with {plan.compared_with}.",
        "Nothing was written.",
    ]
    if plan.new_source_columns:
        lines.append(f"New source columns (ignored): {', '.join(plan.new_source_columns)}")
    lines += ["", _counts_table(plan)]
    if plan.deletes and plan.deletes.refused:
        d = plan.deletes
        lines.append(
            f"\nThe mass-delete guard would refuse: {d.rows:,} of {d.compared:,} records "
            f"is more than {d.guard_share:.0%} (a reconciliation needs force)."
        )
    for name in ("inserted", "updated", "failed", "parked", "deleted"):
        rows = plan.samples.get(name) or []
        total = (
            plan.counts.get(name)
            if name != "deleted"
            else (plan.deletes.rows if plan.deletes else 0)
        )
        if rows:
            lines += ["", f"{name}: {len(rows)} of {total:,}", SAMPLE_TABLES[name](rows)]
    return "\n".join(lines)


def _counts_table(plan: SyncPlan) -> str:
    rows: list[list[Any]] = [["fetched", plan.counts["fetched"], "rows the sync fetches"]]
    notes = {
        "inserted": "new keys",
        "updated": "known keys whose data changed",
        "skipped": "unchanged, or older than what ScheduleHub has",
        "failed": "data errors: to failed_records",
        "parked": "parent not in ScheduleHub yet: to pending_children",
        "superseded": "a newer row of the same key in the same chunk",
    }
    rows += [[name, plan.counts[name], notes[name]] for name in OUTCOMES]
    if plan.deletes is not None:
        note = "gone from the ERP: what a reconciliation deletes"
        rows.append(["deleted", plan.deletes.rows, note])
    else:
        rows.append(["deleted", None, "not computed: --deletes scans every key of the source"])
    return render(["outcome", "rows", "meaning"], rows)


def _inserted(rows: list[dict[str, Any]]) -> str:
    return render(
        ["key", "record"],
        [[r["key"], json.dumps(r["record"], ensure_ascii=False)] for r in rows],
        max_width=100,
    )


def _updated(rows: list[dict[str, Any]]) -> str:
    table: list[list[Any]] = []
    for r in rows:
        changes = r.get("changes") or []
        if not changes:
            table.append([r["key"], "-", None, r.get("note", "")])
        for i, c in enumerate(changes):
            key = r["key"] if i == 0 else ""
            table.append([key, c["field"], _json(c["before"]), _json(c["after"])])
    return render(["key", "field", "ScheduleHub now", "after the sync"], table, max_width=50)


def _failed(rows: list[dict[str, Any]]) -> str:
    return render(
        ["key (ERP)", "stage", "error_type", "field", "message"],
        [[r["key"], r["stage"], r["error_type"], r["field"], r["message"]] for r in rows],
    )


def _parked(rows: list[dict[str, Any]]) -> str:
    return render(
        ["key", "waits for", "parent key"],
        [[r["key"], r["waits_for"], r["parent_key"]] for r in rows],
    )


def _deleted(rows: list[dict[str, Any]]) -> str:
    return render(["key", "uid"], [[r["key"], r["uid"]] for r in rows])


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


SAMPLE_TABLES = {
    "inserted": _inserted,
    "updated": _updated,
    "failed": _failed,
    "parked": _parked,
    "deleted": _deleted,
}
