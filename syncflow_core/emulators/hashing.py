"""Stable integer hashing as Polars expressions: the emulator's only source of randomness.

SplitMix64 in wrapping ``UInt64`` arithmetic (Polars' own hash is not stable across
versions). ``salt`` turns names into 64-bit constants with BLAKE2b.

>>> import polars as pl
>>> frame = pl.DataFrame({"idx": pl.Series([0, 1], dtype=pl.UInt64)})
>>> frame.select(mix(pl.col("idx"))).to_series().to_list() == [splitmix64(0), splitmix64(1)]
True
"""

from __future__ import annotations

import hashlib

import polars as pl

U64 = pl.UInt64
MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB


def u64(value: int) -> pl.Expr:
    """A ``UInt64`` literal."""
    return pl.lit(value & MASK64, dtype=U64)


def _shr(expr: pl.Expr, bits: int) -> pl.Expr:
    return expr // u64(1 << bits)


def mix(expr: pl.Expr) -> pl.Expr:
    """SplitMix64 finalizer of a ``UInt64`` expression (wrapping arithmetic)."""
    z = expr + u64(_GOLDEN)
    z = z.xor(_shr(z, 30)) * u64(_M1)
    z = z.xor(_shr(z, 27)) * u64(_M2)
    return z.xor(_shr(z, 31))


def splitmix64(value: int) -> int:
    """Reference implementation of :func:`mix` for one Python integer."""
    z = (value + _GOLDEN) & MASK64
    z = ((z ^ (z >> 30)) * _M1) & MASK64
    z = ((z ^ (z >> 27)) * _M2) & MASK64
    return z ^ (z >> 31)


def salt(*parts: object) -> int:
    """A 64-bit constant from names, stable across runs and platforms."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def top_bits(hashed: pl.Expr, salt_value: int, bits: int) -> pl.Expr:
    """``bits`` well-spread bits of ``hashed`` for one purpose (multiply-shift on a salt)."""
    spread = hashed.xor(u64(salt_value)) * u64(salt_value | 1)
    return _shr(spread, 64 - bits)


def below(hashed: pl.Expr, salt_value: int, share: float) -> pl.Expr:
    """True for about ``share`` of the rows (independently of other salts)."""
    return top_bits(hashed, salt_value, 24) < u64(round(share * (1 << 24)))
