"""failed_records.resolution: why a person closed a dead letter (``syncflow dlq resolve``).

Revision ID: 0003
Revises: 0002
Create Date: 2025-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "bridge"


def _schema() -> str | None:
    # ALTER TABLE is rendered as text, past the engine's schema_translate_map: on SQLite
    # ``bridge`` is the main database, so it must be named as such here.
    return None if op.get_bind().dialect.name == "sqlite" else SCHEMA


def upgrade() -> None:
    op.add_column(
        "failed_records",
        sa.Column(
            "resolution",
            sa.Text(),
            nullable=True,
            comment="why a person resolved it by hand; null otherwise",
        ),
        schema=_schema(),
    )


def downgrade() -> None:
    op.drop_column("failed_records", "resolution", schema=_schema())
