"""Bulk paths between Polars frames and the state tables, never a statement per row.

- PostgreSQL writes: ``COPY ... FROM STDIN (FORMAT csv)`` fed by Polars' CSV writer (the
  values travel in COPY's data stream, never in SQL text), into the table itself or into a
  temporary staging table that one set-based statement then merges.
- SQLite writes: one compiled statement and the driver's ``executemany`` over the frame's
  rows (no SQLAlchemy processing per row: the frame is brought to SQLite's storage form
  by Polars expressions first).
- PostgreSQL reads: ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` parsed by Polars.
- SQLite reads: the driver's cursor in big ``fetchmany`` chunks, typed by Polars.

Every statement is a SQLAlchemy Core construct with bound parameters. For ``COPY (SELECT)``
psycopg merges the (scalar) parameters client-side with its own escaping; key sets never
go there, they are staged in a temporary table (:func:`staged`).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.compiler import SQLCompiler

from syncflow_core.state.errors import FrameShapeError

# SQLAlchemy's own storage form of DateTime on SQLite (so Core queries compare correctly).
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S%.6f"
PG_CSV_DATETIME = "%Y-%m-%d %H:%M:%S%.6f"
PARSE_DATETIME = "%Y-%m-%d %H:%M:%S%.f"  # the fraction is optional
COPY_CHUNK_ROWS = 100_000
FETCH_CHUNK_ROWS = 100_000
TEMP_SCHEMA = {"postgresql": "pg_temp", "sqlite": "temp"}

SetClause = Callable[[Any], Mapping[str, Any]]


def is_postgres(conn: Connection) -> bool:
    """Whether ``conn`` talks to PostgreSQL (else SQLite)."""
    return conn.dialect.name == "postgresql"


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


def frame_schema(columns: Iterable[sa.ColumnElement[Any]]) -> dict[str, pl.DataType]:
    """The Polars schema of a frame of these (named) columns."""
    schema = {}
    for column in columns:
        if column.key is None:
            raise ValueError(f"unnamed column {column!r}: give it a label")
        schema[column.key] = polars_type(column.type)
    return schema


# --------------------------------------------------------------------------- writing


def insert_frame(conn: Connection, table: sa.Table, frame: pl.DataFrame) -> int:
    """Append every row of ``frame`` (columns named as in ``table``) to ``table``."""
    if frame.height == 0:
        return 0
    frame = frame_for(table, frame)
    if is_postgres(conn):
        _copy_in(conn, table, frame)
    else:
        stmt = sa.insert(table).values({c: sa.bindparam(c) for c in frame.columns})
        _executemany(conn, stmt, frame)
    return frame.height


def upsert_frame(
    conn: Connection,
    table: sa.Table,
    frame: pl.DataFrame,
    *,
    conflict: Sequence[str],
    set_: SetClause,
    where: Callable[[Any], ColumnElement[bool]] | None = None,
) -> int:
    """Insert or update every row of ``frame`` in one set-based operation.

    ``set_(excluded)`` gives the columns to update on a conflict over ``conflict``; ``where``
    optionally restricts which conflicting rows are updated. Rows of ``frame`` that repeat a
    conflict key: the last one wins (as one would expect from applying them in order).
    """
    frame = frame_for(table, frame).unique(subset=list(conflict), keep="last", maintain_order=True)
    if frame.height == 0:
        return 0
    if is_postgres(conn):
        with staged(conn, f"stage_{table.name}", frame, _types_of(table, frame.columns)) as tmp:
            pg_stmt = postgresql.insert(table).from_select(
                frame.columns, sa.select(*(tmp.c[c] for c in frame.columns))
            )
            pg_stmt = pg_stmt.on_conflict_do_update(
                index_elements=list(conflict),
                set_=dict(set_(pg_stmt.excluded)),
                where=where(pg_stmt.excluded) if where else None,
            )
            conn.execute(pg_stmt)
    else:
        lite_stmt = sqlite.insert(table).values({c: sa.bindparam(c) for c in frame.columns})
        lite_stmt = lite_stmt.on_conflict_do_update(
            index_elements=list(conflict),
            set_=dict(set_(lite_stmt.excluded)),
            where=where(lite_stmt.excluded) if where else None,
        )
        _executemany(conn, lite_stmt, frame)
    return frame.height


@contextmanager
def staged(
    conn: Connection,
    name: str,
    frame: pl.DataFrame,
    types: Mapping[str, sa.types.TypeEngine[Any]],
) -> Iterator[sa.Table]:
    """A temporary table ``name`` holding ``frame``, for set-based joins; dropped afterwards.

    On an error the caller's transaction is rolled back, and the temporary table with it.
    """
    tmp = sa.Table(
        name,
        sa.MetaData(),
        *(sa.Column(c, t) for c, t in types.items()),
        schema=TEMP_SCHEMA[conn.dialect.name],
        prefixes=["TEMPORARY"],
    )
    conn.execute(sa.schema.DropTable(tmp, if_exists=True))
    conn.execute(sa.schema.CreateTable(tmp))
    insert_frame(conn, tmp, frame.select(list(types)))
    yield tmp
    conn.execute(sa.schema.DropTable(tmp, if_exists=True))


@contextmanager
def staged_keys(
    conn: Connection, name: str, column: str, values: pl.Series | Sequence[Any], type_: Any
) -> Iterator[sa.Table]:
    """A temporary one-column table of distinct ``values`` (a key set to join against)."""
    series = pl.Series(column, values).unique()
    with staged(conn, name, series.to_frame(), {column: type_}) as tmp:
        yield tmp


def _types_of(table: sa.Table, columns: Sequence[str]) -> dict[str, sa.types.TypeEngine[Any]]:
    return {c: table.c[c].type for c in columns}


def _copy_in(conn: Connection, table: sa.Table, frame: pl.DataFrame) -> None:
    frame = _to_csv_form(table, frame)
    target = _render_table(conn, table)
    names = ", ".join(conn.dialect.identifier_preparer.quote(c) for c in frame.columns)
    statement = f"COPY {target} ({names}) FROM STDIN (FORMAT csv)"  # names only, no values
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor, cursor.copy(statement) as copy:
        for offset in range(0, frame.height, COPY_CHUNK_ROWS):
            chunk = frame.slice(offset, COPY_CHUNK_ROWS)
            copy.write(chunk.write_csv(include_header=False, null_value="").encode())


def _to_csv_form(table: sa.Table, frame: pl.DataFrame) -> pl.DataFrame:
    exprs = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if dtype == pl.Datetime("us"):
            col = col.dt.strftime(PG_CSV_DATETIME)
        elif dtype == pl.String and isinstance(table.c[name].type, sa.Text):
            col = col.str.replace_all("\x00", "\ufffd", literal=True)  # PG text cannot hold NUL
        exprs.append(col.alias(name))
    return frame.select(exprs)


def _executemany(conn: Connection, stmt: sa.Executable, frame: pl.DataFrame) -> None:
    compiled = compile_for(conn, stmt)
    order = list(compiled.positiontup or ())
    missing = [name for name in order if name not in frame.columns]
    if missing:
        raise FrameShapeError(f"statement needs column(s) {missing}")
    rows = _to_sqlite_form(frame.select(order))
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(compiled.string, rows.iter_rows(buffer_size=FETCH_CHUNK_ROWS))
    finally:
        cursor.close()


def _to_sqlite_form(frame: pl.DataFrame) -> pl.DataFrame:
    exprs = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if dtype == pl.Datetime("us"):
            col = col.dt.strftime(SQLITE_DATETIME)
        elif dtype == pl.Boolean:
            col = col.cast(pl.Int64)
        elif dtype == pl.String:
            col = col.str.replace_all("\x00", "\ufffd", literal=True)  # as on PostgreSQL
        exprs.append(col.alias(name))
    return frame.select(exprs)


def compile_for(conn: Connection, stmt: sa.Executable) -> SQLCompiler:
    """``stmt`` compiled for ``conn``'s dialect, schema translation applied."""
    translate = conn.get_execution_options().get("schema_translate_map")
    return stmt.compile(  # type: ignore[attr-defined]
        dialect=conn.dialect,
        schema_translate_map=translate,
        render_schema_translate=bool(translate),
        compile_kwargs={"render_postcompile": True},
    )


