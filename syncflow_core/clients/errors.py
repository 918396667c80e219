"""Typed errors of the HTTP clients: each says which system, which request and why.

Messages name the method and the path, never a query string with secrets, a token or a
JWT secret.
"""

from __future__ import annotations


class SyncFlowHTTPError(Exception):
    """A request to APISmith or ScheduleHub did not succeed."""

    def __init__(
        self,
        system: str,
        method: str,
        path: str,
        reason: str,
        *,
        status: int | None = None,
    ) -> None:
        self.system, self.method, self.path = system, method, path
        self.reason, self.status = reason, status
        code = f" -> {status}" if status is not None else ""
        super().__init__(f"{system}: {method} {path}{code}: {reason}")


class TransientError(SyncFlowHTTPError):
    """5xx, a connect error or a read timeout that outlived its retries."""


class PermanentError(SyncFlowHTTPError):
    """A 4xx answer other than 429: repeating the request cannot help."""


class AuthError(PermanentError):
    """401 even with a freshly minted token: wrong secret or wrong audience."""


class RequestError(PermanentError):
    """400, 404, 413 or 422 for the request as a whole (not one batch operation)."""
