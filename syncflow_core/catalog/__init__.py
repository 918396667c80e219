"""The entity catalog: configuration as data (``standard.yaml``) loaded into pydantic models."""

from syncflow_core.catalog.loader import STANDARD_CATALOG, catalog_from_mapping, load_catalog
from syncflow_core.catalog.models import (
    IDENTITY_FIELDS,
    RESERVED_FIELDS,
    SERVER_FIELDS,
    CatalogError,
    EntitySpec,
    FieldSpec,
    OracleType,
    ParentLink,
    ParentRef,
    ValueType,
    parse_oracle_type,
)

__all__ = [
    "IDENTITY_FIELDS",
    "RESERVED_FIELDS",
    "SERVER_FIELDS",
    "STANDARD_CATALOG",
    "CatalogError",
    "EntitySpec",
    "FieldSpec",
    "OracleType",
    "ParentLink",
    "ParentRef",
    "ValueType",
    "catalog_from_mapping",
    "load_catalog",
    "parse_oracle_type",
]
