"""After a batch: its metrics to Prometheus (textfile and/or Pushgateway, when configured).

Publishing never fails a run (``publish_metrics`` logs and reports what did not work);
with neither ``SYNCFLOW_METRICS_TEXTFILE_DIR`` nor ``SYNCFLOW_PUSHGATEWAY_URL`` set it
writes nothing.
"""

from __future__ import annotations

from syncflow_core.env import SyncEnv
from syncflow_core.observability import BridgeRegistry, publish_metrics, record_batch, set_depths
from syncflow_core.pipeline import BatchResult
from syncflow_dagster.queues import dead_letter_depth

STATUS = {"succeeded": "success"}


def publish_batch(env: SyncEnv, result: BatchResult) -> None:
    """Record ``result`` and the entity's queue depths, and publish them."""
    settings = env.settings
    if settings.metrics_textfile_dir is None and settings.pushgateway_url is None:
        return
    registry = BridgeRegistry()
    errors: dict[tuple[str, str], int] = {}
    for key, n in result.errors.items():
        stage, _, kind = key.partition(":")
        errors[(stage, kind)] = n
    record_batch(
        registry,
        result.entity,
        result.kind,
        STATUS.get(result.status, result.status),
        result.metrics,
        result.seconds,
        errors,
    )
    entity = result.entity
    set_depths(
        registry,
        dlq={entity: dead_letter_depth(env.store, entity)},
        pending={entity: env.store.pending.count(entity=entity)},
    )
    publish_metrics(registry, settings)
