"""Stage 1: the APISmith client. Pages of ERP rows become raw Polars frames.

A page is decoded by Polars' JSON reader straight into one ``pl.String`` column per
source column (no Python object per value): strings as received, numbers as their
shortest round-trip decimal text (plain notation, e.g. ``1000.5``, ``100000000000000000000``),
``true``/``false`` as text, null/absent as null. A page Polars cannot read that way
(nested values) falls back to orjson and JSON text for the odd values.

>>> from syncflow_core.emulators.apismith import ApiSmithConfig, create_app
>>> from syncflow_core.emulators.servers import run_in_thread
>>> config = ApiSmithConfig(sizes={"items": 25}, jwt_secret="s" * 32)
>>> with run_in_thread(create_app(config)) as server, ApiSmithClient(
...     base_url=server.url, secret="s" * 32, page_size=10
... ) as client:
...     [page.height for page in client.pages("items")], client.counters.rows
([10, 10, 5], 25)
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from types import EllipsisType, TracebackType

import httpx
import orjson
import polars as pl
from pydantic import BaseModel, SecretStr

from syncflow_core.clients.auth import TokenMinter
from syncflow_core.clients.bounds import RowversionBounds
from syncflow_core.clients.errors import PermanentError
from syncflow_core.clients.http import RequestCounters, ServiceClient
from syncflow_core.clients.retry import RetryPolicy
from syncflow_core.settings import Settings, get_settings

SYSTEM = "APISmith"
AUDIENCE = "apismith"
BASE_PATH = "/api/v1/runtime"
ROWVERSION = "ROWVERSION"  # the contract: always present, whatever ``fields`` asks for


class SourceColumn(BaseModel):
    """A column as ``/schema`` reports it."""

    name: str
    type: str
    nullable: bool


class SourceSchema(BaseModel):
    """The ``/schema`` answer of an entity."""

    entity: str
    columns: tuple[SourceColumn, ...]
    rowversion_column: str

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in the order the server gave them."""
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True)
class ApiSmithCounters(RequestCounters):
    """Request counters plus pages and rows received."""

    pages: int = 0
    rows: int = 0


