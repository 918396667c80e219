"""The ``syncflow`` console script: the core's commands (``sandbox``) plus ``demo``.

    syncflow demo                    # both emulators, full sync, activity, incremental, reconcile
    syncflow demo --items 100000 --keep

``demo`` lives here because it runs the Dagster definitions, and ``syncflow_core`` never
imports Dagster.
"""

from __future__ import annotations

import click

from syncflow_core.cli import cli


@cli.command()
@click.option("--items", default=20_000, show_default=True, help="items in the ERP")
@click.option("--days", default=3, show_default=True, help="days of ERP history (to yesterday)")
@click.option("--chunk-rows", default=5000, show_default=True, help="rows per streamed chunk")
@click.option("--seed", default=42, show_default=True, help="seed of the ERP data")
@click.option("--keep", is_flag=True, help="keep the temporary Dagster home and databases")
@click.option("--verbose", is_flag=True, help="show Dagster's run log")
def demo(items: int, days: int, chunk_rows: int, seed: int, keep: bool, verbose: bool) -> None:
    """Sync a generated ERP into ScheduleHub through the Dagster jobs; print a table."""
    from syncflow_dagster.demo.run import DemoOptions, DemoRunFailedError, run_demo

    options = DemoOptions(
        items=items, days=days, chunk_rows=chunk_rows, seed=seed, keep=keep, verbose=verbose
    )
    try:
        run_demo(options)
    except DemoRunFailedError as exc:
        raise click.ClickException(str(exc)) from exc


def main() -> None:
    """Entry point of the ``syncflow`` console script."""
    cli(prog_name="syncflow")


if __name__ == "__main__":
    main()
