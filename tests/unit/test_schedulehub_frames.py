"""Batch bodies and answers of the ScheduleHub client, built column-wise."""

from __future__ import annotations

import datetime as dt

import orjson
import polars as pl
import pytest

from syncflow_core.clients.schedulehub_frames import (
    batch_body,
    batch_lines,
    check_ops,
    index_page,
    iso_to_utc,
    parse_results,
    transient_results,
    with_results,
)


def ops_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "op": ["insert", "update", "delete"],
            "uid": [None, 'odd"uid\\', "u3"],
            "body": ['{"a":"x\\"y","t":"2025-12-08 10:30:00"}', '{"b":null}', None],
        }
    )


def test_batch_body_is_the_operations_as_the_contract_spells_them() -> None:
    body = orjson.loads(batch_body(batch_lines(ops_frame())))
    assert body == {
        "operations": [
            {"op": "insert", "data": {"a": 'x"y', "t": "2025-12-08 10:30:00"}},
            {"op": "update", "uid": 'odd"uid\\', "data": {"b": None}},
            {"op": "delete", "uid": "u3"},
        ]
    }
    assert batch_body(batch_lines(ops_frame().clear())) == b'{"operations":[]}'


def test_a_caller_encoded_body_goes_through_unchanged() -> None:
    records = pl.DataFrame({"n": [1, None], "s": ["é\n", "x"], "f": [0.1, 1e20]})
    bodies = records.select(pl.struct(pl.all()).struct.json_encode()).to_series()
    ops = pl.DataFrame({"op": ["insert", "insert"], "uid": [None, None], "body": bodies})
    sent = orjson.loads(batch_body(batch_lines(ops)))["operations"]
    assert [s["data"] for s in sent] == [orjson.loads(b) for b in bodies]


@pytest.mark.parametrize(
    ("op", "uid", "body"),
    [
        ("upsert", None, "{}"),
        (None, None, "{}"),
        ("insert", "u", "{}"),
        ("insert", None, None),
        ("update", None, "{}"),
        ("update", "u", None),
        ("delete", None, None),
        ("delete", "u", "{}"),
    ],
)
def test_check_ops_refuses_rows_that_cannot_be_sent(
    op: str | None, uid: str | None, body: str | None
) -> None:
    frame = pl.DataFrame(
        {"op": [op], "uid": [uid], "body": [body]},
        schema={"op": pl.String, "uid": pl.String, "body": pl.String},
    )
    with pytest.raises(ValueError, match="ops row 0"):
        check_ops(frame)


def test_results_become_columns() -> None:
    answer = orjson.dumps(
        {
            "results": [
                {"status": 201, "uid": "u1"},
                {"status": 404, "error": "parent_not_found", "field": "order_uid"},
                {"status": 422, "error": "validation", "detail": "bad", "field": "x"},
            ]
        }
    )
    frame = parse_results(answer, 3)
    assert frame.to_dicts() == [
        {"status": 201, "result_uid": "u1", "error": None, "message": None, "field": None},
        {
            "status": 404,
            "result_uid": None,
            "error": "parent_not_found",
            "message": None,
            "field": "order_uid",
        },
        {"status": 422, "result_uid": None, "error": "validation", "message": "bad", "field": "x"},
    ]


def test_a_detail_that_is_an_object_becomes_its_json() -> None:
    answer = orjson.dumps(
        {
            "results": [
                {"status": 422, "error": "validation", "detail": [{"loc": ["a"]}]},
                {"status": 201, "uid": "u", "extra": {"x": 1}},
            ]
        }
    )
    frame = parse_results(answer, 2)
    assert frame["message"].to_list() == ['[{"loc":["a"]}]', None]
    assert frame["result_uid"].to_list() == [None, "u"]


@pytest.mark.parametrize(
    "answer",
    [b"{}", b"[]", b"not json", b'{"results": [{"status": 201}]}', b'{"results": [{"x": 1}, 2]}'],
)
def test_an_answer_that_does_not_fit_is_refused(answer: bytes) -> None:
    with pytest.raises(ValueError, match="batch"):
        parse_results(answer, 2)


def test_with_results_keeps_the_uid_of_successful_updates_and_deletes() -> None:
    ops = ops_frame()
    results = pl.concat(
        [
            parse_results(orjson.dumps({"results": [{"status": 201, "uid": "new"}]}), 1),
            parse_results(orjson.dumps({"results": [{"status": 200}]}), 1),
            transient_results(1, "ScheduleHub: POST /api/v1/x/batch -> 503: gone"),
        ]
    )
    out = with_results(ops, results)
    assert out["result_uid"].to_list() == ["new", 'odd"uid\\', None]
    assert out["error"].to_list() == [None, None, "transient"]
    assert out["status"].dtype == pl.Int64


def test_iso_datetimes_become_naive_utc() -> None:
    text = pl.Series(
        [
            "2025-12-08T10:30:00",
            "2025-12-08 10:30:00.5",
            "2025-12-08T10:30:00.123456Z",
            "2025-12-08T12:30:00+02:00",
            None,
        ]
    )
    parsed = pl.select(iso_to_utc(pl.lit(text))).to_series()
    assert parsed.to_list() == [
        dt.datetime(2025, 12, 8, 10, 30),
        dt.datetime(2025, 12, 8, 10, 30, 0, 500000),
        dt.datetime(2025, 12, 8, 10, 30, 0, 123456),
        dt.datetime(2025, 12, 8, 10, 30),
        None,
    ]


def test_index_page() -> None:
    item = {
        "uid": "u",
        "erp_key_hash": "k",
        "erp_data_hash": "d",
        "erp_rowversion": "2025-12-08T10:30:00",
    }
    frame, cursor = index_page(orjson.dumps({"items": [item], "next_cursor": "c"}))
    assert (frame.height, cursor) == (1, "c")
    assert frame.schema == pl.Schema(
        {
            "uid": pl.String,
            "erp_key_hash": pl.String,
            "erp_data_hash": pl.String,
            "erp_rowversion": pl.Datetime("us"),
        }
    )
    empty, end = index_page(b'{"items": [], "next_cursor": null}')
    assert (empty.height, end) == (0, None)
    with pytest.raises(ValueError, match="items"):
        index_page(b"{}")
