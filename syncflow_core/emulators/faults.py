"""Fault injection for the emulators: errors, rate limiting, latency, lost answers.

One model for both emulators. :class:`FaultSettings` holds what every emulator injects;
each system extends it with its own knobs and its own environment prefix
(``ApiSmithFaults``: ``SYNCFLOW_APISMITH_FAULT_<NAME>``, plus ``scan_update_share``;
``ScheduleHubFaults``: ``SYNCFLOW_SCHEDULEHUB_FAULT_<NAME>``, plus ``lost_answer_rate``).
Settings can also come from the emulator's config, its ``PUT /_emulator/faults`` or
:meth:`FaultInjector.update` at run time.

>>> faults = FaultInjector(FaultSettings(rate_limit_rate=1.0, retry_after_seconds=2))
>>> fault = faults.draw()
>>> fault.status, fault.headers
(429, {'retry-after': '2'})
>>> faults.update(rate_limit_rate=0.0).rate_limit_rate
0.0
>>> faults.chance(1.0, "lost_answers"), faults.injected
(True, {'errors': 0, 'rate_limited': 1, 'lost_answers': 1})
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

TRANSIENT_STATUSES = (500, 502, 503, 504)


class FaultSettings(BaseSettings):
    """Which faults an emulator injects into the requests of its contract.

    ``error_rate``: share of requests answered with one of ``error_statuses`` (before any
    work); ``rate_limit_rate``: share answered ``429`` with ``Retry-After:
    retry_after_seconds`` (the two shares are drawn from one roll, so they add up);
    ``latency_ms``: added to every request (beyond a client's timeout: a read timeout);
    ``clock_ahead_seconds``: the server's clock runs this far ahead, so tokens expire that
    much sooner (past a token's lifetime: every token is expired);
    ``seed``: makes the fault sequence repeatable.

    The base class reads no environment; a subclass that sets ``env_prefix`` reads
    ``<prefix><NAME>`` for each field (e.g. ``SYNCFLOW_SCHEDULEHUB_FAULT_ERROR_RATE=0.1``).
    """

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    error_rate: float = Field(default=0.0, ge=0, le=1)
    error_statuses: tuple[int, ...] = Field(default=TRANSIENT_STATUSES, min_length=1)
    rate_limit_rate: float = Field(default=0.0, ge=0, le=1)
    retry_after_seconds: int = Field(default=1, ge=0, description="whole seconds (RFC 9110)")
    latency_ms: float = Field(default=0.0, ge=0)
    clock_ahead_seconds: float = Field(default=0.0, ge=0)
    seed: int | None = Field(default=None, description="seed of the fault dice; None: random")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Without a prefix the names (ERROR_RATE ...) would be read bare from the environment.
        return (
            (init_settings, env_settings)
            if cls.model_config.get("env_prefix")
            else (init_settings,)
        )


@dataclass(frozen=True)
class Fault:
    """An answer to give instead of the real one."""

    status: int
    detail: str
    headers: dict[str, str] = field(default_factory=dict)


S = TypeVar("S", bound=FaultSettings)


class FaultInjector(Generic[S]):
    """Rolls the dice per request; thread-safe, and its settings can change at runtime.

    ``settings`` may be a subclass of :class:`FaultSettings` with knobs of one emulator;
    ``injected`` counts what was injected (``errors``, ``rate_limited``, and the events
    named in :meth:`chance`).
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
        """The fault for this request (429 or an error status), or None to answer normally."""
        s = self._settings
        if not (s.rate_limit_rate or s.error_rate):
            return None  # the common case: no lock, no roll
        with self._lock:
            roll = self._rng.random()
            if roll < s.rate_limit_rate:
                self.injected["rate_limited"] += 1
                headers = {"retry-after": str(s.retry_after_seconds)}
                return Fault(429, "rate limited (injected fault)", headers)
            if roll < s.rate_limit_rate + s.error_rate:
                self.injected["errors"] += 1
                return Fault(self._rng.choice(s.error_statuses), "injected fault")
            return None

    def chance(self, rate: float, event: str) -> bool:
        """True with probability ``rate`` (an emulator's own fault), counted as ``event``."""
        if rate <= 0:
            return False
        with self._lock:
            hit = self._rng.random() < rate
            if hit:
                self.injected[event] = self.injected.get(event, 0) + 1
            return hit
