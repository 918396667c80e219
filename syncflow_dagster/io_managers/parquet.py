"""Handoffs as Parquet files, for runs whose ops live in different processes.

``handle_output`` drains the op's stream: each chunk's frames go to Parquet files, and a
manifest (``manifest.json``) lists them with the batch's descriptor. ``load_input``
re-attaches the batch in the reading process (taking its lease over) and returns a lazy
stream that reads one chunk at a time, so memory stays bounded by the chunk size here
too. Each stage thus runs over the whole batch before the next starts. The files of a
handoff are deleted once it has been read to its end.

A report (the dict the checks read) is a JSON file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg

from syncflow_core import pipeline
from syncflow_core.stream import Chunk, ChunkStream
from syncflow_dagster.handoff import Handoff
from syncflow_dagster.io_managers.chunk_files import read_chunk, write_chunk
from syncflow_dagster.resources import SyncFlowResource
from syncflow_dagster.resume import describe, resume_batch

MANIFEST = "manifest.json"


class HandoffParquetIOManager(dg.ConfigurableIOManager):
    """Writes handoffs under ``base_dir/<run id>/<step>/<output>/``."""

    base_dir: str
    syncflow: SyncFlowResource

    def _folder(self, run_id: str, step_key: str, name: str) -> Path:
        return Path(self.base_dir) / run_id / step_key / name

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        folder = self._folder(context.run_id, context.step_key, context.name)
        if folder.exists():  # a retried step writes afresh
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        if isinstance(obj, Handoff):
            manifest = _write_handoff(folder, obj)
            rows = sum(c["rows"] for c in manifest["chunks"])
            context.log.info(f"handed over {len(manifest['chunks'])} chunk(s), {rows} rows")
        else:
            manifest = {"kind": "json", "value": obj}
        (folder / MANIFEST).write_text(json.dumps(manifest))

    def load_input(self, context: dg.InputContext) -> Any:
        upstream = context.upstream_output
        if upstream is None:
            raise ValueError(f"input {context.name!r} has no upstream output")
        folder = self._folder(upstream.run_id, upstream.step_key, upstream.name)
        manifest = json.loads((folder / MANIFEST).read_text())
        if manifest["kind"] == "json":
            shutil.rmtree(folder, ignore_errors=True)
            return manifest["value"]
        batch = resume_batch(self.syncflow.env, manifest["batch"])
        chunks = _read_chunks(folder, manifest["chunks"], batch)
        return Handoff(batch, ChunkStream(batch.entity, chunks, batch.seconds))


def default_base_dir() -> str:
    """``$DAGSTER_HOME/storage/syncflow_handoff``, or one under the temp dir."""
    home = os.environ.get("DAGSTER_HOME")
    root = Path(home) / "storage" if home else Path(tempfile.gettempdir())
    return str(root / "syncflow_handoff")


def _write_handoff(folder: Path, handoff: Handoff) -> dict[str, Any]:
    """Drain the stream into files; a stage that raises finishes the batch as failed."""
    batch = handoff.batch
    entries = []
    try:
        for index, chunk in enumerate(handoff.stream):
            entry = write_chunk(folder, index, chunk)
            entries.append({"rows": chunk.rows, "chunk": entry})
    except BaseException as exc:
        pipeline.finish(batch, error=exc)
        raise
    return {"kind": "handoff", "batch": describe(batch), "chunks": entries}


def _read_chunks(
    folder: Path, entries: list[dict[str, Any]], batch: pipeline.Batch
) -> Iterator[Chunk]:
    for entry in entries:
        yield read_chunk(folder, entry["chunk"], batch.spec)
    shutil.rmtree(folder, ignore_errors=True)
