"""The ScheduleHub client's request loop: auth, retries, backoff, 429, timeouts.

Private until the shared ``clients/http.py`` lands (same rules: transient 5xx, connect
errors and read timeouts retried with exponential backoff and jitter, bounded attempts;
429 waits ``Retry-After``; 401 mints a new token once). It returns every other answer to
the caller, which knows what a 404 or a 409 means for its endpoint.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import httpx

from syncflow_core.clients.auth import TokenMinter
from syncflow_core.clients.errors import AuthError, TransientError
from syncflow_core.clients.retry import TRANSIENT_STATUSES, RetryPolicy

log = logging.getLogger(__name__)

# Failures where the request may or may not have reached the server: retry.
_TRANSIENT_EXCEPTIONS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class RequestLoop:
    """Sends one request until it gets a final answer; thread-safe (one connection pool)."""

    def __init__(
        self,
        system: str,
        base_url: str,
        minter: TokenMinter,
        *,
        retry: RetryPolicy,
        timeout_seconds: float,
        max_connections: int,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.system = system
        self._minter = minter
        self._retry = retry
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout_seconds),
            limits=limits,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def send(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> httpx.Response:
        """The first answer that is neither transient, 429 nor a first 401."""
        attempt, limited, renewed = 0, 0, False
        while True:
            attempt += 1
            try:
                response = self._http.request(
                    method, path, content=content, params=params, headers=self._headers(content)
                )
            except _TRANSIENT_EXCEPTIONS as exc:
                self._backoff_or_raise(method, path, attempt, type(exc).__name__, None)
                continue
            status = response.status_code
            if status == 401 and not renewed:
                self._minter.invalidate()  # perhaps expired in flight, or the secret rotated
                renewed, attempt = True, attempt - 1
                continue
            if status == 401:
                raise AuthError(self.system, method, path, _detail(response), status=401)
            if status == 429:
                limited += 1
                if limited > self._retry.max_rate_limited:
                    raise TransientError(
                        self.system, method, path, f"rate limited {limited} times", status=429
                    )
                time.sleep(self._retry.retry_after(response.headers.get("Retry-After")))
                attempt -= 1  # a 429 was not an attempt: the server asked us to wait
                continue
            if status in TRANSIENT_STATUSES:
                self._backoff_or_raise(method, path, attempt, _detail(response), status)
                continue
            return response

    def _headers(self, content: bytes | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._minter.token()}"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        return headers

    def _backoff_or_raise(
        self, method: str, path: str, attempt: int, reason: str, status: int | None
    ) -> None:
        if not self._retry.may_retry(attempt):
            raise TransientError(
                self.system, method, path, f"{reason} (after {attempt} attempts)", status=status
            )
        wait = self._retry.backoff(attempt)
        log.warning(
            "%s: %s %s failed (%s), attempt %d, retrying in %.2f s",
            self.system,
            method,
            path,
            status or reason,
            attempt,
            wait,
        )
        time.sleep(wait)


def _detail(response: httpx.Response) -> str:
    """A short reason from an error body (servers put no secrets there)."""
    text = response.text[:300]
    return text or response.reason_phrase
