"""RowversionBounds and the page decoder (fast Polars path vs the orjson reference)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import orjson
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncflow_core.clients.bounds import RowversionBounds
from syncflow_core.clients.pages import decode_page, decode_page_slowly


def test_day_window_and_watermark() -> None:
    window = RowversionBounds.day(dt.date(2025, 12, 8))
    assert window.as_params() == {
        "rowversion_ge": "2025-12-08T00:00:00",
        "rowversion_lt": "2025-12-09T00:00:00",
    }
    assert window.contains(dt.datetime(2025, 12, 8))
    assert not window.contains(dt.datetime(2025, 12, 9))
    mark = dt.datetime(2025, 12, 8, 10, 30, 0, 123456)
    incremental = window.after(mark)
    assert incremental.as_params()["rowversion_gt"] == "2025-12-08T10:30:00.123456"
    assert not incremental.contains(mark)
    assert incremental.contains(mark + dt.timedelta(microseconds=1))
    assert window.after(None) is window


def test_aware_bounds_become_naive_utc() -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    bounds = RowversionBounds(le=dt.datetime(2025, 1, 1, 2, 0, tzinfo=plus_two))
    assert bounds.le == dt.datetime(2025, 1, 1, 0, 0)
    assert bounds.as_params() == {"rowversion_le": "2025-01-01T00:00:00"}
    with pytest.raises(TypeError):
        RowversionBounds(ge=dt.date(2025, 1, 1))  # type: ignore[arg-type]


def test_decode_keeps_strings_and_writes_numbers_as_text() -> None:
    body = (
        b'{"entity":"items","rows":['
        b'{"A":"  part-1 ","B":1000.50,"C":true,"D":null},'
        b'{"A":"a\\r\\nb\\u0001","B":1e20,"C":false},'
        b'{"A":"cafe\\u0301","B":-12,"E":"ignored"},'
        b'{"B":123456789012345678901234567890}'
        b'],"next_cursor":"abc"}'
    )
    frame, cursor = decode_page(body, ["A", "B", "C", "D"])
    assert cursor == "abc"
    assert frame.schema == pl.Schema({c: pl.String for c in "ABCD"})
    assert frame.rows() == [
        ("  part-1 ", "1000.5", "true", None),
        ("a\r\nb\x01", "100000000000000000000", "false", None),
        ("cafe\u0301", "-12", None, None),
        (None, "123456789012345678901234567890", None, None),
    ]


def test_decode_empty_and_malformed_pages() -> None:
    frame, cursor = decode_page(b'{"entity":"x","rows":[],"next_cursor":null}', ["A"])
    assert frame.height == 0
    assert frame.columns == ["A"]
    assert cursor is None
    with pytest.raises(ValueError, match="rows"):
        decode_page(b'{"entity":"x","next_cursor":null}', ["A"])
    with pytest.raises(ValueError, match="not JSON"):
        decode_page(b'{"rows":[{"A":1}', ["A"])
    nested, _ = decode_page(b'{"rows":[{"A":{"x":1}},{"A":[1,2]},{"A":2.5}],"next_cursor":null}',
                            ["A"])  # fmt: skip
    assert nested["A"].to_list() == ['{"x":1}', "[1,2]", "2.5"]


json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["A", "B", "C"]), json_values), max_size=8))
def test_fast_decode_equals_the_reference(rows: list[dict[str, object]]) -> None:
    body = orjson.dumps({"entity": "x", "rows": rows, "next_cursor": None})
    fast, _ = decode_page(body, ["A", "B", "C"])
    slow, _ = decode_page_slowly(body, ["A", "B", "C"])
    assert fast.equals(slow)
    for row, got in zip(rows, fast.iter_rows(named=True), strict=True):
        for name in "ABC":
            value = row.get(name)
            if isinstance(value, float):  # shortest round-trip text, any notation
                assert float(Decimal(got[name])) == value


def test_a_number_past_a_double_fails_its_row_not_the_page() -> None:
    body = b'{"rows": [{"A": 1e999, "B": "x"}, {"A": -1E400, "B": "y"}, {"A": 2.5, "B": "z"}]}'
    frame, _ = decode_page(body, ["A", "B"])
    assert frame["A"].to_list() == ["1e999", "-1E400", "2.5"]  # layer 3: invalid_number


def test_surrogate_escapes_are_decoded_not_turned_into_nul() -> None:
    body = rb'{"rows": [{"A": "a\ud800b"}, {"A": "\ud83d\ude00"}, {"A": "c\udfffd"}]}'
    frame, _ = decode_page(body, ["A"])
    assert frame["A"].to_list() == ["a\ufffdb", "\U0001f600", "c\ufffdd"]
