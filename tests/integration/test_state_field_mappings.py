"""field_mappings: seeded from the catalog on upgrade; drift is reported and overwritten."""

from __future__ import annotations

import orjson
import polars as pl
import sqlalchemy as sa

from syncflow_core.catalog import catalog_from_mapping, load_catalog
from syncflow_core.state import CatalogDrift, StateStore
from syncflow_core.state.repositories import catalog_rows
from syncflow_core.state.tables import field_mappings


def test_the_table_mirrors_the_package_catalog(store: StateStore) -> None:
    catalog = load_catalog()
    stored = store.field_mappings.load()
    assert stored.height == sum(len(spec.fields) for spec in catalog.values())
    assert stored.drop("updated_at").equals(catalog_rows(catalog))
    lines = store.field_mappings.load("order_lines")
    first = lines.row(0, named=True)
    assert first["target_field"] == "order_number"
    assert first["source_column"] == "ORDER_NO"
    assert (first["parent_entity"], first["parent_uid_field"], first["parent_key"]) == (
        "orders",
        "order_uid",
        "order_number",
    )
    assert first["is_key"]
    assert first["required"]
    assert orjson.loads(first["transforms"]) == ["upper"]
    uom = (
        store.field_mappings.load("items")
        .filter(pl.col("target_field") == "uom")
        .row(0, named=True)
    )
    assert (uom["default_value"], uom["position"], uom["is_key"]) == ("EA", 2, False)
    assert store.field_mappings.sync() == CatalogDrift()


def test_drift_is_reported_and_the_catalog_wins(store: StateStore) -> None:
    with store.transaction() as conn:  # someone edits the mirror by hand
        conn.execute(
            sa.update(field_mappings)
            .where(field_mappings.c.entity == "items", field_mappings.c.position == 1)
            .values(required=False)
        )
        conn.execute(sa.delete(field_mappings).where(field_mappings.c.entity == "orders"))
    drift = store.field_mappings.sync()
    assert drift == CatalogDrift(added=("orders",), changed=("items",), removed=())
    assert store.field_mappings.load().drop("updated_at").equals(catalog_rows(load_catalog()))


def test_a_changed_catalog_rewrites_only_what_changed(store: StateStore) -> None:
    smaller = catalog_from_mapping(
        {
            "items": {
                "source_view": "INVENTORY_PART",
                "key": ["item_number"],
                "fields": [
                    {"source": "PART_NO", "oracle_type": "VARCHAR2(25)", "target": "item_number"},
                ],
            },
            "work_centers": {
                "source_view": "WC",
                "key": ["code"],
                "fields": [{"source": "WC", "oracle_type": "VARCHAR2(5)", "target": "code"}],
            },
        }
    )
    drift = store.upgrade(catalog=smaller)
    assert drift == CatalogDrift(
        added=(), changed=("items", "work_centers"), removed=("order_lines", "orders")
    )
    assert store.field_mappings.load().drop("updated_at").equals(catalog_rows(smaller))
    assert store.upgrade() == CatalogDrift(
        added=("order_lines", "orders"), changed=("items", "work_centers"), removed=()
    )
