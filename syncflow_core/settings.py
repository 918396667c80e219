"""Every SyncFlow knob, read from the environment (prefix ``SYNCFLOW_``) or a ``.env`` file.

>>> from syncflow_core.settings import Settings
>>> Settings(apismith_url="http://127.0.0.1:8007").page_size
1000

Secrets are ``SecretStr``: they never appear in ``repr`` or logs. When a JWT secret is not
set, a clearly marked development default is used and :func:`dev_secret_warnings` says so.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_APISMITH_SECRET = "dev-only-apismith-secret-do-not-use-in-production"  # noqa: S105 (a marked development default)
DEV_SCHEDULEHUB_SECRET = "dev-only-schedulehub-secret-do-not-use-in-production"  # noqa: S105
DEFAULT_SQLITE_FILE = "syncflow_state.db"


class Settings(BaseSettings):
    """SyncFlow configuration. Every field is ``SYNCFLOW_<FIELD_NAME>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="SYNCFLOW_", env_file=".env", extra="ignore", frozen=True
    )

    # --- state store ---------------------------------------------------------------------
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the state store; unset: a SQLite file in the working "
        "directory. PostgreSQL: postgresql+psycopg://user@host:5432/db",
    )

    # --- APISmith (source) ---------------------------------------------------------------
    apismith_url: str = "http://127.0.0.1:8007"
    apismith_jwt_secret: SecretStr = SecretStr(DEV_APISMITH_SECRET)
    page_size: int = Field(default=1000, ge=1, le=10_000)

    # --- ScheduleHub (target) ------------------------------------------------------------
    schedulehub_url: str = "http://127.0.0.1:5180"
    schedulehub_jwt_secret: SecretStr = SecretStr(DEV_SCHEDULEHUB_SECRET)
    batch_size: int = Field(default=1000, ge=1, le=1000)
    max_in_flight: int = Field(default=4, ge=1, le=64)

    # --- JWT -----------------------------------------------------------------------------
    jwt_issuer: str = "syncflow"
    jwt_subject: str = "syncflow"
    jwt_ttl_seconds: int = Field(default=900, ge=30, le=3600)

    # --- HTTP behaviour ------------------------------------------------------------------
    http_timeout_seconds: float = Field(default=30.0, gt=0)
    http_max_attempts: int = Field(default=6, ge=1, description="attempts per request")
    backoff_base_seconds: float = Field(default=0.2, ge=0)
    backoff_max_seconds: float = Field(default=20.0, ge=0)
    retry_after_max_seconds: float = Field(default=120.0, ge=0)

    # --- pipeline ------------------------------------------------------------------------
    chunk_rows: int = Field(default=200_000, ge=1000, description="rows per streamed chunk")
    state_cache_rows: int = Field(
        default=2_000_000,
        ge=0,
        description="a big batch reads the entity's whole sync state once when it has at "
        "most this many keys (about 130 MB per million), else it looks keys up per chunk",
    )
    pipeline_depth: int = Field(
        default=1,
        ge=0,
        le=4,
        description="chunks the source side and the ScheduleHub side may run ahead of the "
        "state writes, each in a thread of its own (0: one stage at a time)",
    )
    delete_guard_share: float = Field(default=0.10, ge=0, le=1)
    failed_retry_delays_seconds: tuple[int, ...] = (60, 120, 240)
    pending_check_seconds: int = 300
    pending_max_tries: int = 5
    rows_per_day: int = Field(
        default=1_000_000, ge=1, description="rows a background slice (one a day) takes"
    )
    background_chunk_rows: int = Field(
        # 200,000: a 7M-row table's slices ran 17 % faster than with 100,000 (the state's
        # index is written page by page, more keys a page), peaking at about 1.05 GB
        # instead of 0.78 (docs/scale-out.md); lower it where a run has less memory
        default=200_000,
        ge=1,
        description="rows of a background chunk: what is committed at once, and lost at most "
        "by a crash",
    )
    background_entities: tuple[str, ...] = Field(
        default=("items",),
        description="the large entities synced in the background, one slice a day (each gets "
        "an asset <entity>_background in Dagster)",
    )
    partitions_start: dt.date = dt.date(2025, 1, 1)
    lease_seconds: int = Field(default=3600, ge=10)

    # --- asset checks (the Dagster layer reads these) ----------------------------------
    check_min_success_rate: float = Field(
        default=0.9, ge=0, le=1, description="a batch's success rate must be at least this"
    )
    check_max_dead_letters: int = Field(
        default=1000, ge=0, description="unresolved failed_records of an entity, at most"
    )
    check_max_pending_age_hours: float = Field(
        default=24.0, gt=0, description="the oldest parked child of an entity, at most"
    )

    # --- observability -------------------------------------------------------------------
    metrics_textfile_dir: Path | None = Field(
        default=None,
        description="node_exporter textfile-collector directory: running totals per entity "
        "in syncflow_<entity>.prom; unset: no file",
    )
    pushgateway_url: str | None = Field(
        default=None, description="Prometheus Pushgateway to push to after each batch; unset: none"
    )
    log_file: str | None = Field(
        default=None, description="JSON log lines go to this file, '-' for stderr; unset: none"
    )

    @field_validator("database_url")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("metrics_textfile_dir", "pushgateway_url", "log_file", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return value or None

    @property
    def state_url(self) -> str:
        """The state store URL, the embedded SQLite default when none is set."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path.cwd() / DEFAULT_SQLITE_FILE}"


def dev_secret_warnings(settings: Settings) -> list[str]:
    """Which systems run on the built-in development secret (never the secret itself)."""
    warnings = []
    if settings.apismith_jwt_secret.get_secret_value() == DEV_APISMITH_SECRET:
        warnings.append("SYNCFLOW_APISMITH_JWT_SECRET is unset: using the development default")
    if settings.schedulehub_jwt_secret.get_secret_value() == DEV_SCHEDULEHUB_SECRET:
        warnings.append("SYNCFLOW_SCHEDULEHUB_JWT_SECRET is unset: using the development default")
    return warnings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
