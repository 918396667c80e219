"""A whole world for pipeline tests: APISmith and ScheduleHub emulators over loopback HTTP,
a state store, and the checks that ScheduleHub equals the prepared source."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from syncflow_core import prepare
from syncflow_core.catalog import EntitySpec
from syncflow_core.clients.retry import RetryPolicy
from syncflow_core.emulators.apismith import ApiSmithConfig, ApiSmithEmulator
from syncflow_core.emulators.apismith import create_app as apismith_app
from syncflow_core.emulators.schedulehub import ScheduleHubConfig, emulator_of
from syncflow_core.emulators.schedulehub import create_app as schedulehub_app
from syncflow_core.emulators.schedulehub_service import ScheduleHubEmulator
from syncflow_core.emulators.servers import run_in_thread
from syncflow_core.env import SyncEnv
from syncflow_core.normalize import Prepared
from syncflow_core.settings import Settings
from syncflow_core.windows import Window

APISMITH_SECRET = "world-apismith-secret-0123456789abcdef"  # test-only
SCHEDULEHUB_SECRET = "world-schedulehub-secret-0123456789ab"  # test-only
START = dt.date(2025, 1, 1)
SMALL = {"items": 1200, "work_centers": 30, "orders": 200, "order_lines": 700}
FAST_RETRY = RetryPolicy(max_attempts=6, base_seconds=0.01, max_seconds=0.05)


@dataclass
class World:
    """Both systems and a SyncEnv wired to them."""

    erp: ApiSmithEmulator
    hub: ScheduleHubEmulator
    settings: Settings
    env: SyncEnv
    days: int

    def windows(self, extra_days: int = 2) -> list[Window]:
        """Every day with initial data, plus the days ERP activity lands in."""
        return Window.days(START, START + dt.timedelta(days=self.days + extra_days))

    def source(self, entity: str) -> Prepared:
        """The whole source as it is now, prepared (what ScheduleHub must end up holding)."""
        frames = list(self.env.apismith.frames(entity))
        raw = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
        return prepare(self.env.spec(entity), raw)

    def hub_index(self, entity: str) -> pl.DataFrame:
        return pl.concat(list(self.env.schedulehub.index(entity)), how="vertical_relaxed")

    def expected(self) -> dict[str, pl.DataFrame]:
        """Per entity: (erp_key_hash, erp_data_hash) ScheduleHub must hold: the prepared
        source, minus children whose parent is not in the source (they wait parked)."""
        expected: dict[str, pl.DataFrame] = {}
        for name in self.env.parents_first():
            frame = self.source(name).records
            spec = self.env.spec(name)
            from syncflow_core.identity import parent_key_hash_expr

            for ref in spec.parents:
                parent_keys = expected[ref.entity]["erp_key_hash"].implode()
                frame = frame.filter(
                    parent_key_hash_expr(ref, self.env.spec(ref.entity)).is_in(parent_keys)
                )
            expected[name] = frame.select("erp_key_hash", "erp_data_hash")
        return expected

    def assert_exact(self, only: tuple[str, ...] | None = None) -> dict[str, int]:
        """ScheduleHub holds exactly the expected records: no row lost, none duplicated,
        every data hash equal (of ``only`` these entities). A record ScheduleHub refused
        (422: dead-lettered for a person, never retried) is not expected there. Returns the
        record count per entity."""
        counts = {}
        refused = self.env.store.failed.find(status="open", error_type="validation")
        for name, want in self.expected().items():
            if only is not None and name not in only:
                continue
            have = self.hub_index(name)
            assert have["erp_key_hash"].is_duplicated().sum() == 0, f"{name}: duplicates"
            excused = refused.filter(entity=name).select("erp_key_hash")
            missing = want.join(have, on="erp_key_hash", how="anti").join(
                excused, on="erp_key_hash", how="anti"
            )
            # a row whose newest ERP version fails keeps its last good version in ScheduleHub
            failing = self.source(name).failed.select("erp_key_hash").drop_nulls()
            extra = have.join(want, on="erp_key_hash", how="anti").join(
                failing, on="erp_key_hash", how="anti"
            )
            assert missing.height == 0, f"{name}: {missing.height} records missing in ScheduleHub"
            assert extra.height == 0, f"{name}: {extra.height} records ScheduleHub should not have"
            joined = want.join(have, on="erp_key_hash", suffix="_hub")
            differ = joined.filter(pl.col("erp_data_hash") != pl.col("erp_data_hash_hub"))
            assert differ.height == 0, f"{name}: {differ.height} records with other data"
            counts[name] = have.height
        return counts

    def writes(self) -> dict[str, Any]:
        """ScheduleHub's write counters."""
        return self.hub.stats()


@contextmanager
def world(
    state_url: str,
    tmp_path: Path,
    *,
    sizes: dict[str, int] | None = None,
    days: int = 3,
    settings: dict[str, Any] | None = None,
    hub_catalog: dict[str, EntitySpec] | None = None,
    **erp_options: Any,
) -> Iterator[World]:
    """Start both emulators in threads and a SyncEnv on ``state_url``. ``hub_catalog``
    gives ScheduleHub a catalog of its own (stricter than SyncFlow's: real 422s)."""
    erp_config = ApiSmithConfig(
        sizes=sizes or SMALL,
        days=days,
        start_day=START,
        jwt_secret=APISMITH_SECRET,
        **erp_options,
    )
    erp_app = apismith_app(erp_config)
    hub_config = ScheduleHubConfig(storage=str(tmp_path / "hub.db"), jwt_secret=SCHEDULEHUB_SECRET)
    if hub_catalog is not None:
        hub_config = hub_config.model_copy(update={"catalog": hub_catalog})
    hub_app = schedulehub_app(hub_config)
    with run_in_thread(erp_app) as erp_server, run_in_thread(hub_app) as hub_server:
        settings = Settings(
            database_url=state_url,
            apismith_url=erp_server.url,
            apismith_jwt_secret=APISMITH_SECRET,
            schedulehub_url=hub_server.url,
            schedulehub_jwt_secret=SCHEDULEHUB_SECRET,
            chunk_rows=1000,
            backoff_base_seconds=0.01,
            backoff_max_seconds=0.05,
            **(settings or {}),
        )
        with SyncEnv.from_settings(settings) as env:
            yield World(erp_app.emulator, emulator_of(hub_app), settings, env, days)  # type: ignore[attr-defined]
