"""Writing frames: append, upsert, and temporary staging tables."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler

from syncflow_core.state.bulk.frames import csv_form_for, frame_for, polars_type, sqlite_form
from syncflow_core.state.bulk.merge import Merge
from syncflow_core.state.errors import FrameShapeError

COPY_CHUNK_ROWS = 200_000
EXECUTEMANY_BUFFER_ROWS = 100_000
PROBE_SETTINGS = ("enable_hashjoin", "enable_mergejoin")
PG_WORK_MEM = "256MB"  # per transaction: joins against a million staged keys stay in memory
PG_MERGE_VERSION = (15,)
TEMP_SCHEMA = {"postgresql": "pg_temp", "sqlite": "temp"}

Incoming = Any  # the incoming row's columns: ``incoming.name`` / ``incoming["name"]``
SetClause = Callable[[Incoming], Mapping[str, Any]]
WhereClause = Callable[[Incoming], ColumnElement[bool]]


def is_postgres(conn: Connection) -> bool:
    """Whether ``conn`` talks to PostgreSQL (else SQLite)."""
    return conn.dialect.name == "postgresql"


def insert_frame(conn: Connection, table: sa.Table, frame: pl.DataFrame) -> int:
    """Append every row of ``frame`` (columns named as in ``table``) to ``table``.

    Errors are SQLAlchemy's, as from ``conn.execute`` (a duplicate key:
    :class:`sqlalchemy.exc.IntegrityError`), although the rows go through the driver."""
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
    where: WhereClause | None = None,
    constants: Mapping[str, Any] | None = None,
) -> int:
    """Insert or update every row of ``frame`` plus ``constants`` (the same for every row).

    A row whose ``conflict`` key exists updates the columns ``set_(incoming)`` names, where
    ``incoming.<column>`` is the incoming value (PostgreSQL's and SQLite's ``excluded``);
    ``where(incoming)`` may restrict which existing rows are updated. Rows that repeat a
    key: the last one wins, as if applied in order. Returns the rows written or matched.
    """
    constants = dict(constants or {})
    keys = [k for k in conflict if k not in constants]
    frame = frame_for(table, frame)
    if frame.height == 0:
        return 0
    if frame.select(pl.struct(keys).n_unique()).item() < frame.height:
        frame = frame.unique(subset=keys, keep="last", maintain_order=True)
    # In key order the index is written page after page, not all over (2-3x faster).
    frame = frame.sort(keys, multithreaded=False)
    if is_postgres(conn):
        _pg_upsert(conn, table, frame, constants, conflict, set_, where)
    else:
        everything = frame.with_columns(
            pl.lit(value, polars_type(table.c[name].type)).alias(name)
            for name, value in constants.items()
        )
        stmt = sqlite.insert(table).values({c: sa.bindparam(c) for c in everything.columns})
        stmt = stmt.on_conflict_do_update(
            index_elements=list(conflict),
            set_=dict(set_(stmt.excluded)),
            where=where(stmt.excluded) if where else None,
        )
        _executemany(conn, stmt, everything)
    return frame.height


def _pg_upsert(
    conn: Connection,
    table: sa.Table,
    frame: pl.DataFrame,
    constants: Mapping[str, Any],
    conflict: Sequence[str],
    set_: SetClause,
    where: WhereClause | None,
) -> None:
    """COPY into a staging table, then one ``MERGE``: a single join, no speculative insertion
    (``INSERT ... ON CONFLICT`` costs about twice as much per new row). Should another
    transaction insert one of the new keys meanwhile (a unique violation), the rows are
    applied again with ``ON CONFLICT``, which waits for and then updates the racer's row."""
    types = {c: table.c[c].type for c in frame.columns}
    with staged(conn, f"stage_{table.name}", frame, types) as tmp:
        incoming = {c.name: c for c in tmp.c} | {
            name: sa.literal(value, table.c[name].type) for name, value in constants.items()
        }
        rows = sa.select(*(incoming[c].label(c) for c in incoming))
        if (conn.dialect.server_version_info or (0,)) >= PG_MERGE_VERSION:
            on = sa.and_(*(table.c[k] == incoming[k] for k in conflict))
            merge = Merge(
                table,
                tmp,
                on=on,
                set_=dict(set_(_Namespace(incoming))),
                where=where(_Namespace(incoming)) if where else None,
                values=incoming,
            )
            try:
                with conn.begin_nested():
                    conn.execute(merge)
                return
            except sa.exc.IntegrityError:
                pass  # a concurrent insert of one of our keys: apply with ON CONFLICT
        stmt = postgresql.insert(table).from_select(list(incoming), rows)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(conflict),
            set_=dict(set_(stmt.excluded)),
            where=where(stmt.excluded) if where else None,
        )
        conn.execute(stmt)


