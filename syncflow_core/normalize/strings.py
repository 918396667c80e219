"""Layer 2: every string value is cleaned the same way before any other parsing.

CRLF and lone CR become LF; other C0 controls (but LF and TAB) and DEL go; NFC; the
Unicode white space at both ends is trimmed; an empty string becomes null.

Most values are already clean: printable ASCII (U+0020-U+007E) that neither starts nor
ends with a space. ``needs_cleaning`` finds the others; ``slow`` runs the chain on
just those rows (a compact frame), and within them control characters are handled
only where there is one and NFC only where there is a non-ASCII character: the kernels
are cheap on the null rows a ``when`` leaves. Each ``*_fixed`` function reads its input
several times, so its input must be a column.

>>> import polars as pl
>>> df = pl.DataFrame({"s": [" a\\r\\nb ", "  ", "Cafe\\u0301\\x07"]})
>>> df.select(clean_text(pl.col("s"))).to_series().to_list()
['a\\nb', None, 'Café']
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

# Steps 1-2 in one pass: CRLF and lone CR become LF (CRLF first, so one LF), every other
# C0 control but TAB and LF, and DEL, is removed.
_REMOVED = [chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"] + ["\x7f"]
_CONTROL_PATTERNS = ["\r\n", "\r", *_REMOVED]
_CONTROL_REPLACEMENTS = ["\n", "\n"] + [""] * len(_REMOVED)
_ANY_CONTROL = r"[\x00-\x08\x0B-\x1F\x7F]"  # TAB and LF alone need nothing
_NON_ASCII = r"[^\x00-\x7F]"


def needs_cleaning(text: pl.Expr, *, upper: bool = False, lower: bool = False) -> pl.Expr:
    """True where layer 2 could change the value (null stays null).

    With ``upper`` (``lower``): also where upper-casing (lower-casing) could change it, that
    is where there is an ASCII lower-case (upper-case) letter; non-ASCII counts already.
    """
    allowed = r"\x20-\x7E"
    if upper and lower:
        allowed = r"\x20-\x40\x5B-\x60\x7B-\x7E"
    elif upper:
        allowed = r"\x20-\x60\x7B-\x7E"
    elif lower:
        allowed = r"\x20-\x40\x5B-\x7E"
    # One pass: a character outside the allowed set, or a space at either end.
    return text.str.contains(f"[^{allowed}]|^ | $")


def fix_controls(text: pl.Expr) -> pl.Expr:
    """Steps 1-2 on every row."""
    return text.str.replace_many(_CONTROL_PATTERNS, _CONTROL_REPLACEMENTS, leftmost=True)


def controls_fixed(text: pl.Expr) -> pl.Expr:
    """Steps 1-2, computed only on the rows holding a control character."""
    return pl.coalesce(fix_controls(pl.when(text.str.contains(_ANY_CONTROL)).then(text)), text)


def nfc_trimmed(text: pl.Expr) -> pl.Expr:
    """Steps 3-4: NFC on the rows holding a non-ASCII character, then trim every row."""
    nfc = pl.when(text.str.contains(_NON_ASCII)).then(text).str.normalize("NFC")
    return pl.coalesce(nfc, text).str.strip_chars()


def full_clean(text: pl.Expr) -> pl.Expr:
    """Steps 1-4 on every row in one expression, no shortcut (non-null stays non-null)."""
    return fix_controls(text).str.normalize("NFC").str.strip_chars()


def empty_to_null(text: pl.Expr) -> pl.Expr:
    """Step 5: Oracle treats '' as NULL, so do we."""
    return text.replace("", None)


def clean_text(text: pl.Expr) -> pl.Expr:
    """Layer 2 in one plain expression (for small frames: no shortcut)."""
    return empty_to_null(full_clean(text))


# Layer 5's string transforms (``yn_bool`` is not one: it makes a boolean).
CASE_TRANSFORMS: dict[str, Callable[[pl.Expr], pl.Expr]] = {
    "upper": lambda text: text.str.to_uppercase(),
    "lower": lambda text: text.str.to_lowercase(),
}


def case_transformed(text: pl.Expr, transforms: tuple[str, ...]) -> pl.Expr:
    """``text`` through the case ``transforms``, in order."""
    for transform in transforms:
        text = CASE_TRANSFORMS[transform](text)
    return text
