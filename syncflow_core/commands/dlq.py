"""``syncflow dlq list|show|retry|resolve``: the dead-letter queue (``failed_records``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from syncflow_core import dlq as core
from syncflow_core.commands.common import echo_json, open_env
from syncflow_core.dlq_fixes import Fix, FixError
from syncflow_core.text_table import render

F = TypeVar("F", bound=Callable[..., Any])
STATUS_CHOICES = click.Choice([*core.STATUSES, "all"])


def _errors_as_usage(fn: F) -> F:
    """A DlqError or FixError is the user's to fix: a one-line message, exit 1."""

    @wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (core.DlqError, FixError) as exc:
            raise click.ClickException(str(exc)) from None

    return run  # type: ignore[return-value]


def _filters(fn: F) -> F:
    """--entity, --error-type, --stage."""
    fn = click.option("--stage", help="stage_failed: normalize, validate, map, resolve, ingest")(fn)
    fn = click.option("--error-type", help="e.g. invalid_number, validation, transient")(fn)
    return click.option("--entity", help="one entity of the catalog")(fn)


def _statuses(chosen: tuple[str, ...]) -> tuple[str, ...]:
    if not chosen:
        return core.UNRESOLVED
    return core.STATUSES if "all" in chosen else chosen


@click.group()
def dlq() -> None:
    """The dead-letter queue: failed records, their data and errors; fix, retry, resolve."""


@dlq.command("list")
@_filters
@click.option("--status", "status", multiple=True, type=STATUS_CHOICES,
              help="repeatable [default: open and dead]")  # fmt: skip
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@_errors_as_usage
def list_command(
    entity: str | None,
    error_type: str | None,
    stage: str | None,
    status: tuple[str, ...],
    limit: int,
    as_json: bool,
) -> None:
    """Failed records and their counts per error type."""
    selection = core.Selection(
        entity=entity, error_type=error_type, stage=stage, statuses=_statuses(status)
    )
    with open_env() as env:
        records, summary = core.list_records(env, selection, limit=limit)
    columns = ["id", "entity", "stage_failed", "error_type", "field", "status", "retry_count",
               "next_retry_at", "key", "error_message", "created_at", "resolution"]  # fmt: skip
    if as_json:
        echo_json({"counts": summary.to_dicts(), "records": records.select(columns).to_dicts()})
        return
    total = int(summary["records"].sum()) if summary.height else 0
    click.echo(f"{total:,} failed record(s) ({', '.join(selection.statuses)}), by error type:")
    click.echo(render(["entity", "stage", "error_type", "field", "status", "records"],
                      summary.rows()))  # fmt: skip
    if records.height:
        more = f", first {limit}" if records.height == limit < total else ""
        click.echo(f"\nrecords{more}:")
        names = ["id", "entity", "stage_failed", "error_type", "field", "status", "retry_count",
                 "key", "error_message"]  # fmt: skip
        headers = ["id", "entity", "stage", "error_type", "field", "status", "tries", "key",
                   "message"]  # fmt: skip
        if records["resolution"].null_count() < records.height:
            names, headers = [*names, "resolution"], [*headers, "resolution"]
        click.echo(render(headers, records.select(names).rows(), max_width=70))


@dlq.command()
@click.argument("record_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@_errors_as_usage
def show(record_id: int, as_json: bool) -> None:
    """Every column of one failed record, its data pretty-printed."""
    with open_env() as env:
        record = core.describe(env, record_id)
    if as_json:
        echo_json(record)
        return
    click.echo(show_text(record))


def show_text(record: dict[str, Any]) -> str:
    """One record as people read it."""
    scalar = [(k, v) for k, v in record.items() if k not in (*core.JSON_COLUMNS, "normalized")]
    lines = [render(["column", "value"], scalar, max_width=100)]
    for column in core.JSON_COLUMNS:
        value = record.get(column)
        lines += [
            "",
            f"{column}:",
            json.dumps(value, indent=2, ensure_ascii=False) if value else "  (none)",
        ]
    normalized = record.get("normalized")
    if normalized:
        lines += ["", "raw_data normalized now, field by field (today's catalog):"]
        rows = [
            [f["source"], _json(f["raw"]), f["target"], None if f["error"] else _json(f["value"]),
             f["error"]]
            for f in normalized
        ]  # fmt: skip
        lines.append(render(["source", "raw", "target", "value", "error"], rows, max_width=50))
    return "\n".join(lines)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@dlq.command()
@click.argument("record_ids", nargs=-1, type=int)
@_filters
@click.option("--set", "fixes", multiple=True, metavar="COLUMN=VALUE",
              help="fix before retrying (repeatable): raw_data for a data error, mapped_data "
              "otherwise; COLUMN:=JSON for a JSON value such as null")  # fmt: skip
@click.option("--later", is_flag=True, help="only make them due; the next re-drive takes them")
@click.option("--json", "as_json", is_flag=True)
@_errors_as_usage
def retry(
    record_ids: tuple[int, ...],
    entity: str | None,
    error_type: str | None,
    stage: str | None,
    fixes: tuple[str, ...],
    later: bool,
    as_json: bool,
) -> None:
    """Retry failed records (by id, or all of a filter) now, optionally fixed first."""
    selection = core.Selection(ids=record_ids, entity=entity, error_type=error_type, stage=stage)
    parsed = [Fix.parse(text) for text in fixes]
    with open_env() as env:
        outcomes = core.retry(env, selection, fixes=parsed, later=later)
    if as_json:
        echo_json([o.as_dict() for o in outcomes])
        return
    if not outcomes:
        click.echo("no open or dead record matches")
        return
    click.echo(render(["id", "entity", "outcome", "status", "detail"],
                      [[o.id, o.entity, o.outcome, o.status, o.detail] for o in outcomes],
                      max_width=90))  # fmt: skip


@dlq.command()
@click.argument("record_ids", nargs=-1, type=int)
@_filters
@click.option("--reason", required=True, help="why it needs no retry (kept in the record)")
@click.option("--json", "as_json", is_flag=True)
@_errors_as_usage
def resolve(
    record_ids: tuple[int, ...],
    entity: str | None,
    error_type: str | None,
    stage: str | None,
    reason: str,
    as_json: bool,
) -> None:
    """Mark failed records resolved by hand (by id, or all of a filter), with a reason."""
    selection = core.Selection(ids=record_ids, entity=entity, error_type=error_type, stage=stage)
    with open_env() as env:
        ids = core.resolve(env, selection, reason)
    if as_json:
        echo_json({"resolved": ids, "reason": reason})
        return
    shown = ", ".join(map(str, ids)) if ids else "none"
    click.echo(f"resolved {len(ids)} record(s): {shown}")
