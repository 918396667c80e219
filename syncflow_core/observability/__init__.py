"""Observability: Prometheus metrics of each batch and structured JSON logs.

After a batch (see docs/operations.md)::

    registry = BridgeRegistry()
    record_batch(registry, "items", "sync", "success", metrics, duration, errors)
    set_depths(registry, dlq={"items": 3}, pending={"items": 0})
    publish_metrics(registry, settings)      # textfile totals + Pushgateway; never raises

Logging::

    configure_logging_from_settings(settings)          # SYNCFLOW_LOG_FILE
    with log_context(batch_uid=uid, entity="items", stage="fetch"):
        log.info("fetched %d rows", n, extra={"metrics": {"rows_fetched": n}})
"""

from syncflow_core.observability.jsonlog import (
    SYNCFLOW_LOGGERS,
    ForwardingHandler,
    JsonFormatter,
    RecordGuardHandler,
    configure_json_logging,
    configure_logging_from_settings,
    detach,
    forward_logs,
    install_record_guard,
    install_redaction,
    read_batch_lines,
)
from syncflow_core.observability.logcontext import (
    LogContextFilter,
    current_log_context,
    log_context,
)
from syncflow_core.observability.prometheus import (
    OUTCOME_FIELDS,
    BridgeRegistry,
    error_counts,
    record_batch,
    set_depths,
)
from syncflow_core.observability.publish import PublishReport, publish_metrics
from syncflow_core.observability.redaction import RedactingFilter, Redactor
from syncflow_core.observability.snapshot import MetricsSnapshot
from syncflow_core.observability.textfile import accumulate_textfile, textfile_path

__all__ = [
    "OUTCOME_FIELDS",
    "SYNCFLOW_LOGGERS",
    "BridgeRegistry",
    "ForwardingHandler",
    "JsonFormatter",
    "LogContextFilter",
    "MetricsSnapshot",
    "PublishReport",
    "RecordGuardHandler",
    "RedactingFilter",
    "Redactor",
    "accumulate_textfile",
    "configure_json_logging",
    "configure_logging_from_settings",
    "current_log_context",
    "detach",
    "error_counts",
    "forward_logs",
    "install_record_guard",
    "install_redaction",
    "log_context",
    "publish_metrics",
    "read_batch_lines",
    "record_batch",
    "set_depths",
    "textfile_path",
]
