"""Structured JSON logs: one object a line, and a batch's lines found by its batch_uid."""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import logging
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from syncflow_core.observability import (
    SYNCFLOW_LOGGERS,
    configure_json_logging,
    configure_logging_from_settings,
    current_log_context,
    forward_logs,
    log_context,
    read_batch_lines,
)
from syncflow_core.settings import Settings

KEYS = {"timestamp", "level", "service", "logger", "batch_uid", "entity", "stage", "message",
        "metrics"}  # fmt: skip


@pytest.fixture(autouse=True)
def restore_loggers() -> Iterator[None]:
    """Each test leaves the SyncFlow loggers as it found them."""
    saved = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level)
             for name in SYNCFLOW_LOGGERS}  # fmt: skip
    yield
    for name, (handlers, level) in saved.items():
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            if handler not in handlers:
                handler.close()
        logger.handlers = handlers
        logger.setLevel(level)


def lines_of(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


class RecordingLog:
    """Stands in for Dagster's ``context.log``: remembers what each method was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def debug(self, msg: str) -> None:
        self.calls.append(("debug", msg))

    def info(self, msg: str) -> None:
        self.calls.append(("info", msg))

    def warning(self, msg: str) -> None:
        self.calls.append(("warning", msg))

    def error(self, msg: str) -> None:
        self.calls.append(("error", msg))

    def critical(self, msg: str) -> None:
        self.calls.append(("critical", msg))


def test_a_line_has_every_field(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "syncflow.jsonl"
    configure_json_logging(path, settings=Settings())
    log = logging.getLogger("syncflow_core.normalize")
    before = dt.datetime.now(dt.UTC)
    with log_context(batch_uid="b-1", entity="items", stage="normalize"):
        log.info("normalized %d rows", 1000,
                 extra={"metrics": {"rows_normalized": 1000, "duration_ms": 250}})  # fmt: skip
    log.debug("below the level: not written")
    log.warning("outside any batch")

    first, second = lines_of(path)
    assert set(first) == KEYS
    assert first["message"] == "normalized 1000 rows"
    assert (first["level"], first["service"], first["logger"]) == (
        "INFO", "syncflow", "syncflow_core.normalize")  # fmt: skip
    assert (first["batch_uid"], first["entity"], first["stage"]) == ("b-1", "items", "normalize")
    assert first["metrics"] == {"rows_normalized": 1000, "duration_ms": 250}
    assert first["timestamp"].endswith("Z")
    stamp = dt.datetime.fromisoformat(first["timestamp"].replace("Z", "+00:00"))
    assert stamp.utcoffset() == dt.timedelta(0)
    assert before - dt.timedelta(seconds=1) <= stamp <= dt.datetime.now(dt.UTC)
    assert second == {**second, "batch_uid": None, "entity": None, "stage": None, "metrics": {},
                      "level": "WARNING", "message": "outside any batch"}  # fmt: skip


def test_context_nests_and_extra_wins(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    configure_json_logging(path, settings=Settings())
    log = logging.getLogger("syncflow_dagster.assets")
    with log_context(batch_uid="b-2", entity="items", stage="fetch", run_id="r-9"):
        with log_context(stage="ingest"):
            assert current_log_context()["stage"] == "ingest"
            log.info("inner")
        log.info("outer", extra={"entity": "work_orders"})
    assert current_log_context() == {}
    inner, outer = lines_of(path)
    assert (inner["stage"], inner["extra"]) == ("ingest", {"run_id": "r-9"})
    assert (outer["stage"], outer["entity"]) == ("fetch", "work_orders")


def test_exceptions_and_odd_values_still_make_one_json_line(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    configure_json_logging(path, settings=Settings())
    log = logging.getLogger("syncflow_core.pipeline")
    try:
        raise KeyError("parent\nmissing")
    except KeyError:
        log.exception("batch failed", extra={"errors": {("ingest", "transient"): 3},
                                              "where": tmp_path})  # fmt: skip
    (line,) = lines_of(path)
    assert "KeyError" in line["exception"]
    assert "Traceback" in line["exception"]
    assert line["extra"] == {"errors": {"('ingest', 'transient')": 3}, "where": str(tmp_path)}


def run_batch(batch_uid: str, entity: str, n: int, barrier: threading.Barrier) -> None:
    """A batch that logs from its own thread, a helper thread and asyncio tasks."""
    log = logging.getLogger("syncflow_core.pipeline")
    with log_context(batch_uid=batch_uid, entity=entity):
        barrier.wait()  # both batches log at the same time
        for i in range(n):
            with log_context(stage="fetch"):
                log.info("page %d", i)
        helper = threading.Thread(
            target=contextvars.copy_context().run,
            args=(lambda: logging.getLogger("syncflow_core.clients").info("helper"),),
        )
        helper.start()
        helper.join()

        async def upload(chunk: int) -> None:
            logging.getLogger("syncflow_core.ingest").info("chunk %d", chunk)

        async def all_chunks() -> None:
            await asyncio.gather(*(upload(c) for c in range(3)))

        asyncio.run(all_chunks())


def test_a_whole_batch_is_pulled_out_by_batch_uid(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    configure_json_logging(path, settings=Settings())
    uids = {"items": str(uuid.uuid4()), "work_orders": str(uuid.uuid4())}
    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=run_batch, args=(uid, entity, 50, barrier))
               for entity, uid in uids.items()]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    logging.getLogger("syncflow").info("between batches")

    everything = lines_of(path)
    assert len(everything) == 2 * (50 + 1 + 3) + 1
    for entity, uid in uids.items():
        batch = list(read_batch_lines(path, uid))
        assert {line["entity"] for line in batch} == {entity}
        assert [line["message"] for line in batch if line["stage"] == "fetch"] == [
            f"page {i}" for i in range(50)]  # fmt: skip
        assert sorted(line["message"] for line in batch if line["stage"] is None) == [
            "chunk 0", "chunk 1", "chunk 2", "helper"]  # fmt: skip
    assert [line["message"] for line in everything if line["batch_uid"] is None] == [
        "between batches"]  # fmt: skip


def test_read_batch_lines_refuses_a_torn_file(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text('{"batch_uid": "x"}\n{"batch_uid": \n')
    with pytest.raises(ValueError, match=":2 is not a JSON log line"):
        list(read_batch_lines(path, "x"))


def test_forwarded_lines_are_the_file_lines(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    configure_json_logging(path, logging.DEBUG, settings=Settings())
    dagster_log = RecordingLog()
    log = logging.getLogger("syncflow_core.delta")
    levels = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)
    with (
        forward_logs(dagster_log, logging.DEBUG, settings=Settings()),
        log_context(batch_uid="b-3"),
    ):
        for level in levels:
            log.log(level, "at %s", logging.getLevelName(level))
    log.info("after the block")
    assert [method for method, _ in dagster_log.calls] == [
        "debug", "info", "warning", "error", "critical"]  # fmt: skip
    file_lines = path.read_text().splitlines()
    assert [line for _, line in dagster_log.calls] == file_lines[:5]
    assert len(file_lines) == 6


def test_forwarding_by_batch_uid_and_without_loops() -> None:
    settings = Settings()
    mine = RecordingLog()
    log = logging.getLogger("syncflow_core.pipeline")

    class Echo(RecordingLog):
        def info(self, msg: str) -> None:  # a sink that logs back into SyncFlow
            super().info(msg)
            log.info("echo")

    echo = Echo()
    with (
        forward_logs(mine, batch_uid="b-mine", settings=settings),
        forward_logs(echo, settings=settings),
    ):
        with log_context(batch_uid="b-mine"):
            log.info("mine")
        with log_context(batch_uid="b-other"):
            log.info("other")
    # The echo of "mine" is a record of batch b-mine too; the echoing sink never sees its own.
    assert [orjson.loads(line)["message"] for _, line in mine.calls] == ["mine", "echo"]
    assert [orjson.loads(line)["message"] for _, line in echo.calls] == ["mine", "other"]


def test_configuring_a_target_twice_does_not_double_lines(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    configure_json_logging(path, settings=Settings())
    configure_json_logging(str(path), settings=Settings())
    logging.getLogger("syncflow_core").info("once")
    assert [line["message"] for line in lines_of(path)] == ["once"]


def test_settings_choose_the_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYNCFLOW_LOG_FILE", raising=False)
    assert configure_logging_from_settings(Settings(_env_file=None)) is None
    assert configure_logging_from_settings(Settings(log_file="")) is None

    configure_logging_from_settings(Settings(log_file="-"))
    logging.getLogger("syncflow_core").warning("to stderr")
    err_lines = [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["message"] for line in err_lines] == ["to stderr"]

    monkeypatch.setenv("SYNCFLOW_LOG_FILE", str(tmp_path / "env.jsonl"))
    configure_logging_from_settings(Settings())
    logging.getLogger("syncflow_core").info("to the file")
    assert [line["message"] for line in lines_of(tmp_path / "env.jsonl")] == ["to the file"]


def test_records_still_reach_other_handlers_with_their_context(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    configure_json_logging(tmp_path / "out.jsonl", settings=Settings())
    with log_context(batch_uid="b-4", entity="items"):
        logging.getLogger("syncflow_core.state").info("saved %d rows", 5)
    (record,) = [r for r in caplog.records if r.name == "syncflow_core.state"]
    assert record.getMessage() == "saved 5 rows"
    assert (record.batch_uid, record.entity) == ("b-4", "items")  # type: ignore[attr-defined]
