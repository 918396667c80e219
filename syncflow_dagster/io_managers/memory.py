"""Handoffs in memory, forgotten as soon as the next op has them.

Dagster's ``mem_io_manager`` keeps every output until the run ends; a handoff holds a
live batch (its lease, its clients) and a stream that must be consumed once, so this one
hands each value to exactly one reader and drops it. Only for the in-process executor.

>>> io = HandoffMemoryIOManager()
>>> io.pending()
0
"""

from __future__ import annotations

import threading
from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from syncflow_core import pipeline
from syncflow_dagster.handoff import Handoff

Slot = tuple[str, str, str]  # run id, step key, output name


class HandoffNotFoundError(RuntimeError):
    """An op's input is not in memory: the op runs in another process or another run."""


class RunStoppedError(RuntimeError):
    """The run ended before the batch's stream was drained."""


class HandoffMemoryIOManager(dg.ConfigurableIOManager):
    """Keeps each output until its one reader loads it."""

    _values: dict[Slot, Any] = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        with self._lock:
            self._values[(context.run_id, context.step_key, context.name)] = obj

    def load_input(self, context: dg.InputContext) -> Any:
        upstream = context.upstream_output
        if upstream is None:
            raise HandoffNotFoundError(f"input {context.name!r} has no upstream output")
        slot = (upstream.run_id, upstream.step_key, upstream.name)
        with self._lock:
            try:
                return self._values.pop(slot)
            except KeyError:
                raise HandoffNotFoundError(
                    f"{upstream.step_key}.{upstream.name} is not in memory: in-process "
                    "handoffs live only for the run that made them. Re-run the whole "
                    "asset (a batch is idempotent), or set SYNCFLOW_DAGSTER_EXECUTOR="
                    "multiprocess for file handoffs."
                ) from None

    def pending(self) -> int:
        """Values handed out by no one yet (0 after a run that succeeded)."""
        with self._lock:
            return len(self._values)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """A run that stopped early leaves values no one will read: a batch among them
        is finished as failed (its lease released) rather than left to expire."""
        with self._lock:
            left, self._values = list(self._values.values()), {}
        for value in left:
            if isinstance(value, Handoff):
                pipeline.finish(value.batch, error=RunStoppedError("the run ended first"))
