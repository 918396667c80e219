"""When and how long to wait before repeating a request.

>>> policy = RetryPolicy(max_attempts=4, base_seconds=0.5, max_seconds=8.0)
>>> [policy.may_retry(n) for n in (1, 3, 4)]
[True, True, False]
>>> 0 <= policy.backoff(3) <= 2.0
True
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncflow_core.settings import Settings

TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded attempts; 429 waits ``Retry-After``.

    ``max_attempts`` counts every try of one request, the first included. Rate-limit
    answers (429) are bounded separately by ``max_rate_limited`` so that a server that
    asks us to slow down is obeyed without giving up early, but never forever.
    """

    max_attempts: int = 6
    base_seconds: float = 0.2
    max_seconds: float = 20.0
    retry_after_max_seconds: float = 120.0
    max_rate_limited: int = 50

    def may_retry(self, attempt: int) -> bool:
        """Whether attempt number ``attempt`` (1-based) may be followed by another."""
        return attempt < self.max_attempts

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt``: uniform in [0, base*2^(n-1)]."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)

    def retry_after(self, header: str | None) -> float:
        """Seconds to wait for a 429, from its ``Retry-After`` (seconds), capped."""
        try:
            seconds = float(header) if header is not None else self.base_seconds
        except ValueError:
            seconds = self.base_seconds
        return max(0.0, min(seconds, self.retry_after_max_seconds))

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        """Build from the SyncFlow settings."""
        return cls(
            max_attempts=settings.http_max_attempts,
            base_seconds=settings.backoff_base_seconds,
            max_seconds=settings.backoff_max_seconds,
            retry_after_max_seconds=settings.retry_after_max_seconds,
        )
