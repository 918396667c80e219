"""Structured JSON logs: one object a line, correlated by batch_uid, secrets scrubbed.

A line looks like::

    {"timestamp": "2025-12-08T14:30:00.250Z", "level": "INFO", "service": "syncflow",
     "logger": "syncflow_core.pipeline", "batch_uid": "0193…", "entity": "items",
     "stage": "normalize", "message": "normalized 1000 rows",
     "metrics": {"rows_normalized": 1000, "duration_ms": 250}}

(on one line). Every key is always there (``null`` / ``{}`` when unknown); ``exception``,
``stack`` and ``extra`` (other ``extra=`` fields) appear when present.

Where lines go: :func:`configure_json_logging` (a file, or stderr), and
:func:`forward_logs` (any ``log.info``-style object, e.g. Dagster's ``context.log``, so the
same lines show in Dagster's event log without this package importing Dagster).

Scrubbing happens at the source: a :class:`RecordGuardHandler` that writes nothing sits
first on each SyncFlow logger and scrubs each record in place, so that every handler after
it — ours, Dagster's, the root logger's — gets the clean record.
"""

from __future__ import annotations

import datetime as dt
import logging
import logging.handlers
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from syncflow_core.observability.logcontext import LogContextFilter
from syncflow_core.observability.redaction import STANDARD_ATTRIBUTES, RedactingFilter, Redactor
from syncflow_core.settings import Settings, get_settings

SERVICE = "syncflow"
#: The logger hierarchies SyncFlow code logs under (``logging.getLogger(__name__)``).
SYNCFLOW_LOGGERS = ("syncflow", "syncflow_core", "syncflow_dagster")
_CORRELATION = ("batch_uid", "entity", "stage", "metrics")
_TARGET_ATTR = "_syncflow_json_target"


