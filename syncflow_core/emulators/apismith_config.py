"""What configures and drives an emulated APISmith: config, ERP activity, schema drift."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from syncflow_core.emulators import erp_model
from syncflow_core.emulators.faults import FaultSettings
from syncflow_core.settings import DEV_APISMITH_SECRET, Settings

DEFAULT_SIZES = {"items": 1000, "work_centers": 50, "orders": 500, "order_lines": 2000}


class ApiSmithFaults(FaultSettings):
    """Fault settings (env ``SYNCFLOW_APISMITH_FAULT_<NAME>``), plus ERP users editing rows
    while a scan runs.

    ``scan_update_share``: after serving a page, about this share of its rows is changed
    again (new version, new ROWVERSION above everything), so a scan meets them twice.
    """

    model_config = SettingsConfigDict(env_prefix="SYNCFLOW_APISMITH_FAULT_")

    scan_update_share: float = Field(default=0.0, ge=0, le=1)


class ApiSmithConfig(BaseModel):
    """Everything that shapes an emulated APISmith.

    ``sizes`` are merged over :data:`DEFAULT_SIZES` (entities of the catalog not named
    get 0 rows unless a default exists). Initial ROWVERSIONs spread evenly over ``days``
    days from ``start_day``: partition D holds the rows with ROWVERSION in [D, D+1).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    sizes: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_SIZES))
    seed: int = 42
    start_day: dt.date = dt.date(2025, 1, 1)
    days: int = Field(default=7, ge=1)
    jwt_secret: SecretStr = SecretStr(DEV_APISMITH_SECRET)
    faults: ApiSmithFaults = Field(default_factory=ApiSmithFaults)  # reads the environment
    failing_share: float = Field(default=0.03, ge=0, le=1)
    late_parent_share: float = Field(default=0.02, ge=0, le=1)
    future_parent_share: float = Field(default=0.01, ge=0, le=1)
    catalog_path: str | None = None
    chunk_rows: int = Field(default=16_384, ge=1)
    cache_mb: int = Field(default=256, ge=1)

    @field_validator("sizes")
    @classmethod
    def _merged_sizes(cls, sizes: dict[str, int]) -> dict[str, int]:
        merged = {**DEFAULT_SIZES, **sizes}
        erp_model.check_sizes(merged)
        return merged

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> ApiSmithConfig:
        """A config whose JWT secret is SyncFlow's APISmith secret."""
        return cls(jwt_secret=settings.apismith_jwt_secret, **overrides)


class Activity(BaseModel):
    """ERP activity on one entity: counts, plus shares of the live rows (added together).

    ``change``: new data (version + 1); ``touch``: new ROWVERSION, same data; ``delete``;
    ``add``: new rows. Changed, touched and deleted rows are distinct live rows drawn at
    random. Every row gets its own ROWVERSION above everything issued so far, and not
    before ``at`` (default: right after the latest ROWVERSION).
    """

    model_config = ConfigDict(extra="forbid")

    entity: str
    change: int = Field(default=0, ge=0)
    touch: int = Field(default=0, ge=0)
    delete: int = Field(default=0, ge=0)
    add: int = Field(default=0, ge=0)
    change_share: float = Field(default=0.0, ge=0, le=1)
    touch_share: float = Field(default=0.0, ge=0, le=1)
    delete_share: float = Field(default=0.0, ge=0, le=1)
    add_share: float = Field(default=0.0, ge=0)
    at: dt.datetime | None = None


class DriftColumn(BaseModel):
    """A column to add: a new one needs its Oracle type; a dropped catalog one may omit it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Z][A-Z0-9_$#]{0,29}$")
    type: str | None = None


class Drift(BaseModel):
    """Schema drift on one entity."""

    model_config = ConfigDict(extra="forbid")

    entity: str
    add: list[DriftColumn] = Field(default_factory=list)
    drop: list[str] = Field(default_factory=list)


class RawRows(BaseModel):
    """ERP rows added with some columns served verbatim: ``rows`` maps column names to the
    JSON text of each value (``{"LIST_PRICE": "\"1,2.3\"", "DESCRIPTION": "null"}``), so
    that any value a facade could send (invalid numbers, lone surrogates escaped, huge
    strings) reaches the client as it is. They get ROWVERSIONs as ``add`` activity does."""

    model_config = ConfigDict(extra="forbid")

    entity: str
    rows: list[dict[str, str]] = Field(min_length=1)
    at: dt.datetime | None = None
