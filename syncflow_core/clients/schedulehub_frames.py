"""Frames in and out of ScheduleHub's batch and index endpoints, built column-wise.

>>> ops = pl.DataFrame({"op": ["insert", "delete"], "uid": [None, "u1"], "body": ['{"a":1}', None]})
>>> batch_lines(ops).to_list()
['{"op":"insert","data":{"a":1}}', '{"op":"delete","uid":"u1"}']
>>> batch_body(batch_lines(ops))
b'{"operations":[{"op":"insert","data":{"a":1}},{"op":"delete","uid":"u1"}]}'
"""

from __future__ import annotations

import io
from typing import Any

import orjson
import polars as pl

OPS = ("insert", "update", "delete")
RESULT_SCHEMA: dict[str, pl.DataType] = {
    "status": pl.Int64(),
    "result_uid": pl.String(),
    "error": pl.String(),
    "message": pl.String(),
    "field": pl.String(),
}
INDEX_SCHEMA: dict[str, pl.DataType] = {
    "uid": pl.String(),
    "erp_key_hash": pl.String(),
    "erp_data_hash": pl.String(),
    "erp_rowversion": pl.Datetime("us"),
}
_WIRE_RESULT = {
    "status": pl.Int64(),
    "uid": pl.String(),
    "error": pl.String(),
    "detail": pl.String(),
    "field": pl.String(),
}
TRANSIENT = "transient"


def check_ops(ops: pl.DataFrame) -> None:
    """Refuse an Ops frame that cannot be sent (a programming error, before any request)."""
    missing = {"op", "uid", "body"} - set(ops.columns)
    if missing:
        raise ValueError(f"ops frame lacks column(s) {sorted(missing)}")
    op, uid, body = pl.col("op"), pl.col("uid"), pl.col("body")
    bad = ops.with_row_index("row").filter(
        ~op.is_in(OPS).fill_null(False)
        | ((op != "insert") & uid.is_null())
        | ((op == "insert") & uid.is_not_null())
        | ((op != "delete") & body.is_null())
        | ((op == "delete") & body.is_not_null())
    )
    if bad.height:
        first = bad.row(0, named=True)
        raise ValueError(
            f"ops row {first['row']}: op={first['op']!r} needs "
            "insert: body and no uid; update: uid and body; delete: uid and no body"
        )


def batch_lines(ops: pl.Series | pl.DataFrame) -> pl.Series:
    """One JSON operation per row; ``body`` is already JSON text, so it is joined, not parsed."""
    frame = ops if isinstance(ops, pl.DataFrame) else ops.to_frame()
    op, uid, body = pl.col("op"), pl.col("uid"), pl.col("body")
    # json_encode escapes the uid; the closing brace is dropped so "data" can follow.
    head = (
        pl.when(op == "insert")
        .then(pl.lit('{"op":"insert"'))
        .otherwise(pl.struct(op=op, uid=uid).struct.json_encode().str.strip_suffix("}"))
    )
    line = (
        pl.when(op == "delete")
        .then(pl.concat_str([head, pl.lit("}")]))
        .otherwise(pl.concat_str([head, pl.lit(',"data":'), body, pl.lit("}")]))
    )
    return frame.select(line.alias("line")).to_series()


def batch_body(lines: pl.Series) -> bytes:
    """``{"operations": [...]}`` from pre-built lines (joined and taken out as bytes by
    Polars: one copy of the body in Python, not three)."""
    joined: bytes = lines.str.join(",").cast(pl.Binary).item() if lines.len() else b""
    return b"".join((b'{"operations":[', joined, b"]}"))


_RESULTS_SCHEMA = {"results": pl.List(pl.Struct(_WIRE_RESULT))}


