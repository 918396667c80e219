"""After a batch: add its metrics to the running totals and hand them to Prometheus.

Where the numbers go is configuration (``SYNCFLOW_METRICS_TEXTFILE_DIR``,
``SYNCFLOW_PUSHGATEWAY_URL``); neither is needed. Publishing never fails a batch: a
directory that cannot be written or a Pushgateway that does not answer is logged as a
warning and reported in :class:`PublishReport`.

>>> import tempfile
>>> from syncflow_core.metrics import BatchMetrics
>>> from syncflow_core.observability.prometheus import BridgeRegistry, record_batch
>>> registry = BridgeRegistry()
>>> record_batch(registry, "items", "sync", "success", BatchMetrics(), 0.1, {})
>>> settings = Settings(metrics_textfile_dir=tempfile.mkdtemp())
>>> [p.name for p in publish_metrics(registry, settings).textfiles]
['syncflow_items.prom']
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.registry import Collector

from syncflow_core.observability.pushgateway import push_entity, split_credentials
from syncflow_core.observability.snapshot import MetricsSnapshot
from syncflow_core.observability.textfile import accumulate_textfile, textfile_path
from syncflow_core.settings import Settings, get_settings

log = logging.getLogger(__name__)


@dataclass
class PublishReport:
    """What was written and pushed, and what failed (already logged as warnings)."""

    textfiles: list[Path] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def publish_metrics(
    registry: Collector,
    settings: Settings | None = None,
    *,
    instance: str | None = None,
) -> PublishReport:
    """Add ``registry`` (one batch) to each entity's textfile, then push the totals.

    Without a textfile directory there is no memory between processes and the push
    carries this batch's numbers alone (see docs/operations.md for what that means).
    """
    settings = settings or get_settings()
    batch = MetricsSnapshot.from_registry(registry)
    report = PublishReport()
    for entity in sorted(batch.entities()):
        totals = batch.for_entity(entity)
        directory = settings.metrics_textfile_dir
        if directory is not None:
            try:
                totals = accumulate_textfile(directory, entity, batch)
                report.textfiles.append(textfile_path(Path(directory), entity))
            except (OSError, ValueError) as exc:
                log.warning("metrics of %s not written to %s: %s", entity, directory, exc)
                report.failures.append(f"textfile {entity}: {type(exc).__name__}")
        if settings.pushgateway_url:
            _push(settings, entity, totals, instance, report)
    return report


def _push(
    settings: Settings,
    entity: str,
    totals: MetricsSnapshot,
    instance: str | None,
    report: PublishReport,
) -> None:
    url = str(settings.pushgateway_url)
    try:
        push_entity(url, entity, totals, instance=instance, timeout=settings.http_timeout_seconds)
        report.pushed.append(entity)
    except Exception as exc:  # any failure to push must leave the batch alone
        where = split_credentials(url)[0]  # never log the credentials
        log.warning("metrics of %s not pushed to %s: %s", entity, where, exc)
        report.failures.append(f"pushgateway {entity}: {type(exc).__name__}")
