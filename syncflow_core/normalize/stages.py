"""Stages 2-5 one at a time, for a pipeline that shows each stage on its own.

``prepare`` is these four in a row. The Dagster layer runs them as separate ops:

- **normalize**: layers 1-4 of every column, the defaults and transforms of layer 5, and
  an error code per field (nothing is dropped yet);
- **validate**: rows with an error leave, one failure each (the first failing field in
  catalog order, ROWVERSION last);
- **map**: the target fields in catalog order, with their normalized types;
- **identity**: ``erp_key_hash``, ``erp_data_hash``; one row per key (the newest).

>>> from syncflow_core.catalog import load_catalog
>>> items = load_catalog()["items"]
>>> staged = normalize(items, [{"PART_NO": " p-1 ", "DESCRIPTION": "W",
...                             "ROWVERSION": "2025-12-08 10:30:00"}])
>>> passed, failed = validate(items, staged)
>>> records, superseded = identify(items, map_fields(items, passed))
>>> records["item_number"].to_list(), failed.height, superseded
(['P-1'], 0, 0)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import polars as pl

from syncflow_core.catalog.models import EntitySpec
from syncflow_core.identity import DATA_HASH, KEY_HASH, ROWVERSION
from syncflow_core.identity import with_identity as add_identity
from syncflow_core.normalize.batch import (
    _FAIL_FIELD,
    _ROW,
    Prepared,
    _counts,
    _failures,
    _keep_newest,
    entity_plans,
    run_fields,
)
from syncflow_core.normalize.fields import FieldPlan
from syncflow_core.normalize.source import RawInput, Rows, read_rows

#: the input row's position, kept through the stages (failures and re-drives map back by it)
ROW = _ROW


@dataclass(frozen=True)
class Staged:
    """What stages 2-4 hand each other: the raw rows and the working frame."""

    raw: RawInput
    work: pl.DataFrame
    plans: list[FieldPlan]

    @property
    def rows_in(self) -> int:
        return self.raw.frame.height


def normalize(spec: EntitySpec, rows: Rows) -> Staged:
    """Stage 2: every field through layers 1-5, with an error code per field."""
    raw = read_rows(rows, spec.source_columns)
    plans = entity_plans(spec)
    return Staged(raw, run_fields(raw.frame.with_row_index(ROW), plans), plans)


def validate(spec: EntitySpec, staged: Staged) -> tuple[Staged, pl.DataFrame]:
    """Stage 3: (rows without an error, one failure per failing row with its ``ROW``)."""
    failing_rows = pl.col(_FAIL_FIELD).is_not_null()
    failing = staged.work.filter(failing_rows)
    failed = _failures(spec, staged.plans, failing, staged.raw.raw_json(failing[ROW]))
    failed = (
        failed.with_columns(failing[ROW].alias(ROW))
        if failing.height
        else failed.with_columns(pl.lit(None, pl.UInt32).alias(ROW))
    )
    return replace(staged, work=staged.work.filter(~failing_rows)), failed


def stage_counts(rows_in: int, failed: pl.DataFrame) -> dict[str, int]:
    """Survivors of each stage, as ``sync_batches`` counts them."""
    return _counts(rows_in, failed)


def map_fields(spec: EntitySpec, staged: Staged) -> Staged:
    """Stage 4: the target fields in catalog order (and ROWVERSION), typed."""
    targets = [p.spec.target for p in staged.plans]
    return replace(staged, work=staged.work.select(ROW, *targets))


def identify(
    spec: EntitySpec, staged: Staged, *, keep_row: bool = False
) -> tuple[pl.DataFrame, int]:
    """Stage 5: the two hashes, newest row per key; (records, superseded rows)."""
    records, superseded = _keep_newest(add_identity(staged.work, spec))
    columns = [*spec.data_fields, KEY_HASH, DATA_HASH, ROWVERSION]
    return records.select(*columns, *((ROW,) if keep_row else ())), superseded


def prepare_indexed(spec: EntitySpec, rows: Rows) -> Prepared:
    """``prepare`` whose ``records`` and ``failed`` keep each input row's ``ROW``."""
    staged = normalize(spec, rows)
    passed, failed = validate(spec, staged)
    records, superseded = identify(spec, map_fields(spec, passed), keep_row=True)
    return Prepared(
        records=records,
        failed=failed,
        superseded=superseded,
        rows_in=staged.rows_in,
        counts=stage_counts(staged.rows_in, failed),
    )
