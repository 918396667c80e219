"""Load and check a catalog file (YAML): a broken catalog fails here, never mid-sync."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from syncflow_core.catalog.models import (
    RESERVED_FIELDS,
    TRANSFORMS,
    CatalogError,
    EntitySpec,
    FieldSpec,
    ParentLink,
    ValueType,
    parse_oracle_type,
)

STANDARD_CATALOG = Path(__file__).with_name("standard.yaml")


def load_catalog(path: str | os.PathLike[str] | None = None) -> dict[str, EntitySpec]:
    """Read a catalog file (default: ``SYNCFLOW_CATALOG_PATH``, else the standard catalog).

    >>> sorted(load_catalog())
    ['items', 'order_lines', 'orders', 'work_centers']
    """
    chosen = path or os.environ.get("SYNCFLOW_CATALOG_PATH") or STANDARD_CATALOG
    document = yaml.safe_load(Path(chosen).read_text(encoding="utf-8"))
    if not isinstance(document, Mapping) or not isinstance(document.get("entities"), Mapping):
        raise CatalogError("<catalog>", None, f"{chosen}: expected a mapping 'entities:'")
    return catalog_from_mapping(document["entities"])


def catalog_from_mapping(entities: Mapping[str, Any]) -> dict[str, EntitySpec]:
    """Build and check a catalog from ``{entity: {source_view, key, fields, ...}}``."""
    catalog = {name: _entity(name, body) for name, body in entities.items()}
    return {name: _with_parents(spec, catalog) for name, spec in catalog.items()}


def _entity(name: str, body: Any) -> EntitySpec:
    if not isinstance(body, Mapping):
        raise CatalogError(name, None, "expected a mapping")
    raw_fields = body.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise CatalogError(name, None, "needs a non-empty list 'fields'")
    fields = tuple(_field(name, i, raw) for i, raw in enumerate(raw_fields))
    try:
        spec = EntitySpec(name=name, **{**body, "fields": fields})
    except ValidationError as exc:
        raise CatalogError(name, None, _first_problem(exc)) from exc
    _check_entity(spec)
    return spec


def _field(entity: str, index: int, raw: Any) -> FieldSpec:
    label = raw.get("target") or raw.get("source") if isinstance(raw, Mapping) else None
    label = str(label or f"#{index + 1}")
    if not isinstance(raw, Mapping):
        raise CatalogError(entity, label, "expected a mapping")
    try:
        spec = FieldSpec(**raw)
    except ValidationError as exc:
        raise CatalogError(entity, label, _first_problem(exc)) from exc
    try:
        parse_oracle_type(spec.oracle_type)
    except ValueError as exc:
        raise CatalogError(entity, spec.target, str(exc)) from exc
    _check_transforms(entity, spec)
    return spec


def _check_transforms(entity: str, spec: FieldSpec) -> None:
    current = spec.source_type
    for transform in spec.transforms:
        if transform not in TRANSFORMS:
            raise CatalogError(
                entity, spec.target, f"unknown transform {transform!r} (known: {TRANSFORMS})"
            )
        if current is not ValueType.STRING:
            raise CatalogError(
                entity, spec.target, f"transform {transform!r} needs a string, has {current}"
            )
        if transform == "yn_bool":
            current = ValueType.BOOLEAN


def _check_entity(spec: EntitySpec) -> None:
    seen_targets: set[str] = set()
    seen_sources: set[str] = set()
    for f in spec.fields:
        if f.target in seen_targets:
            raise CatalogError(spec.name, f.target, "duplicate target field")
        if f.source in seen_sources:
            raise CatalogError(spec.name, f.target, f"source column {f.source!r} mapped twice")
        if f.target in RESERVED_FIELDS or f.target.startswith("erp_"):
            raise CatalogError(
                spec.name, f.target, "name is reserved for ScheduleHub or SyncFlow columns"
            )
        if f.source == spec.rowversion_column:
            raise CatalogError(spec.name, f.target, f"{f.source} is the rowversion column")
        seen_targets.add(f.target)
        seen_sources.add(f.source)
    if not spec.key:
        raise CatalogError(spec.name, None, "needs at least one business-key field in 'key'")
    for key in spec.key:
        if key not in seen_targets:
            raise CatalogError(spec.name, key, "key field is not declared in 'fields'")
        if spec.field(key).default is not None:
            raise CatalogError(spec.name, key, "a business-key field cannot have a default")
    for f in spec.fields:
        _check_default(spec.name, f)


def _check_default(entity: str, spec: FieldSpec) -> None:
    if spec.default is None:
        return
    # Imported here: normalize depends on the catalog, not the other way round.
    from syncflow_core.normalize import parse_default

    try:
        parse_default(spec)
    except ValueError as exc:
        raise CatalogError(entity, spec.target, f"bad default {spec.default!r}: {exc}") from exc


def _with_parents(spec: EntitySpec, catalog: Mapping[str, EntitySpec]) -> EntitySpec:
    """Check every parent link and fill in implicit ``parent_key``s."""
    targets = set(spec.data_fields)
    fields = []
    for f in spec.fields:
        link: ParentLink | None = f.parent
        if link is not None:
            link = _checked_link(spec.name, f.target, link, targets, catalog)
            f = f.model_copy(update={"parent": link})
        fields.append(f)
    resolved = spec.model_copy(update={"fields": tuple(fields)})
    for ref in resolved.parents:
        if {pk for pk, _ in ref.key_map} != set(catalog[ref.entity].key):
            raise CatalogError(
                spec.name, ref.uid_field, f"does not cover the whole key of {ref.entity!r}"
            )
    return resolved


def _checked_link(
    entity: str,
    target: str,
    link: ParentLink,
    targets: set[str],
    catalog: Mapping[str, EntitySpec],
) -> ParentLink:
    parent = catalog.get(link.entity)
    if parent is None:
        raise CatalogError(entity, target, f"parent entity {link.entity!r} not found")
    if link.entity == entity:
        raise CatalogError(entity, target, "an entity cannot be its own parent")
    if link.uid_field in targets or link.uid_field in RESERVED_FIELDS:
        raise CatalogError(entity, target, f"uid field {link.uid_field!r} is taken")
    if link.parent_key is None:
        if len(parent.key) != 1:
            raise CatalogError(
                entity, target, f"parent {parent.name!r} has a composite key: set parent_key"
            )
        return link.model_copy(update={"parent_key": parent.key[0]})
    if link.parent_key not in parent.key:
        raise CatalogError(
            entity, target, f"{link.parent_key!r} is not a key field of {parent.name!r}"
        )
    return link


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])