def _render_table(conn: Connection, table: sa.Table) -> str:
    preparer = conn.dialect.identifier_preparer
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    schema = translate.get(table.schema, table.schema)
    name = preparer.quote(table.name)
    return f"{preparer.quote_schema(schema)}.{name}" if schema else name


# --------------------------------------------------------------------------- reading


def read_frame(conn: Connection, stmt: Select[Any]) -> pl.DataFrame:
    """The rows of ``stmt`` as a frame typed by its columns' SQLAlchemy types."""
    columns = list(stmt.selected_columns)
    schema = frame_schema(columns)
    if is_postgres(conn):
        raw = _copy_out(conn, stmt, list(schema))
    else:
        raw = _fetch_sqlite(conn, stmt, schema)
    return _typed(raw, schema)


def _copy_out(conn: Connection, stmt: Select[Any], names: list[str]) -> pl.DataFrame:
    compiled = compile_for(conn, stmt)
    conn.execute(sa.select(sa.func.set_config("DateStyle", "ISO, YMD", True)))
    statement = f"COPY ({compiled.string}) TO STDOUT (FORMAT csv)"
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor, cursor.copy(statement, compiled.params or None) as copy:
        data = b"".join(copy)
    if not data:
        return pl.DataFrame(schema=dict.fromkeys(names, pl.String))
    return pl.read_csv(
        io.BytesIO(data),
        has_header=False,
        new_columns=names,
        schema=dict.fromkeys(names, pl.String),
    )


