"""Run tags: one per entity a run works on, so that ``dagster.yaml`` lets only one run at
a time work on the same entity and partition (``applyLimitPerUniqueValue``).

The value is the partition key, ``START...END`` for a range, or the name of whole-entity
work (``reconcile``, ``redrive``), which the core's leases keep apart from syncs of windows.
The key is ``syncflow-entity/<entity>``: Dagster allows one ``/`` in a tag key.

>>> entity_tags(["items", "orders"], "2025-01-01")
{'syncflow-entity/items': '2025-01-01', 'syncflow-entity/orders': '2025-01-01'}
"""

from __future__ import annotations

from collections.abc import Iterable

PREFIX = "syncflow-entity/"
PARTITION = "dagster/partition"
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def entity_tag(entity: str) -> str:
    """The concurrency tag of ``entity``."""
    return PREFIX + entity


def entity_tags(entities: Iterable[str], value: str) -> dict[str, str]:
    """A run's tags for working on ``entities`` over ``value``."""
    return {entity_tag(name): value for name in entities}


def partition_tags(entities: Iterable[str], start: str, end: str | None = None) -> dict[str, str]:
    """Tags of a run over one partition (``end`` None) or the range ``start...end``."""
    if end is None or end == start:
        return {PARTITION: start, **entity_tags(entities, start)}
    return {RANGE_START: start, RANGE_END: end, **entity_tags(entities, f"{start}...{end}")}
