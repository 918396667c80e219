"""Stage 6: what each prepared row needs in ScheduleHub, as one join against the state.

The rowversion fast path lives in the fetch (only rows above a window's watermark are
asked for); what arrives is compared here by data hash:

- no state for the key          -> ``insert``
- state of a newer rowversion    -> ``skip`` (a stale row: a re-driven old version must
                                   never undo a newer one)
- state, but another data hash  -> ``update`` (a state row whose hash is null was marked
                                   dirty by a repair and is always updated)
- state with the same data hash -> ``skip``

Deletes cannot be seen in a window: :func:`plan_deletes` compares a key-only scan of the
whole source with the state, behind a guard against mass deletion.

>>> import polars as pl
>>> records = pl.DataFrame({"erp_key_hash": ["a", "b", "c"], "erp_data_hash": ["1", "2", "3"]})
>>> state = pl.DataFrame({"erp_key_hash": ["b", "c"], "uid": ["u-b", "u-c"],
...                       "erp_data_hash": ["2", "9"]})
>>> plan_delta(records, state)["op"].to_list()
['insert', 'skip', 'update']
"""

from __future__ import annotations

import polars as pl

OP_INSERT, OP_UPDATE, OP_DELETE, OP_SKIP = "insert", "update", "delete", "skip"
STATE_COLUMNS = ("erp_key_hash", "uid", "erp_data_hash")


class MassDeleteRefusedError(RuntimeError):
    """A reconciliation would delete more than the allowed share of an entity."""

    def __init__(self, entity: str, to_delete: int, total: int, limit: float) -> None:
        self.entity, self.to_delete, self.total, self.limit = entity, to_delete, total, limit
        share = to_delete / total if total else 1.0
        super().__init__(
            f"{entity}: reconciliation would delete {to_delete} of {total} synced records "
            f"({share:.1%}), more than the guard allows ({limit:.1%}). If the ERP really lost "
            f"them, run the reconciliation again with force; otherwise check the APISmith scan "
            f"(a partial or filtered source looks exactly like this)."
        )


def plan_delta(records: pl.DataFrame, state: pl.DataFrame) -> pl.DataFrame:
    """Add ``op``, ``uid`` and ``prev_data_hash`` to prepared records (order kept)."""
    newer = pl.lit(False)
    columns = [
        pl.col("erp_key_hash"),
        pl.col("uid"),
        pl.col("erp_data_hash").alias("prev_data_hash"),
    ]
    if "erp_rowversion" in state.columns and "erp_rowversion" in records.columns:
        columns.append(pl.col("erp_rowversion").alias("prev_rowversion"))
        newer = pl.col("prev_rowversion").fill_null(pl.col("erp_rowversion")) > pl.col(
            "erp_rowversion"
        )
    joined = records.join(
        state.select(columns), on="erp_key_hash", how="left", maintain_order="left"
    )
    op = (
        pl.when(pl.col("uid").is_null())
        .then(pl.lit(OP_INSERT))
        .when(newer)
        .then(pl.lit(OP_SKIP))
        .when(
            pl.col("prev_data_hash").is_null()
            | (pl.col("prev_data_hash") != pl.col("erp_data_hash"))
        )
        .then(pl.lit(OP_UPDATE))
        .otherwise(pl.lit(OP_SKIP))
    )
    return joined.with_columns(op.alias("op"))


def plan_deletes(
    entity: str,
    source_keys: pl.Series,
    state: pl.DataFrame,
    *,
    protected: pl.Series | None = None,
    guard_share: float,
    force: bool = False,
) -> pl.DataFrame:
    """State rows whose key is no longer in the source: ``erp_key_hash``, ``uid``.

    ``protected`` keys are never deleted: those synced after the key scan started (a
    concurrent sync may have inserted a row the scan had already passed). Refuses
    (:class:`MassDeleteRefusedError`) to delete more than ``guard_share`` of the entity's
    synced records unless ``force``.
    """
    present = pl.DataFrame({"erp_key_hash": source_keys}).unique()
    gone = state.select("erp_key_hash", "uid").join(present, on="erp_key_hash", how="anti")
    if protected is not None and protected.len():
        kept = pl.DataFrame({"erp_key_hash": protected}).unique()
        gone = gone.join(kept, on="erp_key_hash", how="anti")
    total = state.height
    if not force and gone.height and gone.height > guard_share * total:
        raise MassDeleteRefusedError(entity, gone.height, total, guard_share)
    return gone