def _fetch_sqlite(
    conn: Connection, stmt: Select[Any], schema: Mapping[str, pl.DataType]
) -> pl.DataFrame:
    # Raw driver rows: SQLAlchemy's per-value result processing is skipped, Polars types them.
    raw_schema = {name: _sqlite_storage_type(dtype) for name, dtype in schema.items()}
    result = conn.execute(stmt)
    cursor = result.cursor
    chunks = [pl.DataFrame(schema=raw_schema)]
    try:
        while rows := cursor.fetchmany(FETCH_CHUNK_ROWS):
            chunks.append(pl.DataFrame(rows, schema=raw_schema, orient="row", strict=False))
    finally:
        result.close()
    return pl.concat(chunks)


def _sqlite_storage_type(dtype: pl.DataType) -> pl.DataType:
    if dtype == pl.Datetime("us"):
        return pl.String()
    if dtype == pl.Boolean:
        return pl.Int64()
    return dtype


def _typed(raw: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
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


# PostgreSQL with ``$1`` placeholders, as ADBC's libpq driver takes them.
_PG_DOLLAR = postgresql.psycopg.dialect(paramstyle="numeric_dollar")


def read_frame_adbc(url: sa.URL, stmt: Select[Any]) -> pl.DataFrame:
    """The rows of ``stmt`` read over a fresh ADBC connection (Arrow, no Python object per
    value): the fastest way to pull a big result out of PostgreSQL. Outside any transaction
    of the caller's, so it sees committed data only."""
    import adbc_driver_postgresql.dbapi as adbc  # type: ignore[import-untyped]  # PostgreSQL only

    compiled = stmt.compile(dialect=_PG_DOLLAR, compile_kwargs={"render_postcompile": True})
    params = [compiled.params[name] for name in compiled.positiontup or ()]
    uri = url.set(drivername="postgresql").render_as_string(hide_password=False)
    schema = frame_schema(stmt.selected_columns)
    with adbc.connect(uri, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute(compiled.string, parameters=params or None)
        raw = pl.DataFrame(cursor.fetch_arrow())
    return _typed(raw, schema)
