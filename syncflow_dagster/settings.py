"""The Dagster layer's own knobs (environment prefix ``SYNCFLOW_DAGSTER_``).

Everything about the sync itself is in :class:`syncflow_core.settings.Settings`; these only
choose how Dagster runs the nine stage ops.

>>> DagsterSettings(executor="multiprocess").executor
'multiprocess'
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DagsterSettings(BaseSettings):
    """``SYNCFLOW_DAGSTER_EXECUTOR`` and ``SYNCFLOW_DAGSTER_HANDOFF_DIR``."""

    model_config = SettingsConfigDict(
        env_prefix="SYNCFLOW_DAGSTER_", env_file=".env", extra="ignore", frozen=True
    )

    executor: Literal["in_process", "multiprocess"] = Field(
        default="in_process",
        description="in_process: the stage ops stream chunk by chunk in one process, frames "
        "handed over in memory (fast). multiprocess: one process per op, frames handed over "
        "as Parquet files (about 2 s per step more)",
    )
    handoff_dir: Path | None = Field(
        default=None,
        description="where the Parquet handoffs of a multiprocess run go; unset: "
        "$DAGSTER_HOME/storage/syncflow_handoff (a temp dir without DAGSTER_HOME)",
    )

    @field_validator("handoff_dir", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return value or None
