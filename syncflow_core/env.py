"""The parts one sync needs: settings, catalog, both clients and the state store.

>>> from syncflow_core.env import SyncEnv
>>> with SyncEnv.from_settings() as env:          # doctest: +SKIP
...     pipeline.sync_window(env, "items", Window.day(dt.date(2025, 12, 8)))
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from syncflow_core.catalog import EntitySpec, load_catalog
from syncflow_core.clients.apismith import ApiSmithClient
from syncflow_core.clients.schedulehub import ScheduleHubClient
from syncflow_core.settings import Settings, get_settings
from syncflow_core.state import StateStore


class UnknownEntityError(KeyError):
    """An entity the catalog does not have."""

    def __init__(self, entity: str, known: list[str]) -> None:
        super().__init__(f"unknown entity {entity!r}; the catalog has {', '.join(known)}")


@dataclass
class SyncEnv:
    """Everything a batch talks to. Close it (or use ``with``) to free the connections."""

    settings: Settings
    catalog: dict[str, EntitySpec]
    apismith: ApiSmithClient
    schedulehub: ScheduleHubClient
    store: StateStore

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, upgrade: bool = True) -> SyncEnv:
        """Build every part from ``settings`` (default: the environment). ``upgrade`` brings
        the state store's schema to head first (Alembic; idempotent)."""
        settings = settings or get_settings()
        store = StateStore(settings.state_url)
        if upgrade:
            store.upgrade()
        return cls(
            settings=settings,
            catalog=load_catalog(),
            apismith=ApiSmithClient(settings),
            schedulehub=ScheduleHubClient(settings),
            store=store,
        )

    def spec(self, entity: str) -> EntitySpec:
        """The catalog entry of ``entity``."""
        try:
            return self.catalog[entity]
        except KeyError:
            raise UnknownEntityError(entity, sorted(self.catalog)) from None

    def children_first(self) -> list[str]:
        """Entities ordered so that every child comes before its parents (for deletes)."""
        return list(reversed(self.parents_first()))

    def parents_first(self) -> list[str]:
        """Entities ordered so that every parent comes before its children."""
        ordered: list[str] = []

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name in ordered:
                return
            if name in path:
                raise ValueError(f"parent cycle in the catalog: {' -> '.join((*path, name))}")
            for ref in self.catalog[name].parents:
                visit(ref.entity, (*path, name))
            ordered.append(name)

        for name in self.catalog:
            visit(name, ())
        return ordered

    def close(self) -> None:
        """Close both clients and dispose of the state store's engine."""
        self.apismith.close()
        self.schedulehub.close()
        self.store.dispose()

    def __enter__(self) -> SyncEnv:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
