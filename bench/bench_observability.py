"""What observability costs a batch: publishing metrics and writing scrubbed JSON lines.

    uv run python bench/bench_observability.py

Prints figures; asserts nothing.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from syncflow_core.metrics import BatchMetrics
from syncflow_core.observability import (
    BridgeRegistry,
    Redactor,
    configure_json_logging,
    log_context,
    publish_metrics,
    record_batch,
    set_depths,
)
from syncflow_core.settings import Settings


def bench_publish(directory: Path, batches: int) -> None:
    settings = Settings(metrics_textfile_dir=directory)
    metrics = BatchMetrics(rows_fetched=1000, rows_inserted=900, rows_failed=100)
    errors = {("normalize", "invalid_number"): 60, ("ingest", "parent_not_found"): 40}
    start = time.perf_counter()
    for _ in range(batches):
        registry = BridgeRegistry()
        record_batch(registry, "items", "sync", "partial", metrics, 12.0, errors)
        set_depths(registry, dlq={"items": 100}, pending={"items": 0})
        publish_metrics(registry, settings)
    per_batch = (time.perf_counter() - start) / batches
    print(f"record + publish to textfile: {per_batch * 1000:.2f} ms per batch ({batches} batches)")


def bench_logs(path: Path, lines: int) -> None:
    settings = Settings(
        apismith_jwt_secret=SecretStr("a" * 40),
        schedulehub_jwt_secret=SecretStr("b" * 40),
        database_url="postgresql+psycopg://app:pw-123456@127.0.0.1/db",
    )
    handler = configure_json_logging(path, settings=settings)
    log = logging.getLogger("syncflow_core.bench")
    start = time.perf_counter()
    with log_context(batch_uid="bench", entity="items", stage="ingest"):
        for i in range(lines):
            log.info("sent chunk %d to %s", i, "http://127.0.0.1:5180/api",
                     extra={"metrics": {"rows": 1000, "duration_ms": 12}})  # fmt: skip
    elapsed = time.perf_counter() - start
    handler.close()
    size = path.stat().st_size / lines
    print(f"JSON log lines, scrubbed: {lines / elapsed:,.0f} lines/s, {size:.0f} bytes/line")


def bench_long_text(size: int) -> None:
    """A huge unbroken value (a hex blob, a page of JSON) must scrub in linear time."""
    redactor = Redactor(["not-in-the-text"])
    text = "blob: " + "ab12" * (size // 4) + " token=" + "f" * size + " https://" + "q" * size
    start = time.perf_counter()
    redactor.text(text)
    print(
        f"scrubbing {len(text) / 1e6:.1f} MB of unbroken text: {time.perf_counter() - start:.3f} s"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bench_publish(Path(tmp), 200)
        bench_logs(Path(tmp) / "bench.jsonl", 20_000)
    bench_long_text(1_000_000)


if __name__ == "__main__":
    main()
