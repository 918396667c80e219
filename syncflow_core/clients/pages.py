"""APISmith pages: decoded into raw frames, and requested one ahead.

``decode_page`` turns a page body into the raw frame (docs/internals.md) with Polars' JSON
reader: one ``pl.String`` column per source column, no Python object per value. Measured
on a 1000-row items page (bench/ends.py decode): ``pl.read_json`` with a String schema
beats orjson + per-column lists, ``pl.from_dicts`` and ``str.json_decode``.

Two kinds of value take the slow path, because the fast readers get them wrong: a number
no double can hold (``1e999``: orjson refuses the whole page, so one value would fail the
batch) keeps its literal text, which normalization then fails as that row's
``invalid_number``; and a surrogate escape (``\\ud800``), which Polars' reader turns
into U+0000 that layer 2 would silently delete: a lone surrogate (no UTF-8 form exists)
becomes U+FFFD, the Unicode replacement character, visibly.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from types import EllipsisType

import httpx
import orjson
import polars as pl

from syncflow_core.clients.http import ServiceClient


def decode_page(body: bytes, columns: Sequence[str]) -> tuple[pl.DataFrame, str | None]:
    """A page body -> (raw frame with ``columns``, next cursor). ValueError if malformed.

    >>> frame, cursor = decode_page(b'{"rows": [{"A": 12.50, "B": " x "}], "next_cursor": null}',
    ...                             ["A", "B", "C"])
    >>> frame.row(0), cursor
    (('12.5', ' x ', None), None)
    """
    schema: dict[str, pl.DataType] = {
        "rows": pl.List(pl.Struct({name: pl.String for name in columns})),
        "next_cursor": pl.String(),
    }
    if b"\\ud" in body or b"\\uD" in body:  # a surrogate escape (a pair or a lone one)
        return decode_page_slowly(body, columns)
    try:
        page = pl.read_json(body, schema=schema)
    except pl.exceptions.PolarsError:
        return decode_page_slowly(body, columns)
    rows = page["rows"][0] if page.height == 1 else None
    if rows is None:
        raise ValueError("no 'rows' list in the page")
    frame = rows.struct.unnest() if len(columns) else pl.DataFrame(height=rows.len())
    return frame, page["next_cursor"][0]


def decode_page_slowly(body: bytes, columns: Sequence[str]) -> tuple[pl.DataFrame, str | None]:
    """The fallback: the same raw frame, odd values (objects, lists) as JSON text, a number
    out of a double's range as its literal text, a lone surrogate as U+FFFD.

    >>> body = b'{"rows": [{"A": 1e999, "B": "x\\\\ud800\\\\ud83d\\\\ude00"}]}'
    >>> frame, _ = decode_page_slowly(body, ["A", "B"])
    >>> frame.row(0) == ("1e999", "x\\ufffd\\U0001f600")
    True
    """
    try:
        page = json.loads(body, parse_float=_float_or_text, parse_constant=str)
    except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8
        raise ValueError(f"not JSON ({exc})") from exc
    if not isinstance(page, dict) or not isinstance(page.get("rows"), list):
        raise ValueError("no 'rows' list in the page")
    rows, cursor = page["rows"], page.get("next_cursor")
    if not all(isinstance(row, dict) for row in rows):
        raise ValueError("a row is not a JSON object")
    data = {name: [_text(row.get(name)) for row in rows] for name in columns}
    return pl.DataFrame(data, schema={name: pl.String for name in columns}), cursor


def _float_or_text(literal: str) -> float | str:
    value = float(literal)
    return value if math.isfinite(value) else literal


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value)
    return _LONE_SURROGATE.sub(
        "\ufffd", json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    )


#: after decoding, pairs are one code point: a surrogate left is a lone one
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _float_text(value: float) -> str:
    """Shortest round-trip text in plain notation (``1000.5``, ``100000000000000000000``)."""
    return format(Decimal(repr(value)).normalize(), "f")


_TAIL_CURSOR = re.compile(rb'"next_cursor"\s*:\s*(null|"(?:[^"\\]|\\.)*")\s*}\s*')


def peek_cursor(body: bytes) -> str | EllipsisType | None:
    """The ``next_cursor`` of a page read from its last bytes, ``...`` when not found there.

    Only a guess (a server may put the key anywhere): the caller checks it against the
    decoded page.
    """
    at = body.rfind(b'"next_cursor"')
    match = _TAIL_CURSOR.fullmatch(body, at) if at >= 0 else None
    if match is None:
        return ...
    try:
        value = orjson.loads(match[1])
    except orjson.JSONDecodeError:
        return ...
    return value if value is None or isinstance(value, str) else ...


class PageFetcher:
    """Requests pages, optionally one ahead on a worker thread.

    While page k is decoded and consumed, page k + 1 is already requested with the cursor
    read from page k's last bytes (:func:`peek_cursor`); when the decoded cursor differs
    the speculative answer is dropped and the right page requested. The server works and
    the bytes travel while this process decodes, and memory stays at two pages.
    """

    def __init__(
        self, http: ServiceClient, path: str, params: dict[str, str | int], *, ahead: bool
    ) -> None:
        self._http, self._path, self._params = http, path, params
        self._worker = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="apismith-page") if ahead else None
        )
        self._speculated: tuple[str, Future[httpx.Response]] | None = None

    def __enter__(self) -> PageFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._worker is not None:  # an abandoned request finishes on its own
            self._worker.shutdown(wait=False, cancel_futures=True)

    def start(self, cursor: str | None) -> Future[httpx.Response]:
        """Request the page after ``cursor`` (None: the first page)."""
        params = self._params if cursor is None else {**self._params, "cursor": cursor}
        if self._worker is not None:
            return self._worker.submit(self._http.request, "GET", self._path, params=params)
        done: Future[httpx.Response] = Future()
        done.set_result(self._http.request("GET", self._path, params=params))
        return done

    def speculate(self, body: bytes) -> str | EllipsisType | None:
        """Request the next page now if the body's tail names its cursor; returns the guess."""
        guess = peek_cursor(body) if self._worker is not None else ...
        if isinstance(guess, str):
            self._speculated = (guess, self.start(guess))
        return guess

    def follow(
        self, guess: str | EllipsisType | None, cursor: str | None
    ) -> Future[httpx.Response] | None:
        """The request of the next page: the speculative one if its guess was right."""
        speculated, self._speculated = self._speculated, None
        if speculated is not None and speculated[0] == cursor:
            return speculated[1]
        return None if cursor is None else self.start(cursor)
