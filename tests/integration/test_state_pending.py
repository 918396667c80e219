"""pending_children: park, replace, due, release, back off and expire to failed_records."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from syncflow_core.state import FrameShapeError, StateStore

T0 = dt.datetime(2025, 3, 1, 12)


def children(n: int, *, parent: str = "orders", version: int = 1) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "erp_key_hash": [f"c{k:031d}" for k in range(n)],
            "parent_entity": [parent] * n,
            "parent_key_hash": [f"p{k % 3:031d}" for k in range(n)],
            "record": [f'{{"line_number": "{k}", "version": {version}}}' for k in range(n)],
            "op": ["insert"] * n,
            "erp_rowversion": [T0 + dt.timedelta(seconds=k) for k in range(n)],
        }
    )


def test_park_stores_children_and_reparking_replaces_them(store: StateStore) -> None:
    assert store.pending.park("order_lines", children(6), "b1", now=T0) == 6
    later = T0 + dt.timedelta(hours=1)
    again = children(3, parent="items", version=2)
    assert store.pending.park("order_lines", again, "b2", now=later) == 3
    rows = store.pending.find(entity="order_lines")
    assert rows.height == 6
    replaced, kept = rows.head(3), rows.tail(3)
    assert replaced["record"].to_list() == again["record"].to_list()
    assert set(replaced["parent_entity"]) == {"items"}
    assert set(replaced["batch_uid"]) == {"b2"}
    assert set(replaced["created_at"]) == {T0}
    assert set(replaced["updated_at"]) == {later}
    assert set(kept["batch_uid"]) == {"b1"}
    assert rows.select("erp_rowversion", "op").equals(
        pl.concat([again, children(6).tail(3)]).select("erp_rowversion", "op")
    )


def test_reparking_restarts_the_retries(store: StateStore) -> None:
    store.pending.park("order_lines", children(1), "b1", now=T0)
    store.pending.retry_later("order_lines", children(1)["erp_key_hash"], "b1", now=T0)
    assert store.pending.find()["retry_count"].to_list() == [1]
    store.pending.park("order_lines", children(1), "b2", now=T0)
    assert store.pending.find()["retry_count"].to_list() == [0]


def test_due_and_for_parents(store: StateStore) -> None:
    store.pending.park("order_lines", children(6), "b1", now=T0, check_seconds=300)
    assert store.pending.due(now=T0 + dt.timedelta(seconds=299)).height == 0
    assert store.pending.due(now=T0 + dt.timedelta(seconds=300)).height == 6
    assert store.pending.due(now=T0 + dt.timedelta(days=1), entity="x").height == 0
    waiting = store.pending.for_parents("orders", [f"p{0:031d}", f"p{2:031d}"])
    assert waiting["erp_key_hash"].to_list() == [f"c{k:031d}" for k in (0, 2, 3, 5)]
    assert store.pending.for_parents("items", [f"p{0:031d}"]).height == 0


def test_remove_takes_released_children_out(store: StateStore) -> None:
    store.pending.park("order_lines", children(6), "b1", now=T0)
    assert store.pending.remove("order_lines", children(4)["erp_key_hash"]) == 4
    assert store.pending.count() == 2
    assert store.pending.remove("orders", children(6)["erp_key_hash"]) == 0


def test_retries_back_off_exponentially_then_expire_to_failed_records(store: StateStore) -> None:
    store.pending.park("order_lines", children(2), "b1", now=T0)
    keys = children(2)["erp_key_hash"]
    now = T0
    for tries in range(1, 5):
        now += dt.timedelta(hours=1)
        assert store.pending.retry_later(
            "order_lines", keys, "r", check_seconds=300, max_tries=5, now=now
        ) == (2, 0)
        rows = store.pending.find()
        assert rows["retry_count"].to_list() == [tries, tries]
        assert set(rows["next_retry_at"]) == {now + dt.timedelta(seconds=300 * 2**tries)}
    assert store.pending.retry_later("order_lines", keys, "r9", max_tries=5, now=now) == (0, 2)
    assert store.pending.count() == 0
    dead = store.failed.find()
    assert dead.height == 2
    assert set(dead["status"]) == {"dead"}
    assert set(dead["stage_failed"]) == {"resolve"}
    assert set(dead["error_type"]) == {"parent_missing"}
    assert set(dead["batch_uid"]) == {"r9"}
    assert dead["mapped_data"].to_list() == children(2)["record"].to_list()
    assert (
        dead["error_message"][0]
        == f"parent orders with key hash p{0:031d} not found in ScheduleHub"
    )
    assert dead["erp_key_hash"].to_list() == keys.to_list()


def test_expire_moves_children_now(store: StateStore) -> None:
    store.pending.park("order_lines", children(3), "b1", now=T0)
    assert store.pending.expire("order_lines", children(1)["erp_key_hash"], "b2", now=T0) == 1
    assert store.pending.count() == 2
    assert store.failed.counts() == {"dead": 1}


def test_a_frame_without_the_required_columns_is_refused(store: StateStore) -> None:
    with pytest.raises(FrameShapeError):
        store.pending.park("order_lines", children(1).drop("record"), "b")
