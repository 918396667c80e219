"""``syncflow health``: the state database, APISmith and ScheduleHub, as a table."""

from __future__ import annotations

import click

from syncflow_core.commands.common import echo_json
from syncflow_core.health import DEFAULT_TIMEOUT_SECONDS, CheckResult, run_checks
from syncflow_core.settings import Settings
from syncflow_core.text_table import render


@click.command()
@click.option(
    "--timeout",
    "timeout_seconds",
    type=click.FloatRange(min=0.1),
    default=DEFAULT_TIMEOUT_SECONDS,
    show_default=True,
    help="seconds each request may take (no retries)",
)
@click.option("--json", "as_json", is_flag=True, help="print the results as JSON")
def health(timeout_seconds: float, as_json: bool) -> None:
    """Check the state database, APISmith and ScheduleHub; exit 1 when one fails."""
    results = run_checks(Settings(), timeout_seconds=timeout_seconds)
    failed = [r for r in results if not r.ok]
    if as_json:
        echo_json({"ok": not failed, "checks": [r.as_dict() for r in results]})
    else:
        click.echo(health_table(results))
        click.echo()
        if failed:
            names = ", ".join(r.name for r in failed)
            click.echo(f"{len(failed)} of {len(results)} checks failed: {names}")
        else:
            click.echo(f"all {len(results)} checks passed")
    if failed:
        raise SystemExit(1)


def health_table(results: list[CheckResult]) -> str:
    """The checks as a table: name, status, latency, target, detail."""
    rows = [
        [
            r.name,
            r.status,
            r.latency_ms,
            r.target,
            r.detail,
        ]
        for r in results
    ]
    return render(["check", "status", "latency ms", "target", "detail"], rows, max_width=200)
