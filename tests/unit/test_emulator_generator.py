"""The ERP data generator: deterministic, messy in every contracted form, consistent with
its Oracle types, a known share of failing rows, and equal to a per-row reference."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import cache

import orjson
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncflow_core.catalog import EntitySpec, load_catalog
from syncflow_core.emulators import erp_model
from syncflow_core.emulators.generator import VERSION_MIX, EntityGenerator, keys
from syncflow_core.emulators.hashing import MASK64, salt, splitmix64
from syncflow_core.emulators.messy import POOL_SIZE
from tests.unit.messy_reference import (
    DATE_FORMS,
    NUMBER_FORMS,
    date,
    layer2,
    number,
    strict_number,
)

SIZES = {"items": 5000, "work_centers": 300, "orders": 2000, "order_lines": 8000}
DAYS = 4
RV0 = 1_735_689_600_000_000  # 2025-01-01


@cache
def catalog() -> dict[str, EntitySpec]:
    return load_catalog()


@cache
def generator(entity: str, seed: int = 11) -> EntityGenerator:
    return EntityGenerator(catalog()[entity], seed=seed, sizes=SIZES, days=DAYS)


def decoded(entity: str, n: int, version: int = 0, seed: int = 11) -> list[dict[str, object]]:
    gen = generator(entity, seed)
    columns = [*gen.columns, "ROWVERSION"]
    rows = keys(range(n), [version] * n, [RV0 + i for i in range(n)])
    parsed = orjson.loads("[" + gen.rows_json(rows, columns) + "]")
    assert all(list(row) == columns for row in parsed)  # every column, in schema order
    return parsed


def tb(value: int, salt_value: int, bits: int) -> int:
    return (((value ^ salt_value) * (salt_value | 1)) & MASK64) >> (64 - bits)


def reference_value(gen: EntityGenerator, name: str, idx: int, version: int) -> str:
    """The JSON text of a pool column, computed one row at a time from the definition."""
    seed, entity = gen.seed, gen.entity
    h = splitmix64(idx ^ salt(seed, entity, "row"))
    hv = splitmix64((h + version * VERSION_MIX) & MASK64)
    failable = gen.failable
    fails = tb(hv, salt(seed, entity, "fail"), 24) < round(gen.failing_share * (1 << 24))
    pool = gen.pool(name)
    assert pool is not None
    if fails and failable[tb(hv, salt(seed, entity, "which"), 16) % len(failable)] == name:
        return str(pool.bad[tb(hv, salt(seed, entity, name, "bad"), 16) % pool.bad.len()])
    column_salt = salt(seed, entity, name)
    pick = (tb(h, column_salt, 12) + version * ((column_salt >> 1) | 1)) & (POOL_SIZE - 1)
    return str(pool.good[pick])


@settings(max_examples=40, deadline=None)
@given(
    entity=st.sampled_from(sorted(SIZES)),
    indices=st.lists(st.integers(0, 10**7), min_size=1, max_size=20),
    version=st.integers(0, 5000),
)
def test_vectorized_pool_values_equal_the_per_row_reference(
    entity: str, indices: list[int], version: int
) -> None:
    gen = generator(entity)
    pooled = [name for name in gen.columns if gen.pool(name) is not None]
    frame = gen.encode(keys(indices, [version] * len(indices)), pooled)
    for name in pooled:
        expected = [reference_value(gen, name, i, version) for i in indices]
        assert frame[name].to_list() == expected, name


def test_same_seed_same_data_other_seed_other_data() -> None:
    again = EntityGenerator(catalog()["items"], seed=11, sizes=SIZES, days=DAYS)
    rows = keys(range(500))
    columns = list(again.columns)
    assert again.rows_json(rows, columns) == generator("items").rows_json(rows, columns)
    assert generator("items", seed=12).rows_json(rows, columns) != again.rows_json(rows, columns)


@pytest.mark.parametrize("entity", sorted(SIZES))
def test_values_fit_their_oracle_types(entity: str) -> None:
    infos = {c.name: c for c in erp_model.columns_of(catalog()[entity])}
    for row in decoded(entity, 4000):
        assert isinstance(row["ROWVERSION"], str)
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", row["ROWVERSION"])
        for name, info in infos.items():
            value = row[name]
            if value is None:
                assert info.nullable, f"{entity}.{name} is NOT NULL but null was served"
                continue
            base = info.oracle.base
            if base == "NUMBER":
                assert isinstance(value, int | float | str)
                assert not isinstance(value, bool)
                continue
            assert isinstance(value, str), f"{entity}.{name}: {value!r}"
            if base in ("VARCHAR2", "CHAR"):
                assert len(value) <= info.length, f"{entity}.{name}: {value!r} too long"
            if base == "CHAR":
                assert len(value) == info.length, f"CHAR({info.length}) is blank-padded"


def _keys_of(entity: str, rows: list[dict[str, object]]) -> list[tuple[str | None, ...]]:
    spec = catalog()[entity]
    out = []
    for row in rows:
        key = []
        for f in spec.fields:
            if f.target in spec.key:
                text = layer2(str(row[f.source]))
                key.append(text.upper() if text and "upper" in f.transforms else text)
        out.append(tuple(key))
    return out


@pytest.mark.parametrize("entity", sorted(SIZES))
def test_business_keys_are_unique_and_stable_across_versions(entity: str) -> None:
    first = _keys_of(entity, decoded(entity, 3000))
    later = _keys_of(entity, decoded(entity, 3000, version=3))
    assert len(set(first)) == len(first)
    assert all(None not in key for key in first)
    assert first == later  # a change never changes a business key (only its messy form)


def test_keys_follow_the_row_index() -> None:
    parts = _keys_of("items", decoded("items", 50))
    assert parts[:3] == [("PART-00000000",), ("PART-00000001",), ("PART-00000002",)]
    orders = _keys_of("orders", decoded("orders", 2))
    assert orders == [("CO-00000000",), ("CO-00000001",)]


@pytest.mark.parametrize(
    ("entity", "column"),
    [("items", "DESCRIPTION"), ("work_centers", "DESCRIPTION"), ("orders", "CUSTOMER_NO"),
     ("order_lines", "BUY_QTY_DUE")],
)  # fmt: skip
def test_a_change_changes_data_and_a_touch_does_not(entity: str, column: str) -> None:
    gen = generator(entity)
    v0 = gen.encode(keys(range(500), [0] * 500), [column])[column]
    v1 = gen.encode(keys(range(500), [1] * 500), [column])[column]
    again = gen.encode(keys(range(500), [0] * 500), [column])[column]
    assert v0.to_list() == again.to_list()
    ok = (
        gen.expected_errors(keys(range(500), [0] * 500))["_error"].is_null()
        & gen.expected_errors(keys(range(500), [1] * 500))["_error"].is_null()
    )
    value = number if column == "BUY_QTY_DUE" else layer2
    pairs = [
        (value(orjson.loads(a)), value(orjson.loads(b)))
        for a, b, good in zip(v0, v1, ok, strict=True)
        if good
    ]
    assert len(pairs) > 450
    assert all(a != b for a, b in pairs)


@pytest.mark.parametrize("entity", sorted(SIZES))
def test_distinct_pools_normalize_to_distinct_values(entity: str) -> None:
    gen = generator(entity)
    column = {"items": "DESCRIPTION", "work_centers": "DESCRIPTION", "orders": "CUSTOMER_NO",
              "order_lines": "BUY_QTY_DUE"}[entity]  # fmt: skip
    pool = gen.pool(column)
    assert pool is not None
    texts = [orjson.loads(v) for v in pool.good]
    value = number if column == "BUY_QTY_DUE" else layer2
    assert len({value(t) for t in texts}) == POOL_SIZE


EXPECTED_ERRORS = {
    "items": {"invalid_number", "invalid_integer", "invalid_datetime", "missing_required"},
    "work_centers": {"invalid_number", "invalid_boolean", "missing_required"},
    "orders": {"invalid_number", "invalid_integer", "invalid_datetime", "missing_required"},
    "order_lines": {"invalid_number", "invalid_datetime", "missing_required"},
}


@pytest.mark.parametrize("entity", sorted(SIZES))
def test_a_few_per_cent_fail_with_every_error_type(entity: str) -> None:
    gen = generator(entity)
    errors = gen.expected_errors(keys(range(20_000)))
    share = errors["_error"].is_not_null().mean()
    assert isinstance(share, float)
    assert 0.02 < share < 0.04
    assert set(errors["_error"].drop_nulls().unique()) == EXPECTED_ERRORS[entity]
    failing = errors.filter(pl.col("_error").is_not_null())
    assert set(failing["_error_column"].unique()) <= set(gen.failable)


def _verdict(info: erp_model.ColumnInfo, value: object, transforms: tuple[str, ...]) -> str | None:
    """The error a value must raise by the per-value references, None when accepted."""
    kind = info.oracle.value_type.value
    if (isinstance(value, str) and layer2(value) is None) or value is None:
        return "missing_required" if info.must_have else None
    try:
        if kind in ("integer", "float"):
            parsed = strict_number(value)
            if kind == "integer" and parsed != int(parsed):
                return "invalid_integer"
        elif kind == "datetime":
            date(value)
    except ValueError:
        return "invalid_number" if kind in ("integer", "float") else "invalid_datetime"
    if "yn_bool" in transforms and str(layer2(str(value))).upper() not in ("Y", "N"):
        return "invalid_boolean"
    return None


@pytest.mark.parametrize("entity", sorted(SIZES))
def test_pool_values_are_accepted_or_fail_as_labelled(entity: str) -> None:
    """Every good value passes the per-value references; every bad one fails as labelled."""
    gen, spec = generator(entity), catalog()[entity]
    for f in spec.fields:
        pool = gen.pool(f.source)
        if pool is None:
            continue
        info = gen.columns[f.source]
        for text in pool.good:
            assert _verdict(info, orjson.loads(text), f.transforms) is None, (f.source, text)
        for text, error in zip(pool.bad, pool.bad_errors, strict=True):
            assert _verdict(info, orjson.loads(text), f.transforms) == error, (f.source, text)


def test_failing_rows_fail_in_the_named_column_only() -> None:
    gen, spec = generator("items"), catalog()["items"]
    rows = keys(range(3000))
    errors = gen.expected_errors(rows)
    served = gen.encode(rows, list(gen.columns))
    fields = {f.source: f for f in spec.fields}
    for row, expected in zip(
        served.iter_rows(named=True), errors.iter_rows(named=True), strict=False
    ):
        verdicts = {
            name: _verdict(gen.columns[name], orjson.loads(text), fields[name].transforms)
            for name, text in row.items()
        }
        failed = {name: v for name, v in verdicts.items() if v is not None}
        if expected["_error"] is None:
            assert failed == {}
        else:
            assert failed == {expected["_error_column"]: expected["_error"]}


def test_items_carry_every_messy_form() -> None:
    rows = decoded("items", 5000)
    texts = [r["DESCRIPTION"] for r in rows] + [r["NOTE_TEXT"] for r in rows if r["NOTE_TEXT"]]
    assert any("\r\n" in t for t in texts)
    assert any(re.search(r"\r(?!\n)", t) for t in texts)
    assert any(re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", t) for t in texts)
    assert any(not unicodedata.is_normalized("NFC", t) for t in texts)
    assert any(t != t.strip() for t in texts)
    assert any(str(r["PART_NO"]).startswith("part-") for r in rows)
    assert any(str(r["PART_NO"]) != str(r["PART_NO"]).strip() for r in rows)
    prices = [r["LIST_PRICE"] for r in rows] + [r["WEIGHT_NET"] for r in rows]
    assert any(isinstance(p, float) for p in prices)
    assert any(isinstance(p, int) for p in prices)
    strings = [p for p in prices if isinstance(p, str)]
    for form, pattern in NUMBER_FORMS.items():
        assert any(pattern.search(p) for p in strings), f"no number in form {form}"
    dates = [str(r["CREATION_DATE"]).strip() for r in rows if r["CREATION_DATE"]]
    for form, pattern in DATE_FORMS.items():
        assert any(pattern.match(d) for d in dates), f"no date in form {form}"
    assert any(r["UNIT_MEAS"] is None for r in rows)
    assert any(r["LEAD_TIME"] is None for r in rows)
    assert {"A", "a", None} <= {r["PART_STATUS"] for r in rows}


def test_flags_are_y_n_in_any_case_with_blanks_for_the_default() -> None:
    flags = Counter(r["ACTIVE"] for r in decoded("work_centers", 300))
    assert {"Y", "N", "y", "n", None, " "} <= set(flags)


def _line_layout_reference(i: int) -> tuple[int, int, int, int | None]:
    """(order, line, release, item lower bound) of order line ``i``, one row at a time."""
    n_lines, n_orders, n_items = SIZES["order_lines"], SIZES["orders"], SIZES["items"]
    if i >= n_lines:
        j = i - n_lines
        return j % n_orders, j // n_orders + 1, 3, None
    k = i * n_orders // n_lines
    position = i - (k * n_lines + n_orders - 1) // n_orders + 1
    return k, position, 1, i * n_items // n_lines


def test_order_lines_reference_orders_and_items() -> None:
    n = SIZES["order_lines"]
    rows = decoded("order_lines", n + 50)  # 50 rows as if added by activity
    per_day = -(-SIZES["orders"] // DAYS)
    kinds: Counter[str] = Counter()
    for i, row in enumerate(rows):
        order = int(str(row["ORDER_NO"]).strip().upper().removeprefix("CO-"))
        line, release = int(str(row["LINE_NO"])), int(str(row["REL_NO"]))
        item = int(str(row["PART_NO"]).strip().upper().removeprefix("PART-"))
        k, position, rel, anchor = _line_layout_reference(i)
        assert 0 <= item < SIZES["items"]
        if rel == 3:
            assert (order, line, release) == (k, position, 3)
            kinds["added"] += 1
        elif order >= SIZES["orders"]:
            assert (order, line, release) == (SIZES["orders"] + k, position, 1)
            kinds["future parent"] += 1
        elif release == 2:
            assert (order, line) == (k + per_day, position)
            kinds["later-day parent"] += 1
        else:
            assert (order, line, release) == (k, position, 1)
            assert anchor is not None
            assert anchor - SIZES["items"] // DAYS <= item <= anchor
            kinds["same day"] += 1
    assert kinds["added"] == 50
    assert 0.005 * n < kinds["future parent"] < 0.02 * n
    assert 0.01 * n < kinds["later-day parent"] < 0.03 * n


def test_added_column_gets_a_generic_recipe() -> None:
    gen = EntityGenerator(catalog()["orders"], seed=3, sizes=SIZES)
    info = erp_model.ColumnInfo(
        name="EXTRA_1", oracle=erp_model.parse_oracle_type("NUMBER(4)"), nullable=True
    )
    gen.define(info)
    values = [orjson.loads(v) for v in gen.encode(keys(range(200)), ["EXTRA_1"])["EXTRA_1"]]
    assert any(v is not None for v in values)
    assert all(v is None or abs(int(str(v).replace(",", "").strip())) < 10**5 for v in values
               if not (isinstance(v, float) or "." in str(v)))  # fmt: skip


def test_added_char_columns_are_blank_padded() -> None:
    gen = EntityGenerator(catalog()["items"], seed=3, sizes=SIZES)
    oracle = erp_model.parse_oracle_type("CHAR(8)")
    gen.define(erp_model.ColumnInfo(name="GRADE", oracle=oracle, nullable=True))
    values = [orjson.loads(v) for v in gen.encode(keys(range(300)), ["GRADE"])["GRADE"]]
    texts = [v for v in values if v is not None]
    assert texts
    assert all(len(v) == 8 for v in texts)
    assert any(v.endswith(" ") for v in texts)


def test_check_sizes_refuses_codes_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="items"):
        erp_model.check_sizes({"items": 10**8})
    with pytest.raises(ValueError, match="lines per order"):
        erp_model.check_sizes({"items": 1, "orders": 1, "order_lines": 10_000})
    erp_model.check_sizes({"items": 7_000_000, "orders": 1, "order_lines": 9999})
