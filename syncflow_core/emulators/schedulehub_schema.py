"""What ScheduleHub accepts as a record of an entity, derived from the catalog (no per-entity code).

A record is a JSON object of the entity's target fields, ``erp_key_hash`` (32 lowercase
hex), ``erp_data_hash`` (64 lowercase hex), ``erp_rowversion`` (ISO 8601) and, for a child,
its parent uid fields. Types follow the catalog: strings (at most the Oracle length:
``VARCHAR2(n)``/``CHAR(n)`` n characters, ``RAW(n)`` 2n hex characters, ``CLOB``
:data:`CLOB_MAX_CHARS`), integers (``NUMBER(p)``: fewer than p+1 digits), numbers for
float fields, booleans, datetimes as ISO 8601 strings. Required fields must be present and
non-null, optional ones may be absent (null), unknown fields are refused. A PATCH body is
validated the same way for the fields it has.

Decoding and type checks are msgspec's (one C pass per record); the pattern checks
(hex, datetimes, uids) run once per batch over the joined values, not once per value.

>>> from syncflow_core.catalog import load_catalog
>>> schema = RecordSchema(load_catalog()["items"])
>>> [c.problem for c in schema.check_inserts([b'{"item_number": 5}'])]
['Expected `str`, got `int` - at `$.item_number`']
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Annotated, Any

import msgspec

from syncflow_core.catalog import EntitySpec, FieldSpec, ValueType
from syncflow_core.emulators.schedulehub_uid import UID_PATTERN

CLOB_MAX_CHARS = 32_767
Buffer = bytes | msgspec.Raw  # a record's JSON as received
KEY_HASH_PATTERN = r"[0-9a-f]{32}"
DATA_HASH_PATTERN = r"[0-9a-f]{64}"
DATETIME_PATTERN = (
    r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])[T ](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(?:\.\d{1,9})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?"
)
_DATETIME_MAX = 35
_FIELD_IN_ERROR = re.compile(r"`\$\.([A-Za-z0-9_]+)`|field `([A-Za-z0-9_]+)`")


@dataclass(frozen=True, slots=True)
class Refused:
    """A record that ScheduleHub refuses with ``422 validation``."""

    problem: str
    field: str | None


# A valid record is the msgspec Struct of the entity: attribute per field, and in a patch
# ``msgspec.UNSET`` for the fields the body does not have.
Check = Any  # the entity's Struct, or Refused


@dataclass(frozen=True)
class _Rule:
    """A text check run over one field of every record of a batch at once."""

    field: str
    expected: str
    bad: Callable[[list[str]], list[int]]  # positions of the values that fail


class RecordSchema:
    """Validators of one entity: ``check_inserts`` (whole records), ``check_patches``."""

    def __init__(self, spec: EntitySpec, parent_required: dict[str, bool] | None = None) -> None:
        self.spec = spec
        self.parent_fields = tuple(ref.uid_field for ref in spec.parents)
        required = parent_required or _parent_requirement(spec)
        fields = [_field(spec, f) for f in spec.fields]
        fields += [_identity("erp_key_hash", 32), _identity("erp_data_hash", 64)]
        fields.append(("erp_rowversion", _DATETIME_STR))
        for uid_field in self.parent_fields:
            fields.append(_parent(uid_field, required=required[uid_field]))
        record = _struct(spec.name, fields, partial=False)
        patch = _struct(spec.name + "_patch", fields, partial=True)
        self._insert = msgspec.json.Decoder(record)
        self._patch = msgspec.json.Decoder(patch)
        # A whole batch of records at once: one call, no Python between the records.
        self._inserts = msgspec.json.Decoder(list[record])  # type: ignore[valid-type]
        self._patches = msgspec.json.Decoder(list[patch])  # type: ignore[valid-type]
        self._rules = [
            _Rule("erp_key_hash", "32 lowercase hex digits", _not_hex),
            _Rule("erp_data_hash", "64 lowercase hex digits", _not_hex),
            _Rule("erp_rowversion", "an ISO 8601 datetime", _not_datetime),
        ]
        self._rules += [
            _Rule(f.target, "an ISO 8601 datetime", _not_datetime)
            for f in spec.fields
            if f.value_type is ValueType.DATETIME
        ]
        self._rules += [_Rule(u, "a UUID v7", bad_uids) for u in self.parent_fields]

    def check_inserts(self, raws: Sequence[Buffer]) -> list[Check]:
        """Validate whole records, one result per body, in order."""
        return self._check(raws, self._inserts, self._insert)

    def check_patches(self, raws: Sequence[Buffer]) -> list[Check]:
        """Validate partial records (PATCH): every present field as for an insert."""
        return self._check(raws, self._patches, self._patch)

    def _check(
        self,
        raws: Sequence[Buffer],
        batch: msgspec.json.Decoder[Any],
        single: msgspec.json.Decoder[Any],
    ) -> list[Check]:
        checks: list[Check]
        try:  # the common case: every record decodes, all of them in one call
            checks = batch.decode(b"[" + b",".join(raws) + b"]")
            # An empty body joins into nothing (no error): count to be sure of the match.
            valid = len(checks) == len(raws)
        except (msgspec.ValidationError, msgspec.DecodeError):
            valid = False
        if not valid:
            checks = [_decoded_or_refused(single.decode, raw) for raw in raws]
        clean = valid  # no Refused among the checks: attributes can be read without a default
        for rule in self._rules:
            name = rule.field
            column = map(attrgetter(name), checks) if clean else _column(checks, name)
            values = [v for v in column if v.__class__ is str]
            bad = rule.bad(values)
            if bad:  # rare: find which records the failing values belong to
                positions = [i for i, v in enumerate(_column(checks, name)) if v.__class__ is str]
                for k in bad:
                    checks[positions[k]] = Refused(
                        f"Expected {rule.expected} - at `$.{name}`", name
                    )
                clean = False
        return checks


def _column(checks: list[Check], name: str) -> list[Any]:
    """The values of one field, None for a refused record."""
    return [getattr(c, name, None) for c in checks]


def _decoded_or_refused(decode: Callable[[Buffer], Any], raw: Buffer) -> Check:
    try:
        return decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return _refused(str(exc))


def _refused(message: str) -> Refused:
    match = _FIELD_IN_ERROR.search(message)
    return Refused(message, field=(match.group(1) or match.group(2)) if match else None)


_HEX = b"0123456789abcdef"
_HEX_LINES = _HEX + b"\n"
_UID = re.compile(UID_PATTERN)
_DATETIME = re.compile(DATETIME_PATTERN)
# Batch checks map every digit to 0 and look at the few distinct shapes that remain.
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"0" * 9)
_HEX_TO_ZERO = bytes.maketrans(b"123456789abcdef", b"0" * 15)
_DATETIME_SHAPE = re.compile(rb"0000-00-00[T ]00:00:00(?:\.0{1,9})?(?:Z|[+-]00:00)?")
_UID_SHAPE = b"00000000-0000-0000-0000-000000000000"
_from_iso = dt.datetime.fromisoformat


def _not_hex(values: list[str]) -> list[int]:
    """Lowercase hex (lengths are msgspec's): delete hex digits, nothing may remain."""
    text = "\n".join(values)
    if text.count("\n") == len(values) - 1 and not text.encode().translate(None, _HEX_LINES):
        return []
    return [i for i, v in enumerate(values) if v.encode().translate(None, _HEX)]


def bad_uids(values: list[str]) -> list[int]:
    """Positions of the values that are not lowercase UUID v7 (one shape, "7" at [14],
    8/9/a/b at [19]), checked over all values at once."""
    text, count = "\n".join(values), len(values)
    if (
        len(text) == 37 * count - 1
        and text.count("\n") == count - 1
        and set(text.encode().translate(_HEX_TO_ZERO).split(b"\n")) == {_UID_SHAPE}
        and set(text[14::37]) == {"7"}
        and set(text[19::37]) <= {"8", "9", "a", "b"}
    ):
        return []
    return [i for i, v in enumerate(values) if _UID.fullmatch(v) is None]


def _not_datetime(values: list[str]) -> list[int]:
    """ISO 8601 in the contract's shape (checked once per distinct shape) that exists in the
    calendar (``datetime.fromisoformat`` over all values, in C)."""
    text = "\n".join(values)
    if text.count("\n") == len(values) - 1:
        shapes = set(text.encode().translate(_DIGITS_TO_ZERO).split(b"\n"))
        if all(_DATETIME_SHAPE.fullmatch(shape) for shape in shapes):
            try:
                list(map(_from_iso, values))
            except ValueError:
                pass
            else:
                return []
    return [i for i, v in enumerate(values) if not _is_datetime(v)]


def _is_datetime(value: str) -> bool:
    if _DATETIME.fullmatch(value) is None:
        return False
    try:
        _from_iso(value)
    except ValueError:
        return False
    return True


# --- msgspec types from the catalog ------------------------------------------------------

_DATETIME_STR = Annotated[str, msgspec.Meta(max_length=_DATETIME_MAX)]
_FieldDef = tuple[str, Any]


def _value_type(f: FieldSpec) -> Any:
    oracle = f.oracle
    kind = f.value_type
    if kind is ValueType.STRING:
        if oracle.base == "CLOB":
            return Annotated[str, msgspec.Meta(max_length=CLOB_MAX_CHARS)]
        length = (oracle.precision or 0) * (2 if oracle.is_raw else 1)
        return Annotated[str, msgspec.Meta(max_length=length)]
    if kind is ValueType.INTEGER:
        bound = 10 ** (oracle.precision or 18) - 1
        return Annotated[int, msgspec.Meta(ge=-bound, le=bound)]
    if kind is ValueType.FLOAT:
        return float
    if kind is ValueType.BOOLEAN:
        return bool
    return _DATETIME_STR


def _field(spec: EntitySpec, f: FieldSpec) -> _FieldDef:
    kind = _value_type(f)
    return (f.target, kind if spec.is_required(f) else kind | None)


def _identity(name: str, length: int) -> _FieldDef:
    return (name, Annotated[str, msgspec.Meta(min_length=length, max_length=length)])


def _parent(uid_field: str, *, required: bool) -> _FieldDef:
    kind = Annotated[str, msgspec.Meta(min_length=36, max_length=36)]
    return (uid_field, kind if required else kind | None)


def _parent_requirement(spec: EntitySpec) -> dict[str, bool]:
    """A parent uid is required when every field referring to the parent is required."""
    return {
        ref.uid_field: all(spec.is_required(spec.field(child)) for _, child in ref.key_map)
        for ref in spec.parents
    }


def _struct(name: str, fields: list[_FieldDef], *, partial: bool) -> type[msgspec.Struct]:
    """A msgspec Struct: insert (required fields have no default) or patch (all optional)."""
    if partial:
        defs: list[Any] = [(n, t | msgspec.UnsetType, msgspec.UNSET) for n, t in fields]
    else:
        defs = [(n, t) if not _nullable(t) else (n, t, None) for n, t in fields]
    # gc=False: the values are strings and numbers, never cycles; the collector skips them.
    return msgspec.defstruct(name, defs, kw_only=True, forbid_unknown_fields=True, gc=False)


def _nullable(kind: Any) -> bool:
    return type(None) in getattr(kind, "__args__", ())
