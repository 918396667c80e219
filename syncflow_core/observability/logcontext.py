"""The correlation fields of a log line (batch_uid, entity, stage), carried by contextvars.

Code deep inside a batch logs without passing the batch around; the fields follow the
``with`` block, asyncio tasks started inside it, and threads that run in a copied context
(``contextvars.copy_context().run`` — a plain ``ThreadPoolExecutor`` does *not* copy it).

>>> import logging
>>> record = logging.LogRecord("syncflow_core.x", logging.INFO, "", 0, "hi", (), None)
>>> with log_context(batch_uid="b-1", entity="items"), log_context(stage="fetch"):
...     _ = LogContextFilter().filter(record)
>>> record.batch_uid, record.entity, record.stage
('b-1', 'items', 'fetch')
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

_CONTEXT: ContextVar[Mapping[str, Any]] = ContextVar(
    "syncflow_log_context", default=MappingProxyType({})
)


@contextlib.contextmanager
def log_context(
    *,
    batch_uid: str | None = None,
    entity: str | None = None,
    stage: str | None = None,
    **fields: Any,
) -> Iterator[None]:
    """Stamp these fields on every log record made inside the block (nested blocks add to
    and override the outer ones; ``None`` leaves a field as it was)."""
    given = {"batch_uid": batch_uid, "entity": entity, "stage": stage, **fields}
    merged = {**_CONTEXT.get(), **{k: v for k, v in given.items() if v is not None}}
    token = _CONTEXT.set(MappingProxyType(merged))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def current_log_context() -> dict[str, Any]:
    """The fields the current context stamps on log records."""
    return dict(_CONTEXT.get())


class LogContextFilter(logging.Filter):
    """Copies the current log context onto a record; ``extra=`` given at the call wins."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _CONTEXT.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True
