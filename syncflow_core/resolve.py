"""Stage 7: a child's parents' uids, by join against the parents' sync state.

For each parent reference of the entity (catalog ``parent:``), the parent's business-key
hash is computed from the child's own columns and looked up in the parent's
``erp_sync_state``; the uid found goes out as the reference's ``*_uid`` field. A child
whose parent is not (yet) known to ScheduleHub is an orphan: it is parked in
``pending_children`` with the first missing parent, not sent and not failed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import polars as pl

from syncflow_core.catalog import EntitySpec
from syncflow_core.identity import parent_key_hash_expr

#: ``lookup(parent_entity, key_hashes) -> frame(erp_key_hash, uid)``
ParentLookup = Callable[[str, pl.Series], pl.DataFrame]

_MISSING_ENTITY, _MISSING_KEY = "parent_entity", "parent_key_hash"


def resolve_parents(
    spec: EntitySpec,
    catalog: Mapping[str, EntitySpec],
    frame: pl.DataFrame,
    lookup: ParentLookup,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split ``frame`` into (rows with every ``*_uid`` column filled, orphans).

    Orphans carry ``parent_entity`` and ``parent_key_hash`` of their first missing parent
    (catalog order). An entity without parents comes back unchanged, with no orphans.
    """
    refs = spec.parents
    if not refs or frame.is_empty():
        empty = frame.clear().with_columns(
            pl.lit(None, pl.String).alias(_MISSING_ENTITY),
            pl.lit(None, pl.String).alias(_MISSING_KEY),
        )
        typed = frame.with_columns(pl.lit(None, pl.String).alias(r.uid_field) for r in refs)
        return typed, empty
    hash_columns = [f"__parent_hash_{i}" for i in range(len(refs))]
    work = frame.with_columns(
        parent_key_hash_expr(ref, catalog[ref.entity]).alias(name)
        for ref, name in zip(refs, hash_columns, strict=True)
    )
    for ref, name in zip(refs, hash_columns, strict=True):
        found = lookup(ref.entity, work[name].unique().drop_nulls())
        known = found.select(pl.col("erp_key_hash").alias(name), pl.col("uid").alias(ref.uid_field))
        work = work.join(known, on=name, how="left", maintain_order="left")
    missing_entity = pl.coalesce(
        pl.when(pl.col(r.uid_field).is_null()).then(pl.lit(r.entity)) for r in refs
    )
    missing_key = pl.coalesce(
        pl.when(pl.col(r.uid_field).is_null()).then(pl.col(h))
        for r, h in zip(refs, hash_columns, strict=True)
    )
    work = work.with_columns(
        missing_entity.alias(_MISSING_ENTITY), missing_key.alias(_MISSING_KEY)
    ).drop(hash_columns)
    orphan = pl.col(_MISSING_ENTITY).is_not_null()
    resolved = work.filter(~orphan).drop(_MISSING_ENTITY, _MISSING_KEY)
    return resolved, work.filter(orphan)
