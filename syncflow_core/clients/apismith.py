"""Stage 1: the APISmith client. Pages of ERP rows become raw Polars frames.

A page is decoded by Polars' JSON reader straight into one ``pl.String`` column per
source column (no Python object per value): strings as received, numbers as their
shortest round-trip decimal text (plain notation, e.g. ``1000.5``, ``100000000000000000000``),
``true``/``false`` as text, null/absent as null (:mod:`syncflow_core.clients.pages`).

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

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from types import TracebackType

import httpx
import orjson
import polars as pl
from pydantic import BaseModel, SecretStr

from syncflow_core.clients.auth import TokenMinter
from syncflow_core.clients.bounds import RowversionBounds
from syncflow_core.clients.errors import PermanentError
from syncflow_core.clients.http import RequestCounters, ServiceClient
from syncflow_core.clients.pages import PageFetcher, decode_page
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
    consumed (see :class:`PageFetcher`).
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
        with PageFetcher(self._http, path, params, ahead=self.prefetch) as fetcher:
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
