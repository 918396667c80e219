"""Property: ``prepare`` equals the plain per-row reference on generated messy rows.

Field by field: typed values, both hashes, rowversion, deduplication, and for failing
rows the stage, error type, field, key hash, rowversion and raw data.
"""

from __future__ import annotations

import os
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncflow_core.catalog import EntitySpec, load_catalog
from tests.unit.messy import (
    ZONED_YEARS,
    date_values,
    date_values_in,
    number_values,
    text_values,
    value_for,
)
from tests.unit.support import assert_matches_reference, entity, one_field

CATALOG = load_catalog()
SETTINGS = settings(
    max_examples=int(os.environ.get("SYNCFLOW_HYPOTHESIS_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

KITCHEN_SINK = entity(
    [
        {"source": "K1", "oracle_type": "VARCHAR2(10)", "target": "code", "transforms": ["upper"]},
        {"source": "K2", "oracle_type": "NUMBER(5)", "target": "seq"},
        {"source": "R", "oracle_type": "RAW(16)", "target": "raw_id"},
        {"source": "F", "oracle_type": "NUMBER(10,2)", "target": "amount", "default": "0"},
        {"source": "D", "oracle_type": "DATE", "target": "day", "default": "01-JAN-00"},
        {"source": "T", "oracle_type": "TIMESTAMP(6)", "target": "at"},
        {"source": "B", "oracle_type": "CHAR(1)", "target": "flag",
         "transforms": ["upper", "yn_bool"], "default": " n ", "required": True},
        {"source": "L", "oracle_type": "VARCHAR2(20)", "target": "low", "transforms": ["lower"]},
        {"source": "N", "oracle_type": "NUMBER(3)", "target": "n", "required": True},
        {"source": "X", "oracle_type": "BINARY_DOUBLE", "target": "x"},
        {"source": "S", "oracle_type": "CLOB", "target": "text", "default": "a|b=c\\"},
    ],
    ["code", "seq"],
    source_timezone="Europe/Berlin",
)  # fmt: skip

_KEY_TEXT = st.sampled_from(
    ["a", "A", " a ", "a\r\n", "b", "B\x07", "c=|", "", None, "é", "e\u0301"]
)
_FIXED_ROWVERSIONS = st.sampled_from(
    ["2025-12-08 10:30:00.123456", "2025-12-08 10:30:00", "2025-12-09",
     "2025-12-08T10:30:00.123456Z", "2025-03-30 02:30:00", "2025-10-26 02:30:00"]
)  # fmt: skip
_ROWVERSION = st.one_of(_FIXED_ROWVERSIONS, date_values, st.none())
_ZONED_ROWVERSION = st.one_of(_FIXED_ROWVERSIONS, date_values_in(ZONED_YEARS), st.none())


@st.composite
def rows_for(draw: st.DrawFn, spec: EntitySpec) -> list[dict[str, Any]]:
    """1-12 rows; key columns from small pools so that keys repeat."""
    count = draw(st.integers(1, 12))
    zoned = spec.source_timezone != "UTC"
    rows = []
    for _ in range(count):
        row: dict[str, Any] = {}
        for f in spec.fields:
            if draw(st.integers(0, 19)) == 0:
                continue  # an absent key is a null
            if f.target in spec.key_fields:
                if f.source_type.value == "string":
                    row[f.source] = draw(_KEY_TEXT)
                else:
                    row[f.source] = draw(st.sampled_from(["1", " 1 ", "1.0", "2", 2, "x", None]))
            else:
                row[f.source] = draw(value_for(f.oracle_type, zoned=zoned))
        row[spec.rowversion_column] = draw(_ZONED_ROWVERSION if zoned else _ROWVERSION)
        if draw(st.booleans()):
            row["EXTRA_COLUMN"] = draw(text_values)
        rows.append(row)
    return rows


@SETTINGS
@given(st.data())
def test_kitchen_sink_matches_reference(data: st.DataObject) -> None:
    rows = data.draw(rows_for(KITCHEN_SINK))
    assert_matches_reference(KITCHEN_SINK, rows)


@SETTINGS
@given(st.sampled_from(sorted(CATALOG)), st.data())
def test_standard_entities_match_reference(name: str, data: st.DataObject) -> None:
    spec = CATALOG[name]
    assert_matches_reference(spec, data.draw(rows_for(spec)))


@SETTINGS
@given(st.data())
def test_frame_of_raw_strings_matches_reference(data: st.DataObject) -> None:
    """The APISmith client's frame: every column a string, as the JSON gave it."""
    spec = CATALOG["items"]
    rows = data.draw(rows_for(spec))
    text_rows = [{c: _as_text(row.get(c)) for c in spec.source_columns} for row in rows]
    frame = pl.DataFrame(text_rows, schema={c: pl.String for c in spec.source_columns})
    assert_matches_reference(spec, text_rows, frame)


def _as_text(value: Any) -> str | None:
    from tests.unit.reference import raw_text

    return raw_text(value)


_FINITE = st.floats(allow_nan=False, allow_infinity=False)
_DATE_TEXT = date_values.filter(lambda v: isinstance(v, str))


@SETTINGS
@given(st.data())
def test_frame_with_numeric_dtypes_matches_reference(data: st.DataObject) -> None:
    """NUMBER columns arriving as Float64 / Int64 columns are read by their values."""
    spec = CATALOG["items"]
    count = data.draw(st.integers(1, 10))
    rows = [
        {
            "PART_NO": data.draw(_KEY_TEXT),
            "DESCRIPTION": data.draw(text_values),
            "LIST_PRICE": data.draw(st.one_of(st.none(), _FINITE)),
            "WEIGHT_NET": data.draw(st.one_of(st.none(), st.floats(-1e6, 1e6))),
            "LEAD_TIME": data.draw(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1))),
            "CREATION_DATE": data.draw(st.one_of(st.none(), _DATE_TEXT)),
            "ROWVERSION": data.draw(_ROWVERSION),
        }
        for _ in range(count)
    ]  # fmt: skip
    schema = {
        "PART_NO": pl.String, "DESCRIPTION": pl.String, "LIST_PRICE": pl.Float64,
        "WEIGHT_NET": pl.Float64, "LEAD_TIME": pl.Int64, "CREATION_DATE": pl.String,
        "ROWVERSION": pl.String,
    }  # fmt: skip
    frame = pl.DataFrame(rows, schema=schema)
    assert_matches_reference(spec, rows, frame)


@SETTINGS
@given(st.lists(number_values, min_size=1, max_size=8), st.lists(date_values, max_size=8))
def test_mixed_types_per_column_in_list_input(numbers: list[Any], dates: list[Any]) -> None:
    """A list of dicts whose columns mix strings, ints, floats, booleans and nulls."""
    spec = CATALOG["orders"]
    rows = [
        {
            "ORDER_NO": i if i % 2 else f" co-{i} ",
            "CUSTOMER_NO": number,
            "ORDER_DATE": dates[i % len(dates)] if dates else None,
            "WANTED_DELIVERY_DATE": number,
            "PRIORITY": number,
            "STATE": True if i % 3 == 0 else "Open",
            "ROWVERSION": "2025-12-08 10:30:00",
        }
        for i, number in enumerate(numbers)
    ]
    assert_matches_reference(spec, rows)


_NUMBERISH = st.text(alphabet="0123456789.,eE+-_ xXinfaINFA()$€", max_size=10)
_DATEISH = st.text(alphabet="0123456789-:. TZ+/", min_size=8, max_size=28)


@SETTINGS
@given(
    st.sampled_from(["NUMBER", "NUMBER(5)", "DATE"]),
    st.lists(st.one_of(_NUMBERISH, _DATEISH), min_size=1, max_size=30),
)
def test_fast_paths_accept_nothing_the_grammar_refuses(oracle_type: str, texts: list[str]) -> None:
    """The fast paths (Polars' own casts and date parser) must not read a string that the
    contract's grammar refuses, nor read one differently."""
    spec = one_field(oracle_type)
    rows = [{"K": f"k{n}", "V": text, "ROWVERSION": "2025-12-08"} for n, text in enumerate(texts)]
    assert_matches_reference(spec, rows)
