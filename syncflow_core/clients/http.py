"""The request loop both clients share: JWT, timeouts, retries, 429, 401-once, typed errors.

Synchronous httpx, on purpose: every caller (Polars stages, Dagster ops) is synchronous,
one :class:`ServiceClient` is thread-safe (httpx's connection pool, the token minter and
the counters all lock), so a thread pool gives a writer its requests in flight without
running an event loop inside a Dagster op; and a sync httpx request costs less CPU than
an async one, which is what bounds a single fetch stream.

>>> import httpx
>>> from syncflow_core.clients.auth import TokenMinter
>>> def answer(request: httpx.Request) -> httpx.Response:
...     return httpx.Response(200, json={"ok": request.headers["authorization"][:7]})
>>> client = ServiceClient("Demo", "http://demo", TokenMinter("k" * 32, audience="demo"),
...                        transport=httpx.MockTransport(answer))
>>> client.request("GET", "/x").json()
{'ok': 'Bearer '}
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

from syncflow_core.clients.auth import TokenMinter
from syncflow_core.clients.errors import (
    AuthError,
    PermanentError,
    RequestError,
    TransientError,
)
from syncflow_core.clients.retry import TRANSIENT_STATUSES, RetryPolicy

log = logging.getLogger(__name__)
REQUEST_ERROR_STATUSES = frozenset({400, 404, 409, 413, 422})
DETAIL_MAX_CHARS = 300


@dataclass(frozen=True)
class RequestCounters:
    """What a client did: HTTP attempts, retries (transient and 429), re-authentications."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    reauthenticated: int = 0


class ServiceClient:
    """Sends requests to one system (``system`` names it in every error and log line)."""

    def __init__(
        self,
        system: str,
        base_url: str,
        minter: TokenMinter,
        *,
        timeout_seconds: float = 30.0,
        retry: RetryPolicy | None = None,
        max_connections: int = 16,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.system = system
        self._minter = minter
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout_seconds),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
        )
        self._lock = threading.Lock()
        self._counts = {name: 0 for name in RequestCounters.__dataclass_fields__}

    def __repr__(self) -> str:  # never the token or the secret
        return f"ServiceClient({self.system!r}, {str(self._http.base_url)!r})"

    @property
    def counters(self) -> RequestCounters:
        """A snapshot of the counters."""
        with self._lock:
            return RequestCounters(**self._counts)

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        content: bytes | None = None,
        accept: Collection[int] | None = None,
    ) -> httpx.Response:
        """Send until an answer in ``accept`` (default: any 2xx) comes back, or raise.

        Transient failures (5xx of the contract, connect errors, timeouts, dropped
        connections) are retried with backoff; a 429 waits ``Retry-After``; a 401 mints a
        new token once; any other status raises :class:`RequestError`/:class:`AuthError`/
        :class:`PermanentError`, and spent retries :class:`TransientError`.
        """
        attempt, rate_limited, reauthenticated = 0, 0, False
        body = orjson.dumps(json) if json is not None else content
        headers = {"content-type": "application/json"} if body is not None else {}
        while True:
            attempt += 1
            problem = self._send(method, path, params, body, headers)
            if isinstance(problem, httpx.Response):
                response = problem
                status = response.status_code
                if (status in accept) if accept is not None else 200 <= status < 300:
                    return response
                if status == 401 and not reauthenticated:
                    reauthenticated = True
                    attempt -= 1  # a fresh token is not a retry of a failure
                    self._minter.invalidate()
                    self._count("reauthenticated")
                    continue
                if status == 429:
                    rate_limited += 1
                    self._wait_rate_limited(method, path, response, rate_limited)
                    attempt -= 1  # a 429 is bounded by max_rate_limited, not max_attempts
                    continue
                if status not in TRANSIENT_STATUSES:
                    raise self.error_for(method, path, response)
                reason = f"HTTP {status}: {_detail(response)}"
            else:
                reason = problem
            self._backoff(method, path, attempt, reason)

    def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None,
        body: bytes | None,
        headers: Mapping[str, str],
    ) -> httpx.Response | str:
        """One attempt: the response, or the reason of a transport failure."""
        auth = {"authorization": f"Bearer {self._minter.token()}", **headers}
        # One absolute URL string: httpx parses it once (path + params costs it three parses).
        url = self._base_url + path + ("?" + urlencode(params) if params else "")
        self._count("requests")
        try:
            response = self._http.request(method, url, content=body, headers=auth)
            response.read()
        except httpx.UnsupportedProtocol as exc:
            raise PermanentError(self.system, method, path, f"bad URL: {exc}") from exc
        except httpx.TransportError as exc:  # connect errors, timeouts, dropped connections
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return response

    def _wait_rate_limited(
        self, method: str, path: str, response: httpx.Response, times: int
    ) -> None:
        if times > self._retry.max_rate_limited:
            raise TransientError(
                self.system, method, path, f"still rate limited after {times - 1} waits", status=429
            )
        seconds = self._retry.retry_after(response.headers.get("retry-after"))
        log.warning(
            "%s %s %s: 429, waiting %.1f s (Retry-After)", self.system, method, path, seconds
        )
        self._count("rate_limited")
        self._count("retries")
        self._sleep(seconds)

    def _backoff(self, method: str, path: str, attempt: int, reason: str) -> None:
        if not self._retry.may_retry(attempt):
            raise TransientError(self.system, method, path, f"{reason} (after {attempt} attempts)")
        seconds = self._retry.backoff(attempt)
        log.warning(
            "%s %s %s: %s; retry %d in %.2f s", self.system, method, path, reason, attempt, seconds
        )
        self._count("retries")
        self._sleep(seconds)

    def error_for(self, method: str, path: str, response: httpx.Response) -> PermanentError:
        """The typed error of a final answer the caller cannot use (e.g. an accepted 404
        whose ``error`` is not one the caller handles)."""
        status, reason = response.status_code, _detail(response)
        if status == 401:
            reason = f"token refused even after minting a new one ({reason})"
            return AuthError(self.system, method, path, reason, status=status)
        kind = RequestError if status in REQUEST_ERROR_STATUSES else PermanentError
        return kind(self.system, method, path, reason, status=status)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _detail(response: httpx.Response) -> str:
    """The server's ``error`` and ``detail`` (or ``message``) text, else the body's start."""
    try:
        payload = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict):
        parts = [
            value if isinstance(value, str) else orjson.dumps(value).decode()
            for key in ("error", "detail", "message")
            if (value := payload.get(key)) is not None
        ]
        if parts:
            return " ".join(parts)[:DETAIL_MAX_CHARS]
    text = response.content[:DETAIL_MAX_CHARS].decode("utf-8", "replace")
    return text or response.reason_phrase or "no detail"
