"""``dlq_fixes.Fix``: a person's ``--set`` on raw_data (source text) or mapped_data (typed)."""

from __future__ import annotations

import orjson
import pytest

from syncflow_core.catalog import EntitySpec, load_catalog
from syncflow_core.dlq_fixes import MAPPED, RAW, Fix, FixError

CATALOG = load_catalog()
ITEMS, CENTERS = CATALOG["items"], CATALOG["work_centers"]


def fixed(spec: EntitySpec, target: str, data: dict[str, object], *sets: str) -> dict[str, object]:
    text = orjson.dumps(data).decode()
    for spec_text in sets:
        text = Fix.parse(spec_text).apply(spec, target, text)
    return dict(orjson.loads(text))


def test_parse_text_and_json_forms() -> None:
    assert Fix.parse("LIST_PRICE=1,5") == Fix("LIST_PRICE", "1,5")
    assert Fix.parse("NOTE_TEXT:=null") == Fix("NOTE_TEXT", "null", True)
    assert Fix.parse("DESCRIPTION=a=b") == Fix("DESCRIPTION", "a=b")
    assert Fix.parse("DESCRIPTION=") == Fix("DESCRIPTION", "")
    for bad in ("LIST_PRICE", "=1", ":=1", "X:=not json"):
        with pytest.raises(FixError):
            Fix.parse(bad)


def test_raw_data_takes_text_by_source_or_target_name() -> None:
    row = {"PART_NO": "p-1", "WEIGHT_NET": "1,0", "NOTE_TEXT": "x"}
    out = fixed(ITEMS, RAW, row, "WEIGHT_NET=1.0", "notes:=null", "LEAD_TIME=7")
    assert out == {"PART_NO": "p-1", "WEIGHT_NET": "1.0", "NOTE_TEXT": None, "LEAD_TIME": "7"}
    with pytest.raises(FixError, match="items has no column 'COLOR'"):
        fixed(ITEMS, RAW, row, "COLOR=red")


def test_mapped_data_is_typed_by_the_catalog() -> None:
    record = {"site": "S01", "work_center_code": "W0001", "capacity_hours_per_day": 8.0}
    out = fixed(
        CENTERS, MAPPED, record, "capacity_hours_per_day=7.5", "ACTIVE=no", "name=Press line"
    )
    assert out["capacity_hours_per_day"] == 7.5
    assert out["is_active"] is False
    assert out["name"] == "Press line"
    items = fixed(ITEMS, MAPPED, {"item_number": "P-1"}, "lead_time_days=12",
                  "created_at=2025-01-02T03:04:05+01:00")  # fmt: skip
    assert items["lead_time_days"] == 12
    assert items["created_at"] == "2025-01-02T02:04:05.000000"  # naive UTC, as sent


@pytest.mark.parametrize(
    ("spec_text", "message"),
    [
        ("lead_time_days=1.5", "lead_time_days is of type integer: '1.5' is not one"),
        ("list_price=cheap", "list_price is of type float"),
        ("created_at=yesterday", "created_at is of type datetime"),
        ("item_number=P-2", "item_number is a key field"),
        ("erp_data_hash=0", "items has no field 'erp_data_hash'"),
    ],
)
def test_mapped_data_refuses_what_cannot_be_sent(spec_text: str, message: str) -> None:
    with pytest.raises(FixError, match=message):
        fixed(ITEMS, MAPPED, {"item_number": "P-1"}, spec_text)


def test_a_record_without_data_cannot_be_fixed() -> None:
    with pytest.raises(FixError, match="no mapped_data to fix"):
        Fix.parse("name=x").apply(CENTERS, MAPPED, None)
