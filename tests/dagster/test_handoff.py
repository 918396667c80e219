"""The stage ops' handoff overlaps the stages exactly as the core pipeline does."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from syncflow_core.pipeline import STAGES, THREAD_BREAKS
from syncflow_core.stream import Chunk, ChunkStream
from syncflow_dagster.handoff import Handoff


def _threads_per_stage(depth: int) -> dict[str, set[str]]:
    """Chain the eight stages after fetch through ``Handoff.then`` over three items and
    note the thread each stage ran in."""
    batch: Any = SimpleNamespace(
        entity="items", env=SimpleNamespace(settings=SimpleNamespace(pipeline_depth=depth))
    )
    threads: dict[str, set[str]] = {}

    def stage(name: str) -> Any:
        def fn(_batch: Any, chunk: Chunk) -> Chunk:
            threads.setdefault(name, set()).add(threading.current_thread().name)
            return chunk

        return fn

    items: Any = iter([SimpleNamespace(rows=1) for _ in range(3)])
    handoff = Handoff(batch, ChunkStream("items", items))
    for name in STAGES[1:]:
        handoff = handoff.then(name, stage(name))
    assert len(list(handoff.stream)) == 3
    return threads


@pytest.mark.parametrize("depth", [1, 2])
def test_the_stages_run_in_the_core_pipelines_threads(depth: int) -> None:
    threads = _threads_per_stage(depth)
    main = threading.current_thread().name
    assert {"identity", "delta", "ingest"} == THREAD_BREAKS
    for name in ("normalize", "validate", "map", "identity"):
        assert threads[name] == {"items-identity"}, name
    assert threads["delta"] == {"items-delta"}
    for name in ("resolve", "ingest"):
        assert threads[name] == {"items-ingest"}, name
    assert threads["track"] == {main}


def test_a_depth_of_zero_runs_every_stage_in_the_consumer() -> None:
    main = threading.current_thread().name
    assert all(names == {main} for names in _threads_per_stage(0).values())
