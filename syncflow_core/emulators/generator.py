"""Deterministic ERP rows from (seed, entity, row index, version), as JSON text, vectorized.

A row is identified by its index; its *version* goes up with every ERP change and its
ROWVERSION is given by the table (see :mod:`syncflow_core.emulators.table`). Every value
is a pure function of (seed, entity, index, version): a version change re-draws every pool
column (each by a different odd step through its 4096-value pool, so no column repeats its
value for 4096 versions), a touch (same version) gives the same data. Keys do not depend
on the version, only their messy form does (case, padding).

A few per cent of rows (``failing_share``) fail normalization: one column, chosen by hash
among the columns that can fail, takes a value from its pool's ``bad`` list; the column
``_error`` says which error type that row must produce and ``_error_column`` where.

>>> from syncflow_core.catalog import load_catalog
>>> gen = EntityGenerator(load_catalog()["items"], seed=7, sizes={"items": 10})
>>> rows = gen.encode(keys(range(3)), ["PART_NO"])
>>> rows["PART_NO"].str.strip_chars('" ').str.to_uppercase().to_list()
['PART-00000000', 'PART-00000001', 'PART-00000002']
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

import polars as pl

from syncflow_core.catalog import EntitySpec
from syncflow_core.emulators import erp_model
from syncflow_core.emulators.erp_model import CodeRecipe, ColumnInfo, LayoutContext, Recipe
from syncflow_core.emulators.hashing import U64, below, mix, salt, top_bits, u64
from syncflow_core.emulators.messy import POOL_SIZE, Pool

ROWVERSION_FORMAT = "%Y-%m-%d %H:%M:%S%.6f"  # Oracle TIMESTAMP(6) as APISmith prints it
ROW_KEYS = {"idx": pl.Int64, "version": pl.Int64, "rv": pl.Int64}
ERROR_COLUMNS = ("_error", "_error_column")
VERSION_MIX = 0xD6E8FEB86659FD93


def keys(
    indices: Iterable[int], versions: Iterable[int] | None = None, rv: Iterable[int] | None = None
) -> pl.DataFrame:
    """A frame of row keys (index, version, ROWVERSION in µs since the epoch)."""
    idx = pl.Series("idx", list(indices), dtype=pl.Int64)
    version = pl.Series("version", list(versions) if versions is not None else [0] * len(idx))
    stamps = pl.Series("rv", list(rv) if rv is not None else [0] * len(idx))
    return pl.DataFrame([idx, version.cast(pl.Int64), stamps.cast(pl.Int64)])


class EntityGenerator:
    """Encodes rows of one entity; the pools are built once (about 10 ms a column)."""

    def __init__(
        self,
        spec: EntitySpec,
        *,
        seed: int,
        sizes: Mapping[str, int],
        days: int = 1,
        failing_share: float = 0.03,
        late_parent_share: float = 0.02,
        future_parent_share: float = 0.01,
    ) -> None:
        self.entity = spec.name
        self.rowversion_column = spec.rowversion_column
        self._seed, self._failing_share = seed, failing_share
        self._layout_ctx = LayoutContext(
            idx=pl.col("idx"),
            row_hash=pl.col("_h"),
            sizes=dict(sizes),
            days=days,
            seed=seed,
            late_parent_share=late_parent_share,
            future_parent_share=future_parent_share,
        )
        self._layout = erp_model.layout_for(spec.name)
        self.columns: dict[str, ColumnInfo] = {}
        self._recipes: dict[str, Recipe] = {}
        self._pools: dict[str, Pool] = {}
        self._prepare_exprs: list[list[pl.Expr]] | None = None
        self._object_exprs: dict[tuple[str, ...], pl.Expr] = {}
        first_key = True
        for info in erp_model.columns_of(spec):
            self.define(info, first_key=first_key and info.is_key)
            first_key = first_key and not info.is_key

    def define(self, info: ColumnInfo, *, first_key: bool = False) -> None:
        """Add (or redefine) a column, e.g. one added by schema drift."""
        recipe = erp_model.recipe_for(self.entity, info, first_key)
        self.columns[info.name] = info
        self._recipes[info.name] = recipe
        self._prepare_exprs, self._object_exprs = None, {}
        if isinstance(recipe, erp_model.PoolRecipe):
            self._pools[info.name] = _pool(self._seed, self.entity, info, first_key)
        else:
            self._pools.pop(info.name, None)

    @property
    def seed(self) -> int:
        """The seed everything is drawn from."""
        return self._seed

    @property
    def failing_share(self) -> float:
        """Share of rows that must fail normalization."""
        return self._failing_share

    def pool(self, name: str) -> Pool | None:
        """The value pool of a column (None for a code column)."""
        return self._pools.get(name)

    @property
    def failable(self) -> list[str]:
        """Columns that can make a row fail, in catalog order (the order of ``_error``)."""
        return [name for name, p in self._pools.items() if p.failable]

    def encode(
        self, rows: pl.DataFrame, columns: Sequence[str], *, errors: bool = False
    ) -> pl.DataFrame:
        """JSON text of ``columns`` (and ROWVERSION if named) for ``rows`` (:func:`keys`)."""
        exprs = [self._column_expr(name).alias(name) for name in columns]
        if errors:
            exprs += self._error_exprs()
        return self._prepared(rows).select(exprs)

    def row_texts(self, rows: pl.DataFrame, columns: Sequence[str]) -> pl.Series:
        """One JSON object text per row, with ``columns`` in that order."""
        return self._prepared(rows).select(self._object_expr(tuple(columns))).to_series()

    def rows_json(self, rows: pl.DataFrame, columns: Sequence[str]) -> str:
        """``{...},{...}``: the rows as JSON objects with ``columns`` in that order."""
        if rows.height == 0:
            return ""
        return str(self.row_texts(rows, columns).str.join(",").item())

    def expected_errors(self, rows: pl.DataFrame) -> pl.DataFrame:
        """``idx``, ``_error``, ``_error_column`` for ``rows``: which must fail, and how."""
        return self._prepared(rows).select([pl.col("idx"), *self._error_exprs()])

    # --- expressions (built once per column set: building them costs more than running) ---

    def _prepared(self, rows: pl.DataFrame) -> pl.DataFrame:
        if self._prepare_exprs is None:
            row_salt = salt(self._seed, self.entity, "row")
            failable = len(self.failable)
            fails = below(pl.col("_hv"), salt(self._seed, self.entity, "fail"), self._failing_share)
            which = top_bits(pl.col("_hv"), salt(self._seed, self.entity, "which"), 16)
            self._prepare_exprs = [
                [mix(pl.col("idx").cast(U64).xor(u64(row_salt))).alias("_h"),
                 pl.col("version").cast(U64).alias("_v")],
                [mix(pl.col("_h") + pl.col("_v") * u64(VERSION_MIX)).alias("_hv")],
                [pl.when(fails).then(which % u64(max(failable, 1))).otherwise(u64(failable))
                 .alias("_fail"),
                 *(e.alias(n) for n, e in self._layout(self._layout_ctx).items())],
            ]  # fmt: skip
        frame = rows
        for stage in self._prepare_exprs:
            frame = frame.with_columns(stage)
        return frame

    def _object_expr(self, columns: tuple[str, ...]) -> pl.Expr:
        cached = self._object_exprs.get(columns)
        if cached is None:
            last = len(columns) - 1
            parts = [
                self._column_expr(
                    name,
                    before=("{" if i == 0 else ",") + f'"{name}":',
                    after="}" if i == last else "",
                )
                for i, name in enumerate(columns)
            ]
            cached = self._object_exprs[columns] = pl.concat_str(parts)
        return cached

    def _column_expr(self, name: str, *, before: str = "", after: str = "") -> pl.Expr:
        """The JSON text of a column, framed by ``before`` and ``after`` (the object's syntax).

        Framing goes into the pools and code pieces, so a row costs one concatenation of
        one piece per pool column (and three per code or ROWVERSION).
        """
        if name == self.rowversion_column:
            stamp = pl.from_epoch(pl.col("rv"), time_unit="us").dt.strftime(ROWVERSION_FORMAT)
            return pl.concat_str([pl.lit(before + '"'), stamp, pl.lit('"' + after)])
        recipe = self._recipes[name]
        if isinstance(recipe, CodeRecipe):
            return self._code_expr(name, recipe, before, after)
        return self._pool_expr(name, self._pools[name], before, after)

    def _pool_expr(self, name: str, p: Pool, before: str, after: str) -> pl.Expr:
        column_salt = salt(self._seed, self.entity, name)
        step = (column_salt >> 1) | 1  # odd: 4096 distinct picks for 4096 versions
        pick = (top_bits(pl.col("_h"), column_salt, 12) + pl.col("_v") * u64(step)) & u64(
            POOL_SIZE - 1
        )
        if not p.failable:
            return pl.lit(_framed(p.good, before, after)).gather(pick)
        # One gather from good ++ bad: the failing row's index points past the good values.
        bad_pick = u64(POOL_SIZE) + self._bad_index(name, p)
        here = pl.col("_fail") == u64(self.failable.index(name))
        values = _framed(pl.concat([p.good, p.bad]), before, after)
        return pl.lit(values).gather(pl.when(here).then(bad_pick).otherwise(pick))

    def _bad_index(self, name: str, p: Pool) -> pl.Expr:
        pick = top_bits(pl.col("_hv"), salt(self._seed, self.entity, name, "bad"), 16)
        return pick % u64(p.bad.len())

    def _error_exprs(self) -> list[pl.Expr]:
        error: pl.Expr = pl.lit(None, dtype=pl.String)
        column: pl.Expr = pl.lit(None, dtype=pl.String)
        for j, name in enumerate(self.failable):
            p = self._pools[name]
            here = pl.col("_fail") == u64(j)
            kind = pl.lit(p.bad_errors).gather(self._bad_index(name, p))
            error = pl.when(here).then(kind).otherwise(error)
            column = pl.when(here).then(pl.lit(name)).otherwise(column)
        return [error.alias("_error"), column.alias("_error_column")]

    def _code_expr(self, name: str, recipe: CodeRecipe, before: str, after: str) -> pl.Expr:
        number = pl.col(recipe.source)
        if recipe.digits:
            # Zero-padded by adding 10^digits and dropping the leading 1 (faster than zfill).
            digits = (number + 10**recipe.digits).cast(pl.String).str.slice(1)
        else:
            digits = number.cast(pl.String)
        if recipe.as_number:
            return pl.concat_str([pl.lit(before), digits, pl.lit(after)])
        column_salt = salt(self._seed, self.entity, name, "code")
        variant = self._padding_variant(name, recipe, column_salt ^ 1)
        prefixes = [recipe.prefix]
        if recipe.lower_ok:  # one in four codes arrives in lower case
            variant = variant * u64(2) + top_bits(pl.col("_hv"), column_salt, 3) // u64(6)
            prefixes.append(recipe.prefix.lower())
        room = self.columns[name].length - len(recipe.prefix) - recipe.digits
        heads, tails = [], []
        for left, right in zip(PAD_LEFT, PAD_RIGHT, strict=True):
            if recipe.digits and len(left) + len(right) > room:
                left = right = ""
            heads += [before + '"' + left + prefix for prefix in prefixes]
            tails += [right + '"' + after] * len(prefixes)
        return pl.concat_str(
            [
                pl.lit(pl.Series(heads)).gather(variant),
                digits,
                pl.lit(pl.Series(tails)).gather(variant),
            ]
        )

    def _padding_variant(self, name: str, recipe: CodeRecipe, seed: int) -> pl.Expr:
        """Which blanks go around a code (index into PAD_LEFT/PAD_RIGHT), within its length."""
        variant = top_bits(pl.col("_hv"), seed, 3)
        if recipe.digits:  # fixed width: the pieces themselves are cut to the room left
            return variant
        room = self.columns[name].length - len(recipe.prefix)
        width = pl.col(recipe.source).cast(pl.String).str.len_chars()
        return pl.when(width <= room - 2).then(variant).otherwise(u64(0))


@lru_cache(maxsize=512)
def _pool(seed: int, entity: str, info: ColumnInfo, first_key: bool) -> Pool:
    """A column's pool; built once per process (a pool is immutable, emulators share it)."""
    recipe = erp_model.recipe_for(entity, info, first_key)
    assert isinstance(recipe, erp_model.PoolRecipe)
    return recipe.build(random.Random(f"{seed}:{entity}:{info.name}"), info)


PAD_LEFT = ("", "", "", "", "", "", "  ", " ")
PAD_RIGHT = ("", "", "", "", "", " ", "", " ")


def _framed(values: pl.Series, before: str, after: str) -> pl.Series:
    if not before and not after:
        return values
    return pl.select(pl.concat_str([pl.lit(before), pl.lit(values), pl.lit(after)])).to_series()
