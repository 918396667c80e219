"""What one stage op hands the next: the open batch and its lazy chunk stream.

In a run on the in-process executor nothing is computed when a stage op returns: each op
adds its stage to the stream (:meth:`Handoff.then`), and the track op pulls the stream,
chunk by chunk through all nine stages, committing chunks' state in order. As in the core
pipeline (``pipeline.overlap``), the source side (fetch to identity), the state lookups
(delta) and the ScheduleHub side (resolve and ingest) each run in a thread of their own up
to ``pipeline_depth`` chunks ahead of the state writes. Memory stays bounded by the chunk
size and that depth, and each stage keeps its own seconds.

>>> Handoff.__dataclass_fields__.keys()
dict_keys(['batch', 'stream'])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from syncflow_core import pipeline
from syncflow_core.pipeline import Batch
from syncflow_core.stream import Chunk, ChunkStream
from syncflow_dagster import progress

StageFn = Callable[[Batch, Chunk], Chunk]


@dataclass
class Handoff:
    """An open batch and the stream of its chunks as far as the stages so far take them."""

    batch: Batch
    stream: ChunkStream[Chunk]

    def then(self, stage: str, fn: StageFn) -> Handoff:
        """The same batch with ``stage`` applied lazily to every chunk (timed as ``stage``)."""
        batch, entity = self.batch, self.batch.entity

        def run(chunk: Chunk) -> Chunk:
            progress.board.enter(entity, stage, chunk)
            return fn(batch, chunk)

        return Handoff(batch, pipeline.overlap(batch, self.stream.map(stage, run), stage))
