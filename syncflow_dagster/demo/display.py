"""The demo's output: a live progress line while a phase runs, and the final table.

On a terminal one line is redrawn in place (each entity's current stage and rows); when
an entity's batch finishes a permanent line is printed. Piped to a file, only the
permanent lines appear, so a log stays readable.

>>> numbers = {"rows_fetched": 10, "rows_inserted": 9, "rows_failed": 1,
...            "rows_per_second": 500.0, "seconds_work": 0.02}
>>> print(table([Row("full", "items", numbers)]))  # doctest: +NORMALIZE_WHITESPACE
phase  entity  fetched  inserted  updated  deleted  skipped  failed  pending  rows/s  seconds
-----  ------  -------  --------  -------  -------  -------  ------  -------  ------  -------
full   items        10         9        0        0        0       1        0     500     0.02
"""

from __future__ import annotations

import shutil
import sys
import threading
from dataclasses import dataclass
from typing import Any, TextIO

from syncflow_dagster.progress import EntityProgress, ProgressBoard

COLUMNS = (
    ("fetched", "rows_fetched"),
    ("inserted", "rows_inserted"),
    ("updated", "rows_updated"),
    ("deleted", "rows_deleted"),
    ("skipped", "rows_skipped"),
    ("failed", "rows_failed"),
    ("pending", "rows_pending"),
)


@dataclass(frozen=True)
class Row:
    """One entity in one phase of the demo."""

    phase: str
    entity: str
    numbers: dict[str, Any]


def table(rows: list[Row]) -> str:
    """The rows as an aligned plain-text table."""
    header = ["phase", "entity", *(name for name, _ in COLUMNS), "rows/s", "seconds"]
    body = [
        [
            row.phase,
            row.entity,
            *(f"{int(row.numbers.get(key, 0)):,}" for _, key in COLUMNS),
            f"{float(row.numbers.get('rows_per_second', 0)):,.0f}",
            f"{float(row.numbers.get('seconds_work', row.numbers.get('seconds', 0))):.2f}",
        ]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        text = [
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(text).rstrip()

    return "\n".join([render(header), render(["-" * w for w in widths]), *map(render, body)])


class LiveProgress:
    """Prints what :class:`ProgressBoard` shows while a phase runs (a background thread)."""

    def __init__(self, board: ProgressBoard, out: TextIO = sys.stdout, interval: float = 0.2):
        self.board, self.out, self.interval = board, out, interval
        self.live = out.isatty()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._printed: set[str] = set()

    def __enter__(self) -> LiveProgress:
        self.board.clear()
        self._printed.clear()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="demo-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._draw()
        self._clear_line()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._draw()

    def _draw(self) -> None:
        snapshot = self.board.snapshot()
        for entity, state in snapshot.items():
            if state.finished is not None and entity not in self._printed:
                self._printed.add(entity)
                self._clear_line()
                self.out.write(finished_line(entity, state) + "\n")
        running = {e: s for e, s in snapshot.items() if s.finished is None}
        if self.live and running:
            line = "   ".join(running_text(e, s) for e, s in running.items())
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self.out.write("\r  " + line[: width - 2].ljust(width - 2))
        self.out.flush()

    def _clear_line(self) -> None:
        if self.live:
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self.out.write("\r" + " " * width + "\r")


def running_text(entity: str, state: EntityProgress) -> str:
    """``items: ingest, 15,000 rows fetched``."""
    return f"{entity}: {state.stage}, {state.rows_fetched:,} rows fetched"


def finished_line(entity: str, state: EntityProgress) -> str:
    """A permanent line for a finished batch."""
    rate = state.rows_done / state.seconds if state.seconds > 0 else 0.0
    return (
        f"  {entity:<14} {state.status:<9} {state.rows_done:>10,} rows "
        f"{state.seconds:>7.2f} s {rate:>10,.0f} rows/s"
    )
