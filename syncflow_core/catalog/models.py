"""The entity catalog as pydantic models: what each ERP entity becomes in ScheduleHub.

>>> from syncflow_core.catalog import load_catalog
>>> items = load_catalog()["items"]
>>> items.key_fields, items.field("uom").default
(('item_number',), 'EA')
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# Names ScheduleHub adds to every record, and the columns SyncFlow adds: no field may take them.
SERVER_FIELDS = frozenset({"uid", "hub_created_at", "hub_updated_at"})
IDENTITY_FIELDS = ("erp_key_hash", "erp_data_hash", "erp_rowversion")
RESERVED_FIELDS = SERVER_FIELDS | frozenset(IDENTITY_FIELDS)

Transform = Literal["upper", "lower", "yn_bool"]
TRANSFORMS: tuple[str, ...] = ("upper", "lower", "yn_bool")
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class CatalogError(ValueError):
    """A broken catalog: names the entity and the field at fault."""

    def __init__(self, entity: str, field: str | None, problem: str) -> None:
        self.entity, self.field, self.problem = entity, field, problem
        where = f"entity {entity!r}" + (f", field {field!r}" if field else "")
        super().__init__(f"catalog: {where}: {problem}")


class ValueType(StrEnum):
    """A normalized value type (normalization.md, layer 1; boolean comes from ``yn_bool``)."""

    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    DATETIME = "datetime"
    BOOLEAN = "boolean"


class OracleType(BaseModel):
    """A parsed Oracle column type such as ``NUMBER(5)`` or ``VARCHAR2(25)``."""

    model_config = ConfigDict(frozen=True)

    text: str
    base: str
    precision: int | None = None
    scale: int | None = None

    @property
    def value_type(self) -> ValueType:
        """Layer 1: the normalized type of this Oracle type."""
        if self.base == "NUMBER" and self.precision is not None and not self.scale:
            return ValueType.INTEGER
        if self.base in ("NUMBER", "FLOAT", "BINARY_DOUBLE"):
            return ValueType.FLOAT
        if self.base in ("DATE", "TIMESTAMP"):
            return ValueType.DATETIME
        return ValueType.STRING

    @property
    def is_raw(self) -> bool:
        """``RAW(n)`` values become lowercase hex strings."""
        return self.base == "RAW"


_ORACLE_TYPE = re.compile(
    r"^(?P<base>VARCHAR2|NVARCHAR2|CHAR|CLOB|NUMBER|FLOAT|BINARY_DOUBLE|DATE|TIMESTAMP|RAW)"
    r"(?:\(\s*(?P<p>\d+)\s*(?:,\s*(?P<s>-?\d+)\s*)?\))?$"
)
_NEEDS_LENGTH = {"VARCHAR2", "NVARCHAR2", "CHAR", "RAW"}
_NO_ARGS = {"CLOB", "DATE", "BINARY_DOUBLE"}


def parse_oracle_type(text: str) -> OracleType:
    """Parse an Oracle type as ``/schema`` reports it; ``ValueError`` when unknown."""
    match = _ORACLE_TYPE.match(text.strip().upper())
    if match is None:
        raise ValueError(f"unknown Oracle type {text!r}")
    base = match["base"]
    precision = int(match["p"]) if match["p"] else None
    scale = int(match["s"]) if match["s"] else None
    if base in _NO_ARGS and precision is not None:
        raise ValueError(f"Oracle type {text!r} takes no length")
    if base in _NEEDS_LENGTH and precision is None:
        raise ValueError(f"Oracle type {text!r} needs a length")
    if scale is not None and base != "NUMBER":
        raise ValueError(f"Oracle type {text!r} takes no scale")
    return OracleType(text=text.strip().upper(), base=base, precision=precision, scale=scale)


class ParentLink(BaseModel):
    """On a field: this value is (part of) the business key of a row of ``entity``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entity: Identifier
    uid_field: Identifier
    parent_key: Identifier | None = Field(
        default=None, description="the parent's key field; default: its only key field"
    )


class FieldSpec(BaseModel):
    """One source column and the target field it becomes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Identifier
    oracle_type: str
    target: Identifier
    transforms: tuple[str, ...] = ()
    default: str | None = None
    required: bool = False
    parent: ParentLink | None = None

    @cached_property
    def oracle(self) -> OracleType:
        """The parsed Oracle type."""
        return parse_oracle_type(self.oracle_type)

    @property
    def source_type(self) -> ValueType:
        """Type after layers 1-4, before the transforms."""
        return self.oracle.value_type

    @property
    def value_type(self) -> ValueType:
        """Type after the transforms: the type ScheduleHub receives."""
        return ValueType.BOOLEAN if "yn_bool" in self.transforms else self.source_type


class ParentRef(BaseModel):
    """A child's reference to a parent entity, resolved by stage 7 to ``uid_field``."""

    model_config = ConfigDict(frozen=True)

    entity: str
    uid_field: str
    key_map: tuple[tuple[str, str], ...]  # (parent key field, child field), by parent key name


class EntitySpec(BaseModel):
    """An ERP entity: its source view, business key and fields in catalog order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Identifier
    source_view: str
    key: tuple[Identifier, ...]
    fields: tuple[FieldSpec, ...]
    source_timezone: str = "UTC"
    rowversion_column: Identifier = "ROWVERSION"

    @property
    def key_fields(self) -> tuple[str, ...]:
        """Business-key target fields, in catalog order."""
        return tuple(f.target for f in self.fields if f.target in self.key)

    @property
    def data_fields(self) -> tuple[str, ...]:
        """Every target field (identity.md: the data hash covers all of them, keys included)."""
        return tuple(f.target for f in self.fields)

    @property
    def source_columns(self) -> tuple[str, ...]:
        """Source columns read from APISmith, ROWVERSION last."""
        return (*(f.source for f in self.fields), self.rowversion_column)

    @property
    def key_source_columns(self) -> tuple[str, ...]:
        """Source columns of the business key: what a key-only scan asks for."""
        return tuple(f.source for f in self.fields if f.target in self.key)

    @property
    def parents(self) -> tuple[ParentRef, ...]:
        """Parent references, in catalog order of their first field."""
        grouped: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for f in self.fields:
            if f.parent is not None:
                link = f.parent
                grouped.setdefault((link.entity, link.uid_field), []).append(
                    (link.parent_key or "", f.target)
                )
        return tuple(
            ParentRef(entity=entity, uid_field=uid_field, key_map=tuple(sorted(pairs)))
            for (entity, uid_field), pairs in grouped.items()
        )

    def field(self, target: str) -> FieldSpec:
        """The field with this target name."""
        for f in self.fields:
            if f.target == target:
                return f
        raise KeyError(f"{self.name} has no field {target!r}")

    def is_required(self, f: FieldSpec) -> bool:
        """Key fields are always required."""
        return f.required or f.target in self.key
