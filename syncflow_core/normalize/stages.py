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

from dataclasses import dataclass, field, replace

import polars as pl

from syncflow_core.catalog.models import EntitySpec
from syncflow_core.identity import DATA_HASH, KEY_HASH, ROWVERSION, add_identity, encoding_needs
from syncflow_core.normalize.columns import FAIL_FIELD, ROW
from syncflow_core.normalize.dedup import superseded_rows
from syncflow_core.normalize.errors import Stage
from syncflow_core.normalize.failures import failed_records
from syncflow_core.normalize.fields import FieldPlan
from syncflow_core.normalize.parsers import ENGINE
from syncflow_core.normalize.source import RawInput, Rows, read_rows

__all__ = [
    "ROW",
    "Staged",
    "identify",
    "map_fields",
    "normalize",
    "stage_counts",
    "validate",
]


@dataclass(frozen=True)
class Staged:
    """What stages 2-4 hand each other: the raw rows, the working frame (every row;
    ``ROW`` keeps each input row's position), which rows go on (``keep``) and which
    columns (``columns``), the field plans, and which hash encoders are needed.

    Validate and map only narrow ``keep`` and ``columns``: the rows are filtered once,
    inside identity's single streaming pass (filter, encode and both hashes together).
    """

    raw: RawInput
    work: pl.DataFrame
    plans: list[FieldPlan]
    keep: pl.Expr = field(default_factory=lambda: pl.lit(True))
    columns: tuple[str, ...] | None = None
    needs: dict[str, bool] = field(default_factory=dict)

    @property
    def rows_in(self) -> int:
        return self.raw.frame.height

    def remaining(self) -> pl.DataFrame:
        """The working frame as validate and map left it: the kept rows, the chosen columns
        (what a hand-over between processes writes)."""
        work = self.work.filter(self.keep)
        return work.select(self.columns) if self.columns is not None else work


def normalize(spec: EntitySpec, rows: Rows) -> Staged:
    """Stage 2: every field through layers 1-5, with an error code per field."""
    from syncflow_core.normalize.batch import entity_plans, run_fields

    raw = read_rows(rows, spec.source_columns)
    plans = entity_plans(spec)
    return Staged(raw, run_fields(raw.frame.with_row_index(ROW), plans), plans)


def validate(spec: EntitySpec, staged: Staged) -> tuple[Staged, pl.DataFrame]:
    """Stage 3: (rows without an error, one failure per failing row with its ``ROW``)."""
    passed = pl.col(FAIL_FIELD).is_null()
    failing = staged.work.filter(~passed)
    failed = failed_records(spec, staged.plans, failing, staged.raw.raw_json(failing[ROW]))
    failed = failed.with_columns(failing[ROW].alias(ROW))
    # Which encoders can be the simple ones is read on every row (failing rows too: a
    # superset, never wrong).
    needs = encoding_needs(staged.work, spec)
    return replace(staged, keep=staged.keep & passed, needs=needs), failed


def stage_counts(rows_in: int, failed: pl.DataFrame) -> dict[str, int]:
    """Survivors of each stage, as ``sync_batches`` counts them (each failure charged to
    the stage of its reported error)."""
    by_stage = dict(failed.group_by("stage_failed").len().iter_rows())
    normalized = rows_in - by_stage.get(Stage.NORMALIZE.value, 0)
    validated = normalized - by_stage.get(Stage.VALIDATE.value, 0)
    return {
        "rows_fetched": rows_in,
        "rows_normalized": normalized,
        "rows_validated": validated,
        "rows_mapped": validated - by_stage.get(Stage.MAP.value, 0),
    }


def map_fields(spec: EntitySpec, staged: Staged) -> Staged:
    """Stage 4: the target fields in catalog order (and ROWVERSION), typed."""
    targets = [p.spec.target for p in staged.plans]
    return replace(staged, columns=(ROW, *targets))


def identify(
    spec: EntitySpec, staged: Staged, *, keep_row: bool = False
) -> tuple[pl.DataFrame, int]:
    """Stage 5: the two hashes, newest row per key; (records, superseded rows)."""
    keys = staged.work.select(ROW, *spec.key_fields, ROWVERSION, keep=staged.keep)
    superseded = superseded_rows(keys.filter("keep"), spec.key_fields)
    kept = staged.work.lazy().filter(staged.keep & ~pl.col(ROW).is_in(superseded.implode()))
    selected = staged.columns or (ROW, *(p.spec.target for p in staged.plans))
    records = add_identity(kept.select(selected), spec, staged.needs or None).collect(engine=ENGINE)
    columns = [*spec.data_fields, KEY_HASH, DATA_HASH, ROWVERSION, *((ROW,) if keep_row else ())]
    return records.select(columns), superseded.len()
