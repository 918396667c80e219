"""Layer 2: every string value is cleaned the same way before any other parsing.

CRLF and lone CR become LF; other C0 controls (but LF and TAB) and DEL go; NFC; the
Unicode white space at both ends is trimmed; an empty string becomes null.

The work is done only where it can change something: a value of printable ASCII
(U+0020-U+007E) that neither starts nor ends with a space is already clean, which is
most values. Among the others, control characters are handled only where there is one,
NFC only where there is a non-ASCII character; each narrower step runs on just those
rows (``compact``). ``clean_series`` is that chain on a compact Series; ``clean_text``
is layer 2 in one plain expression, for small frames.

>>> import polars as pl
>>> df = pl.DataFrame({"s": [" a\\r\\nb ", "  ", "Cafe\\u0301\\x07"]})
>>> df.select(clean_text(pl.col("s"))).to_series().to_list()
['a\\nb', None, 'Café']
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from syncflow_core.normalize.compact import apply_where

# After CR became LF: C0 controls except TAB (09) and LF (0A), and DEL.
_CONTROLS = r"[\x00-\x08\x0B-\x1F\x7F]"
_ANY_CONTROL = r"[\x00-\x1F\x7F]"
_NON_ASCII = r"[^\x00-\x7F]"
# Anything outside printable ASCII: a control character or a non-ASCII character.
_NOT_PRINTABLE_ASCII = r"[^\x20-\x7E]"


def needs_cleaning(text: pl.Expr) -> pl.Expr:
    """True where layer 2 could change the value (null stays null)."""
    return (
        text.str.contains(_NOT_PRINTABLE_ASCII)
        | text.str.starts_with(" ")
        | text.str.ends_with(" ")
    )


def fix_controls(text: pl.Expr) -> pl.Expr:
    """Steps 1-2: CRLF and lone CR become LF; other C0 controls but TAB, and DEL, go."""
    return (
        text.str.replace_all("\r\n", "\n", literal=True)
        .str.replace_all("\r", "\n", literal=True)
        .str.replace_all(_CONTROLS, "")
    )


def controls_fixed(text: pl.Expr) -> pl.Expr:
    """``fix_controls`` on the rows holding a control character (reads ``text`` thrice)."""
    return pl.coalesce(fix_controls(pl.when(text.str.contains(_ANY_CONTROL)).then(text)), text)


def nfc_trimmed(text: pl.Expr) -> pl.Expr:
    """Steps 3-4: NFC on the rows holding a non-ASCII character, then trim every row."""
    nfc = pl.when(text.str.contains(_NON_ASCII)).then(text).str.normalize("NFC")
    return pl.coalesce(nfc, text).str.strip_chars()


def empty_to_null(text: pl.Expr) -> pl.Expr:
    """Step 5: Oracle treats '' as NULL, so do we."""
    return text.replace("", None)


def with_expr(series: pl.Series, build: Callable[[pl.Expr], pl.Expr]) -> pl.Series:
    """``build(col)`` evaluated on ``series`` (keeps the name)."""
    return series.to_frame("t").select(build(pl.col("t"))).to_series().rename(series.name)


def clean_series(text: pl.Series) -> pl.Series:
    """Steps 1-4 on a compact Series: controls and NFC only on the rows that hold one."""
    text = apply_where(text, text.str.contains(_ANY_CONTROL), lambda s: with_expr(s, fix_controls))
    text = apply_where(text, text.str.contains(_NON_ASCII), lambda s: s.str.normalize("NFC"))
    return text.str.strip_chars()


def clean_text(text: pl.Expr) -> pl.Expr:
    """Layer 2 on a String column in one expression (re-reads subexpressions: small frames)."""
    dirty = pl.when(needs_cleaning(text)).then(text)
    return empty_to_null(pl.coalesce(nfc_trimmed(controls_fixed(dirty)), text))
