"""Stage 5: canonical strings and the two hashes of contracts/identity.md, column-wise.

``canon(r, F) = "|".join(name + "=" + enc(r[name]) for name in sorted(F))``; the business
key hash is XXH3-128 of it (32 hex, big-endian), the data hash BLAKE3 (64 hex). Both come
from the ``polars-hash`` plugin, whose output is stable across Polars versions (Polars'
own ``hash`` is not) and equals the ``xxhash`` and ``blake3`` packages byte for byte.

Encoders take column expressions: an encoder may read its input more than once, and
Polars does not share common subexpressions inside ``when`` chains.

>>> import polars as pl
>>> from syncflow_core.catalog import ValueType
>>> df = pl.DataFrame({"item_number": ["X"], "notes": ["a|b=c"]})
>>> types = {"item_number": ValueType.STRING, "notes": ValueType.STRING}
>>> df.select(canonical_expr({n: pl.col(n) for n in types}, types)).item()
'item_number=X|notes=a\\\\|b\\\\=c'
>>> df.select(key_hash_expr({"item_number": pl.lit("PART-12345")}, types)).item()
'0b133500149ce20feaae194eca4d4909'
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl
import polars_hash as plh

from syncflow_core.catalog.models import EntitySpec, ParentRef, ValueType
from syncflow_core.normalize.compact import on_present
from syncflow_core.normalize.digits import plain_notation, significant

KEY_HASH = "erp_key_hash"
DATA_HASH = "erp_data_hash"
ROWVERSION = "erp_rowversion"

# Polars writes floats in plain notation inside this range (it switches to an exponent at
# 1e16 and below 1e-5); outside it the general path rewrites the exponent form.
_PLAIN_LOW, _PLAIN_HIGH = 1e-4, 1e15
_FLOAT_TEXT = r"^(?P<neg>-)?(?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?(?:e(?P<exp>[+-]?[0-9]+))?$"
_SPECIAL = ["\\", "|", "="]


def encode_string(value: pl.Expr) -> pl.Expr:
    r"""``\`` → ``\\``, ``|`` → ``\|``, ``=`` → ``\=``, in one simultaneous pass (so the
    backslashes it writes are never escaped again: the same as backslash first)."""
    return value.str.replace_many(_SPECIAL, ["\\\\", "\\|", "\\="])


def _rare_floats(values: pl.Series) -> pl.Series:
    """Plain notation for compact floats outside Polars' plain range (exponent form)."""
    parts = values.cast(pl.String).str.extract_groups(_FLOAT_TEXT).struct
    frame = pl.DataFrame(
        {
            "int": parts.field("int"),
            "frac": parts.field("frac"),
            "exp": parts.field("exp").str.to_integer(strict=False).fill_null(0),
            "neg": parts.field("neg").is_not_null(),
        }
    )
    sig = significant(pl.col("int"), pl.col("frac"), pl.col("exp"))
    frame = frame.with_columns(digits=sig.digits, point=sig.point)
    return frame.select(
        plain_notation(pl.col("digits"), pl.col("point"), pl.col("neg"))
    ).to_series()


def _rare_float(value: pl.Expr) -> pl.Expr:
    """Where Polars writes an exponent: nonzero magnitudes below 1e-4 or from 1e15."""
    magnitude = value.abs()
    return (value != 0) & ((magnitude < _PLAIN_LOW) | (magnitude >= _PLAIN_HIGH))


def encode_float(value: pl.Expr, *, rare: bool = True) -> pl.Expr:
    """Shortest round-trip decimal in plain notation, no trailing zeros, ``-0`` → ``0``.

    ``rare=False`` when no value needs the exponent rewrite (see ``_rare_float``).
    """
    # In the plain range Polars' shortest text only needs its ".0" cut (-0.0 as 0.0).
    common = pl.when(value == 0).then(0.0).otherwise(value).cast(pl.String).str.strip_suffix(".0")
    if not rare:
        return common
    rewritten = on_present(pl.when(_rare_float(value)).then(value), _rare_floats, pl.String())
    return pl.coalesce(rewritten, common)


def encode_datetime(value: pl.Expr, *, fraction: bool = True) -> pl.Expr:
    """``YYYY-MM-DDTHH:MM:SS``, then ``.ffffff`` only when the microseconds are not 0.

    ``fraction=False`` when every value has zero microseconds.
    """
    if not fraction:
        return value.dt.to_string("%Y-%m-%dT%H:%M:%S")
    return value.dt.to_string("%Y-%m-%dT%H:%M:%S%.6f").str.strip_suffix(".000000")


def encode(value: pl.Expr, value_type: ValueType, *, simple: bool = False) -> pl.Expr:
    """``enc(v)`` of identity.md for a column of the given normalized type; null → ``""``.

    ``simple=True`` skips the work that ``needs_full_encoding`` found no value needs.
    """
    if value_type is ValueType.STRING:
        text = value if simple else encode_string(value)
    elif value_type is ValueType.FLOAT:
        text = encode_float(value, rare=not simple)
    elif value_type is ValueType.DATETIME:
        text = encode_datetime(value, fraction=not simple)
    else:  # integer: base 10; boolean: Polars writes true / false
        text = value.cast(pl.String)
    return text.fill_null("")


