"""The catalog: the standard one loads as the contract says, a broken one fails at load."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncflow_core.catalog import (
    STANDARD_CATALOG,
    CatalogError,
    ValueType,
    catalog_from_mapping,
    load_catalog,
)


def standard() -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load(STANDARD_CATALOG.read_text())["entities"])


def test_standard_catalog_matches_contract() -> None:
    catalog = load_catalog()
    assert list(catalog) == ["items", "work_centers", "orders", "order_lines"]
    items = catalog["items"]
    assert items.source_view == "INVENTORY_PART"
    assert items.key_fields == ("item_number",)
    assert [f.target for f in items.fields] == [
        "item_number", "description", "uom", "list_price", "weight_kg",
        "lead_time_days", "status", "created_at", "notes",
    ]  # fmt: skip
    assert items.field("lead_time_days").value_type is ValueType.INTEGER
    assert items.field("list_price").value_type is ValueType.FLOAT
    assert items.field("created_at").value_type is ValueType.DATETIME
    assert items.field("uom").default == "EA"
    wc = catalog["work_centers"]
    assert wc.key_fields == ("site", "work_center_code")
    assert wc.field("is_active").value_type is ValueType.BOOLEAN
    assert wc.field("is_active").transforms == ("upper", "yn_bool")
    lines = catalog["order_lines"]
    assert lines.key_fields == ("order_number", "line_number", "release_number")
    parents = {p.entity: p for p in lines.parents}
    assert parents["orders"].uid_field == "order_uid"
    assert parents["orders"].key_map == (("order_number", "order_number"),)
    assert parents["items"].uid_field == "item_uid"
    assert parents["items"].key_map == (("item_number", "item_number"),)
    assert lines.source_columns[-1] == "ROWVERSION"


def test_load_from_path(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump({"entities": {"items": standard()["items"]}}))
    assert list(load_catalog(path)) == ["items"]


@pytest.mark.parametrize(
    ("entity", "mutate", "field", "words"),
    [
        ("items", lambda e: e["fields"][0].update(transforms=["shout"]), "item_number",
         "unknown transform"),
        ("items", lambda e: e["fields"][3].update(oracle_type="MONEY(5)"), "list_price",
         "unknown Oracle type"),
        ("items", lambda e: e["fields"][2].update(target="description"), "description",
         "duplicate target"),
        ("items", lambda e: e.update(key=["part_number"]), "part_number", "not declared"),
        ("items", lambda e: e["fields"][8].update(target="uid"), "uid", "reserved"),
        ("items", lambda e: e["fields"][8].update(target="hub_created_at"), "hub_created_at",
         "reserved"),
        ("items", lambda e: e["fields"][5].update(default="soon"), "lead_time_days",
         "bad default"),
        ("items", lambda e: e["fields"][3].update(transforms=["upper"]), "list_price",
         "needs a string"),
        ("order_lines", lambda e: e["fields"][0]["parent"].update(entity="headers"),
         "order_number", "not found"),
        ("order_lines", lambda e: e["fields"][3]["parent"].update(uid_field="quantity"),
         "item_number", "taken"),
    ],
)  # fmt: skip
def test_broken_catalog_names_entity_and_field(
    entity: str, mutate: Any, field: str, words: str
) -> None:
    entities = standard()
    mutate(entities[entity])
    with pytest.raises(CatalogError) as caught:
        catalog_from_mapping(entities)
    assert caught.value.entity == entity
    assert caught.value.field == field
    assert words in str(caught.value)
    assert repr(entity) in str(caught.value)
    assert repr(field) in str(caught.value)
