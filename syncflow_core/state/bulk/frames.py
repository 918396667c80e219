"""Frames and columns: Polars types of SQL columns, and each database's storage form."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl
import sqlalchemy as sa

from syncflow_core.state.errors import FrameShapeError
from syncflow_core.state.tables import HexBytes

# SQLAlchemy's own storage form of DateTime on SQLite (so Core comparisons agree with it).
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S%.6f"
PG_CSV_DATETIME = "%Y-%m-%d %H:%M:%S%.6f"
PARSE_DATETIME = "%Y-%m-%d %H:%M:%S%.f"  # the fraction is optional
NUL, REPLACEMENT = "\x00", "\ufffd"  # PostgreSQL text cannot hold NUL; SQLite follows suit


def polars_type(type_: sa.types.TypeEngine[Any]) -> pl.DataType:
    """The Polars type a column of this SQLAlchemy type becomes in a frame."""
    if isinstance(type_, sa.DateTime):
        return pl.Datetime("us")
    if isinstance(type_, sa.Boolean):
        return pl.Boolean()
    if isinstance(type_, sa.Integer):
        return pl.Int64()
    if isinstance(type_, sa.Float):
        return pl.Float64()
    return pl.String()


def frame_schema(columns: Iterable[sa.ColumnElement[Any]]) -> dict[str, pl.DataType]:
    """The Polars schema of a frame of these (named) columns."""
    schema = {}
    for column in columns:
        if column.key is None:
            raise ValueError(f"unnamed column {column!r}: give it a label")
        schema[column.key] = polars_type(column.type)
    return schema


def frame_for(
    table: sa.Table, frame: pl.DataFrame, columns: Sequence[str] | None = None
) -> pl.DataFrame:
    """``frame`` with exactly ``columns`` (default: those of ``table`` it has), cast to their
    column types; a missing column is all null, one the table lacks is an error."""
    wanted = list(columns) if columns is not None else [c for c in frame.columns if c in table.c]
    unknown = [c for c in wanted if c not in table.c]
    if unknown:
        raise FrameShapeError(f"{table.name} has no column(s) {unknown}")
    exprs = []
    for name in wanted:
        dtype = polars_type(table.c[name].type)
        expr = pl.col(name) if name in frame.columns else pl.lit(None)
        exprs.append(expr.cast(dtype, strict=True).alias(name))
    try:
        return frame.select(exprs)
    except pl.exceptions.PolarsError as exc:
        raise FrameShapeError(f"{table.name}: frame does not fit the table: {exc}") from exc


def csv_form(frame: pl.DataFrame) -> pl.DataFrame:
    """What PostgreSQL's COPY (CSV) reads: datetimes as ISO text, no NUL in text."""
    return frame.select(
        _stored(name, dtype, bool_as_int=False) for name, dtype in frame.schema.items()
    )


def csv_form_for(table: sa.Table, frame: pl.DataFrame) -> pl.DataFrame:
    """:func:`csv_form` of a frame of ``table``'s columns, a :class:`HexBytes` column as
    COPY reads a ``bytea`` (``\\x`` then the hex digits)."""
    hexed = [c for c in frame.columns if isinstance(table.c[c].type, HexBytes)]
    return csv_form(frame).with_columns(
        pl.concat_str(pl.lit("\\x"), pl.col(c)).alias(c) for c in hexed
    )


def sqlite_form(frame: pl.DataFrame) -> pl.DataFrame:
    """What SQLAlchemy would have stored in SQLite: datetimes as its text, booleans as 0/1."""
    return frame.select(
        _stored(name, dtype, bool_as_int=True) for name, dtype in frame.schema.items()
    )


def _stored(name: str, dtype: pl.DataType, *, bool_as_int: bool) -> pl.Expr:
    col = pl.col(name)
    if dtype == pl.Datetime("us"):
        col = col.dt.strftime(SQLITE_DATETIME if bool_as_int else PG_CSV_DATETIME)
    elif dtype == pl.Boolean and bool_as_int:
        col = col.cast(pl.Int64)
    elif dtype == pl.String:
        col = col.str.replace_all(NUL, REPLACEMENT, literal=True)
    return col.alias(name)


def sqlite_storage_type(dtype: pl.DataType) -> pl.DataType:
    """The Polars type of a value as SQLite's driver returns it."""
    if dtype == pl.Datetime("us"):
        return pl.String()
    if dtype == pl.Boolean:
        return pl.Int64()
    return dtype


def typed(raw: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """``raw`` (text datetimes, 0/1 or t/f booleans …) cast to ``schema``."""
    exprs = []
    for name, dtype in schema.items():
        col = pl.col(name)
        source = raw.schema[name]
        if dtype == pl.Datetime("us") and source == pl.String:
            col = col.str.to_datetime(PARSE_DATETIME, time_unit="us")
        elif dtype == pl.Boolean and source == pl.String:
            col = col.replace_strict({"t": True, "f": False, "true": True, "false": False})
        exprs.append(col.cast(dtype).alias(name))
    return raw.select(exprs)
