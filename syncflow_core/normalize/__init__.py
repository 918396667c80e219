"""Stages 2-4: the five normalization layers as Polars expressions (contracts/normalization.md)."""

from __future__ import annotations

from typing import Any

from syncflow_core.catalog.models import FieldSpec, ValueType


def parse_default(spec: FieldSpec) -> Any:
    """The field's default as a value of its source type; ``ValueError`` if it does not parse.

    Placeholder for the skeleton: the normalization layers replace it.
    """
    text = spec.default
    if text is None:
        return None
    if spec.source_type is ValueType.INTEGER:
        return int(text)
    if spec.source_type is ValueType.FLOAT:
        return float(text)
    return text
