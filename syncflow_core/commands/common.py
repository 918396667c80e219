"""What the operations commands share: settings, the environment, JSON output, dates."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click

from syncflow_core.env import SyncEnv
from syncflow_core.observability.redaction import Redactor
from syncflow_core.settings import Settings
from syncflow_core.state import SchemaNotCurrentError


def open_env(settings: Settings | None = None) -> SyncEnv:
    """A SyncEnv on the environment's settings; the state store must be at head already.

    Operations commands never migrate the database on their own (``syncflow plan`` must
    write nothing at all): a store behind the code is a clear error instead.
    """
    settings = settings or Settings()
    env = SyncEnv.from_settings(settings, upgrade=False)
    try:
        env.store.check()
    except SchemaNotCurrentError as exc:
        env.close()
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # cannot connect: say so without a traceback (nor a password)
        env.close()
        reason = Redactor.from_settings(settings).text(f"{type(exc).__name__}: {exc}")
        raise click.ClickException(f"state database: {reason}") from None
    return env


def echo_json(value: Any) -> None:
    """``value`` as indented JSON on stdout (datetimes as ISO 8601)."""
    click.echo(json.dumps(value, indent=2, default=_default, ensure_ascii=False))


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def today_utc() -> dt.date:
    """Today's date in UTC: the default partition."""
    return dt.datetime.now(dt.UTC).date()
