"""Bulk paths between Polars frames and the state tables: never a statement per row.

- PostgreSQL writes: ``COPY ... FROM STDIN (FORMAT csv)`` fed by Polars' CSV writer (values
  travel in COPY's data stream, never in SQL text), into the table itself or into a
  temporary staging table that one ``MERGE`` (or ``INSERT ... ON CONFLICT``) then applies.
- SQLite writes: one compiled statement and the driver's ``executemany`` over the frame's
  rows, brought to SQLite's storage form by Polars expressions first (no SQLAlchemy
  processing per value).
- Reads: the driver's cursor in big ``fetchmany`` chunks straight into Polars (no
  SQLAlchemy processing per value); on PostgreSQL a whole entity's committed state comes
  over ADBC instead (Arrow: about 3x faster still).
- Key sets (a chunk's keys, ids) are staged in a temporary table (:func:`staged_keys`) and
  joined, never spelled out as parameters; updates of queue rows by key or id bind one
  array on PostgreSQL instead (:func:`key_set`: index probes whatever the statistics say).

Every statement is built with SQLAlchemy Core (or ``text()`` naming only our own tables),
values always bound; COPY carries values in its data stream.
"""

from syncflow_core.state.bulk.frames import frame_for, frame_schema, polars_type
from syncflow_core.state.bulk.reading import read_frame, read_frame_adbc, read_strings
from syncflow_core.state.bulk.writing import (
    compile_for,
    index_probes,
    insert_frame,
    key_set,
    staged,
    staged_keys,
    upsert_frame,
)

__all__ = [
    "compile_for",
    "frame_for",
    "frame_schema",
    "index_probes",
    "insert_frame",
    "key_set",
    "polars_type",
    "read_frame",
    "read_frame_adbc",
    "read_strings",
    "staged",
    "staged_keys",
    "upsert_frame",
]
