"""The ``syncflow`` console script.

    syncflow sandbox --apismith-port 8007 --schedulehub-port 5180 --items 10000 --seed 7
    syncflow sandbox --items 1000000 --orders 200000 --order-lines 800000 --days 30

    syncflow health                      # state database, APISmith, ScheduleHub
    syncflow plan items --partition 2025-12-08
    syncflow dlq list --entity items

``sandbox`` runs the APISmith and ScheduleHub emulators, each in a process of its own,
until interrupted (Ctrl-C or SIGTERM). Entity sizes not given keep the emulator's
defaults; fault settings come from ``SYNCFLOW_APISMITH_FAULT_<NAME>`` and
``SYNCFLOW_SCHEDULEHUB_FAULT_<NAME>``. Secrets come from ``SYNCFLOW_APISMITH_JWT_SECRET``
and ``SYNCFLOW_SCHEDULEHUB_JWT_SECRET``; unset, a marked development default is used and
the command says so (it never prints a secret).

``health``, ``plan`` and ``dlq`` are the operations commands (``syncflow_core.commands``;
docs/operations.md shows their output).
"""

from __future__ import annotations

import signal
import time
from types import FrameType

import click

from syncflow_core.commands.dlq import dlq
from syncflow_core.commands.health import health
from syncflow_core.commands.plan import plan
from syncflow_core.emulators import apismith
from syncflow_core.emulators.schedulehub import create_app as create_schedulehub
from syncflow_core.emulators.schedulehub_service import ScheduleHubConfig, ScheduleHubEmulator
from syncflow_core.emulators.servers import RunningServer, run_in_process
from syncflow_core.settings import DEV_APISMITH_SECRET, DEV_SCHEDULEHUB_SECRET, Settings


@click.group()
def cli() -> None:
    """SyncFlow: ERP (APISmith) to planning (ScheduleHub) sync."""


@cli.command()
@click.option("--apismith-port", default=8007, show_default=True, help="0: any free port")
@click.option("--schedulehub-port", default=5180, show_default=True, help="0: any free port")
@click.option("--items", type=int, help="items rows in the ERP [default: 1000]")
@click.option("--work-centers", type=int, help="work_centers rows [default: 50]")
@click.option("--orders", type=int, help="orders rows [default: 500]")
@click.option("--order-lines", type=int, help="order_lines rows [default: 2000]")
@click.option("--days", default=7, show_default=True, help="days the initial rows span")
@click.option("--seed", default=42, show_default=True, help="seed of the ERP data")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--schedulehub-storage",
    default=None,
    help="SQLite file or SQLAlchemy URL [default: SYNCFLOW_SCHEDULEHUB_STORAGE, "
    "else ./schedulehub_emulator.db]",
)
@click.option("--fresh", is_flag=True, help="delete ScheduleHub's records first")
def sandbox(
    apismith_port: int,
    schedulehub_port: int,
    items: int | None,
    work_centers: int | None,
    orders: int | None,
    order_lines: int | None,
    days: int,
    seed: int,
    host: str,
    schedulehub_storage: str | None,
    fresh: bool,
) -> None:
    """Run both emulators until interrupted."""
    settings = Settings()
    asked = {
        "items": items,
        "work_centers": work_centers,
        "orders": orders,
        "order_lines": order_lines,
    }
    sizes = {name: rows for name, rows in asked.items() if rows is not None}
    erp_config = apismith.ApiSmithConfig.from_settings(settings, sizes=sizes, seed=seed, days=days)
    hub_config = ScheduleHubConfig(jwt_secret=settings.schedulehub_jwt_secret)
    if schedulehub_storage:
        hub_config = hub_config.model_copy(update={"storage": schedulehub_storage})
    if fresh:
        emulator = ScheduleHubEmulator(hub_config)
        emulator.reset()
        emulator.close()
    servers: list[tuple[str, RunningServer]] = []
    _on_sigterm_interrupt()
    try:
        erp = run_in_process(apismith.create_app, erp_config, host=host, port=apismith_port)
        servers.append(("APISmith", erp))
        hub = run_in_process(create_schedulehub, hub_config, host=host, port=schedulehub_port)
        servers.append(("ScheduleHub", hub))
        _announce(settings, servers, hub_config, erp_config)
        _wait(servers)
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        for _, server in reversed(servers):
            server.stop()


def _announce(
    settings: Settings,
    servers: list[tuple[str, RunningServer]],
    hub_config: ScheduleHubConfig,
    erp_config: apismith.ApiSmithConfig,
) -> None:
    for name, server in servers:
        click.echo(f"{name:<12} {server.url}")
    click.echo(
        "APISmith JWT secret:    "
        + _source(settings.apismith_jwt_secret.get_secret_value(), DEV_APISMITH_SECRET, "APISMITH")
    )
    click.echo(
        "ScheduleHub JWT secret: "
        + _source(
            settings.schedulehub_jwt_secret.get_secret_value(),
            DEV_SCHEDULEHUB_SECRET,
            "SCHEDULEHUB",
        )
    )
    rows = ", ".join(f"{k} {v:,}" for k, v in erp_config.sizes.items())
    click.echo(f"APISmith rows: {rows} over {erp_config.days} days from {erp_config.start_day}")
    storage = hub_config.storage.split("@")[-1]  # a URL's password stays out of the output
    click.echo(f"ScheduleHub storage: {storage}")
    click.echo("Ctrl-C to stop")


def _source(value: str, default: str, system: str) -> str:
    variable = f"SYNCFLOW_{system}_JWT_SECRET"
    if value == default:
        return f"DEVELOPMENT DEFAULT (set {variable} for anything but a local sandbox)"
    return f"from {variable}"


def _wait(servers: list[tuple[str, RunningServer]]) -> None:
    while True:
        time.sleep(0.5)
        for name, server in servers:
            if not server.alive():
                raise click.ClickException(f"the {name} emulator stopped")


def _on_sigterm_interrupt() -> None:
    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


cli.add_command(health)
cli.add_command(plan)
cli.add_command(dlq)


def main() -> None:
    """Entry point of the ``syncflow`` console script."""
    cli(prog_name="syncflow")


if __name__ == "__main__":
    main()
