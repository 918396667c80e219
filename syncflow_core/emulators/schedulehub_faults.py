"""Fault injection for the ScheduleHub emulator: errors, lost answers, 429s, latency.

Settings come from the environment (``SYNCFLOW_SCHEDULEHUB_FAULT_<NAME>``), the config,
the admin endpoint ``PUT /_emulator/faults`` or :meth:`FaultInjector.update`.

>>> faults = FaultInjector(FaultSettings(error_rate=1.0, seed=1))
>>> faults.error_status() in (500, 502, 503, 504)
True
>>> faults.update(error_rate=0.0).error_rate, faults.error_status()
(0.0, None)
"""

from __future__ import annotations

import random
import threading
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

TRANSIENT_STATUSES = (500, 502, 503, 504)


class FaultSettings(BaseSettings):
    """What goes wrong, and how often (rates are per request, 0..1)."""

    model_config = SettingsConfigDict(
        env_prefix="SYNCFLOW_SCHEDULEHUB_FAULT_", extra="forbid", frozen=True
    )

    error_rate: float = Field(default=0.0, ge=0, le=1, description="5xx before applying")
    error_statuses: tuple[int, ...] = Field(default=TRANSIENT_STATUSES, min_length=1)
    lost_answer_rate: float = Field(
        default=0.0, ge=0, le=1, description="writes applied, then answered 503"
    )
    rate_limit_rate: float = Field(default=0.0, ge=0, le=1, description="429 before applying")
    retry_after_seconds: int = Field(default=1, ge=0, description="the 429's Retry-After")
    latency_ms: float = Field(default=0.0, ge=0, description="added before every answer")
    seed: int | None = Field(default=None, description="makes the fault sequence repeatable")


class FaultInjector:
    """Draws the faults of each request from the current settings (thread-safe)."""

    def __init__(self, settings: FaultSettings | None = None) -> None:
        self._lock = threading.Lock()
        self.settings = settings or FaultSettings()
        self._rng = random.Random(self.settings.seed)

    def update(self, **changes: Any) -> FaultSettings:
        """Change some settings; a new ``seed`` restarts the sequence."""
        merged = {**self.settings.model_dump(), **changes}
        settings = FaultSettings.model_validate(merged)
        with self._lock:
            self.settings = settings
            if "seed" in changes:
                self._rng = random.Random(settings.seed)
        return settings

    def _draw(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < rate

    def rate_limited(self) -> bool:
        """Answer this request 429."""
        return self._draw(self.settings.rate_limit_rate)

    def error_status(self) -> int | None:
        """A 5xx to answer instead of applying, or ``None``."""
        if not self._draw(self.settings.error_rate):
            return None
        with self._lock:
            return self._rng.choice(self.settings.error_statuses)

    def lose_answer(self) -> bool:
        """Apply this write, then answer 503."""
        return self._draw(self.settings.lost_answer_rate)

    @property
    def latency_seconds(self) -> float:
        return self.settings.latency_ms / 1000
