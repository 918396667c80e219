"""A person's fix to a dead letter before it is retried: ``COLUMN=VALUE`` or ``COLUMN:=JSON``.

A failed record of a data error (stage normalize, validate or map) is re-prepared from its
``raw_data``, the APISmith row: a fix there names a source column (``LIST_PRICE``) and the
value is raw text, as APISmith would send it; normalization then runs over it as over any
row. A record that failed later (ingest, or a parent that never came) is re-sent from
``mapped_data``, the prepared record: a fix there names a target field (``list_price``) and
the value is read as the field's type (``12.5``, ``true``, ``2025-01-02T08:00:00``).
Either name is accepted for either kind; ``:=`` takes a JSON value as is (``NOTE_TEXT:=null``).

>>> from syncflow_core.catalog import load_catalog
>>> items = load_catalog()["items"]
>>> fix = Fix.parse("weight_kg=1.5")
>>> fix.apply(items, "raw_data", '{"PART_NO": "P-1", "WEIGHT_NET": "1,5"}')
'{"PART_NO":"P-1","WEIGHT_NET":"1.5"}'
>>> fix.apply(items, "mapped_data", '{"item_number": "P-1", "weight_kg": null}')
'{"item_number":"P-1","weight_kg":1.5}'

A key field cannot be changed in ``mapped_data``: the record was hashed by that key
(fix the ERP row instead, and let the next sync bring it). The record's data hash is kept:
it stands for the ERP version this fix deals with, so a later full rescan of the unchanged
ERP row skips it instead of sending the unfixed value again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson

from syncflow_core.catalog import EntitySpec, ValueType
from syncflow_core.windows import utc_naive

RAW, MAPPED = "raw_data", "mapped_data"
TRUE_WORDS, FALSE_WORDS = {"true", "yes", "y", "1"}, {"false", "no", "n", "0"}


class FixError(ValueError):
    """A fix that cannot be applied: no such column, a key field, a value of the wrong type."""


@dataclass(frozen=True)
class Fix:
    """One ``--set``: the column (source or target name) and the value as typed."""

    column: str
    text: str
    is_json: bool = False

    @classmethod
    def parse(cls, spec: str) -> Fix:
        """``COLUMN=VALUE`` (text) or ``COLUMN:=JSON``."""
        name, sep, text = spec.partition("=")
        if not sep or not name.rstrip(":"):
            raise FixError(f"{spec!r}: a fix is COLUMN=VALUE or COLUMN:=JSON")
        if name.endswith(":"):
            try:
                orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise FixError(f"{spec!r}: the value after := is not JSON ({exc})") from None
            return cls(name[:-1].strip(), text, True)
        return cls(name.strip(), text)

    def apply(self, spec: EntitySpec, target: str, data: str | None) -> str:
        """``data`` (the record's JSON text in ``target``: raw_data or mapped_data) fixed."""
        if data is None:
            raise FixError(f"the record has no {target} to fix")
        record = orjson.loads(data)
        if target == RAW:
            column = self.source_column(spec)
            record[column] = orjson.loads(self.text) if self.is_json else self.text
        else:
            column = self.target_field(spec)
            record[column] = orjson.loads(self.text) if self.is_json else self.typed(spec, column)
        return orjson.dumps(record).decode()

    def source_column(self, spec: EntitySpec) -> str:
        """The APISmith column this fix names (by its own name or its target field's)."""
        by_target = {f.target: f.source for f in spec.fields}
        if self.column in spec.source_columns:
            return self.column
        if self.column in by_target:
            return by_target[self.column]
        known = ", ".join(spec.source_columns)
        raise FixError(f"{spec.name} has no column {self.column!r} (source columns: {known})")

    def target_field(self, spec: EntitySpec) -> str:
        """The target field this fix names (by its own name or its source column's)."""
        by_source = {f.source: f.target for f in spec.fields}
        name = by_source.get(self.column, self.column)
        if name not in spec.data_fields:
            known = ", ".join(spec.data_fields)
            raise FixError(f"{spec.name} has no field {self.column!r} (fields: {known})")
        if name in spec.key_fields:
            raise FixError(
                f"{name} is a key field: the record was hashed by it. Fix the ERP row instead "
                "and let the next sync bring it; resolve this record with a reason."
            )
        return name

    def typed(self, spec: EntitySpec, field: str) -> Any:
        """The text as a JSON value of ``field``'s type."""
        kind, text = spec.field(field).value_type, self.text.strip()
        try:
            if kind is ValueType.INTEGER:
                return int(text)
            if kind is ValueType.FLOAT:
                return float(text)
            if kind is ValueType.BOOLEAN:
                return _boolean(text)
            if kind is ValueType.DATETIME:
                value = utc_naive(dt.datetime.fromisoformat(text))
                return value.strftime("%Y-%m-%dT%H:%M:%S.%f")
        except ValueError:
            raise FixError(f"{field} is of type {kind.value}: {self.text!r} is not one") from None
        return self.text


def _boolean(text: str) -> bool:
    word = text.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(text)
