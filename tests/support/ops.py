"""Helpers of the operations tests: the settings as environment variables for the
``syncflow`` commands, and snapshots of everything a dry run must leave alone."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from syncflow_core.settings import Settings
from syncflow_core.state import StateStore, metadata


def env_vars(settings: Settings, **overrides: str) -> dict[str, str]:
    """``settings`` as the ``SYNCFLOW_*`` variables a command reads."""
    values = {
        "SYNCFLOW_DATABASE_URL": settings.state_url,
        "SYNCFLOW_APISMITH_URL": settings.apismith_url,
        "SYNCFLOW_APISMITH_JWT_SECRET": settings.apismith_jwt_secret.get_secret_value(),
        "SYNCFLOW_SCHEDULEHUB_URL": settings.schedulehub_url,
        "SYNCFLOW_SCHEDULEHUB_JWT_SECRET": settings.schedulehub_jwt_secret.get_secret_value(),
        "SYNCFLOW_CHUNK_ROWS": str(settings.chunk_rows),
        "SYNCFLOW_BACKOFF_BASE_SECONDS": str(settings.backoff_base_seconds),
        "SYNCFLOW_BACKOFF_MAX_SECONDS": str(settings.backoff_max_seconds),
    }
    return {**values, **overrides}


def state_snapshot(store: StateStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every state table (and the Alembic version), sorted."""
    snapshot = {}
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows = conn.execute(sa.select(table)).all()
            snapshot[table.name] = sorted((tuple(r) for r in rows), key=repr)
        snapshot["alembic_version"] = [(store.revision(),)]
    return snapshot


def hub_writes(stats: dict[str, Any]) -> dict[str, Any]:
    """ScheduleHub's record counts and write counters per entity (reads are not writes)."""
    return stats["entities"]