class ApiSmithClient:
    """Reads entities, schemas and pages of rows from APISmith (one connection pool).

    Thread-safe; use it as a context manager (or call :meth:`close`). With ``prefetch``
    (the default) the next page is requested while the current one is decoded and
    consumed (see :class:`_PageFetcher`).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        base_url: str | None = None,
        secret: str | SecretStr | None = None,
        page_size: int | None = None,
        timeout_seconds: float | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        prefetch: bool = True,
    ) -> None:
        settings = settings or get_settings()
        if secret is None:
            secret = settings.apismith_jwt_secret
        minter = TokenMinter(
            secret.get_secret_value() if isinstance(secret, SecretStr) else secret,
            audience=AUDIENCE,
            issuer=settings.jwt_issuer,
            subject=settings.jwt_subject,
            ttl_seconds=settings.jwt_ttl_seconds,
        )
        self.page_size = page_size or settings.page_size
        self.prefetch = prefetch
        self._chunk_rows = settings.chunk_rows
        self._http = ServiceClient(
            SYSTEM,
            base_url or settings.apismith_url,
            minter,
            timeout_seconds=timeout_seconds or settings.http_timeout_seconds,
            retry=retry or RetryPolicy.from_settings(settings),
            transport=transport,
        )
        self._lock = threading.Lock()
        self._pages = 0
        self._rows = 0

    def __repr__(self) -> str:
        return f"ApiSmithClient({self._http!r})"

    @property
    def counters(self) -> ApiSmithCounters:
        """Requests, retries, 429s, re-authentications, pages and rows so far."""
        base = self._http.counters
        with self._lock:
            return ApiSmithCounters(**vars(base), pages=self._pages, rows=self._rows)

    def entities(self) -> list[str]:
        """``GET /entities``."""
        payload = orjson.loads(self._http.request("GET", f"{BASE_PATH}/entities").content)
        return list(payload["entities"])

    def schema(self, entity: str) -> SourceSchema:
        """``GET /{entity}/schema``; :class:`RequestError` (404) for an unknown entity."""
        response = self._http.request("GET", f"{BASE_PATH}/{entity}/schema")
        return SourceSchema.model_validate_json(response.content)

    def pages(
        self,
        entity: str,
        *,
        bounds: RowversionBounds | None = None,
        fields: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> Iterator[pl.DataFrame]:
        """Every row within ``bounds``, a raw frame per non-empty page, in server order.

        Columns: ``fields`` in the given order plus the ROWVERSION column (always sent),
        else every column of ``/schema`` (read at the start of the scan). A retried page
        resumes from the same cursor, so no row is fetched twice because of a retry.
        """
        path = f"{BASE_PATH}/{entity}/execute"
        params: dict[str, str | int] = {"limit": limit or self.page_size}
        params.update(bounds.as_params() if bounds is not None else {})
        columns = self._columns(entity, fields)
        if fields is not None:
            params["fields"] = ",".join(fields)
        with _PageFetcher(self._http, path, params, ahead=self.prefetch) as fetcher:
            pending: Future[httpx.Response] | None = fetcher.start(None)
            while pending is not None:
                response = pending.result()
                guess = fetcher.speculate(response.content)
                frame, cursor = self._decode(response, columns, path)
                pending = fetcher.follow(guess, cursor)
                with self._lock:
                    self._pages += 1
                    self._rows += frame.height
                if frame.height:
                    yield frame

    def frames(
        self,
        entity: str,
        *,
        bounds: RowversionBounds | None = None,
        fields: Sequence[str] | None = None,
        limit: int | None = None,
        chunk_rows: int | None = None,
    ) -> Iterator[pl.DataFrame]:
        """:meth:`pages` concatenated into frames of about ``chunk_rows`` rows (bounded memory)."""
        target = chunk_rows or self._chunk_rows
        pending: list[pl.DataFrame] = []
        held = 0
        for page in self.pages(entity, bounds=bounds, fields=fields, limit=limit):
            pending.append(page)
            held += page.height
            if held >= target:
                yield pl.concat(pending, rechunk=True)
                pending, held = [], 0
        if pending:
            yield pl.concat(pending, rechunk=True)

    def _columns(self, entity: str, fields: Sequence[str] | None) -> tuple[str, ...]:
        schema = self.schema(entity) if fields is None else None
        if schema is not None:
            return schema.names
        names = tuple(dict.fromkeys(fields or ()))
        return names if ROWVERSION in names else (*names, ROWVERSION)

    def _decode(
        self, response: httpx.Response, columns: tuple[str, ...], path: str
    ) -> tuple[pl.DataFrame, str | None]:
        try:
            return decode_page(response.content, columns)
        except ValueError as exc:
            raise PermanentError(SYSTEM, "GET", path, f"malformed page: {exc}") from exc

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ApiSmithClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


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
    try:
        page = pl.read_json(body, schema=schema)
    except pl.exceptions.PolarsError:
        return _decode_slowly(body, columns)
    rows = page["rows"][0] if page.height == 1 else None
    if rows is None:
        raise ValueError("no 'rows' list in the page")
    frame = rows.struct.unnest() if len(columns) else pl.DataFrame(height=rows.len())
    return frame, page["next_cursor"][0]


def _decode_slowly(body: bytes, columns: Sequence[str]) -> tuple[pl.DataFrame, str | None]:
    """orjson fallback: the same raw frame, odd values (objects, lists) as JSON text."""
    try:
        page = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc})") from exc
    if not isinstance(page, dict) or not isinstance(page.get("rows"), list):
        raise ValueError("no 'rows' list in the page")
    rows, cursor = page["rows"], page.get("next_cursor")
    if not all(isinstance(row, dict) for row in rows):
        raise ValueError("a row is not a JSON object")
    data = {name: [_text(row.get(name)) for row in rows] for name in columns}
    return pl.DataFrame(data, schema={name: pl.String for name in columns}), cursor


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value)
    return orjson.dumps(value).decode()


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


class _PageFetcher:
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

    def __enter__(self) -> _PageFetcher:
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
