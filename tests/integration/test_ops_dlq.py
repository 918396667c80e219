"""``syncflow dlq list|show|retry|resolve`` against the real emulators and databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner, Result

from syncflow_core import pipeline
from syncflow_core.catalog import EntitySpec, load_catalog
from syncflow_core.cli import cli
from syncflow_core.pipeline import sync_window
from syncflow_core.redrive import redrive
from syncflow_core.state import metadata
from syncflow_core.state.clock import utcnow
from tests.support.ops import env_vars, hub_writes
from tests.support.world import World, world

FAILED_COLUMNS = set(metadata.tables["bridge.failed_records"].c.keys())


@pytest.fixture
def w(state_url: str, tmp_path: Path) -> Iterator[World]:
    """Items synced: about 3 % of them wait in failed_records with a data error."""
    with world(state_url, tmp_path) as running:
        sync_window(running.env, "items", running.windows())
        yield running


def run(w: World, *args: str) -> Result:
    return CliRunner().invoke(cli, ["dlq", *args], env=env_vars(w.settings))


def run_json(w: World, *args: str) -> Any:
    answer = run(w, *args, "--json")
    assert answer.exit_code == 0, answer.output
    return json.loads(answer.output)


def failed(w: World, **filters: Any) -> pl.DataFrame:
    return w.env.store.failed.find(entity="items", **filters)


def in_hub(w: World, key_hash: str, entity: str = "items") -> dict[str, Any] | None:
    return w.env.schedulehub.get_by_key(entity, key_hash)


def test_list_counts_per_error_type_and_filters(w: World) -> None:
    everything = failed(w)
    assert everything.height > 10
    listing = run_json(w, "list", "--entity", "items", "--limit", "1000")
    assert sum(c["records"] for c in listing["counts"]) == everything.height
    by_type = everything.group_by("error_type").len()
    for error_type, n in by_type.iter_rows():
        assert sum(c["records"] for c in listing["counts"] if c["error_type"] == error_type) == n
    records = listing["records"]
    assert [r["id"] for r in records] == everything["id"].to_list()
    raw_keys = [json.loads(t)["PART_NO"].strip() for t in everything["raw_data"]]
    assert [r["key"] for r in records] == raw_keys
    one = run_json(w, "list", "--error-type", "missing_required")
    assert {r["error_type"] for r in one["records"]} == {"missing_required"}
    assert len(one["records"]) == failed(w, error_type="missing_required").height
    assert run_json(w, "list", "--status", "resolved")["records"] == []
    text = run(w, "list", "--entity", "items", "--limit", "3")
    assert text.exit_code == 0, text.output
    assert f"{everything.height:,} failed record(s) (open, dead), by error type:" in text.output
    assert "records, first 3:" in text.output


def test_show_prints_every_column_and_the_row_normalized_now(w: World) -> None:
    record = failed(w, error_type="invalid_number").row(0, named=True)
    shown = run_json(w, "show", str(record["id"]))
    assert set(shown) >= FAILED_COLUMNS
    assert shown["kind"] == "data"
    assert shown["raw_data"] == json.loads(record["raw_data"])
    by_target = {f["target"]: f for f in shown["normalized"]}
    assert by_target[record["field"]]["error"] == "invalid_number"
    assert by_target[record["field"]]["value"] is None
    assert [f["error"] for f in shown["normalized"]].count(None) == len(shown["normalized"]) - 1
    text = run(w, "show", str(record["id"]))
    assert text.exit_code == 0
    assert "raw_data normalized now, field by field" in text.output
    assert '  "PART_NO": ' in text.output  # the JSON pretty-printed
    assert run(w, "show", "999999").output.strip() == "Error: no failed record with id 999999"


def test_retry_with_a_fix_reaches_schedulehub(w: World) -> None:
    spec = w.env.spec("items")
    bad = failed(w, error_type="invalid_number").row(0, named=True)
    column = spec.field(bad["field"]).source
    assert in_hub(w, bad["erp_key_hash"]) is None
    outcome = run_json(w, "retry", str(bad["id"]), "--set", f"{column}=12.5")
    assert [(o["id"], o["outcome"], o["status"]) for o in outcome] == [
        (bad["id"], "synced", "resolved")
    ]
    record = in_hub(w, bad["erp_key_hash"])
    assert record is not None
    assert record[bad["field"]] == 12.5
    assert outcome[0]["detail"] == f"in ScheduleHub as {record['uid']}"
    after = w.env.store.failed.get(bad["id"])
    assert after is not None
    assert json.loads(after["raw_data"])[column] == "12.5"
    # without a fix it fails again, and waits for a person again (no automatic retries)
    other = failed(w, error_type="invalid_datetime").row(0, named=True)
    again = run_json(w, "retry", str(other["id"]))
    assert again[0]["outcome"] == "failed again"
    assert again[0]["detail"].endswith("(waits for a person)")
    now = w.env.store.failed.get(other["id"])
    assert now is not None
    assert (now["status"], now["retry_count"], now["next_retry_at"]) == ("open", 1, None)


def test_retry_all_of_one_error_type_with_one_fix(w: World) -> None:
    missing = failed(w, error_type="missing_required", status="open")
    assert set(missing["field"]) == {"description"}
    outcome = run_json(w, "retry", "--entity", "items", "--error-type", "missing_required",
                       "--set", "description=Fixed by hand")  # fmt: skip
    assert sorted(o["id"] for o in outcome) == sorted(missing["id"])
    assert {o["outcome"] for o in outcome} == {"synced"}
    for key in missing["erp_key_hash"]:
        record = in_hub(w, key)
        assert record is not None
        assert record["description"] == "Fixed by hand"
    assert failed(w, error_type="missing_required", status="open").height == 0


def test_retry_later_only_makes_them_due(w: World) -> None:
    bad = failed(w, error_type="invalid_integer").row(0, named=True)
    before = hub_writes(w.writes())
    outcome = run_json(w, "retry", str(bad["id"]), "--set", "LEAD_TIME=7", "--later")
    assert outcome[0]["outcome"] == "due"
    assert hub_writes(w.writes()) == before
    due = w.env.store.failed.due(now=utcnow(), entity="items")
    assert due["id"].to_list() == [bad["id"]]
    redrive(w.env)  # what the re-drive sensor launches
    record = in_hub(w, bad["erp_key_hash"])
    assert record is not None
    assert record["lead_time_days"] == 7


def test_resolve_by_hand_with_a_reason(w: World) -> None:
    ids = failed(w)["id"].to_list()[:2]
    answer = run(w, "resolve", *map(str, ids), "--reason", "fixed in the ERP, ticket 42")
    assert answer.exit_code == 0, answer.output
    assert answer.output.strip() == f"resolved 2 record(s): {ids[0]}, {ids[1]}"
    done = w.env.store.failed.find(ids=ids)
    assert done["status"].to_list() == ["resolved", "resolved"]
    assert done["resolution"].to_list() == ["fixed in the ERP, ticket 42"] * 2
    assert run(w, "resolve", str(ids[0]), "--reason", "x").exit_code == 1
    assert "resolved already" in run(w, "retry", str(ids[0])).output
    assert run(w, "resolve", "--reason", "everything").exit_code == 1  # no selection
    assert run(w, "resolve", str(ids[1])).exit_code == 2  # --reason is required
    assert "no failed record with id 999999" in run(w, "retry", "999999").output
    assert failed(w, status="resolved").height == 2


def test_a_bad_fix_is_refused_before_anything_changes(w: World) -> None:
    bad = failed(w).row(0, named=True)
    answer = run(w, "retry", str(bad["id"]), "--set", "NO_SUCH_COLUMN=1")
    assert answer.exit_code == 1
    assert "items has no column 'NO_SUCH_COLUMN'" in answer.output
    assert w.env.store.failed.get(bad["id"]) == bad
    assert "COLUMN=VALUE or COLUMN:=JSON" in run(w, "retry", str(bad["id"]), "--set", "x").output


def stricter_hub(length: int) -> dict[str, EntitySpec]:
    """ScheduleHub's catalog with a shorter items.description than SyncFlow's."""
    catalog = load_catalog()
    items = catalog["items"].model_dump()  # validated anew: the specs cache derived values
    for field in items["fields"]:
        if field["target"] == "description":
            field["oracle_type"] = f"VARCHAR2({length})"
    return {**catalog, "items": EntitySpec.model_validate(items)}


def test_after_ingest_a_chunk_keeps_the_body_and_text_of_its_failed_writes_only(
    state_url: str, tmp_path: Path
) -> None:
    # what waits for track: a written row's key, uid, hashes and rowversion; a failed
    # write's body (its dead letter) and record text too
    with world(state_url, tmp_path, sizes={"items": 200}, hub_catalog=stricter_hub(15)) as w:
        batch = pipeline.open_batch(w.env, "items", w.windows())
        # track commits a chunk and hands on its frame as ingest left it
        outcomes = [chunk.frame for chunk in pipeline.stages(batch)]
        assert pipeline.finish(batch).status == "succeeded"
        frame = pl.concat(outcomes)
        failed = frame.filter(pl.col("outcome") == "failed")
        assert failed.height > 0  # the stricter hub refused some
        assert failed["body"].null_count() == 0
        assert frame.filter(pl.col("outcome") != "failed")["body"].null_count() == (
            frame.height - failed.height
        )
        kept = failed.row(0, named=True)
        assert json.loads(kept["body"])["erp_key_hash"] == kept["erp_key_hash"]
        assert kept["description"] == json.loads(kept["body"])["description"]
        written = frame.filter(pl.col("outcome") == "inserted")
        assert written.height > 0
        assert written["description"].null_count() == written.height  # text dropped
        assert written["item_number"].null_count() == written.height
        assert written["lead_time_days"].null_count() < written.height  # numbers kept
        for column in ("erp_key_hash", "uid", "erp_data_hash", "erp_rowversion"):
            assert written[column].null_count() == 0, column


def test_ingest_refusal_dead_then_fixed_in_mapped_data(state_url: str, tmp_path: Path) -> None:
    with world(state_url, tmp_path, sizes={"items": 200}, hub_catalog=stricter_hub(15)) as w:
        result = sync_window(w.env, "items", w.windows())
        refused = failed(w, stage_failed="ingest")
        assert refused.height > 0
        assert result.metrics.rows_failed > refused.height  # and the data errors
        assert set(refused["error_type"]) == {"validation"}
        bad = refused.row(0, named=True)
        w.env.store.failed.mark_dead([bad["id"]])
        shown = run_json(w, "show", str(bad["id"]))
        assert shown["kind"] == "sent"
        assert len(shown["mapped_data"]["description"]) > 15
        key_fix = run(w, "retry", str(bad["id"]), "--set", "item_number=OTHER")
        assert key_fix.exit_code == 1
        assert "item_number is a key field" in key_fix.output
        outcome = run_json(w, "retry", str(bad["id"]), "--set", "DESCRIPTION=Short one")
        assert outcome[0]["outcome"] == "synced", outcome
        record = in_hub(w, bad["erp_key_hash"])
        assert record is not None
        assert record["description"] == "Short one"
        assert record["erp_data_hash"] == json.loads(bad["mapped_data"])["erp_data_hash"]


def test_transient_failures_of_one_type_replayed_at_once(state_url: str, tmp_path: Path) -> None:
    with world(state_url, tmp_path, settings={"http_max_attempts": 2}) as w:
        first, *rest = w.windows()
        sync_window(w.env, "work_centers", first)  # some state: no /index read below
        w.hub.set_faults(error_rate=1.0, error_statuses=[503])
        sync_window(w.env, "work_centers", rest)
        w.hub.set_faults(error_rate=0.0)
        transient = w.env.store.failed.find(entity="work_centers", error_type="transient")
        assert transient.height > 0
        assert (transient["next_retry_at"] > utcnow()).all()  # not due yet
        outcome = run_json(w, "retry", "--entity", "work_centers", "--error-type", "transient")
        assert len(outcome) == transient.height
        assert {o["outcome"] for o in outcome} == {"synced"}
        for key in transient["erp_key_hash"]:
            assert in_hub(w, key, "work_centers") is not None


def test_a_failed_delete_is_listed_by_uid_and_left_to_the_reconciliation(
    state_url: str, tmp_path: Path
) -> None:
    from syncflow_core.reconcile import reconcile

    with world(state_url, tmp_path) as w:
        for entity in w.env.parents_first():
            sync_window(w.env, entity, w.windows())
        w.erp.activity("items", delete=4)  # some of them still have order lines
        refusals = reconcile(w.env, "items").metrics.rows_failed
        assert refusals > 0
        every = failed(w, stage_failed="ingest")
        assert every.height == refusals
        assert set(every["op"]) == {"delete"}
        assert set(every["error_type"]) == {"has_children"}
        listed = run_json(w, "list", "--stage", "ingest")["records"]
        assert [r["key"] for r in listed] == [f"uid {uid}" for uid in every["uid"]]
        refused = every.row(0, named=True)
        answer = run(w, "retry", str(refused["id"]))
        assert answer.exit_code == 1
        assert "failed deletes: the next reconciliation of items tries them again" in answer.output
        assert w.env.store.failed.get(refused["id"]) == refused
