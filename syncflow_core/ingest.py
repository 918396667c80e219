"""Stage 8: send the writes to ScheduleHub and map every answer to one outcome.

The mapping follows contracts/schedulehub.md, "Errors and retries":

| answer                              | outcome                                           |
| ----------------------------------- | ------------------------------------------------- |
| insert 201, update 200, delete 204  | inserted / updated / deleted                      |
| delete 404 not_found                | deleted (already gone)                            |
| insert 409 duplicate                | adopt the uid; update it if the data hash differs |
|                                     | (skipped if ScheduleHub's rowversion is newer)    |
| update 404 not_found                | insert it again                                   |
| 404 parent_not_found                | pending (parked for the parent)                   |
| 422 and other refusals              | failed, dead-lettered without retry               |
| no answer after the client's tries  | failed, ``transient``: re-driven at 60/120/240 s  |

Adoption and re-insertion need a second request, so :func:`ingest` works in rounds
(three at most) over the rows that need one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import polars as pl

from syncflow_core.delta import OP_DELETE, OP_INSERT, OP_UPDATE

INSERTED, UPDATED, DELETED, SKIPPED = "inserted", "updated", "deleted", "skipped"
PENDING, FAILED = "pending", "failed"
_ADOPT, _REINSERT = "adopt", "reinsert"
MAX_ROUNDS = 3
#: error types whose rows are re-driven on the failed-records schedule
RETRYABLE_ERRORS = frozenset({"transient", "has_children", "conflict"})

OUTCOME_COLUMNS = ("outcome", "uid", "status", "error", "message")


class BatchWriter(Protocol):
    """What stage 8 needs of a ScheduleHub client."""

    def apply(self, entity: str, ops: pl.DataFrame) -> pl.DataFrame:
        """Apply an ops frame (op, uid, body); add status, result_uid, error, message."""
        ...

    def get_by_keys(self, entity: str, key_hashes: Sequence[str]) -> pl.DataFrame:
        """Records for these key hashes: at least erp_key_hash, uid, erp_data_hash."""
        ...


def encode_bodies(frame: pl.DataFrame, fields: Sequence[str]) -> pl.Expr:
    """The JSON object of ``fields`` for each row, datetimes as ISO 8601 (one expression)."""
    parts = []
    for name in fields:
        column = pl.col(name)
        if frame.schema[name] == pl.Datetime("us"):
            column = column.dt.to_string("%Y-%m-%dT%H:%M:%S%.6f")
        parts.append(column.alias(name))
    return pl.struct(parts).struct.json_encode().alias("body")


def classify(answered: pl.DataFrame) -> pl.Expr:
    """The outcome of each answered operation (``op``, ``status``, ``error`` columns)."""
    op, status, error = pl.col("op"), pl.col("status"), pl.col("error")
    return (
        pl.when((op == OP_INSERT) & (status == 201))
        .then(pl.lit(INSERTED))
        .when((op == OP_UPDATE) & (status == 200))
        .then(pl.lit(UPDATED))
        .when((op == OP_DELETE) & ((status == 204) | ((status == 404) & (error == "not_found"))))
        .then(pl.lit(DELETED))
        .when((op == OP_INSERT) & (status == 409) & (error == "duplicate"))
        .then(pl.lit(_ADOPT))
        .when((op == OP_UPDATE) & (status == 404) & (error == "not_found"))
        .then(pl.lit(_REINSERT))
        .when((status == 404) & (error == "parent_not_found"))
        .then(pl.lit(PENDING))
        .otherwise(pl.lit(FAILED))
        .alias("outcome")
    )


def ingest(client: BatchWriter, entity: str, ops: pl.DataFrame) -> pl.DataFrame:
    """Apply ``ops`` (columns ``op``, ``uid``, ``body``, ``erp_key_hash``, ``erp_data_hash``
    and any others, kept) and return every row once with ``outcome``, the final ``uid``,
    ``status``, ``error`` and ``message``. Row order is not kept.
    """
    done: list[pl.DataFrame] = []
    todo = ops
    for _ in range(MAX_ROUNDS):
        if todo.is_empty():
            break
        answered = _answer(client, entity, todo)
        done.append(answered.filter(~pl.col("outcome").is_in([_ADOPT, _REINSERT])))
        todo = pl.concat(
            [
                _adopt(client, entity, answered.filter(pl.col("outcome") == _ADOPT), done),
                _reinsert(answered.filter(pl.col("outcome") == _REINSERT)),
            ],
            how="diagonal_relaxed",
        ).select(ops.columns)
    if not todo.is_empty():
        done.append(
            todo.with_columns(
                outcome=pl.lit(FAILED),
                status=pl.lit(None, pl.Int64),
                error=pl.lit("conflict"),
                message=pl.lit(f"record kept changing in ScheduleHub for {MAX_ROUNDS} rounds"),
            )
        )
    columns = [*ops.columns, *(c for c in OUTCOME_COLUMNS if c not in ops.columns)]
    return pl.concat([d.select(columns) for d in done], how="vertical_relaxed")


def _answer(client: BatchWriter, entity: str, todo: pl.DataFrame) -> pl.DataFrame:
    results = client.apply(entity, todo.select("op", "uid", "body"))
    answered = todo.with_columns(
        results["status"].alias("status"),
        results["error"].alias("error"),
        results["message"].alias("message"),
        # the uid ScheduleHub answered with, else the one we sent (updates, deletes)
        pl.coalesce(results["result_uid"], pl.col("uid")).alias("uid"),
    )
    return answered.with_columns(classify(answered))


def _adopt(
    client: BatchWriter, entity: str, duplicates: pl.DataFrame, done: list[pl.DataFrame]
) -> pl.DataFrame:
    """409 on insert: the record exists (an earlier answer was lost, or another run wrote
    it). Keep it if its data hash is ours (counted as skipped: nothing had to be written)
    or if it is of a newer ERP rowversion than ours (skipped as the delta skips a stale
    row: an old version never undoes a newer one; the state then takes ScheduleHub's
    hash and rowversion), else update it."""
    if duplicates.is_empty():
        return duplicates
    remote = client.get_by_keys(entity, duplicates["erp_key_hash"].to_list())
    compare_versions = "erp_rowversion" in duplicates.columns and "erp_rowversion" in remote.columns
    remote = remote.select(
        "erp_key_hash",
        pl.col("uid").alias("remote_uid"),
        pl.col("erp_data_hash").alias("remote"),
        *([pl.col("erp_rowversion").alias("remote_rowversion")] if compare_versions else []),
    )
    joined = duplicates.join(remote, on="erp_key_hash", how="left")
    newer = (
        pl.col("remote_rowversion") > pl.col("erp_rowversion")
        if compare_versions
        else pl.lit(False)
    ).fill_null(False)
    kept = pl.col("remote_uid").is_not_null() & ~newer
    same = joined.filter(kept & (pl.col("remote") == pl.col("erp_data_hash")))
    done.append(same.with_columns(outcome=pl.lit(SKIPPED), uid=pl.col("remote_uid")))
    if compare_versions:
        stale = joined.filter(pl.col("remote_uid").is_not_null() & newer)
        done.append(
            stale.with_columns(
                outcome=pl.lit(SKIPPED),
                uid=pl.col("remote_uid"),
                erp_data_hash=pl.col("remote"),
                erp_rowversion=pl.col("remote_rowversion"),
            )
        )
    changed = joined.filter(kept & (pl.col("remote") != pl.col("erp_data_hash")))
    vanished = joined.filter(pl.col("remote_uid").is_null())  # deleted since: insert again
    return pl.concat(
        [
            changed.with_columns(op=pl.lit(OP_UPDATE), uid=pl.col("remote_uid")),
            vanished.with_columns(op=pl.lit(OP_INSERT), uid=pl.lit(None, pl.String)),
        ]
    )


def _reinsert(missing: pl.DataFrame) -> pl.DataFrame:
    """404 on update: the record was deleted in ScheduleHub; insert it again."""
    return missing.with_columns(op=pl.lit(OP_INSERT), uid=pl.lit(None, pl.String))