def parse_results(body: bytes, expected: int) -> pl.DataFrame:
    """``results`` of a batch answer as (status, uid, error, message, field).

    Read by Polars' JSON reader straight into columns; an answer it cannot type (a
    ``detail`` that is an object, say) takes the slower path through Python objects.
    """
    try:
        frame = pl.read_json(io.BytesIO(body), schema=_RESULTS_SCHEMA)
        wire = frame.select(pl.col("results").explode()).unnest("results")
    except (pl.exceptions.PolarsError, ValueError):
        return _parse_results_slowly(body, expected)
    if frame.height != 1 or frame["results"].null_count() or wire.height != expected:
        return _parse_results_slowly(body, expected)
    return wire.rename({"uid": "result_uid", "detail": "message"}).select(list(RESULT_SCHEMA))


def _parse_results_slowly(body: bytes, expected: int) -> pl.DataFrame:
    try:
        results = orjson.loads(body)["results"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"the batch answer has no results list ({type(exc).__name__})") from exc
    if not isinstance(results, list) or len(results) != expected:
        count = len(results) if isinstance(results, list) else "no"
        raise ValueError(f"the batch answer has {count} results for {expected} operations")
    try:
        frame = pl.from_dicts(results, schema=_WIRE_RESULT) if results else _empty_wire()
    except (pl.exceptions.ComputeError, TypeError, AttributeError):
        # A server whose detail is an object (or a field of another type): rare, per row.
        frame = pl.from_dicts([_as_text(r) for r in results], schema=_WIRE_RESULT)
    return frame.rename({"uid": "result_uid", "detail": "message"}).select(list(RESULT_SCHEMA))


def _as_text(result: Any) -> dict[str, Any]:
    if not isinstance(result, dict) or not isinstance(result.get("status"), int):
        raise ValueError(f"a batch result is not an object with a status: {str(result)[:200]}")
    return {
        key: value
        if value is None or isinstance(value, str | int)
        else orjson.dumps(value).decode()
        for key, value in result.items()
        if key in _WIRE_RESULT
    }


def _empty_wire() -> pl.DataFrame:
    return pl.DataFrame(schema=_WIRE_RESULT)


def transient_results(rows: int, message: str) -> pl.DataFrame:
    """Results for a chunk whose answer never came: status null, error ``transient``."""
    return pl.DataFrame(
        {
            "status": pl.Series([None] * rows, dtype=pl.Int64),
            "result_uid": pl.Series([None] * rows, dtype=pl.String),
            "error": pl.Series([TRANSIENT] * rows, dtype=pl.String),
            "message": pl.Series([message] * rows, dtype=pl.String),
            "field": pl.Series([None] * rows, dtype=pl.String),
        }
    )


def with_results(ops: pl.DataFrame, results: pl.DataFrame) -> pl.DataFrame:
    """The Ops frame plus its results; a successful update or delete keeps its own uid."""
    out = pl.concat([ops, results], how="horizontal")
    succeeded = pl.col("status").is_between(200, 299) & (pl.col("op") != "insert")
    return out.with_columns(
        result_uid=pl.when(succeeded & pl.col("result_uid").is_null())
        .then(pl.col("uid"))
        .otherwise(pl.col("result_uid"))
    )


def iso_to_utc(expr: pl.Expr) -> pl.Expr:
    """ISO 8601 text (``T`` or space, optional fraction, ``Z`` or offset) → naive UTC µs."""
    text = expr.str.replace(" ", "T", literal=True)
    naive = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", time_unit="us", strict=False)
    zoned = (
        text.str.replace(r"Z$", "+00:00")
        .str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", time_unit="us", strict=False, time_zone="UTC")
        .dt.replace_time_zone(None)
    )
    return pl.coalesce(naive, zoned)


def index_page(body: bytes) -> tuple[pl.DataFrame, str | None]:
    """One ``/index`` answer: its items as a frame, and ``next_cursor``."""
    page = orjson.loads(body)
    items = page.get("items") if isinstance(page, dict) else None
    if not isinstance(items, list):
        raise ValueError("the index answer has no items list")
    wire = {name: pl.String() for name in INDEX_SCHEMA}
    frame = pl.from_dicts(items, schema=wire) if items else pl.DataFrame(schema=wire)
    frame = frame.with_columns(iso_to_utc(pl.col("erp_rowversion")).alias("erp_rowversion"))
    cursor = page.get("next_cursor")
    return frame, cursor if isinstance(cursor, str) else None
