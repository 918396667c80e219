"""``field_mappings``: the catalog, mirrored into the database (one row per entity field).

The package catalog (``syncflow_core.catalog.load_catalog()``, i.e. ``standard.yaml`` or
``SYNCFLOW_CATALOG_PATH``) is the source of truth; SyncFlow never reads mappings from this
table. It is a mirror for people and tools that look at the database (SQL, dashboards,
audits). :meth:`FieldMappingRepository.sync` runs on every ``StateStore.upgrade()``: it
compares the table with the catalog entity by entity and rewrites every entity that
differs — a new release's catalog change and a hand edit of the table alike — and reports
that drift (``CatalogDrift``), which ``upgrade()`` logs as a warning.

>>> from syncflow_core.state import StateStore
>>> store = StateStore("sqlite://")
>>> drift = store.upgrade()  # the first upgrade seeds the table
>>> drift.added
('items', 'order_lines', 'orders', 'work_centers')
>>> store.field_mappings.sync()
CatalogDrift(added=(), changed=(), removed=())
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import orjson
import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncflow_core.catalog import EntitySpec, load_catalog
from syncflow_core.state.bulk import insert_frame, read_frame
from syncflow_core.state.clock import naive_utc, utcnow
from syncflow_core.state.repositories.base import Repository
from syncflow_core.state.tables import field_mappings

T = field_mappings
# pg_advisory_xact_lock key for a catalog sync: "SFMAPS" in ASCII hex.
SYNC_LOCK_KEY = 0x53464D415053
COMPARED = [c.name for c in T.c if c.name != "updated_at"]


@dataclass(frozen=True)
class CatalogDrift:
    """Entities whose rows the last sync added, rewrote or removed."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def catalog_rows(catalog: Mapping[str, EntitySpec]) -> pl.DataFrame:
    """The ``field_mappings`` rows of ``catalog`` (without ``updated_at``)."""
    records = []
    for name in sorted(catalog):
        spec = catalog[name]
        for position, f in enumerate(spec.fields):
            records.append(
                {
                    "entity": name,
                    "position": position,
                    "source_view": spec.source_view,
                    "source_column": f.source,
                    "oracle_type": f.oracle_type,
                    "target_field": f.target,
                    "transforms": orjson.dumps(list(f.transforms)).decode(),
                    "default_value": f.default,
                    "required": spec.is_required(f),
                    "is_key": f.target in spec.key,
                    "parent_entity": f.parent.entity if f.parent else None,
                    "parent_uid_field": f.parent.uid_field if f.parent else None,
                    "parent_key": f.parent.parent_key if f.parent else None,
                }
            )
    schema = {c: pl.String() for c in COMPARED} | {
        "position": pl.Int64(),
        "required": pl.Boolean(),
        "is_key": pl.Boolean(),
    }
    return pl.DataFrame(records, schema=schema, orient="row").select(COMPARED)


class FieldMappingRepository(Repository):
    """Mirror the catalog into ``field_mappings`` and read it back."""

    def sync(
        self,
        catalog: Mapping[str, EntitySpec] | None = None,
        *,
        now: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> CatalogDrift:
        """Make the table equal the catalog (default: ``load_catalog()``); returns the drift."""
        wanted = catalog_rows(catalog if catalog is not None else load_catalog())
        with self._write(conn) as c:
            if c.dialect.name == "postgresql":  # two concurrent syncs would both insert
                c.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SYNC_LOCK_KEY})
            stored = read_frame(c, sa.select(*(T.c[name] for name in COMPARED)))
            drift = _drift(stored, wanted)
            rewrite = [*drift.added, *drift.changed, *drift.removed]
            if rewrite:
                c.execute(sa.delete(T).where(T.c.entity.in_(rewrite)))
                fresh = wanted.filter(pl.col("entity").is_in(rewrite))
                insert_frame(
                    c,
                    T,
                    fresh.with_columns(
                        updated_at=pl.lit(naive_utc(now or utcnow()), pl.Datetime("us"))
                    ),
                )
        return drift

    def load(self, entity: str | None = None, *, conn: Connection | None = None) -> pl.DataFrame:
        """The mirrored mappings (of one entity), in entity and catalog order."""
        stmt = sa.select(*T.c).order_by(T.c.entity, T.c.position)
        if entity is not None:
            stmt = stmt.where(T.c.entity == entity)
        with self._read(conn) as c:
            return read_frame(c, stmt)


def _drift(stored: pl.DataFrame, wanted: pl.DataFrame) -> CatalogDrift:
    def by_entity(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
        return {
            str(key[0]): part.sort("position")
            for key, part in frame.partition_by("entity", as_dict=True).items()
        }

    have, want = by_entity(stored), by_entity(wanted)
    return CatalogDrift(
        added=tuple(sorted(set(want) - set(have))),
        changed=tuple(sorted(e for e in set(want) & set(have) if not want[e].equals(have[e]))),
        removed=tuple(sorted(set(have) - set(want))),
    )
