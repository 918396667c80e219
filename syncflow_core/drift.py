"""Schema drift: APISmith's ``/schema`` against the catalog, before anything is fetched.

- a source column the catalog reads that is gone, or whose type now normalizes to another
  value type (``NUMBER(5)`` → ``VARCHAR2(10)``), fails the batch with a clear message:
  syncing on would dead-letter every row or, worse, write wrong values;
- a new column is reported and ignored (the catalog decides what is read);
- a changed length or precision of the same value type is reported, not an error.

>>> from syncflow_core.catalog import load_catalog
>>> from syncflow_core.clients.apismith import SourceColumn, SourceSchema
>>> items = load_catalog()["items"]
>>> cols = [SourceColumn(name=f.source, type=f.oracle_type, nullable=True) for f in items.fields]
>>> cols.append(SourceColumn(name="ROWVERSION", type="TIMESTAMP(6)", nullable=False))
>>> cols.append(SourceColumn(name="COLOR", type="VARCHAR2(10)", nullable=True))
>>> schema = SourceSchema(entity="items", columns=tuple(cols), rowversion_column="ROWVERSION")
>>> compare(items, schema).added
('COLOR',)
"""

from __future__ import annotations

from dataclasses import dataclass

from syncflow_core.catalog import EntitySpec, parse_oracle_type
from syncflow_core.clients.apismith import SourceSchema


class SchemaDriftError(RuntimeError):
    """APISmith's schema lost or retyped a column the catalog reads."""

    def __init__(self, entity: str, report: DriftReport) -> None:
        self.entity, self.report = entity, report
        super().__init__(f"{entity}: APISmith's schema drifted from the catalog: {report.problem}")


@dataclass(frozen=True)
class DriftReport:
    """What differs between the source schema and the catalog."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    retyped: tuple[tuple[str, str, str], ...] = ()  # (column, catalog type, source type)
    resized: tuple[tuple[str, str, str], ...] = ()

    @property
    def breaking(self) -> bool:
        return bool(self.removed or self.retyped)

    @property
    def changed(self) -> bool:
        """Whether anything differs that a batch ignores (new or resized columns)."""
        return bool(self.added or self.resized)

    @property
    def problem(self) -> str:
        parts = []
        if self.removed:
            parts.append(f"column(s) removed: {', '.join(self.removed)}")
        for column, was, now in self.retyped:
            parts.append(f"{column} is {now} (the catalog reads {was})")
        return "; ".join(parts) + (
            ". Nothing was fetched: fix the catalog (or APISmith) and run again." if parts else ""
        )

    def as_metadata(self) -> dict[str, str]:
        """What is ignored, for logs and asset metadata (only the keys with something).

        >>> DriftReport(added=("COLOR",)).as_metadata()
        {'schema_added_columns': 'COLOR'}
        """
        values = {
            "schema_added_columns": ", ".join(self.added),
            "schema_resized_columns": ", ".join(f"{c}: {a} -> {b}" for c, a, b in self.resized),
        }
        return {key: value for key, value in values.items() if value}


def compare(spec: EntitySpec, schema: SourceSchema) -> DriftReport:
    """Compare ``schema`` with what ``spec`` reads."""
    source = {c.name: c.type for c in schema.columns}
    wanted = {f.source: f.oracle_type for f in spec.fields}
    wanted[spec.rowversion_column] = "TIMESTAMP(6)"
    removed = tuple(name for name in wanted if name not in source)
    retyped, resized = [], []
    for name, was in wanted.items():
        now = source.get(name)
        if now is None or now == was:
            continue
        try:
            old, new = parse_oracle_type(was), parse_oracle_type(now)
        except ValueError:
            retyped.append((name, was, now))
            continue
        if old.value_type != new.value_type or old.is_raw != new.is_raw:
            retyped.append((name, was, now))
        elif old.text != new.text:
            resized.append((name, was, now))
    added = tuple(name for name in source if name not in wanted)
    return DriftReport(added, removed, tuple(retyped), tuple(resized))


def check(spec: EntitySpec, schema: SourceSchema) -> DriftReport:
    """:func:`compare`, raising :class:`SchemaDriftError` when the drift is breaking."""
    report = compare(spec, schema)
    if report.breaking:
        raise SchemaDriftError(spec.name, report)
    return report
