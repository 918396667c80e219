"""``prepare``: its inputs (raw frame, other frames, lists of dicts) and its outputs."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import polars as pl
import pytest

from syncflow_core import Prepared, prepare
from syncflow_core.catalog import load_catalog
from syncflow_core.normalize import FAILED_SCHEMA
from tests.unit import reference
from tests.unit.support import assert_matches_reference

CATALOG = load_catalog()
ITEMS = CATALOG["items"]
RECORD_SCHEMA = {
    "item_number": pl.String, "description": pl.String, "uom": pl.String,
    "list_price": pl.Float64, "weight_kg": pl.Float64, "lead_time_days": pl.Int64,
    "status": pl.String, "created_at": pl.Datetime("us"), "notes": pl.String,
    "erp_key_hash": pl.String, "erp_data_hash": pl.String, "erp_rowversion": pl.Datetime("us"),
}  # fmt: skip


@pytest.mark.parametrize("rows", [[], pl.DataFrame()])
def test_no_rows(rows: list[dict[str, str]] | pl.DataFrame) -> None:
    prepared = prepare(ITEMS, rows)
    assert isinstance(prepared, Prepared)
    assert prepared.records.schema == pl.Schema(RECORD_SCHEMA)
    assert prepared.failed.schema == pl.Schema(FAILED_SCHEMA)
    assert (prepared.rows_in, prepared.superseded) == (0, 0)
    assert prepared.counts == dict.fromkeys(
        ["rows_fetched", "rows_normalized", "rows_validated", "rows_mapped"], 0
    )


def test_the_raw_frame_of_the_client() -> None:
    frame = pl.DataFrame(
        {"PART_NO": [" p1 ", "p2"], "DESCRIPTION": ["Widget\r\n", "x"],
         "LIST_PRICE": ["1e+20", "1,000.50"], "LEAD_TIME": ["12", "12.5"],
         "ROWVERSION": ["2025-12-08 10:30:00.123456", "2025-12-08 10:30:00.123456"],
         "SOMETHING_ELSE": ["kept in raw_data", "kept in raw_data"]}
    )  # fmt: skip
    prepared = prepare(ITEMS, frame)
    assert prepared.records.schema == pl.Schema(RECORD_SCHEMA)
    assert prepared.records.select("item_number", "description", "list_price").rows() == [
        ("P1", "Widget", 1e20)
    ]
    failed = prepared.failed.row(0, named=True)
    assert json.loads(failed["raw_data"]) == frame.row(1, named=True)
    assert failed["error_type"] == "invalid_integer"


STAMP = dt.datetime(2025, 12, 8, 10, 30, 0, 5)


def test_a_frame_with_numeric_and_temporal_dtypes() -> None:
    frame = pl.DataFrame(
        {"PART_NO": [101, 102, 103], "DESCRIPTION": ["a", "b", "c"],
         "LIST_PRICE": [1000.5, None, 1e-7], "WEIGHT_NET": [Decimal("1.25"), None, Decimal("2")],
         "LEAD_TIME": [5, None, 7], "PART_STATUS": [True, False, None],
         "CREATION_DATE": [dt.date(2025, 12, 8), None, dt.date(2024, 2, 29)],
         "ROWVERSION": [STAMP] * 3}
    )  # fmt: skip
    records = prepare(ITEMS, frame).records
    assert records.select(
        "item_number", "list_price", "weight_kg", "lead_time_days", "status", "created_at",
        "erp_rowversion",
    ).rows() == [
        ("101", 1000.5, 1.25, 5, "TRUE", dt.datetime(2025, 12, 8), STAMP),
        ("102", None, None, 0, "FALSE", None, STAMP),
        ("103", 1e-7, 2.0, 7, "A", dt.datetime(2024, 2, 29), STAMP),
    ]  # fmt: skip


def test_a_frame_with_an_aware_rowversion_column() -> None:
    stamps = pl.Series([dt.datetime(2025, 12, 8, 12, 0)]).dt.replace_time_zone("Europe/Berlin")
    frame = pl.DataFrame({"PART_NO": ["p"], "DESCRIPTION": ["d"], "ROWVERSION": stamps})
    assert prepare(ITEMS, frame).records["erp_rowversion"].item() == dt.datetime(2025, 12, 8, 11)


def test_a_frame_column_of_an_unreadable_dtype_is_refused() -> None:
    frame = pl.DataFrame({"PART_NO": [["a"]], "ROWVERSION": ["2025-12-08"]})
    with pytest.raises(TypeError, match="PART_NO"):
        prepare(ITEMS, frame)


def test_a_missing_source_column_is_all_null() -> None:
    frame = pl.DataFrame({"PART_NO": ["p"], "DESCRIPTION": ["d"], "ROWVERSION": ["2025-12-08"]})
    record = prepare(ITEMS, frame).records.row(0, named=True)
    assert (record["uom"], record["list_price"], record["notes"]) == ("EA", None, None)


def test_a_list_of_dicts_with_mixed_types_per_column() -> None:
    rows = [
        {"PART_NO": 12345, "DESCRIPTION": "int key", "LIST_PRICE": 1000.5, "LEAD_TIME": 5,
         "ROWVERSION": "2025-12-08 10:30:00"},
        {"PART_NO": "p-2", "DESCRIPTION": 3.25, "LIST_PRICE": "$1,000.50", "LEAD_TIME": "6.0",
         "ROWVERSION": dt.datetime(2025, 12, 8, 10, 30)},
        {"PART_NO": "p-3", "DESCRIPTION": True, "LIST_PRICE": None, "LEAD_TIME": 7.0,
         "CREATION_DATE": dt.date(2025, 12, 8), "ROWVERSION": "2025-12-08"},
        {"PART_NO": "p-4", "DESCRIPTION": "bad", "LIST_PRICE": float("nan"), "ROWVERSION": "x"},
    ]  # fmt: skip
    prepared = assert_matches_reference(ITEMS, rows)
    columns = ["item_number", "description", "list_price", "lead_time_days"]
    assert prepared.records.select(columns).rows() == [
        ("12345", "int key", 1000.5, 5), ("P-2", "3.25", 1000.5, 6), ("P-3", "true", None, 7),
    ]  # fmt: skip
    assert prepared.failed["raw_data"].item() == reference.dump(rows[3])


def test_an_unreadable_value_in_a_list_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot read"):
        prepare(ITEMS, [{"PART_NO": object(), "ROWVERSION": "2025-12-08"}])


def test_every_row_is_counted_once() -> None:
    rows = [
        {"PART_NO": f"p{i % 7}", "DESCRIPTION": "" if i % 11 == 0 else "d",
         "LEAD_TIME": "1.5" if i % 13 == 0 else str(i),
         "ROWVERSION": f"2025-12-08 10:{i % 60:02d}:00"}
        for i in range(200)
    ]  # fmt: skip
    prepared = assert_matches_reference(ITEMS, rows)
    assert prepared.rows_in == 200
    assert prepared.records.height + prepared.failed.height + prepared.superseded == 200
    assert prepared.records["erp_key_hash"].is_unique().all()
    assert prepared.failed.height > 0
    assert prepared.superseded > 0


def test_records_keep_input_order_across_many_morsels() -> None:
    """The streaming engine splits rows into morsels; the records must come back in order."""
    n = 300_000
    frame = pl.DataFrame(
        {
            "PART_NO": [f"P{(i * 7919) % n:06d}" for i in range(n)],
            "DESCRIPTION": ["d"] * n,
            "ROWVERSION": ["2025-12-08 10:30:00"] * n,
        }
    )
    prepared = prepare(ITEMS, frame)
    assert prepared.records.height == n
    assert prepared.records["item_number"].to_list() == frame["PART_NO"].to_list()
