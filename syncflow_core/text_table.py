r"""Plain-text tables for the operations commands (``syncflow health``, ``plan``, ``dlq``).

>>> print(render(["check", "latency"], [["state database", 2.5], ["APISmith", None]]))
check           latency
--------------  -------
state database      2.5
APISmith              -

Numbers are right-aligned, ``None`` shows as ``-``, a cell longer than ``max_width`` is cut
with ``…``, line breaks inside a cell show as ``⏎`` so that one row stays one line, and
other invisible characters as ``\uXXXX``:

>>> cell("a\u200bb\tc")
'a\\u200bb\\u0009c'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

MAX_WIDTH = 60


def cell(value: object, max_width: int = MAX_WIDTH) -> str:
    """``value`` as one line of at most ``max_width`` characters."""
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:,.1f}"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = str(value).replace("\r\n", "⏎").replace("\n", "⏎").replace("\r", "⏎")
        if not text.isprintable():  # control and invisible characters would skew the columns
            text = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)
    return text if len(text) <= max_width else text[: max_width - 1] + "…"


def render(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    max_width: int = MAX_WIDTH,
    indent: str = "",
) -> str:
    """A table with a header line and a rule, columns padded to their widest cell."""
    body = [list(row) for row in rows]
    texts = [[cell(v, max_width) for v in row] for row in body]
    numeric = [
        bool(body) and all(isinstance(row[i], int | float) or row[i] is None for row in body)
        for i in range(len(headers))
    ]
    widths = [max([len(h), *(len(row[i]) for row in texts)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str], right: Sequence[bool]) -> str:
        parts = [
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)
        ]
        return (indent + "  ".join(parts)).rstrip()

    out = [line(list(headers), numeric), line(["-" * w for w in widths], numeric)]
    out += [line(row, numeric) for row in texts]
    return "\n".join(out)
