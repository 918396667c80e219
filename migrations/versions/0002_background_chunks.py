"""Background slices remember their chunks: a crash resumes at the last committed one.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

``chunk_bounds``: the ROWVERSION boundaries (JSON list of ISO timestamps) that cut a
slice into chunks of about ``chunk_rows`` rows when the plan was made; ``chunks_done``
(already there) counts the chunks committed, in order.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "background_sync_schedule"


def _schema() -> str | None:
    # ALTER TABLE is not run through the engine's schema_translate_map: on SQLite the
    # ``bridge`` tables live in the main database.
    return None if op.get_bind().dialect.name == "sqlite" else "bridge"


def upgrade() -> None:
    column = sa.Column("chunk_bounds", sa.Text, comment="JSON list of chunk boundaries")
    op.add_column(TABLE, column, schema=_schema())


def downgrade() -> None:
    op.drop_column(TABLE, "chunk_bounds", schema=_schema())
