"""Entity order from the catalog alone (the core's ``SyncEnv.parents_first`` needs a whole
env; the definitions are built before any connection exists).

>>> from syncflow_core.catalog import load_catalog
>>> parents_first(load_catalog())
['items', 'work_centers', 'orders', 'order_lines']
"""

from __future__ import annotations

from collections.abc import Mapping

from syncflow_core.catalog import EntitySpec


def parents_first(catalog: Mapping[str, EntitySpec]) -> list[str]:
    """Every entity after all of its parents (catalog order otherwise)."""
    ordered: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in ordered:
            return
        if name in path:
            raise ValueError(f"parent cycle in the catalog: {' -> '.join((*path, name))}")
        for ref in catalog[name].parents:
            visit(ref.entity, (*path, name))
        ordered.append(name)

    for name in catalog:
        visit(name, ())
    return ordered


def children_first(catalog: Mapping[str, EntitySpec]) -> list[str]:
    """Every entity before its parents (the order deletes go in)."""
    return list(reversed(parents_first(catalog)))