def needs_full_encoding(value: pl.Expr, value_type: ValueType) -> pl.Expr:
    """A Boolean scalar: does any value need more than ``encode(..., simple=True)``?

    Strings always get escaped: looking for the three characters costs about as much as
    escaping them.
    """
    if value_type is ValueType.STRING:
        return pl.lit(True)
    if value_type is ValueType.FLOAT:
        return _rare_float(value).any()
    if value_type is ValueType.DATETIME:
        return (value.dt.microsecond() != 0).any()
    return pl.lit(False)


def canonical_from_encoded(encoded: Mapping[str, pl.Expr]) -> pl.Expr:
    """``canon`` from already encoded values (``name -> enc(value)``)."""
    names = sorted(encoded)
    if not names:
        return pl.lit("")
    # Field names are identifiers: no braces, so they are safe in a format string.
    template = "|".join(f"{name}={{}}" for name in names)
    return pl.format(template, *(encoded[name] for name in names))


def canonical_expr(fields: Mapping[str, pl.Expr], types: Mapping[str, ValueType]) -> pl.Expr:
    """``canon(r, F)`` for ``F = fields`` (canonical name -> column expression)."""
    return canonical_from_encoded({n: encode(e, types[n]) for n, e in fields.items()})


def xxh128_hex(text: pl.Expr) -> pl.Expr:
    """XXH3-128 (seed 0) of the UTF-8 bytes, 32 lowercase hex, xxHash's canonical byte order."""
    digest = plh.NonCryptographicHashingNameSpace(text).xxh3_128(
        return_binary=True, byte_order="big"
    )
    return digest.bin.encode("hex")


def blake3_hex(text: pl.Expr) -> pl.Expr:
    """BLAKE3 (unkeyed, 32 bytes) of the UTF-8 bytes, 64 lowercase hex."""
    return plh.CryptographicHashingNameSpace(text).blake3()


def key_hash_expr(fields: Mapping[str, pl.Expr], types: Mapping[str, ValueType]) -> pl.Expr:
    """``erp_key_hash`` of the business key ``fields`` (canonical name -> column)."""
    return xxh128_hex(canonical_expr(fields, types))


def data_hash_expr(fields: Mapping[str, pl.Expr], types: Mapping[str, ValueType]) -> pl.Expr:
    """``erp_data_hash`` of every data field (canonical name -> column)."""
    return blake3_hex(canonical_expr(fields, types))


def field_types(spec: EntitySpec) -> dict[str, ValueType]:
    """Target field -> normalized type, for every data field of ``spec``."""
    return {f.target: f.value_type for f in spec.fields}


def encoding_needs(frame: pl.DataFrame, spec: EntitySpec) -> dict[str, bool]:
    """Per data field: does any value need the full encoder (``needs_full_encoding``)?"""
    types = field_types(spec)
    return frame.select(
        needs_full_encoding(pl.col(name), types[name]).alias(name) for name in spec.data_fields
    ).row(0, named=True)


def add_identity(
    frame: pl.LazyFrame, spec: EntitySpec, needs: Mapping[str, bool] | None = None
) -> pl.LazyFrame:
    """``frame`` (``spec``'s typed target fields) plus ``erp_key_hash`` and ``erp_data_hash``.

    ``needs`` (``encoding_needs``) lets the encoders skip work no value needs; without it
    every encoder is the full one.
    """
    types = field_types(spec)
    encoded = {name: f"__enc_{name}" for name in spec.data_fields}
    cols = {name: pl.col(column) for name, column in encoded.items()}
    key = canonical_from_encoded({n: cols[n] for n in spec.key_fields})
    return (
        frame.with_columns(
            encode(pl.col(name), types[name], simple=needs is not None and not needs[name]).alias(
                column
            )
            for name, column in encoded.items()
        )
        .with_columns(
            xxh128_hex(key).alias(KEY_HASH),
            blake3_hex(canonical_from_encoded(cols)).alias(DATA_HASH),
        )
        .drop(encoded.values())
    )


def with_identity(frame: pl.DataFrame, spec: EntitySpec) -> pl.DataFrame:
    """Add ``erp_key_hash`` and ``erp_data_hash`` to a frame of ``spec``'s typed target fields.

    A quick look at the columns first drops the encoding work no value needs (escaping,
    exponent rewriting, fractions); then one streaming pass encodes, joins and hashes.
    """
    needs = encoding_needs(frame, spec)
    return add_identity(frame.lazy(), spec, needs).collect(engine="streaming")


def parent_key_hash_expr(ref: ParentRef, parent: EntitySpec) -> pl.Expr:
    """The parent's ``erp_key_hash`` computed from the child's columns (stage 7).

    ``xxh128(canon({parent_key_field: child_value}))``: the names and types are the
    parent's, the values the child's columns named in ``ref.key_map``.
    """
    types = field_types(parent)
    fields = {parent_field: pl.col(child_field) for parent_field, child_field in ref.key_map}
    return key_hash_expr(fields, {name: types[name] for name in fields})
