"""A :class:`~syncflow_core.stream.Chunk` as Parquet files plus a JSON entry, and back.

Every field of a chunk is written by its kind: frames and series as Parquet files,
lists of frames as several files, the stage-2-4 :class:`Staged` value as its frames (its
field plans are rebuilt from the catalog on reading), windows, datetimes and metrics as
JSON. A chunk field of a kind not listed here is an error, not a silent loss.

>>> import tempfile, polars as pl
>>> from syncflow_core.stream import Chunk
>>> folder = Path(tempfile.mkdtemp())
>>> entry = write_chunk(folder, 0, Chunk(None, 0, True, pl.DataFrame({"a": [1]})))
>>> read_chunk(folder, entry, None).frame["a"].to_list()
[1]
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl

from syncflow_core.catalog import EntitySpec
from syncflow_core.metrics import BatchMetrics
from syncflow_core.normalize.batch import entity_plans
from syncflow_core.normalize.source import RawInput
from syncflow_core.normalize.stages import Staged
from syncflow_core.stream import Chunk
from syncflow_core.windows import Window

Entry = dict[str, Any]


class UnsupportedChunkValueError(TypeError):
    """A chunk field holds a value the file handoff cannot write."""


def write_chunk(folder: Path, index: int, chunk: Chunk) -> Entry:
    """Write ``chunk``'s frames under ``folder``; returns its manifest entry."""
    writer = _Writer(folder, f"{index:06d}")
    return {f.name: writer.value(f.name, getattr(chunk, f.name)) for f in dataclasses.fields(chunk)}


def read_chunk(folder: Path, entry: Entry, spec: EntitySpec | None) -> Chunk:
    """The chunk of a manifest ``entry`` (``spec`` rebuilds a staged value's plans)."""
    values = {name: _read(folder, encoded, spec) for name, encoded in entry.items()}
    return Chunk(**values)


class _Writer:
    def __init__(self, folder: Path, stem: str) -> None:
        self.folder, self.stem = folder, stem

    def frame(self, name: str, frame: pl.DataFrame) -> str:
        file = f"{self.stem}.{name}.parquet"
        frame.write_parquet(self.folder / file, compression="lz4", statistics=False)
        return file

    def value(self, name: str, value: Any) -> Entry:
        if value is None:
            return {"kind": "none"}
        if isinstance(value, pl.DataFrame):
            return {"kind": "frame", "file": self.frame(name, value)}
        if isinstance(value, pl.Series):
            return {"kind": "series", "file": self.frame(name, value.to_frame())}
        if isinstance(value, list) and all(isinstance(v, pl.DataFrame) for v in value):
            files = [self.frame(f"{name}.{i}", v) for i, v in enumerate(value)]
            return {"kind": "frames", "files": files}
        if isinstance(value, Staged):
            return self.staged(name, value)
        if isinstance(value, Window):
            return {"kind": "window", **window_json(value)}
        if isinstance(value, dt.datetime):
            return {"kind": "datetime", "value": value.isoformat()}
        if isinstance(value, BatchMetrics):
            return {"kind": "metrics", "value": dataclasses.asdict(value)}
        if isinstance(value, bool | int | float | str):
            return {"kind": "value", "value": value}
        raise UnsupportedChunkValueError(f"chunk field {name!r}: {type(value).__name__}")

    def staged(self, name: str, staged: Staged) -> Entry:
        raw = staged.raw
        if raw._rows is not None:  # rows given as dicts: only re-drives do that, in one op
            raise UnsupportedChunkValueError(f"chunk field {name!r}: raw rows as dicts")
        original = raw._original
        work = staged.remaining()  # validate and map only narrow the rows and columns
        return {
            "kind": "staged",
            "raw": self.frame(f"{name}.raw", raw.frame),
            "original": None if original is None else self.frame(f"{name}.original", original),
            "work": self.frame(f"{name}.work", work),
            "columns": None if staged.columns is None else list(staged.columns),
            "needs": staged.needs,
        }


def _read(folder: Path, encoded: Entry, spec: EntitySpec | None) -> Any:
    kind = encoded["kind"]
    if kind == "none":
        return None
    if kind == "frame":
        return pl.read_parquet(folder / encoded["file"])
    if kind == "series":
        return pl.read_parquet(folder / encoded["file"]).to_series()
    if kind == "frames":
        return [pl.read_parquet(folder / file) for file in encoded["files"]]
    if kind == "staged":
        if spec is None:
            raise ValueError("a staged chunk needs its entity's spec to be read")
        original = encoded["original"]
        raw = RawInput(
            pl.read_parquet(folder / encoded["raw"]),
            None,
            None if original is None else pl.read_parquet(folder / original),
        )
        columns = encoded.get("columns")
        return Staged(
            raw,
            pl.read_parquet(folder / encoded["work"]),
            entity_plans(spec),
            columns=None if columns is None else tuple(columns),
            needs=encoded.get("needs") or {},
        )
    if kind == "window":
        return window_from_json(encoded)
    if kind == "datetime":
        return dt.datetime.fromisoformat(encoded["value"])
    if kind == "metrics":
        return BatchMetrics(**encoded["value"])
    if kind == "value":
        return encoded["value"]
    raise ValueError(f"unknown chunk value kind {kind!r}")


def window_json(window: Window) -> Entry:
    """A window as JSON (the batch descriptor uses it too)."""
    return {"start": window.start.isoformat(), "end": window.end.isoformat(), "key": window.key}


def window_from_json(encoded: Entry) -> Window:
    """A window back from :func:`window_json`."""
    return Window(
        dt.datetime.fromisoformat(encoded["start"]),
        dt.datetime.fromisoformat(encoded["end"]),
        encoded["key"],
    )
