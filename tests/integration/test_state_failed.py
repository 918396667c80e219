"""failed_records (the dead-letter queue): bulk add, due queries, retry bookkeeping."""

from __future__ import annotations

import datetime as dt

import orjson
import polars as pl
import pytest
import sqlalchemy as sa

from syncflow_core.state import FrameShapeError, StateStore
from syncflow_core.state.bulk import read_strings

T0 = dt.datetime(2025, 3, 1, 12)
DELAYS = (60, 120, 240)


def prepared_failed(n: int, *, key_prefix: str = "k") -> pl.DataFrame:
    """Shaped like ``Prepared.failed`` (docs/internals.md), with awkward text in it."""
    i = pl.int_range(0, n, eager=True)
    return (
        pl.DataFrame(
            {
                "raw_data": [
                    orjson.dumps(
                        {"PART_NO": f" p-{k} ", "NOTE": 'quote " comma , newline \r\n tab \t'}
                    ).decode()
                    for k in range(n)
                ],
                "stage_failed": ["normalize"] * n,
                "error_type": ["invalid_number"] * n,
                "field": ["list_price"] * n,
                "error_message": [
                    f"LIST_PRICE → list_price: 'abc{k}' is not a number" for k in range(n)
                ],
                "erp_key_hash": [
                    None if k % 10 == 0 else f"{key_prefix}{k:031d}"[:32] for k in range(n)
                ],
                "erp_rowversion": pl.Series([T0 + dt.timedelta(microseconds=k) for k in range(n)]),
            }
        )
        .with_columns(i=i)
        .drop("i")
    )


def test_add_stores_every_row_with_its_text_intact(store: StateStore) -> None:
    frame = prepared_failed(500)
    assert store.failed.add("items", frame, "batch-1", now=T0) == 500
    stored = store.failed.find(entity="items")
    assert stored.height == 500
    assert stored.select(frame.columns).equals(frame)
    assert set(stored["status"]) == {"open"}
    assert set(stored["retry_count"]) == {0}
    assert set(stored["next_retry_at"]) == {T0 + dt.timedelta(seconds=60)}
    assert set(stored["batch_uid"]) == {"batch-1"}
    assert stored["id"].is_unique().all()


def test_nul_characters_are_replaced_not_lost(store: StateStore) -> None:
    frame = prepared_failed(1).with_columns(error_message=pl.lit("bad \x00 byte"))
    store.failed.add("items", frame, "b", now=T0)
    assert store.failed.find()["error_message"].to_list() == ["bad \ufffd byte"]


def test_frame_columns_override_defaults(store: StateStore) -> None:
    frame = prepared_failed(2).with_columns(
        status=pl.Series(["dead", "open"]),
        next_retry_at=pl.Series([None, T0], dtype=pl.Datetime("us")),
        op=pl.Series(["update", None]),
        uid=pl.Series(["u-1", None]),
        mapped_data=pl.Series(['{"a": 1}', None]),
    )
    store.failed.add("items", frame, "b", now=T0)
    stored = store.failed.find()
    assert stored["status"].to_list() == ["dead", "open"]
    assert stored["op"].to_list() == ["update", None]
    assert stored["mapped_data"].to_list() == ['{"a": 1}', None]
    assert store.failed.add("items", prepared_failed(1), "b", retry_delay_seconds=None) == 1
    assert store.failed.find()["next_retry_at"].to_list()[-1] is None


def test_due_returns_open_records_whose_time_has_come(store: StateStore) -> None:
    store.failed.add("items", prepared_failed(3), "b1", now=T0)
    store.failed.add("orders", prepared_failed(2), "b2", now=T0 + dt.timedelta(seconds=30))
    assert store.failed.due(now=T0 + dt.timedelta(seconds=59)).height == 0
    assert store.failed.due(now=T0 + dt.timedelta(seconds=60)).height == 3
    due = store.failed.due(now=T0 + dt.timedelta(hours=1))
    assert due["entity"].to_list() == ["items"] * 3 + ["orders"] * 2
    assert store.failed.due(now=T0 + dt.timedelta(hours=1), entity="orders").height == 2
    assert store.failed.due(now=T0 + dt.timedelta(hours=1), limit=4).height == 4


def test_a_retry_delay_of_zero_is_due_at_once_and_none_never(store: StateStore) -> None:
    store.failed.add("items", prepared_failed(2), "b1", now=T0, retry_delay_seconds=0)
    store.failed.add("orders", prepared_failed(1), "b2", now=T0, retry_delay_seconds=None)
    assert store.failed.due(now=T0)["entity"].to_list() == ["items", "items"]
    assert store.failed.find(entity="orders")["next_retry_at"].to_list() == [None]


