"""Fault injection for the emulators: errors, rate limiting and latency, switched by settings.

>>> faults = FaultInjector(FaultSettings(rate_limit_rate=1.0, retry_after_seconds=2))
>>> fault = faults.draw()
>>> fault.status, fault.headers
(429, {'retry-after': '2'})
>>> faults.update(rate_limit_rate=0.0).rate_limit_rate
0.0
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field


class FaultSettings(BaseModel):
    """Which faults an emulator injects into the requests of its contract.

    ``error_rate``: share of requests answered with one of ``error_statuses``;
    ``rate_limit_rate``: share answered ``429`` with ``Retry-After: retry_after_seconds``;
    ``latency_ms``: added to every request (beyond a client's timeout: a read timeout).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    error_rate: float = Field(default=0.0, ge=0, le=1)
    error_statuses: tuple[int, ...] = (500, 502, 503, 504)
    rate_limit_rate: float = Field(default=0.0, ge=0, le=1)
    retry_after_seconds: int = Field(default=1, ge=0, description="whole seconds (RFC 9110)")
    latency_ms: float = Field(default=0.0, ge=0)
    seed: int | None = Field(default=None, description="seed of the fault dice; None: random")


@dataclass(frozen=True)
class Fault:
    """An answer to give instead of the real one."""

    status: int
    detail: str
    headers: dict[str, str] = field(default_factory=dict)


S = TypeVar("S", bound=FaultSettings)


class FaultInjector(Generic[S]):
    """Rolls the dice per request; thread-safe, and its settings can change at runtime.

    ``settings`` may be a subclass of :class:`FaultSettings` with knobs of one emulator.
    """

    def __init__(self, settings: S) -> None:
        self._lock = threading.Lock()
        self._settings: S = settings
        self._rng = random.Random(self._settings.seed)
        self.injected: dict[str, int] = {"errors": 0, "rate_limited": 0}

    @property
    def settings(self) -> S:
        """The settings in force."""
        return self._settings

    @property
    def latency_seconds(self) -> float:
        """Delay to add to every request."""
        return self._settings.latency_ms / 1000.0

    def update(self, **changes: Any) -> S:
        """Change some settings (validated); a new ``seed`` restarts the dice."""
        with self._lock:
            merged = {**self._settings.model_dump(), **changes}
            self._settings = type(self._settings).model_validate(merged)
            if "seed" in changes:
                self._rng = random.Random(self._settings.seed)
            return self._settings

    def draw(self) -> Fault | None:
        """The fault for this request, or None to answer normally."""
        with self._lock:
            s = self._settings
            roll = self._rng.random()
            if roll < s.rate_limit_rate:
                self.injected["rate_limited"] += 1
                return Fault(
                    429,
                    "rate limited (injected fault)",
                    {"retry-after": str(s.retry_after_seconds)},
                )
            if roll < s.rate_limit_rate + s.error_rate and s.error_statuses:
                self.injected["errors"] += 1
                return Fault(self._rng.choice(s.error_statuses), "injected fault")
            return None
