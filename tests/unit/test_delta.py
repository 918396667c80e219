"""Stage 6 (delta) and the pure parts of stage 8 (outcome mapping), on small frames."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from syncflow_core.delta import MassDeleteRefusedError, plan_deletes, plan_delta
from syncflow_core.ingest import classify, encode_bodies
from syncflow_core.metrics import AccountingError, BatchMetrics


def test_plan_delta_insert_update_skip_and_dirty_state() -> None:
    records = pl.DataFrame(
        {"erp_key_hash": ["a", "b", "c", "d"], "erp_data_hash": ["1", "2", "3", "4"]}
    )
    state = pl.DataFrame(
        {
            "erp_key_hash": ["b", "c", "d", "z"],
            "uid": ["u-b", "u-c", "u-d", "u-z"],
            "erp_data_hash": ["2", "9", None, "0"],
        }
    )
    delta = plan_delta(records, state)
    assert delta["op"].to_list() == ["insert", "skip", "update", "update"]
    assert delta["uid"].to_list() == [None, "u-b", "u-c", "u-d"]
    assert delta["prev_data_hash"].to_list() == [None, "2", "9", None]


def test_plan_delta_never_sends_a_row_older_than_the_state() -> None:
    t = dt.datetime(2025, 12, 8, 10)
    records = pl.DataFrame(
        {"erp_key_hash": ["a", "b"], "erp_data_hash": ["old", "new"], "erp_rowversion": [t, t]}
    )
    state = pl.DataFrame(
        {
            "erp_key_hash": ["a", "b"],
            "uid": ["u-a", "u-b"],
            "erp_data_hash": ["newer", "older"],
            "erp_rowversion": [t + dt.timedelta(seconds=1), t - dt.timedelta(seconds=1)],
        }
    )
    assert plan_delta(records, state)["op"].to_list() == ["skip", "update"]


def test_plan_deletes_leaves_protected_keys_and_guards() -> None:
    state = pl.DataFrame(
        {"erp_key_hash": [f"k{i}" for i in range(20)], "uid": [f"u{i}" for i in range(20)]}
    )
    source = pl.Series([f"k{i}" for i in range(18)])
    recent = pl.Series(["k19"])  # synced after the key scan began
    gone = plan_deletes("items", source, state, protected=recent, guard_share=0.1)
    assert gone.to_dicts() == [{"erp_key_hash": "k18", "uid": "u18"}]
    with pytest.raises(
        MassDeleteRefusedError, match=r"items: reconciliation would delete 17 of 20"
    ):
        plan_deletes("items", source[:2], state, protected=recent, guard_share=0.1)
    forced = plan_deletes("items", source[:2], state, protected=recent, guard_share=0.1, force=True)
    assert forced.height == 17


def test_classify_maps_every_contract_answer() -> None:
    answered = pl.DataFrame(
        {
            "op": ["insert", "update", "delete", "delete", "insert", "update", "insert",
                   "update", "insert", "delete", "insert"],
            "status": [201, 200, 204, 404, 409, 404, 404, 422, None, 409, 500],
            "error": [None, None, None, "not_found", "duplicate", "not_found",
                      "parent_not_found", "validation", "transient", "has_children", None],
        },
        schema_overrides={"status": pl.Int64},
    )  # fmt: skip
    outcomes = answered.select(classify(answered))["outcome"].to_list()
    assert outcomes == ["inserted", "updated", "deleted", "deleted", "adopt", "reinsert",
                        "pending", "failed", "failed", "failed", "failed"]  # fmt: skip


def test_encode_bodies_iso_datetimes_and_nulls() -> None:
    frame = pl.DataFrame(
        {
            "item_number": ["A|B"],
            "created_at": [dt.datetime(2025, 12, 8, 10, 30)],
            "list_price": [1000.5],
            "notes": [None],
            "is_active": [True],
        },
        schema_overrides={"notes": pl.String},
    )
    body = frame.select(encode_bodies(frame, frame.columns))["body"][0]
    assert body == (
        '{"item_number":"A|B","created_at":"2025-12-08T10:30:00.000000",'
        '"list_price":1000.5,"notes":null,"is_active":true}'
    )


def test_accounting_invariant() -> None:
    ok = BatchMetrics(rows_fetched=3, rows_inserted=1, rows_pending=1, rows_superseded=1)
    ok.check_accounting()
    lost = BatchMetrics(rows_fetched=3, rows_inserted=1)
    with pytest.raises(AccountingError, match="rows_fetched=3 but the outcomes add up to 1"):
        lost.check_accounting()
    total = BatchMetrics()
    total.add(ok)
    total.add(BatchMetrics(rows_fetched=1, rows_failed=1, stage_seconds={"fetch": 0.5}))
    assert (total.rows_fetched, total.rows_failed, total.stage_seconds) == (4, 1, {"fetch": 0.5})
    assert total.success_rate == 0.75