def test_three_retries_back_off_then_the_record_dies(store: StateStore) -> None:
    store.failed.add("items", prepared_failed(2), "b1", now=T0, retry_delay_seconds=DELAYS[0])
    assert set(store.failed.find()["next_retry_at"]) == {T0 + dt.timedelta(seconds=DELAYS[0])}
    ids = store.failed.find()["id"]
    now = T0
    for attempt in (1, 2):  # retries 1 and 2 fail: wait 120 s, then 240 s
        now += dt.timedelta(minutes=10)
        outcome = pl.DataFrame({"id": ids, "error_message": [f"try {attempt}", None]})
        assert store.failed.record_retries(outcome, batch_uid=f"r{attempt}", now=now) == 2
        rows = store.failed.find()
        assert rows["retry_count"].to_list() == [attempt, attempt]
        assert set(rows["status"]) == {"open"}
        assert set(rows["next_retry_at"]) == {now + dt.timedelta(seconds=DELAYS[attempt])}
        assert rows["error_message"][0] == f"try {attempt}"
        assert rows["error_message"][1].startswith("LIST_PRICE")  # null keeps the old one
        assert set(rows["last_batch_uid"]) == {f"r{attempt}"}
    now += dt.timedelta(hours=1)
    assert store.failed.record_retries(pl.DataFrame({"id": ids}), now=now) == 2  # retry 3
    rows = store.failed.find()
    assert rows["status"].to_list() == ["dead", "dead"]
    assert rows["retry_count"].to_list() == [3, 3]
    assert rows["next_retry_at"].to_list() == [None, None]
    assert store.failed.due(now=now + dt.timedelta(days=1)).height == 0
    assert store.failed.record_retries(pl.DataFrame({"id": ids}), now=now) == 0  # dead stays dead


def test_resolve_and_mark_dead_close_open_records(store: StateStore) -> None:
    store.failed.add("items", prepared_failed(4), "b1", now=T0)
    ids = store.failed.find()["id"].to_list()
    assert store.failed.resolve(ids[:2], batch_uid="r1", now=T0) == 2
    assert store.failed.mark_dead([ids[2]], now=T0) == 1
    assert store.failed.resolve(ids[:3]) == 0  # closed records stay closed
    assert store.failed.counts() == {"resolved": 2, "dead": 1, "open": 1}
    assert store.failed.counts(entity="orders") == {}
    assert store.failed.find(status="resolved")["last_batch_uid"].to_list() == ["r1", "r1"]
    assert store.failed.find(status="resolved")["next_retry_at"].to_list() == [None, None]


def test_resolve_keys_closes_every_open_failure_of_those_keys(store: StateStore) -> None:
    store.failed.add("items", prepared_failed(5), "b1", now=T0)
    store.failed.add("items", prepared_failed(5), "b2", now=T0)  # the same rows failed again
    store.failed.add("orders", prepared_failed(5), "b3", now=T0)
    keys = prepared_failed(5)["erp_key_hash"].drop_nulls().head(2)
    assert store.failed.resolve_keys("items", keys, batch_uid="b9") == 4
    assert store.failed.counts(entity="items") == {"open": 6, "resolved": 4}
    assert store.failed.counts(entity="orders") == {"open": 5}


def test_open_keys_are_the_keys_of_open_records_each_once(store: StateStore) -> None:
    assert store.failed.open_keys("items").len() == 0
    store.failed.add("items", prepared_failed(3), "b1", now=T0)
    store.failed.add("items", prepared_failed(3), "b2", now=T0)  # the same keys again
    assert sorted(store.failed.open_keys("items")) == [f"k{k:031d}"[:32] for k in (1, 2)]
    assert store.failed.open_keys("orders").len() == 0
    keyed = store.failed.find(entity="items").filter(pl.col("erp_key_hash").is_not_null())
    store.failed.resolve(keyed["id"].to_list())
    assert store.failed.open_keys("items").len() == 0


def test_open_keys_read_any_key_text_back_exactly(store: StateStore) -> None:
    # PostgreSQL reads them through COPY ... (FORMAT csv): quotes, separators, line breaks,
    # backslashes and digits-only keys must come back as they went in, as text.
    odd = ["a,b", 'q"uote', "new\nline", "0123", "back\\slash", " padded "]
    store.failed.add(
        "items",
        prepared_failed(len(odd)).with_columns(pl.Series("erp_key_hash", odd)),
        "b1",
        now=T0,
    )
    keys = store.failed.open_keys("items")
    assert keys.name == "erp_key_hash"
    assert keys.dtype == pl.String
    assert sorted(keys.to_list()) == sorted(odd)


def test_a_failing_read_of_strings_raises_sqlalchemys_error(store: StateStore) -> None:
    # Errors of the COPY path come as from conn.execute: callers catch one family.
    missing = sa.table("no_such_table", sa.column("k", sa.String()), schema="bridge")
    with (
        store.engine.connect() as conn,
        pytest.raises((sa.exc.ProgrammingError, sa.exc.OperationalError)),
    ):
        read_strings(conn, sa.select(missing.c.k))


def test_resolve_keys_binds_any_key_text(store: StateStore) -> None:
    odd = prepared_failed(4).with_columns(pl.Series("erp_key_hash", [None, "a,b", "c'd", "plain"]))
    store.failed.add("items", odd, "b1", now=T0)
    assert store.failed.resolve_keys("items", ["c'd", "nothing"]) == 1
    assert store.failed.resolve_keys("items", ["a,b", "c'd"]) == 1
    assert store.failed.open_keys("items").to_list() == ["plain"]
    assert store.failed.resolve_keys("items", []) == 0


def test_a_frame_without_the_required_columns_is_refused(store: StateStore) -> None:
    with pytest.raises(FrameShapeError):
        store.failed.add("items", prepared_failed(1).drop("error_type"), "b")
    with pytest.raises(FrameShapeError):
        store.failed.record_retries(pl.DataFrame({"x": [1]}))
