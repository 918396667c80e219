"""The emulator's record validation, derived from the catalog."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
import pytest

from syncflow_core.catalog import catalog_from_mapping, load_catalog
from syncflow_core.emulators.schedulehub_schema import CLOB_MAX_CHARS, RecordSchema, Refused

UID = "01890a5d-ac96-774b-bcce-b302099a8057"
IDS = {
    "erp_key_hash": "0" * 32,
    "erp_data_hash": "f" * 64,
    "erp_rowversion": "2025-12-08T10:30:00",
}


def order_line(**changes: Any) -> bytes:
    record = {
        "order_number": "CO-1",
        "line_number": "1",
        "release_number": "1",
        "item_number": "P",
        "quantity": 2,
        "due_at": None,
        "order_uid": UID,
        "item_uid": UID,
        **IDS,
    }
    return orjson.dumps({**record, **changes})


@pytest.fixture(scope="module")
def lines() -> RecordSchema:
    return RecordSchema(load_catalog()["order_lines"])


def problems(schema: RecordSchema, bodies: list[bytes]) -> list[str | None]:
    return [c.field if isinstance(c, Refused) else None for c in schema.check_inserts(bodies)]


def test_valid_records_come_back_as_structs(lines: RecordSchema) -> None:
    (record,) = lines.check_inserts([order_line()])
    assert not isinstance(record, Refused)
    assert (record.erp_key_hash, record.order_uid, record.quantity) == ("0" * 32, UID, 2.0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"quantity": None}, "quantity"),
        ({"quantity": True}, "quantity"),
        ({"line_number": "12345"}, "line_number"),  # VARCHAR2(4)
        ({"due_at": "2025-12-08T24:00:00"}, "due_at"),
        ({"due_at": "2024-02-30T00:00:00"}, "due_at"),
        ({"due_at": "2025-12-08T10:30:00\n2025-12-08T10:30:00"}, "due_at"),
        ({"order_uid": "x" * 36}, "order_uid"),
        ({"order_uid": UID.upper()}, "order_uid"),
        ({"item_uid": None}, "item_uid"),  # item_number is required, so is its uid
        ({"erp_key_hash": "0" * 31 + "\n"}, "erp_key_hash"),
        ({"erp_data_hash": "F" * 64}, "erp_data_hash"),
        ({"erp_rowversion": None}, "erp_rowversion"),
    ],
)
def test_each_rule_names_the_field(lines: RecordSchema, change: dict[str, Any], field: str) -> None:
    assert problems(lines, [order_line(), order_line(**change), order_line()]) == [
        None,
        field,
        None,
    ]


def test_leap_days_and_forms_of_datetime(lines: RecordSchema) -> None:
    good = [
        "2024-02-29T00:00:00",
        "2025-12-31 23:59:59.999999999",
        "2025-12-08T10:30:00Z",
        "2025-12-08T10:30:00-05:30",
    ]
    bodies = [order_line(due_at=v) for v in good] + [order_line(due_at="2025-02-29T00:00:00")]
    assert problems(lines, bodies) == [None, None, None, None, "due_at"]


def test_many_failures_in_one_batch_are_each_found(lines: RecordSchema) -> None:
    bodies = [order_line(erp_key_hash=("g" if i % 3 == 0 else "a") * 32) for i in range(9)]
    assert problems(lines, bodies) == ["erp_key_hash", None, None] * 3


def test_patches_validate_what_is_present(lines: RecordSchema) -> None:
    checks = lines.check_patches([b"{}", b'{"quantity": 3}', b'{"quantity": null}', b'{"x": 1}'])
    assert [c.field if isinstance(c, Refused) else None for c in checks] == [
        None,
        None,
        "quantity",
        "x",
    ]
    assert checks[0].quantity is msgspec.UNSET
    assert checks[1].quantity == 3


def test_string_lengths_follow_the_oracle_types() -> None:
    items = RecordSchema(load_catalog()["items"])
    base = {
        "item_number": "P",
        "description": "d",
        "uom": "EA",
        "lead_time_days": 1,
        "status": "A",
        **IDS,
    }
    bodies = [
        orjson.dumps({**base, "description": "é" * 200}),  # characters, not bytes
        orjson.dumps({**base, "description": "d" * 201}),
        orjson.dumps({**base, "notes": "n" * CLOB_MAX_CHARS}),
        orjson.dumps({**base, "lead_time_days": -99_999}),
        orjson.dumps({**base, "lead_time_days": -100_000}),
    ]
    assert problems(items, bodies) == [None, "description", None, None, "lead_time_days"]


def test_any_catalog_entity_gets_its_rules() -> None:
    catalog = catalog_from_mapping(
        {
            "parts": {
                "source_view": "P",
                "key": ["code"],
                "fields": [
                    {"source": "CODE", "oracle_type": "VARCHAR2(3)", "target": "code"},
                    {"source": "HASH", "oracle_type": "RAW(2)", "target": "raw"},
                    {
                        "source": "ON",
                        "oracle_type": "CHAR(1)",
                        "target": "on",
                        "transforms": ["yn_bool"],
                    },
                    {"source": "N", "oracle_type": "NUMBER(2,0)", "target": "n"},
                ],
            },
            "uses": {
                "source_view": "U",
                "key": ["id"],
                "fields": [
                    {"source": "ID", "oracle_type": "VARCHAR2(5)", "target": "id"},
                    {
                        "source": "PART",
                        "oracle_type": "VARCHAR2(3)",
                        "target": "part",
                        "parent": {"entity": "parts", "uid_field": "part_uid"},
                    },
                ],
            },
        }
    )
    parts = RecordSchema(catalog["parts"])
    bodies = [
        orjson.dumps({"code": "abc", "raw": "0a0b", "on": True, "n": 99, **IDS}),
        orjson.dumps({"code": "abc", "raw": "0a0b0", **IDS}),
        orjson.dumps({"code": "abc", "on": "Y", **IDS}),
        orjson.dumps({"code": "abc", "n": 100, **IDS}),
    ]
    assert problems(parts, bodies) == [None, "raw", "on", "n"]
    uses = RecordSchema(catalog["uses"])  # "part" is optional, so is its uid
    assert problems(uses, [orjson.dumps({"id": "1", **IDS})]) == [None]
    assert problems(uses, [orjson.dumps({"id": "1", "part_uid": "nope", **IDS})]) == ["part_uid"]
