"""Dagster resources: the APISmith client, the ScheduleHub client, the state store.

All three are built from the same ``SYNCFLOW_*`` settings as the core. Their config holds
only what is safe to show in the Dagster UI (URLs, sizes); secrets (JWT secrets, the
database URL, which may carry a password) come from the environment alone and never enter
run config or logs.

>>> from syncflow_core.settings import Settings
>>> ApiSmithResource(url="http://erp:8007").settings(Settings()).apismith_url
'http://erp:8007'
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from syncflow_core.catalog import load_catalog
from syncflow_core.clients.apismith import ApiSmithClient
from syncflow_core.clients.schedulehub import ScheduleHubClient
from syncflow_core.env import SyncEnv
from syncflow_core.observability import configure_logging_from_settings
from syncflow_core.settings import Settings
from syncflow_core.state import StateStore


def _override(settings: Settings, **values: Any) -> Settings:
    """``settings`` with the values that are set (not None) replaced."""
    chosen = {name: value for name, value in values.items() if value is not None}
    return settings.model_copy(update=chosen) if chosen else settings


class ApiSmithResource(dg.ConfigurableResource):
    """The APISmith client. Unset fields come from ``SYNCFLOW_APISMITH_URL`` etc.;
    the JWT secret only from ``SYNCFLOW_APISMITH_JWT_SECRET``."""

    url: str | None = Field(default=None, description="overrides SYNCFLOW_APISMITH_URL")
    page_size: int | None = Field(default=None, description="overrides SYNCFLOW_PAGE_SIZE")

    def settings(self, base: Settings) -> Settings:
        return _override(base, apismith_url=self.url, page_size=self.page_size)

    def client(self, base: Settings) -> ApiSmithClient:
        return ApiSmithClient(self.settings(base))


class ScheduleHubResource(dg.ConfigurableResource):
    """The ScheduleHub client. Unset fields come from ``SYNCFLOW_SCHEDULEHUB_URL`` etc.;
    the JWT secret only from ``SYNCFLOW_SCHEDULEHUB_JWT_SECRET``."""

    url: str | None = Field(default=None, description="overrides SYNCFLOW_SCHEDULEHUB_URL")
    batch_size: int | None = Field(default=None, description="overrides SYNCFLOW_BATCH_SIZE")
    max_in_flight: int | None = Field(default=None, description="overrides SYNCFLOW_MAX_IN_FLIGHT")

    def settings(self, base: Settings) -> Settings:
        return _override(
            base,
            schedulehub_url=self.url,
            batch_size=self.batch_size,
            max_in_flight=self.max_in_flight,
        )

    def client(self, base: Settings) -> ScheduleHubClient:
        return ScheduleHubClient(self.settings(base))


class StateStoreResource(dg.ConfigurableResource):
    """The state store at ``SYNCFLOW_DATABASE_URL`` (unset: a SQLite file in the working
    directory). The URL is not config: it may carry a password."""

    upgrade: bool = Field(default=True, description="bring the schema to head first")

    def store(self, base: Settings) -> StateStore:
        store = StateStore(base.state_url)
        if self.upgrade:
            store.upgrade()
        return store


class SyncFlowResource(dg.ConfigurableResource):
    """A :class:`SyncEnv` for the run: the catalog, both clients and the state store.

    In a run, one env is opened when the resource is set up and closed at the end; every
    op of the run (in one process) shares it. Outside a run, use :meth:`open_env`.
    """

    apismith: ApiSmithResource = Field(default_factory=ApiSmithResource)
    schedulehub: ScheduleHubResource = Field(default_factory=ScheduleHubResource)
    state: StateStoreResource = Field(default_factory=StateStoreResource)

    _env: SyncEnv | None = PrivateAttr(default=None)

    def sync_settings(self) -> Settings:
        """The core settings, read from the environment now, with this config applied."""
        base = Settings()
        return self.schedulehub.settings(self.apismith.settings(base))

    def build_env(self) -> SyncEnv:
        """A new env (the caller closes it)."""
        settings = self.sync_settings()
        configure_logging_from_settings(settings)  # secrets scrubbed from every log line
        store = self.state.store(settings)
        return SyncEnv(
            settings=settings,
            catalog=load_catalog(),
            apismith=self.apismith.client(settings),
            schedulehub=self.schedulehub.client(settings),
            store=store,
        )

    @contextmanager
    def open_env(self) -> Iterator[SyncEnv]:
        """A new env for the block (sensors, scripts)."""
        env = self.build_env()
        try:
            yield env
        finally:
            env.close()

    @property
    def env(self) -> SyncEnv:
        """The run's env (opened on first use when the resource was not set up)."""
        if self._env is None:
            self._env = self.build_env()
        return self._env

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._env = None  # opened on first use: a run that never syncs opens nothing

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None
