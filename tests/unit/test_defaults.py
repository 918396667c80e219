"""A default is text parsed by the field's own layers 1-4; a bad one fails the catalog."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from syncflow_core.catalog import CatalogError, FieldSpec, catalog_from_mapping
from syncflow_core.normalize import ErrorType, RowError, parse_default


def field(oracle_type: str, default: str | None, **extra: Any) -> FieldSpec:
    return FieldSpec(source="V", oracle_type=oracle_type, target="v", default=default, **extra)


@pytest.mark.parametrize(
    ("oracle_type", "default", "value"),
    [
        ("NUMBER(5)", "0", 0), ("NUMBER(5)", " 1,000 ", 1000), ("NUMBER(3)", "5", 5),
        ("NUMBER", "8", 8.0), ("NUMBER", "$12.50", 12.5), ("NUMBER", "(1)", -1.0),
        ("CHAR(1)", "Y", "Y"), ("CHAR(1)", " y ", "y"), ("VARCHAR2(10)", "EA", "EA"),
        ("VARCHAR2(10)", "a\r\nb", "a\nb"), ("RAW(4)", "BEEF", "beef"),
        ("DATE", "08-DEC-25", dt.datetime(2025, 12, 8)),
        ("TIMESTAMP(6)", "2025-12-08T10:30:00+02:00", dt.datetime(2025, 12, 8, 8, 30)),
        ("VARCHAR2(10)", None, None),
    ],
)  # fmt: skip
def test_default_is_parsed_like_a_value(oracle_type: str, default: str | None, value: Any) -> None:
    assert parse_default(field(oracle_type, default)) == value


def test_default_follows_the_source_timezone() -> None:
    spec = field("DATE", "2025-07-01")
    assert parse_default(spec, source_timezone="Europe/Berlin") == dt.datetime(2025, 6, 30, 22)


@pytest.mark.parametrize(
    ("oracle_type", "default", "error"),
    [
        ("NUMBER(5)", "1.5", ErrorType.INVALID_INTEGER),
        ("NUMBER(5)", "soon", ErrorType.INVALID_NUMBER),
        ("NUMBER", "NaN", ErrorType.INVALID_NUMBER),
        ("DATE", "tomorrow", ErrorType.INVALID_DATETIME),
        ("VARCHAR2(5)", "   ", ErrorType.MISSING_REQUIRED),  # blank: no default at all
    ],
)
def test_a_default_that_does_not_parse_raises(
    oracle_type: str, default: str, error: ErrorType
) -> None:
    with pytest.raises(RowError) as caught:
        parse_default(field(oracle_type, default))
    assert caught.value.error_type is error
    assert caught.value.field == "v"
    assert isinstance(caught.value, ValueError)


def test_the_catalog_refuses_a_bad_default() -> None:
    body = {
        "source_view": "T",
        "key": ["k"],
        "fields": [
            {"source": "K", "oracle_type": "VARCHAR2(5)", "target": "k"},
            {"source": "D", "oracle_type": "DATE", "target": "d", "default": "31-FEB-25"},
        ],
    }
    with pytest.raises(CatalogError) as caught:
        catalog_from_mapping({"t": body})
    assert caught.value.field == "d"
    assert "bad default" in str(caught.value)