def _utc_timestamp(created: float) -> str:
    moment = dt.datetime.fromtimestamp(created, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    """JSON-safe copy for what orjson refuses (non-string keys such as tuples)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value if isinstance(value, str | int | float | bool | None) else str(value)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object (no newline inside: orjson escapes them)."""

    def __init__(self, service: str = SERVICE) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "timestamp": _utc_timestamp(record.created),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "batch_uid": getattr(record, "batch_uid", None),
            "entity": getattr(record, "entity", None),
            "stage": getattr(record, "stage", None),
            "message": record.getMessage(),
            "metrics": getattr(record, "metrics", None) or {},
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            payload["exception"] = record.exc_text
        if record.stack_info:
            payload["stack"] = record.stack_info
        extra = {
            name: value
            for name, value in vars(record).items()
            if name not in STANDARD_ATTRIBUTES and name not in _CORRELATION
        }
        if extra:
            payload["extra"] = extra
        try:
            return orjson.dumps(payload, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:
            return orjson.dumps(_plain(payload)).decode()


class RecordGuardHandler(logging.Handler):
    """Writes nothing: first among a logger's handlers, it stamps the log context on each
    record and scrubs it in place before the handlers after it see it."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__(logging.NOTSET)
        self.redacting = RedactingFilter(redactor)
        self.addFilter(LogContextFilter())
        self.addFilter(self.redacting)

    def emit(self, record: logging.LogRecord) -> None:
        """Nothing to write: the filters did the work."""


def install_record_guard(redactor: Redactor, loggers: tuple[str, ...] = SYNCFLOW_LOGGERS) -> None:
    """Put a :class:`RecordGuardHandler` first on each logger (once; a later call updates
    the secrets it knows)."""
    for name in loggers:
        logger = logging.getLogger(name)
        guards = [h for h in logger.handlers if isinstance(h, RecordGuardHandler)]
        if guards:
            guards[0].redacting.redactor = redactor
        else:
            # Assigned whole rather than appended: the guard must run before any handler.
            logger.handlers = [RecordGuardHandler(redactor), *logger.handlers]


class LogMethods(Protocol):
    """What :meth:`ForwardingHandler.to_log` needs: Dagster's ``context.log`` has it."""

    def debug(self, msg: str) -> Any: ...
    def info(self, msg: str) -> Any: ...
    def warning(self, msg: str) -> Any: ...
    def error(self, msg: str) -> Any: ...
    def critical(self, msg: str) -> Any: ...


class ForwardingHandler(logging.Handler):
    """Hands each formatted line to ``sink(levelno, line)``, e.g. Dagster's event log.

    With ``batch_uid``, only that batch's records are forwarded (two batches running in
    one process then each reach their own run's log). A sink that logs back into a
    SyncFlow logger is not called again for that record.
    """

    def __init__(
        self,
        sink: Callable[[int, str], object],
        level: int = logging.NOTSET,
        *,
        batch_uid: str | None = None,
    ) -> None:
        super().__init__(level)
        self.sink, self.batch_uid = sink, batch_uid
        self._local = threading.local()

    @classmethod
    def to_log(
        cls, log: LogMethods, level: int = logging.INFO, *, batch_uid: str | None = None
    ) -> ForwardingHandler:
        """Forward to ``log.debug`` … ``log.critical`` by each record's level."""

        def sink(levelno: int, line: str) -> object:
            for threshold, method in (
                (logging.CRITICAL, log.critical),
                (logging.ERROR, log.error),
                (logging.WARNING, log.warning),
                (logging.INFO, log.info),
            ):
                if levelno >= threshold:
                    return method(line)
            return log.debug(line)

        return cls(sink, level, batch_uid=batch_uid)

    def emit(self, record: logging.LogRecord) -> None:
        if self.batch_uid is not None and getattr(record, "batch_uid", None) != self.batch_uid:
            return
        if getattr(self._local, "busy", False):
            return
        self._local.busy = True
        try:
            self.sink(record.levelno, self.format(record))
        except Exception:
            self.handleError(record)
        finally:
            self._local.busy = False


def _prepare(handler: logging.Handler, redactor: Redactor, level: int) -> logging.Handler:
    handler.setLevel(level)
    handler.setFormatter(JsonFormatter())
    # Also on the handler itself: records that skipped the guard (another hierarchy, a
    # guard removed by someone) are scrubbed all the same.
    handler.addFilter(LogContextFilter())
    handler.addFilter(RedactingFilter(redactor))
    return handler


def _attach(handler: logging.Handler, level: int, loggers: tuple[str, ...]) -> None:
    for name in loggers:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        if logger.level == logging.NOTSET or logger.level > level:
            logger.setLevel(level)


def detach(handler: logging.Handler, loggers: tuple[str, ...] = SYNCFLOW_LOGGERS) -> None:
    """Take ``handler`` off the SyncFlow loggers and close it."""
    for name in loggers:
        logging.getLogger(name).removeHandler(handler)
    handler.close()


def configure_json_logging(
    target: str | Path | IO[str] | None = None,
    level: int = logging.INFO,
    *,
    settings: Settings | None = None,
    loggers: tuple[str, ...] = SYNCFLOW_LOGGERS,
) -> logging.Handler:
    """Write JSON lines of the SyncFlow loggers to ``target`` (a path, ``"-"`` or ``None``
    for stderr, or an open text stream); return the handler.

    Calling it again for the same target replaces the earlier handler. Files are opened
    with ``WatchedFileHandler``: logrotate may move them away, the next line reopens.
    """
    redactor = install_redaction(settings, loggers)
    handler: logging.Handler
    if target is None or target == "-":
        handler, key = logging.StreamHandler(sys.stderr), "stderr"
    elif isinstance(target, str | Path):
        path = Path(target).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        handler, key = logging.handlers.WatchedFileHandler(path, encoding="utf-8"), str(path)
    else:
        handler, key = logging.StreamHandler(target), f"stream:{id(target)}"
    for name in loggers:
        for old in list(logging.getLogger(name).handlers):
            if getattr(old, _TARGET_ATTR, None) == key:
                detach(old, loggers)
    setattr(handler, _TARGET_ATTR, key)
    _attach(_prepare(handler, redactor, level), level, loggers)
    return handler


def install_redaction(
    settings: Settings | None = None, loggers: tuple[str, ...] = SYNCFLOW_LOGGERS
) -> Redactor:
    """Scrub every record of the SyncFlow loggers at the source, whatever handler follows."""
    redactor = Redactor.from_settings(settings or get_settings())
    install_record_guard(redactor, loggers)
    return redactor


def configure_logging_from_settings(settings: Settings | None = None) -> logging.Handler | None:
    """Call once at start-up: scrubbing always, and JSON lines to ``SYNCFLOW_LOG_FILE``
    (``-``: stderr) when it is set; returns that handler or None."""
    settings = settings or get_settings()
    install_redaction(settings)
    if settings.log_file is None:
        return None
    return configure_json_logging(settings.log_file, settings=settings)


@contextmanager
def forward_logs(
    log: LogMethods,
    level: int = logging.INFO,
    *,
    batch_uid: str | None = None,
    settings: Settings | None = None,
    loggers: tuple[str, ...] = SYNCFLOW_LOGGERS,
) -> Iterator[ForwardingHandler]:
    """Inside the block, SyncFlow's JSON lines also go to ``log`` (e.g. ``context.log``).

    Do not combine with Dagster's ``managed_python_loggers`` for the same loggers, or
    every line reaches the event log twice.
    """
    redactor = install_redaction(settings, loggers)
    handler = ForwardingHandler.to_log(log, level, batch_uid=batch_uid)
    _attach(_prepare(handler, redactor, level), level, loggers)
    try:
        yield handler
    finally:
        detach(handler, loggers)


def read_batch_lines(path: str | Path, batch_uid: str) -> Iterator[dict[str, Any]]:
    """The parsed lines of one batch from a JSON log file, in file order."""
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number} is not a JSON log line") from exc
            if entry.get("batch_uid") == batch_uid:
                yield entry
