"""Every example of contracts/normalization.md, through ``prepare``."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import polars as pl
import pytest

from syncflow_core.catalog import load_catalog
from syncflow_core.normalize import prepare
from tests.unit.support import entity, one_field, values

CATALOG = load_catalog()
D = dt.datetime

# ---------------------------------------------------------------- layer 1


@pytest.mark.parametrize(
    ("oracle_type", "dtype"),
    [
        ("VARCHAR2(10)", pl.String), ("NVARCHAR2(10)", pl.String), ("CHAR(3)", pl.String),
        ("CLOB", pl.String), ("RAW(16)", pl.String),
        ("NUMBER(5)", pl.Int64), ("NUMBER(5,0)", pl.Int64),
        ("NUMBER", pl.Float64), ("NUMBER(10,2)", pl.Float64), ("FLOAT", pl.Float64),
        ("BINARY_DOUBLE", pl.Float64),
        ("DATE", pl.Datetime("us")), ("TIMESTAMP(6)", pl.Datetime("us")),
    ],
)  # fmt: skip
def test_layer1_oracle_type_gives_the_normalized_type(oracle_type: str, dtype: Any) -> None:
    prepared = prepare(one_field(oracle_type), [{"K": "a", "ROWVERSION": "2025-12-08"}])
    assert prepared.records.schema["v"] == dtype


def test_layer1_raw_is_lowercase_hex() -> None:
    assert values(one_field("RAW(16)"), ["DEADBEEF", " 0aFF "]) == ["deadbeef", "0aff"]


def test_layer1_a_json_number_is_taken_as_it_is() -> None:
    assert values(one_field("NUMBER"), [12, 1000.5, 1e20, -0.0]) == [12.0, 1000.5, 1e20, 0.0]
    assert values(one_field("NUMBER(5)"), [12, 12.0, 12.5]) == [12, 12, "invalid_integer"]


# ---------------------------------------------------------------- layer 2


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a\r\nb", "a\nb"),  # CRLF becomes LF
        ("a\rb", "a\nb"),  # a lone CR too
        ("a\r\r\nb", "a\n\nb"),
        ("a\tb\nc", "a\tb\nc"),  # TAB and LF stay
        ("".join(chr(c) for c in range(32) if c not in (9, 10, 13)) + "x\x7f", "x"),
        ("Cafe\u0301", "Caf\u00e9"),  # NFC
        ("\u212b", "\u00c5"),  # ANGSTROM SIGN is not NFC
        ("  padded  ", "padded"),
        ("AB        ", "AB"),  # CHAR padding
        ("\u00a0\u3000 x \t\n", "x"),  # Unicode white space, both ends
        ("\x07 x \x07", "x"),  # controls go first, then the trim
        ("", None),  # empty becomes null
        ("   ", None),
        ("\r\n", None),
    ],
)
def test_layer2_strings(raw: str, expected: str | None) -> None:
    assert values(one_field("VARCHAR2(50)"), [raw]) == [expected]


def test_layer2_applies_before_number_and_date_parsing() -> None:
    assert values(one_field("NUMBER"), [" \t1,000.50\r\n", "\x0712"]) == [1000.5, 12.0]
    assert values(one_field("DATE"), ["  2025-12-08\x00 "]) == [D(2025, 12, 8)]


def test_layer2_trims_exactly_python_white_space() -> None:
    """Polars' trim and Python's str.strip agree on every code point (controls removed)."""
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    stripped = pl.Series(chars).str.strip_chars().to_list()
    removed = {chr(c) for c in range(0x20) if c not in (9, 10)} | {"\x7f"}
    differ = [
        c for c, s in zip(chars, stripped, strict=True) if c not in removed and s != c.strip()
    ]
    assert differ == []


# ---------------------------------------------------------------- layer 3


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1000.50", 1000.5), ("1,000.50", 1000.5), ("1,234,567.891", 1234567.891),
        ("12.00 USD", 12.0), ("EUR 10.5", 10.5), ("$12", 12.0), ("€ 3.5", 3.5),
        ("£7", 7.0), ("12¥", 12.0), ("-12", -12.0), ("+12", 12.0), ("- 12", -12.0),
        ("-$12.50", -12.5), ("$-12.50", -12.5), ("1.5E+3", 1500.0), ("2e-4", 0.0002),
        ("(12.50)", -12.5), ("12.50-", -12.5), ("( 12.50 )", -12.5), ("$(12.50)", -12.5),
        ("(12.50) USD", -12.5), ("12.50 USD-", -12.5), (".5", 0.5), ("5.", 5.0),
        ("1e400", "invalid_number"),  # overflows a float
        ("1,00", "invalid_number"), ("1,0000", "invalid_number"), ("12,34.5", "invalid_number"),
        ("NaN", "invalid_number"), ("nan", "invalid_number"), ("Infinity", "invalid_number"),
        ("-inf", "invalid_number"), ("INF", "invalid_number"), ("abc", "invalid_number"),
        ("12 usd", "invalid_number"), ("USD 12 EUR", "invalid_number"), ("(-12)", "invalid_number"),
        ("-12-", "invalid_number"), ("(12", "invalid_number"), (".", "invalid_number"),
        ("1 000", "invalid_number"), ("--1", "invalid_number"), ("١٢", "invalid_number"),
    ],
)  # fmt: skip
def test_layer3_numbers(raw: str, expected: Any) -> None:
    assert values(one_field("NUMBER"), [raw]) == [expected]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12", 12), ("12.0", 12), ("1,000", 1000), ("(7)", -7), ("1.5E+3", 1500), ("120e-1", 12),
        ("9223372036854775807", 2**63 - 1), ("-9223372036854775808", -(2**63)),
        ("12.5", "invalid_integer"), ("1e-400", "invalid_integer"), ("0.0001", "invalid_integer"),
        ("9223372036854775808", "invalid_integer"), ("1e20", "invalid_integer"),
        ("12,5", "invalid_number"), ("x", "invalid_number"),
    ],
)  # fmt: skip
def test_layer3_number_p_is_an_exact_integer(raw: str, expected: Any) -> None:
    assert values(one_field("NUMBER(5)"), [raw]) == [expected]


# ---------------------------------------------------------------- layer 4


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-12-08", D(2025, 12, 8)),
        ("2025-12-08T10:30:00", D(2025, 12, 8, 10, 30)),
        ("2025-12-08T10:30:00.5", D(2025, 12, 8, 10, 30, 0, 500000)),
        ("2025-12-08T10:30:00.123456", D(2025, 12, 8, 10, 30, 0, 123456)),
        ("2025-12-08T10:30:00Z", D(2025, 12, 8, 10, 30)),
        ("2025-12-08T10:30:00+02:00", D(2025, 12, 8, 8, 30)),
        ("2025-12-08T00:30:00.5-05:30", D(2025, 12, 8, 6, 0, 0, 500000)),
        ("2025-12-08 10:30:00", D(2025, 12, 8, 10, 30)),
        ("2025-12-08 10:30:00.123456", D(2025, 12, 8, 10, 30, 0, 123456)),
        ("2025-12-08 10:30:00.12", D(2025, 12, 8, 10, 30, 0, 120000)),
        ("08-DEC-25", D(2025, 12, 8)), ("08-dec-25", D(2025, 12, 8)), ("8-Dec-25", D(2025, 12, 8)),
        ("01-JAN-49", D(2049, 1, 1)), ("01-JAN-50", D(1950, 1, 1)), ("31-DEC-99", D(1999, 12, 31)),
        ("01-Jan-00", D(2000, 1, 1)),
        ("08-Dec-2025", D(2025, 12, 8)), ("12/08/2025", D(2025, 12, 8)),
        ("1/2/2025", D(2025, 1, 2)),
        ("2024-02-29", D(2024, 2, 29)),
        ("2025-02-29", "invalid_datetime"), ("2025-13-01", "invalid_datetime"),
        ("2025-12-08T24:00:00", "invalid_datetime"), ("2025-12-08T10:30:60", "invalid_datetime"),
        ("2025-12-08T10:30:00.1234567", "invalid_datetime"), ("2025-1-8", "invalid_datetime"),
        ("2025-12-08 10:30:00+02:00", "invalid_datetime"), ("2025-12-08T10:30", "invalid_datetime"),
        ("2025-12-08T10:30:00+24:00", "invalid_datetime"), ("0000-01-01", "invalid_datetime"),
        ("+025-12-08", "invalid_datetime"), ("08-DECEMBER-25", "invalid_datetime"),
        ("13/01/2025", "invalid_datetime"), ("20251208", "invalid_datetime"),
        ("yesterday", "invalid_datetime"), ("2025-12-08t10:30:00", "invalid_datetime"),
    ],
)  # fmt: skip
def test_layer4_dates_and_times(raw: str, expected: Any) -> None:
    assert values(one_field("DATE"), [raw]) == [expected]


def test_layer4_a_json_number_in_a_date_column_is_an_error() -> None:
    assert values(one_field("DATE"), [20251208]) == ["invalid_datetime"]


def test_layer4_naive_values_are_in_the_source_timezone() -> None:
    berlin = one_field("TIMESTAMP(6)", source_timezone="Europe/Berlin")
    assert values(berlin, ["2025-12-08 10:30:00", "2025-07-01", "2025-12-08T10:30:00Z"]) == [
        D(2025, 12, 8, 9, 30), D(2025, 6, 30, 22, 0), D(2025, 12, 8, 10, 30),
    ]  # fmt: skip
    # The spring gap does not exist: an error; the autumn overlap takes the earlier instant.
    assert values(berlin, ["2025-03-30 02:30:00", "2025-10-26 02:30:00"]) == [
        "invalid_datetime", D(2025, 10, 26, 0, 30),
    ]  # fmt: skip


def test_layer4_results_outside_years_1_to_9999_are_errors() -> None:
    spec = one_field("TIMESTAMP(6)")
    assert values(spec, ["0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00"]) == [
        "invalid_datetime", "invalid_datetime",
    ]  # fmt: skip


# ---------------------------------------------------------------- layer 5


def test_layer5_default_then_transforms_then_required() -> None:
    wc = CATALOG["work_centers"]
    rows = [
        {"CONTRACT": " s1 ", "WORK_CENTER_NO": "wc1", "DESCRIPTION": "Saw", "ACTIVE": None,
         "ROWVERSION": "2025-12-08"},
        {"CONTRACT": "S1", "WORK_CENTER_NO": "WC2", "DESCRIPTION": "Drill", "ACTIVE": " n ",
         "CAPACITY": "7.5", "ROWVERSION": "2025-12-08"},
        {"CONTRACT": "S1", "WORK_CENTER_NO": "WC3", "DESCRIPTION": "Press", "ACTIVE": "yes",
         "ROWVERSION": "2025-12-08"},
    ]  # fmt: skip
    prepared = prepare(wc, rows)
    assert prepared.records.select(
        "site", "work_center_code", "capacity_hours_per_day", "efficiency_pct", "is_active"
    ).rows() == [("S1", "WC1", 8.0, 100.0, True), ("S1", "WC2", 7.5, 100.0, False)]
    assert prepared.failed.select("stage_failed", "error_type", "field").rows() == [
        ("map", "invalid_boolean", "is_active")
    ]
    assert prepared.failed["error_message"][0] == 'ACTIVE -> is_active: invalid_boolean: "yes"'


def test_layer5_items_defaults_and_upper() -> None:
    prepared = prepare(CATALOG["items"], [
        {"PART_NO": " part-1 ", "DESCRIPTION": "Widget", "UNIT_MEAS": "", "PART_STATUS": "a",
         "LEAD_TIME": None, "ROWVERSION": "2025-12-08"},
    ])  # fmt: skip
    assert prepared.records.select("item_number", "uom", "status", "lead_time_days").rows() == [
        ("PART-1", "EA", "A", 0)
    ]


def test_layer5_lower_transform() -> None:
    prepared = prepare(CATALOG["orders"], [
        {"ORDER_NO": "co-1", "CUSTOMER_NO": "c1", "ORDER_DATE": "08-DEC-25", "STATE": " Released ",
         "ROWVERSION": "2025-12-08"},
    ])  # fmt: skip
    assert prepared.records.select(
        "order_number", "customer_code", "status", "priority"
    ).rows() == [("CO-1", "C1", "released", 5)]


def test_layer5_required_and_key_fields() -> None:
    spec = CATALOG["orders"]
    base = {"ORDER_NO": "CO-1", "CUSTOMER_NO": "C1", "ORDER_DATE": "2025-12-08", "STATE": "x",
            "ROWVERSION": "2025-12-08"}  # fmt: skip
    rows = [{**base, "ORDER_NO": "  "}, {**base, "ORDER_NO": "CO-2", "ORDER_DATE": None},
            {**base, "ORDER_NO": "CO-3", "ROWVERSION": ""}]  # fmt: skip
    failed = prepare(spec, rows).failed
    assert failed.select("stage_failed", "error_type", "field").rows() == [
        ("validate", "missing_required", "order_number"),
        ("validate", "missing_required", "ordered_at"),
        ("validate", "missing_required", "erp_rowversion"),
    ]
    assert failed["erp_key_hash"].to_list()[0] is None
    assert failed["erp_rowversion"].to_list() == [D(2025, 12, 8), D(2025, 12, 8), None]


def test_layer5_source_columns_no_field_names_are_dropped() -> None:
    rows = [{"K": "a", "V": "x", "UNKNOWN": "dropped", "ROWVERSION": "2025-12-08"}]
    assert prepare(one_field("VARCHAR2(5)"), rows).records.columns == [
        "k", "v", "erp_key_hash", "erp_data_hash", "erp_rowversion",
    ]  # fmt: skip


def test_layer5_one_failure_per_row_the_first_field_in_catalog_order() -> None:
    rows = [{"PART_NO": "P1", "DESCRIPTION": None, "LIST_PRICE": "x", "LEAD_TIME": "1.5",
             "PART_STATUS": "A", "CREATION_DATE": "never", "ROWVERSION": None}]  # fmt: skip
    prepared = prepare(CATALOG["items"], rows)
    assert prepared.failed.select("stage_failed", "error_type", "field").rows() == [
        ("validate", "missing_required", "description")
    ]
    assert prepared.counts == {"rows_fetched": 1, "rows_normalized": 1, "rows_validated": 0,
                               "rows_mapped": 0}  # fmt: skip


def test_failed_record_holds_raw_row_stage_type_and_message() -> None:
    row = {"PART_NO": "P1", "DESCRIPTION": "d", "LIST_PRICE": "12,34", "ROWVERSION": "2025-12-08",
           "EXTRA": [1, 2]}  # fmt: skip
    failed = prepare(CATALOG["items"], [row]).failed.row(0, named=True)
    assert json.loads(failed["raw_data"]) == row
    assert (failed["stage_failed"], failed["error_type"], failed["field"]) == (
        "normalize", "invalid_number", "list_price",
    )  # fmt: skip
    assert failed["error_message"] == 'LIST_PRICE -> list_price: invalid_number: "12,34"'
    assert failed["erp_rowversion"] == D(2025, 12, 8)
    assert len(failed["erp_key_hash"]) == 32


def test_dedup_keeps_the_highest_rowversion_then_the_later_row() -> None:
    spec = one_field("VARCHAR2(30)")
    rows = [
        {"K": "a", "V": "old", "ROWVERSION": "2025-12-08 10:00:00"},
        {"K": "b", "V": "b1", "ROWVERSION": "2025-12-08 10:00:00"},
        {"K": "a", "V": "newest", "ROWVERSION": "2025-12-08 12:00:00"},
        {"K": "a", "V": "later but older", "ROWVERSION": "2025-12-08 09:00:00"},
        {"K": "b", "V": "b2, a tie: later wins", "ROWVERSION": "2025-12-08 10:00:00"},
        {"K": "a", "V": "fails: no candidate", "ROWVERSION": "not a time"},
        {"K": "c", "V": "alone", "ROWVERSION": "2025-12-08 10:00:00"},
    ]
    prepared = prepare(spec, rows)
    assert prepared.records.select("k", "v").rows() == [
        ("a", "newest"), ("b", "b2, a tie: later wins"), ("c", "alone"),
    ]  # fmt: skip
    assert prepared.superseded == 3
    assert prepared.failed.height == 1
    assert prepared.rows_in == 7 == prepared.records.height + prepared.failed.height + 3
    assert prepared.counts["rows_mapped"] == 6  # counted before deduplication


def test_dedup_compares_normalized_keys() -> None:
    rows = [
        {"PART_NO": " part-1 ", "DESCRIPTION": "first", "ROWVERSION": "2025-12-08 10:00:00"},
        {"PART_NO": "PART-1", "DESCRIPTION": "second", "ROWVERSION": "2025-12-08 10:00:01"},
    ]
    prepared = prepare(CATALOG["items"], rows)
    assert prepared.records.select("item_number", "description").rows() == [("PART-1", "second")]
    assert prepared.superseded == 1


def test_dedup_treats_minus_zero_as_zero() -> None:
    spec = entity(
        [{"source": "K", "oracle_type": "NUMBER", "target": "k"},
         {"source": "V", "oracle_type": "VARCHAR2(5)", "target": "v"}],
        ["k"],
    )  # fmt: skip
    rows = [{"K": "-0", "V": "a", "ROWVERSION": "2025-12-08"},
            {"K": 0.0, "V": "b", "ROWVERSION": "2025-12-08"}]  # fmt: skip
    prepared = prepare(spec, rows)
    assert prepared.records.select("k", "v").rows() == [(0.0, "b")]
    assert str(prepared.records["k"].item()) == "0.0"  # not -0.0
    assert prepared.superseded == 1