class _Namespace:
    """Columns by attribute or by key, like ``Insert.excluded``."""

    def __init__(self, columns: Mapping[str, ColumnElement[Any]]) -> None:
        self._columns = columns

    def __getattr__(self, name: str) -> ColumnElement[Any]:
        try:
            return self._columns[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> ColumnElement[Any]:
        return self._columns[name]


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
    if is_postgres(conn):
        # Joins against it: the planner needs its size, and memory to hash it.
        conn.execute(sa.select(sa.func.set_config("work_mem", PG_WORK_MEM, True)))
        conn.execute(sa.text(f"ANALYZE {render_table(conn, tmp)}"))  # a name, no values
    yield tmp
    conn.execute(sa.schema.DropTable(tmp, if_exists=True))


@contextmanager
def index_probes(conn: Connection) -> Iterator[None]:
    """On PostgreSQL, joins in this block probe indexes (no hash or merge joins): for a key
    set joined to a table much bigger than it (left alone, the planner hashes the whole
    big table: 0.5 s for 10,000 keys against 1M state rows, 0.03-0.1 s probing).
    Transaction-local, put back as they were afterwards (``conn``'s transaction may go
    on); on an error the transaction is rolled back, and these local settings with it.
    Elsewhere a no-op.

    Only where the big table's row estimate cannot be tiny: with a stale estimate of one
    row the planner instead loops over the big table and scans the key set for each row
    (measured: 33 s to resolve 10,000 keys against 30,000 fresh failed records)."""
    if not is_postgres(conn):
        yield
        return
    saved = {
        setting: conn.execute(sa.select(sa.func.current_setting(setting))).scalar_one()
        for setting in PROBE_SETTINGS
    }
    for setting in PROBE_SETTINGS:
        conn.execute(sa.select(sa.func.set_config(setting, "off", True)))
    yield
    for setting, value in saved.items():
        conn.execute(sa.select(sa.func.set_config(setting, value, True)))


@contextmanager
def staged_keys(
    conn: Connection,
    name: str,
    column: str,
    values: pl.Series | Sequence[Any],
    type_: Any,
) -> Iterator[sa.Table]:
    """A temporary one-column table of the distinct ``values`` (a key set to join against),
    in order: index probes for sorted keys walk the index instead of jumping about."""
    series = pl.Series(column, values).unique().sort()
    with staged(conn, name, series.to_frame(), {column: type_}) as tmp:
        yield tmp


@contextmanager
def key_set(
    conn: Connection,
    name: str,
    column: str,
    values: pl.Series | Sequence[Any],
    type_: Any,
) -> Iterator[Callable[[ColumnElement[Any]], ColumnElement[bool]]]:
    """``is_one_of(column)``: the condition "a value of ``values``", for updates that pick
    rows of a queue table by key or id.

    On PostgreSQL one bound array (``= ANY(:values)``): index probes whatever the planner
    believes of the table. A join against a staged key set is planned from the table's row
    estimate, and a queue table just filled has a stale one (one row): the planner then
    loops over every row and scans the key set for each (measured: 33 s to resolve 10,000
    keys among 30,000 fresh failed records; 0.06 s with the array). Elsewhere (SQLite) a
    staged key set, as :func:`staged_keys`.
    """
    series = pl.Series(column, values).unique().sort()
    if is_postgres(conn):
        array = sa.bindparam(f"{name}_set", series.to_list(), type_=postgresql.ARRAY(type_))
        yield lambda target: target == sa.any_(array)
        return
    with staged(conn, name, series.to_frame(), {column: type_}) as tmp:
        yield lambda target: target.in_(sa.select(tmp.c[column]))


def compile_for(conn: Connection, stmt: sa.Executable) -> SQLCompiler:
    """``stmt`` compiled for ``conn``'s dialect, schema translation applied."""
    translate = conn.get_execution_options().get("schema_translate_map")
    compiled = stmt.compile(  # type: ignore[attr-defined]
        dialect=conn.dialect,
        schema_translate_map=translate,
        render_schema_translate=bool(translate),
        compile_kwargs={"render_postcompile": True},
    )
    return cast(SQLCompiler, compiled)


def render_table(conn: Connection, table: sa.Table) -> str:
    """The quoted, schema-qualified (translated) name of ``table`` on ``conn``."""
    preparer = conn.dialect.identifier_preparer
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    schema = translate.get(table.schema, table.schema)
    name = preparer.quote(table.name)
    return f"{preparer.quote_schema(schema)}.{name}" if schema else name


@contextmanager
def driver_errors(conn: Connection, statement: str) -> Iterator[None]:
    """The driver's exceptions as SQLAlchemy's (``IntegrityError`` and so on), as
    ``conn.execute`` raises them: callers catch one family, whichever path wrote."""
    dbapi = conn.dialect.loaded_dbapi
    try:
        yield
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(
            statement, None, exc, dbapi.Error, dialect=conn.dialect
        ) from exc


def _copy_in(conn: Connection, table: sa.Table, frame: pl.DataFrame) -> None:
    frame = csv_form_for(table, frame)
    names = ", ".join(conn.dialect.identifier_preparer.quote(c) for c in frame.columns)
    statement = f"COPY {render_table(conn, table)} ({names}) FROM STDIN (FORMAT csv)"
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    buffer = io.BytesIO()
    with driver_errors(conn, statement), cursor, cursor.copy(statement) as copy:
        for offset in range(0, frame.height, COPY_CHUNK_ROWS):
            buffer.seek(0)
            buffer.truncate()
            frame.slice(offset, COPY_CHUNK_ROWS).write_csv(buffer, include_header=False)
            with buffer.getbuffer() as view:  # released before the buffer is reused
                copy.write(view)


def _executemany(conn: Connection, stmt: sa.Executable, frame: pl.DataFrame) -> None:
    compiled = compile_for(conn, stmt)
    order = list(compiled.positiontup or ())
    missing = [name for name in order if name not in frame.columns]
    if missing:
        raise FrameShapeError(f"statement needs column(s) {missing}")
    rows = sqlite_form(frame.select(order))
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with driver_errors(conn, compiled.string):
            cursor.executemany(compiled.string, rows.iter_rows(buffer_size=EXECUTEMANY_BUFFER_ROWS))
    finally:
        cursor.close()
