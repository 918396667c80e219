"""A batch's counters and the accounting invariant that ties them together.

Every row that enters a batch leaves it counted in exactly one outcome:

    rows_fetched == inserted + updated + deleted + skipped + failed + pending + superseded

(A sync never deletes; what enters a reconciliation is the deletions it attempts, and a
re-drive the queue rows it takes.)

>>> m = BatchMetrics(rows_fetched=5, rows_inserted=2, rows_skipped=1, rows_failed=1,
...                  rows_superseded=1)
>>> m.check_accounting()
>>> m.success_rate
0.8
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


class AccountingError(AssertionError):
    """The outcomes of a batch do not add up to what entered it: a row was lost or doubled."""


OUTCOMES = (
    "rows_inserted",
    "rows_updated",
    "rows_deleted",
    "rows_skipped",
    "rows_failed",
    "rows_pending",
    "rows_superseded",
)


@dataclass
class BatchMetrics:
    """Counters of one batch, named as the columns of ``bridge.sync_batches``."""

    rows_fetched: int = 0
    rows_normalized: int = 0
    rows_validated: int = 0
    rows_mapped: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_deleted: int = 0
    rows_skipped: int = 0
    rows_pending: int = 0
    rows_failed: int = 0
    rows_superseded: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def add(self, other: BatchMetrics) -> None:
        """Add another batch's (or chunk's) counters and stage times to these."""
        for f in dataclasses.fields(self):
            if f.name == "stage_seconds":
                for stage, seconds in other.stage_seconds.items():
                    self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def time(self, stage: str, seconds: float) -> None:
        """Add ``seconds`` to the time spent in ``stage``."""
        self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds

    @property
    def rows_accounted(self) -> int:
        """Rows that left the batch in some outcome."""
        return sum(getattr(self, name) for name in OUTCOMES)

    @property
    def success_rate(self) -> float:
        """Share of the rows handled that did not fail (1.0 for an empty batch)."""
        handled = self.rows_accounted
        if handled == 0:
            return 1.0
        return round((handled - self.rows_failed) / handled, 6)

    def check_accounting(self) -> None:
        """Raise :class:`AccountingError` unless every fetched row has exactly one outcome."""
        if self.rows_accounted != self.rows_fetched:
            parts = ", ".join(f"{name}={getattr(self, name)}" for name in OUTCOMES)
            raise AccountingError(
                f"rows_fetched={self.rows_fetched} but the outcomes add up to "
                f"{self.rows_accounted} ({parts})"
            )

    def as_dict(self) -> dict[str, Any]:
        """Counters and success rate, for ``sync_batches`` and Dagster metadata."""
        data = dataclasses.asdict(self)
        data["success_rate"] = self.success_rate
        return data
