"""Fresh background plans: ``background_sync_schedule.fresh`` and ``sync_batches.plan_id``.

A plan made while the entity had no sync state, no ScheduleHub record and no lease in
force is fresh: as long as no batch outside the plan has started since, a slice's keys
cannot be in the state (the slices' windows are disjoint), and its delta skips the state
lookups. ``sync_batches.plan_id`` tells the plan's own batches from the others.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "bridge"


def _schema() -> str | None:
    # ALTER TABLE is rendered as text, past the engine's schema_translate_map: on SQLite
    # ``bridge`` is the main database, so it must be named as such here.
    return None if op.get_bind().dialect.name == "sqlite" else SCHEMA


def upgrade() -> None:
    op.add_column(
        "background_sync_schedule",
        sa.Column(
            "fresh",
            sa.Boolean(),
            nullable=False,
            server_default=sa.false(),
            comment="planned while the entity had no state, no ScheduleHub record and no lease",
        ),
        schema=_schema(),
    )
    op.add_column(
        "sync_batches",
        sa.Column(
            "plan_id",
            sa.String(36),
            nullable=True,
            comment="a background batch's plan; null for other batches",
        ),
        schema=_schema(),
    )


def downgrade() -> None:
    op.drop_column("sync_batches", "plan_id", schema=_schema())
    op.drop_column("background_sync_schedule", "fresh", schema=_schema())
