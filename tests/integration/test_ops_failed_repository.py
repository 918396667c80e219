"""The dead-letter tooling's repository methods on ``failed_records``, on both databases."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from syncflow_core.state import StateStore

T0 = dt.datetime(2025, 3, 1, 12)
LATER = T0 + dt.timedelta(hours=1)


def seed(store: StateStore) -> list[int]:
    """Five records: items data errors of two types, an orders ingest refusal; ids."""
    data = pl.DataFrame(
        {
            "raw_data": [
                '{"PART_NO": "P-1", "WEIGHT_NET": "1,0"}',
                '{"PART_NO": "P-2"}',
                '{"PART_NO": "P-3", "WEIGHT_NET": "x"}',
            ],
            "stage_failed": ["normalize", "validate", "normalize"],
            "error_type": ["invalid_number", "missing_required", "invalid_number"],
            "field": ["weight_kg", "description", "weight_kg"],
            "error_message": ['WEIGHT_NET -> weight_kg: invalid_number: "1,0"', "m", "x"],
        }
    )
    store.failed.add("items", data, "b-1", retry_delay_seconds=None, now=T0)
    sent = pl.DataFrame(
        {
            "stage_failed": ["ingest", "ingest"],
            "error_type": ["validation", "transient"],
            "mapped_data": ['{"order_number": "CO-1"}', '{"order_number": "CO-2"}'],
            "op": ["insert", "insert"],
        }
    )
    store.failed.add("orders", sent, "b-2", now=T0)
    return store.failed.find()["id"].to_list()


def test_find_filters_by_type_stage_statuses_ids_and_limit(store: StateStore) -> None:
    ids = seed(store)
    store.failed.mark_dead([ids[2]], now=T0)
    by_type = store.failed.find(error_type="invalid_number")
    assert by_type["id"].to_list() == [ids[0], ids[2]]
    assert store.failed.find(stage_failed="ingest", entity="orders").height == 2
    assert store.failed.find(error_type="invalid_number", status="open")["id"].to_list() == [ids[0]]
    assert store.failed.find(status=["open", "dead"]).height == 5
    assert store.failed.find(ids=[ids[4], ids[1]])["id"].to_list() == [ids[1], ids[4]]
    assert store.failed.find(limit=2)["id"].to_list() == ids[:2]
    record = store.failed.get(ids[3])
    assert record is not None
    assert record["mapped_data"] == '{"order_number": "CO-1"}'
    assert store.failed.get(max(ids) + 100) is None


def test_summary_counts_per_error_type_most_first(store: StateStore) -> None:
    ids = seed(store)
    store.failed.resolve([ids[4]], now=T0)
    summary = store.failed.summary(status=["open", "dead"])
    assert summary.columns == ["entity", "stage_failed", "error_type", "field", "status", "records"]
    assert summary.row(0) == ("items", "normalize", "invalid_number", "weight_kg", "open", 2)
    assert summary["records"].sum() == 4  # the resolved one is left out
    assert store.failed.summary(entity="orders")["records"].to_list() == [1, 1]


def test_replace_data_changes_one_record(store: StateStore) -> None:
    ids = seed(store)
    assert store.failed.replace_data(ids[0], raw_data='{"PART_NO": "P-1"}', now=LATER) == 1
    assert store.failed.replace_data(ids[3], mapped_data='{"order_number": "X"}') == 1
    assert store.failed.replace_data(max(ids) + 1, raw_data="{}") == 0
    after = {r["id"]: r for r in store.failed.find().iter_rows(named=True)}
    assert after[ids[0]]["raw_data"] == '{"PART_NO": "P-1"}'
    assert after[ids[0]]["updated_at"] == LATER
    assert after[ids[3]]["mapped_data"] == '{"order_number": "X"}'
    assert after[ids[2]]["raw_data"] == '{"PART_NO": "P-3", "WEIGHT_NET": "x"}'


def test_make_due_reopens_open_and_dead_records_not_resolved_ones(store: StateStore) -> None:
    ids = seed(store)
    store.failed.mark_dead([ids[1]], now=T0)
    store.failed.resolve([ids[2]], now=T0)
    assert store.failed.make_due(ids[:3], now=LATER) == 2
    due = store.failed.due(now=LATER, entity="items")
    assert due["id"].to_list() == [ids[0], ids[1]]
    assert set(due["status"]) == {"open"}
    assert set(due["next_retry_at"]) == {LATER}
    assert store.failed.get(ids[2])["status"] == "resolved"  # type: ignore[index]


def test_hold_takes_open_records_off_the_schedule(store: StateStore) -> None:
    ids = seed(store)
    assert store.failed.get(ids[4])["next_retry_at"] is not None  # type: ignore[index]
    store.failed.mark_dead([ids[3]], now=T0)
    assert store.failed.hold([ids[3], ids[4]], now=LATER) == 1  # the dead one stays dead
    held = store.failed.get(ids[4])
    assert held is not None
    assert held["next_retry_at"] is None
    assert held["status"] == "open"


def test_resolve_by_hand_keeps_the_reason(store: StateStore) -> None:
    ids = seed(store)
    store.failed.mark_dead([ids[1]], now=T0)
    store.failed.resolve([ids[2]], now=T0)
    reason = "fixed in the ERP; the next sync brings it — ticket #42"
    assert store.failed.resolve_by_hand(ids[:3], reason, now=LATER) == 2
    after = store.failed.find(ids=ids[:3])
    assert after["status"].to_list() == ["resolved"] * 3
    assert after["resolution"].to_list() == [reason, reason, None]
    assert after["next_retry_at"].null_count() == 3
    with pytest.raises(ValueError, match="reason"):
        store.failed.resolve_by_hand([ids[3]], "  ")
