"""contracts/identity.md: the test vectors, every encoding example, and the hashes of
``prepare`` against the per-row reference (xxhash, blake3 packages)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import blake3
import polars as pl
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from syncflow_core.catalog import ValueType, load_catalog
from syncflow_core.identity import (
    blake3_hex,
    canonical_expr,
    data_hash_expr,
    encode,
    key_hash_expr,
    needs_full_encoding,
    parent_key_hash_expr,
    with_identity,
    xxh128_hex,
)
from syncflow_core.normalize import prepare
from tests.unit import reference

CATALOG = load_catalog()
S, N, F, B, T = (ValueType.STRING, ValueType.INTEGER, ValueType.FLOAT, ValueType.BOOLEAN,
                 ValueType.DATETIME)  # fmt: skip

VECTORS = [
    ("item_number=PART-12345", "0b133500149ce20feaae194eca4d4909",
     "4d3616c34073e00ee6ce13ea92fab2d50698d2002c6fd29f51d6a355ffd58bd9"),
    ("description=Widget|item_number=PART-12345|list_price=1000.5|uom=EA",
     "c3572e2f3676b3a26a0b6f42953c4118",
     "385e74f91d88f247df81a0f6c9d259e7e030659d917c21d03b0178564e50db4f"),
    ("line_number=1|order_number=CO-1001|release_number=1", "1811783101f3618b4e555b01489911ac",
     "c712757b8246a4e781e889c182ec533f31b7fc82e162fa00e785d1246dcd3f12"),
    ("", "99aa06d3014798d86001c324468d497f",
     "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"),
]  # fmt: skip


@pytest.mark.parametrize(("canonical", "xxh", "b3"), VECTORS)
def test_vectors_hash_columns(canonical: str, xxh: str, b3: str) -> None:
    frame = pl.DataFrame({"c": [canonical]})
    assert frame.select(xxh128_hex(pl.col("c"))).item() == xxh
    assert frame.select(blake3_hex(pl.col("c"))).item() == b3


def test_vectors_from_typed_fields() -> None:
    frame = pl.DataFrame(
        {"item_number": ["PART-12345"], "description": ["Widget"], "list_price": [1000.5],
         "uom": ["EA"]}
    )  # fmt: skip
    types = {"item_number": S, "description": S, "list_price": F, "uom": S}
    cols = {n: pl.col(n) for n in types}
    assert frame.select(canonical_expr(cols, types)).item() == VECTORS[1][0]
    assert frame.select(data_hash_expr(cols, types)).item() == VECTORS[1][2]
    key = {"item_number": pl.col("item_number")}
    assert frame.select(key_hash_expr(key, types)).item() == VECTORS[0][1]
    lines = pl.DataFrame({"o": ["CO-1001"], "l": ["1"], "r": ["1"]})
    fields = {
        "order_number": pl.col("o"),
        "line_number": pl.col("l"),
        "release_number": pl.col("r"),
    }
    assert lines.select(key_hash_expr(fields, dict.fromkeys(fields, S))).item() == VECTORS[2][1]
    assert pl.DataFrame({"x": [1]}).select(key_hash_expr({}, {})).item() == VECTORS[3][1]


def test_escaping_example() -> None:
    frame = pl.DataFrame({"item_number": ["X"], "notes": ["a|b=c"]})
    types = {"item_number": S, "notes": S}
    canonical = frame.select(canonical_expr({n: pl.col(n) for n in types}, types)).item()
    assert canonical == "item_number=X|notes=a\\|b\\=c"


@pytest.mark.parametrize(
    ("value", "value_type", "text"),
    [
        (None, S, ""), (None, F, ""), (None, N, ""), (None, B, ""), (None, T, ""),
        ("a|b=c", S, "a\\|b\\=c"), ("back\\slash", S, "back\\\\slash"), ("\\|", S, "\\\\\\|"),
        (True, B, "true"), (False, B, "false"), (42, N, "42"), (-7, N, "-7"), (0, N, "0"),
        (1000.5, F, "1000.5"), (1000.0, F, "1000"), (1e-7, F, "0.0000001"),
        (1.5e20, F, "150000000000000000000"), (-0.0, F, "0"), (0.0, F, "0"), (-12.5, F, "-12.5"),
        (0.1 + 0.2, F, "0.30000000000000004"), (5e-324, F, "0." + "0" * 323 + "5"),
        (1e15, F, "1000000000000000"), (1e16, F, "10000000000000000"), (1e-5, F, "0.00001"),
        (dt.datetime(2025, 12, 8, 10, 30, 0, 123456), T, "2025-12-08T10:30:00.123456"),
        (dt.datetime(2025, 12, 8), T, "2025-12-08T00:00:00"),
        (dt.datetime(2025, 12, 8, 0, 0, 0, 500000), T, "2025-12-08T00:00:00.500000"),
        (dt.datetime(1, 1, 1), T, "0001-01-01T00:00:00"),
    ],
)  # fmt: skip
def test_encoding_examples(value: Any, value_type: ValueType, text: str) -> None:
    dtypes = {S: pl.String, N: pl.Int64, F: pl.Float64, B: pl.Boolean, T: pl.Datetime("us")}
    frame = pl.DataFrame({"v": [value]}, schema={"v": dtypes[value_type]})
    assert frame.select(encode(pl.col("v"), value_type)).item() == text
    if not frame.select(needs_full_encoding(pl.col("v"), value_type)).item():
        assert frame.select(encode(pl.col("v"), value_type, simple=True)).item() == text
    assert reference.enc(value) == text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=50))
def test_float_encoding_matches_reference(floats: list[float]) -> None:
    frame = pl.DataFrame({"v": floats}, schema={"v": pl.Float64})
    assert frame.select(encode(pl.col("v"), F)).to_series().to_list() == [
        reference.enc(x) for x in floats
    ]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=20), min_size=1, max_size=30))
def test_string_hashes_match_the_packages(texts: list[str]) -> None:
    frame = pl.DataFrame({"c": texts}, schema={"c": pl.String})
    got = frame.select(xxh128_hex(pl.col("c")), blake3_hex(pl.col("c")).alias("b")).rows()
    assert got == [
        (xxhash.xxh128_hexdigest(t.encode()), blake3.blake3(t.encode()).hexdigest()) for t in texts
    ]


def test_data_hash_ignores_rowversion_and_covers_every_field() -> None:
    spec = CATALOG["items"]
    row = {"PART_NO": "P1", "DESCRIPTION": "Widget", "ROWVERSION": "2025-12-08 10:00:00"}
    first = prepare(spec, [row]).records
    touched = prepare(spec, [{**row, "ROWVERSION": "2025-12-09 10:00:00"}]).records
    changed = prepare(spec, [{**row, "NOTE_TEXT": "x"}]).records
    assert first["erp_data_hash"].item() == touched["erp_data_hash"].item()
    assert first["erp_key_hash"].item() == changed["erp_key_hash"].item()
    assert first["erp_data_hash"].item() != changed["erp_data_hash"].item()
    record = first.row(0, named=True)
    assert record["erp_key_hash"] == reference.key_hash(record, ["item_number"])
    assert record["erp_data_hash"] == reference.data_hash(record, list(spec.data_fields))


def test_an_empty_string_and_null_hash_alike() -> None:
    spec = CATALOG["items"]
    rows = [{"PART_NO": "P1", "DESCRIPTION": "d", "NOTE_TEXT": v, "ROWVERSION": "2025-12-08"}
            for v in ("", None, "  ")]  # fmt: skip
    hashes = {prepare(spec, [r]).records["erp_data_hash"].item() for r in rows}
    assert len(hashes) == 1


def test_with_identity_on_every_type() -> None:
    spec = reference_entity()
    frame = pl.DataFrame(
        {"code": ["A|1", "B"], "seq": [1, -2], "amount": [1e20, 0.5], "flag": [True, None],
         "at": [dt.datetime(2025, 1, 1, 0, 0, 0, 1), None]},
        schema={"code": pl.String, "seq": pl.Int64, "amount": pl.Float64, "flag": pl.Boolean,
                "at": pl.Datetime("us")},
    )  # fmt: skip
    got = with_identity(frame, spec).select("erp_key_hash", "erp_data_hash").rows()
    expected = [
        (reference.key_hash(r, spec.key_fields), reference.data_hash(r, spec.data_fields))
        for r in frame.to_dicts()
    ]
    assert got == expected


def reference_entity() -> Any:
    from tests.unit.support import entity

    return entity(
        [
            {"source": "C", "oracle_type": "VARCHAR2(5)", "target": "code"},
            {"source": "S", "oracle_type": "NUMBER(5)", "target": "seq"},
            {"source": "A", "oracle_type": "NUMBER", "target": "amount"},
            {"source": "F", "oracle_type": "CHAR(1)", "target": "flag", "transforms": ["yn_bool"]},
            {"source": "T", "oracle_type": "TIMESTAMP(6)", "target": "at"},
        ],
        ["code", "seq"],
    )


def test_parent_key_hash_from_child_columns() -> None:
    lines = CATALOG["order_lines"]
    child = prepare(lines, [
        {"ORDER_NO": "co-1001", "LINE_NO": "1", "REL_NO": "1", "PART_NO": "part-12345",
         "BUY_QTY_DUE": "2", "ROWVERSION": "2025-12-08"},
    ]).records  # fmt: skip
    order = prepare(CATALOG["orders"], [
        {"ORDER_NO": "CO-1001", "CUSTOMER_NO": "C", "ORDER_DATE": "2025-12-08", "STATE": "x",
         "ROWVERSION": "2025-12-08"},
    ]).records  # fmt: skip
    item = prepare(CATALOG["items"], [
        {"PART_NO": "PART-12345", "DESCRIPTION": "d", "ROWVERSION": "2025-12-08"},
    ]).records  # fmt: skip
    refs = {ref.entity: ref for ref in lines.parents}
    got = child.select(
        parent_key_hash_expr(refs["orders"], CATALOG["orders"]).alias("o"),
        parent_key_hash_expr(refs["items"], CATALOG["items"]).alias("i"),
    ).row(0)
    assert got == (order["erp_key_hash"].item(), item["erp_key_hash"].item())
    assert got[1] == VECTORS[0][1]
    assert child["erp_key_hash"].item() == VECTORS[2][1]
