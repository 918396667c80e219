"""Stage 8: the ScheduleHub client (``contracts/schedulehub.md``).

>>> client = ScheduleHubClient(base_url="http://127.0.0.1:5180", secret="s" * 32)
>>> client.batch_size, client.max_in_flight
(1000, 4)
>>> client.close()

Single-record writes answer an :class:`OpResult`; :meth:`ScheduleHubClient.apply` sends an
Ops frame (``docs/internals.md``) through the batch endpoint, at most ``batch_size``
operations a request and ``max_in_flight`` requests at a time over one connection pool,
and answers the same rows with ``status``, ``result_uid``, ``error``, ``message``,
``field``. Every request is retried by the rules of the contract; an operation whose
answer was lost is safe to repeat, because ``erp_key_hash`` is unique: a repeated insert
answers ``409`` with the uid, a repeated delete ``404``, a repeated update is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import polars as pl

from syncflow_core.clients.auth import TokenMinter
from syncflow_core.clients.errors import PermanentError, TransientError
from syncflow_core.clients.http import RequestCounters, ServiceClient
from syncflow_core.clients.retry import RetryPolicy
from syncflow_core.clients.schedulehub_frames import (
    INDEX_SCHEMA,
    RESULT_SCHEMA,
    batch_body,
    batch_lines,
    check_ops,
    index_page,
    iso_to_utc,
    parse_results,
    transient_results,
    with_results,
)
from syncflow_core.settings import Settings, get_settings

SYSTEM = "ScheduleHub"
AUDIENCE = "schedulehub"
MAX_PAGE = 10_000
# Per-record answers the contract lists for each write; any other 4xx is a RequestError.
_RECORD_ERRORS = {
    "POST": {(409, "duplicate"), (404, "parent_not_found"), (422, "validation")},
    "PATCH": {(404, "not_found"), (404, "parent_not_found"), (422, "validation")},
    "DELETE": {(404, "not_found"), (409, "has_children")},
}
# What a write takes back from the request loop instead of raising: success, and the
# statuses of its per-record answers (whose ``error`` then says whether it is one).
_WRITE_ACCEPT = {
    method: frozenset(range(200, 300)) | {status for status, _ in answers}
    for method, answers in _RECORD_ERRORS.items()
}


@dataclass(frozen=True, slots=True)
class OpResult:
    """The answer to one write: ``status``, the record's ``uid``, and for a refusal the
    contract's ``error`` (``duplicate``, ``not_found`` ...), a ``message`` and the ``field``."""

    status: int | None
    uid: str | None = None
    error: str | None = None
    message: str | None = None
    field: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class ScheduleHubClient:
    """The client of one ScheduleHub. Thread-safe; close it (or use ``with``)."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        base_url: str | None = None,
        secret: str | None = None,
        batch_size: int | None = None,
        max_in_flight: int | None = None,
        timeout_seconds: float | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        settings = settings or get_settings()
        self.batch_size = min(batch_size or settings.batch_size, 1000)
        self.max_in_flight = max_in_flight or settings.max_in_flight
        minter = TokenMinter(
            secret or settings.schedulehub_jwt_secret.get_secret_value(),
            audience=AUDIENCE,
            issuer=settings.jwt_issuer,
            subject=settings.jwt_subject,
            ttl_seconds=settings.jwt_ttl_seconds,
        )
        self._http = ServiceClient(
            SYSTEM,
            base_url or settings.schedulehub_url,
            minter,
            retry=retry or RetryPolicy.from_settings(settings),
            timeout_seconds=timeout_seconds or settings.http_timeout_seconds,
            max_connections=self.max_in_flight,
            transport=transport,
        )
        self._pool = ThreadPoolExecutor(self.max_in_flight, thread_name_prefix="schedulehub")

    def __repr__(self) -> str:
        return f"ScheduleHubClient({self._http!r})"

    @property
    def counters(self) -> RequestCounters:
        """Requests, retries, 429s and re-authentications so far."""
        return self._http.counters

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._http.close()

    def __enter__(self) -> ScheduleHubClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- single records --------------------------------------------------------------------

    def insert(self, entity: str, record: Mapping[str, Any]) -> OpResult:
        """``POST /api/v1/{entity}``: 201 with the new uid, or 409/404/422 as an OpResult."""
        return self._write("POST", _path(entity), orjson.dumps(record))

    def update(self, entity: str, uid: str, data: Mapping[str, Any]) -> OpResult:
        """``PATCH /api/v1/{entity}/{uid}`` with the fields to change."""
        return self._write("PATCH", _path(entity, uid), orjson.dumps(data))

    def delete(self, entity: str, uid: str) -> OpResult:
        """``DELETE /api/v1/{entity}/{uid}``: 204, or 404 not_found (already gone), 409."""
        return self._write("DELETE", _path(entity, uid), None)

    def _write(self, method: str, path: str, content: bytes | None) -> OpResult:
        response = self._http.request(method, path, content=content, accept=_WRITE_ACCEPT[method])
        body = _json_or_none(response)
        if response.is_success:
            return OpResult(response.status_code, body.get("uid") if body else _uid_in(path))
        error = body.get("error") if body else None
        if (response.status_code, error) not in _RECORD_ERRORS[method]:
            raise self._http.error_for(method, path, response)  # e.g. 404 unknown_entity
        assert body is not None  # an error in _RECORD_ERRORS came from a JSON body
        return OpResult(
            response.status_code,
            body.get("uid"),
            error,
            _message(body.get("detail")),
            body.get("field"),
        )

    # --- reads -----------------------------------------------------------------------------

    def get_by_key(self, entity: str, key_hash: str) -> dict[str, Any] | None:
        """The record with this ``erp_key_hash``, or ``None``."""
        path = _path(entity)
        response = self._http.request("GET", path, params={"erp_key_hash": key_hash})
        items = _json_object(response, "GET", path).get("items")
        if not isinstance(items, list):
            raise PermanentError(SYSTEM, "GET", path, "the answer has no items list", status=200)
        return items[0] if items else None

    def get_by_keys(self, entity: str, hashes: Iterable[str]) -> pl.DataFrame:
        """The records of these key hashes (``max_in_flight`` lookups at a time): one row per
        record found, columns as :meth:`index` plus ``record`` (the whole record as JSON)."""
        wanted = list(dict.fromkeys(hashes))
        found = [r for r in self._pool.map(lambda h: self.get_by_key(entity, h), wanted) if r]
        schema = {**{k: pl.String() for k in INDEX_SCHEMA}, "record": pl.String()}
        rows = [
            {**{k: r.get(k) for k in INDEX_SCHEMA}, "record": orjson.dumps(r).decode()}
            for r in found
        ]
        frame = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
        return frame.with_columns(iso_to_utc(pl.col("erp_rowversion")).alias("erp_rowversion"))

    def index(self, entity: str, page_size: int = MAX_PAGE) -> Iterator[pl.DataFrame]:
        """Every record's (uid, erp_key_hash, erp_data_hash, erp_rowversion), page by page.

        Yields at least one frame (empty when the entity has no record).
        """
        path = f"{_path(entity)}/index"
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": min(page_size, MAX_PAGE)}
            if cursor:
                params["cursor"] = cursor
            response = self._http.request("GET", path, params=params)
            try:
                frame, cursor = index_page(response.content)
            except ValueError as exc:
                raise PermanentError(SYSTEM, "GET", path, str(exc), status=200) from exc
            yield frame
            if cursor is None:
                return

    def health(self) -> dict[str, Any]:
        """``GET /api/v1/health``: ``{"status": "ok"}`` or an error."""
        path = "/api/v1/health"
        return _json_object(self._http.request("GET", path), "GET", path)

    # --- batches ---------------------------------------------------------------------------

    def apply(self, entity: str, ops: pl.DataFrame) -> pl.DataFrame:
        """Send an Ops frame (op, uid, body) through the batch endpoint; the same rows come
        back in order with status, result_uid, error, message, field.

        A chunk whose retries are spent gets status null and error ``transient`` on each
        row. 401 after a fresh token raises :class:`AuthError`; 4xx for a whole request
        (404 unknown entity, 413, 422) raises :class:`~syncflow_core.clients.errors.RequestError`.
        """
        check_ops(ops)
        lines = batch_lines(ops.select("op", "uid", "body"))
        starts = range(0, ops.height, self.batch_size)
        path = f"{_path(entity)}/batch"
        chunks = self._pool.map(
            lambda start: self._send_chunk(path, lines.slice(start, self.batch_size)), starts
        )
        results = list(chunks) or [pl.DataFrame(schema=RESULT_SCHEMA)]
        return with_results(ops, pl.concat(results))

    def _send_chunk(self, path: str, lines: pl.Series) -> pl.DataFrame:
        try:
            response = self._http.request("POST", path, content=batch_body(lines), accept={200})
        except TransientError as exc:
            return transient_results(lines.len(), str(exc))
        try:
            return parse_results(response.content, lines.len())
        except ValueError as exc:
            raise PermanentError(SYSTEM, "POST", path, str(exc), status=200) from exc


def _path(entity: str, uid: str | None = None) -> str:
    base = f"/api/v1/{quote(entity, safe='')}"
    return base if uid is None else f"{base}/{quote(uid, safe='')}"


def _uid_in(path: str) -> str | None:
    """The uid of a ``/api/v1/{entity}/{uid}`` path (a 204 has no body to take it from)."""
    parts = path.split("/")
    return parts[4] if len(parts) == 5 else None


def _json_or_none(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def _message(detail: Any) -> str | None:
    if detail is None or isinstance(detail, str):
        return detail
    return orjson.dumps(detail).decode()


def _json_object(response: httpx.Response, method: str, path: str) -> dict[str, Any]:
    body = _json_or_none(response)
    if body is None:
        raise PermanentError(SYSTEM, method, path, "the answer is not a JSON object", status=200)
    return body
