"""Prometheus metrics of a batch: the exposition parses and its numbers are the batch's."""

from __future__ import annotations

import bisect
import doctest
import multiprocessing
import os
import stat
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from syncflow_core.metrics import BatchMetrics
from syncflow_core.observability import (
    OUTCOME_FIELDS,
    BridgeRegistry,
    MetricsSnapshot,
    accumulate_textfile,
    error_counts,
    jsonlog,
    logcontext,
    prometheus,
    publish_metrics,
    record_batch,
    redaction,
    set_depths,
    snapshot,
    textfile_path,
)
from syncflow_core.observability import publish as publish_module
from syncflow_core.observability import textfile as textfile_module
from syncflow_core.observability.prometheus import DURATION_BUCKETS
from syncflow_core.settings import Settings

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_exposition(text: str) -> tuple[dict[str, str], Samples]:
    """Family types and every sample of Prometheus text, as the real parser reads it."""
    types, samples = {}, {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in samples, f"duplicate series {key}"
            samples[key] = s.value
    return types, samples


def series(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def a_batch(**counts: int) -> BatchMetrics:
    metrics = BatchMetrics(**counts)
    metrics.rows_fetched = metrics.rows_accounted
    metrics.check_accounting()
    return metrics


ITEMS_BATCH = dict(rows_inserted=700, rows_updated=120, rows_skipped=150, rows_failed=20,
                   rows_pending=7, rows_superseded=3)  # fmt: skip
ITEMS_ERRORS = {("normalize", "invalid_number"): 12, ("validate", "missing_required"): 5,
                ("ingest", "parent_not_found"): 3}  # fmt: skip


def expected_samples(
    entity: str, kind: str, status: str, m: BatchMetrics, duration: float, errors: dict
) -> Samples:
    """What one batch must expose, computed independently of the code under test."""
    expected: Samples = {series("bridge_sync_total", entity=entity, kind=kind, status=status): 1}
    for outcome, value in [("inserted", m.rows_inserted), ("updated", m.rows_updated),
                           ("deleted", m.rows_deleted), ("skipped", m.rows_skipped),
                           ("failed", m.rows_failed), ("pending", m.rows_pending),
                           ("superseded", m.rows_superseded)]:  # fmt: skip
        expected[series("bridge_rows_processed_total", entity=entity, outcome=outcome)] = value
    for (stage, error_type), count in errors.items():
        key = series("bridge_errors_total", entity=entity, stage=stage, error_type=error_type)
        expected[key] = count
    first_bucket = bisect.bisect_left(DURATION_BUCKETS, duration)
    for i, bound in enumerate(DURATION_BUCKETS):
        le = str(float(bound))
        key = series("bridge_sync_duration_seconds_bucket", entity=entity, kind=kind, le=le)
        expected[key] = 1 if i >= first_bucket else 0
    inf = series("bridge_sync_duration_seconds_bucket", entity=entity, kind=kind, le="+Inf")
    expected[inf] = 1
    expected[series("bridge_sync_duration_seconds_count", entity=entity, kind=kind)] = 1
    expected[series("bridge_sync_duration_seconds_sum", entity=entity, kind=kind)] = duration
    return expected


def without_timestamps(samples: Samples) -> Samples:
    return {k: v for k, v in samples.items() if k[0] != "bridge_last_sync_timestamp_seconds"}


def test_exposition_of_one_batch_parses_and_matches_the_batch() -> None:
    registry = BridgeRegistry()
    metrics = a_batch(**ITEMS_BATCH)
    record_batch(registry, "items", "sync", "partial", metrics, 42.5, ITEMS_ERRORS,
                 finished_at=1_765_000_000.0)  # fmt: skip
    set_depths(registry, dlq={"items": 20}, pending={"items": 7})

    types, samples = parse_exposition(MetricsSnapshot.from_registry(registry).render().decode())

    assert types == {
        "bridge_sync": "counter",
        "bridge_sync_duration_seconds": "histogram",
        "bridge_rows_processed": "counter",
        "bridge_errors": "counter",
        "bridge_dead_letter_depth": "gauge",
        "bridge_pending_children_depth": "gauge",
        "bridge_last_sync_timestamp_seconds": "gauge",
    }
    expected = expected_samples("items", "sync", "partial", metrics, 42.5, ITEMS_ERRORS)
    expected[series("bridge_dead_letter_depth", entity="items")] = 20
    expected[series("bridge_pending_children_depth", entity="items")] = 7
    assert without_timestamps(samples) == expected
    last = series("bridge_last_sync_timestamp_seconds", entity="items", kind="sync",
                  status="partial")  # fmt: skip
    assert samples[last] == 1_765_000_000.0
    processed = sum(v for k, v in samples.items() if k[0] == "bridge_rows_processed_total")
    assert processed == metrics.rows_fetched  # the accounting invariant, seen from Prometheus


def test_outcomes_cover_every_batch_counter() -> None:
    assert set(OUTCOME_FIELDS.values()) == {
        "rows_inserted", "rows_updated", "rows_deleted", "rows_skipped", "rows_failed",
        "rows_pending", "rows_superseded",
    }  # fmt: skip


def test_a_registry_holds_only_its_own_batch() -> None:
    first, second = BridgeRegistry(), BridgeRegistry()
    record_batch(first, "items", "sync", "success", a_batch(rows_inserted=5), 1.0, {})
    assert (
        second.get_sample_value(
            "bridge_rows_processed_total", {"entity": "items", "outcome": "inserted"}
        )
        is None
    )
    assert (
        first.get_sample_value(
            "bridge_rows_processed_total", {"entity": "items", "outcome": "inserted"}
        )
        == 5
    )


def test_negative_error_count_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        record_batch(BridgeRegistry(), "items", "sync", "failed", BatchMetrics(), 1.0,
                     {("ingest", "transient"): -1})  # fmt: skip


def test_error_counts_of_failed_frame_and_of_ingest_answers() -> None:
    failed = pl.DataFrame({
        "stage_failed": ["normalize", "validate", "normalize", "map"],
        "error_type": ["invalid_number", "missing_required", "invalid_number", "invalid_boolean"],
    })  # fmt: skip
    answers = pl.DataFrame({"status": [201, 404, 409, None, 404],
                            "error": [None, "parent_not_found", "duplicate", "transient",
                                      "parent_not_found"]})  # fmt: skip
    total = error_counts(failed) + error_counts(answers, type_column="error", stage="ingest")
    assert dict(total) == {
        ("normalize", "invalid_number"): 2,
        ("validate", "missing_required"): 1,
        ("map", "invalid_boolean"): 1,
        ("ingest", "parent_not_found"): 2,
        ("ingest", "duplicate"): 1,
        ("ingest", "transient"): 1,
    }
    assert dict(error_counts(failed.clear())) == {}


@settings(max_examples=60, deadline=None)
@given(
    batches=st.lists(
        st.tuples(
            st.sampled_from(["items", "work_orders"]),
            st.sampled_from(["success", "partial", "failed"]),
            st.dictionaries(st.sampled_from(sorted(ITEMS_BATCH)), st.integers(0, 10**6)),
            st.floats(0, 20_000, allow_nan=False),
            st.integers(0, 50),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_merged_snapshots_equal_the_sum_of_the_batches(batches: list) -> None:
    """Running totals built batch by batch through text equal one registry fed everything."""
    totals = MetricsSnapshot()
    reference: Samples = {}
    for entity, status, counts, duration, errors in batches:
        registry = BridgeRegistry()
        metrics = a_batch(**counts)
        errs = {("normalize", "invalid_number"): errors} if errors else {}
        record_batch(registry, entity, "sync", status, metrics, duration, errs)
        text = totals.merge(MetricsSnapshot.from_registry(registry)).render().decode()
        totals = MetricsSnapshot.parse(text)  # every step goes through the file format
        for key, value in expected_samples(entity, "sync", status, metrics, duration,
                                           errs).items():  # fmt: skip
            reference[key] = reference.get(key, 0) + value
    _, samples = parse_exposition(totals.render().decode())
    got = without_timestamps(samples)
    assert got.keys() == reference.keys()
    for key, value in reference.items():
        assert got[key] == pytest.approx(value, rel=1e-12), key


def test_gauges_are_replaced_and_other_entities_kept() -> None:
    before = BridgeRegistry()
    set_depths(before, dlq={"items": 9, "orders": 4}, pending={"items": 2})
    after = BridgeRegistry()
    set_depths(after, dlq={"items": 1}, pending={})
    merged = MetricsSnapshot.from_registry(before).merge(MetricsSnapshot.from_registry(after))
    assert merged.value("bridge_dead_letter_depth", entity="items") == 1
    assert merged.value("bridge_dead_letter_depth", entity="orders") == 4
    assert merged.value("bridge_pending_children_depth", entity="items") == 2
    assert merged.for_entity("orders").entities() == {"orders"}


def run_batch(directory: Path, entity: str, inserted: int, duration: float) -> MetricsSnapshot:
    registry = BridgeRegistry()
    record_batch(registry, entity, "sync", "success", a_batch(rows_inserted=inserted),
                 duration, {("validate", "missing_required"): 1})  # fmt: skip
    return accumulate_textfile(directory, entity, MetricsSnapshot.from_registry(registry))


def test_textfile_accumulates_counters_across_batches(tmp_path: Path) -> None:
    run_batch(tmp_path, "items", 100, 3.0)
    run_batch(tmp_path, "items", 50, 700.0)
    run_batch(tmp_path, "work_orders", 7, 1.0)

    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "syncflow_items.prom", "syncflow_work_orders.prom"]  # fmt: skip
    _, items = parse_exposition(textfile_path(tmp_path, "items").read_text())
    assert items[series("bridge_rows_processed_total", entity="items", outcome="inserted")] == 150
    assert items[series("bridge_sync_total", entity="items", kind="sync", status="success")] == 2
    assert items[series("bridge_errors_total", entity="items", stage="validate",
                        error_type="missing_required")] == 2  # fmt: skip
    assert items[series("bridge_sync_duration_seconds_sum", entity="items", kind="sync")] == 703
    bucket = "bridge_sync_duration_seconds_bucket"
    assert items[series(bucket, entity="items", kind="sync", le="5.0")] == 1
    assert items[series(bucket, entity="items", kind="sync", le="1200.0")] == 2
    assert all(labels[0] == ("entity", "items") or ("entity", "items") in labels
               for _, labels in items)  # fmt: skip


def test_textfile_is_world_readable_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    run_batch(tmp_path, "items", 1, 1.0)
    mode = stat.S_IMODE(os.stat(textfile_path(tmp_path, "items")).st_mode)
    assert mode & 0o044 == 0o044
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_corrupt_textfile_restarts_the_totals(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    textfile_path(tmp_path, "items").write_text("this is { not exposition\n")
    totals = run_batch(tmp_path, "items", 4, 1.0)
    assert totals.value("bridge_rows_processed_total", entity="items", outcome="inserted") == 4
    assert "not valid exposition text" in caplog.text


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden"])
def test_entity_names_that_could_leave_the_directory_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="cannot name"):
        textfile_path(tmp_path, name)


def _one_batch_in_a_process(directory: str) -> None:
    for _ in range(5):
        run_batch(Path(directory), "items", 1, 0.1)


def test_concurrent_processes_lose_no_count(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_one_batch_in_a_process, args=(str(tmp_path),))
               for _ in range(4)]  # fmt: skip
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    _, samples = parse_exposition(textfile_path(tmp_path, "items").read_text())
    assert samples[series("bridge_sync_total", entity="items", kind="sync", status="success")] == 20
    assert samples[series("bridge_rows_processed_total", entity="items",
                          outcome="inserted")] == 20  # fmt: skip


def test_publish_writes_one_file_per_entity_and_never_raises(tmp_path: Path) -> None:
    registry = BridgeRegistry()
    record_batch(registry, "items", "sync", "success", a_batch(rows_inserted=3), 1.0, {})
    set_depths(registry, dlq={"items": 0, "orders": 2}, pending={"orders": 1})
    report = publish_metrics(registry, Settings(metrics_textfile_dir=tmp_path))
    assert [p.name for p in report.textfiles] == ["syncflow_items.prom", "syncflow_orders.prom"]
    assert report.failures == []
    _, orders = parse_exposition(textfile_path(tmp_path, "orders").read_text())
    assert orders == {series("bridge_dead_letter_depth", entity="orders"): 2,
                      series("bridge_pending_children_depth", entity="orders"): 1}  # fmt: skip

    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    report = publish_metrics(registry, Settings(metrics_textfile_dir=blocked))
    assert report.textfiles == []
    assert [f.split(":")[0] for f in report.failures] == ["textfile items", "textfile orders"]


@pytest.mark.parametrize(
    "module",
    [prometheus, snapshot, textfile_module, publish_module, redaction, logcontext, jsonlog],
)
def test_docstring_examples_run(module: object) -> None:
    result = doctest.testmod(module, raise_on_error=False)  # type: ignore[arg-type]
    assert result.failed == 0
    if module is not jsonlog:
        assert result.attempted > 0
