"""Rendered chunks of initial rows: a byte-bounded LRU cache that also reads ahead.

A chunk is ``chunk_rows`` consecutive initial rows rendered in one vectorized pass into
one blob ``{...},{...},...`` plus the byte offset of every row, so a page of consecutive
rows is one ``bytes`` slice. While a scan reads chunk ``c`` the cache renders ``c + 1`` on a
worker thread (Polars releases the GIL), so a cold scan's generation overlaps with the
client's decoding instead of adding to it.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from typing import NamedTuple


class RenderedChunk(NamedTuple):
    """Rows joined by commas, and where each row starts (one entry more: the end + 1)."""

    blob: bytes
    offsets: list[int]

    def rows(self, first: int, stop: int) -> bytes:
        """Rows ``first`` .. ``stop - 1`` of the chunk, joined by commas."""
        return self.blob[self.offsets[first] : self.offsets[stop] - 1]

    @property
    def footprint(self) -> int:
        """Approximate bytes held (a list slot and a small int per offset)."""
        return len(self.blob) + 36 * len(self.offsets)


Render = Callable[[], RenderedChunk]
log = logging.getLogger(__name__)


class ChunkCache:
    """LRU of rendered chunks with at most ``budget_bytes``; thread-safe."""

    def __init__(self, budget_bytes: int) -> None:
        self._budget = budget_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, RenderedChunk] = OrderedDict()
        self._pending: dict[Hashable, Future[RenderedChunk]] = {}
        self._held = 0
        self._closed = False
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chunk-read-ahead")

    def get(self, key: Hashable, render: Render) -> RenderedChunk:
        """The chunk for ``key``: cached, being read ahead (waited for), or rendered now."""
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                return hit
            pending = self._pending.get(key)
        if pending is not None:
            try:
                return pending.result()
            except (CancelledError, Exception) as exc:  # closed or failed ahead: render here
                log.debug("read-ahead of %s did not finish (%r): rendering now", key, exc)
        chunk = render()
        self._store(key, chunk)
        return chunk

    def read_ahead(self, key: Hashable, render: Render) -> None:
        """Render ``key`` in the background unless it is cached or already under way."""
        with self._lock:
            if self._closed or key in self._entries or key in self._pending:
                return
            self._pending[key] = self._worker.submit(self._render_ahead, key, render)

    def _render_ahead(self, key: Hashable, render: Render) -> RenderedChunk:
        try:
            chunk = render()
            self._store(key, chunk)
            return chunk
        finally:
            with self._lock:
                self._pending.pop(key, None)

    def _store(self, key: Hashable, chunk: RenderedChunk) -> None:
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = chunk
            self._held += chunk.footprint
            while self._held > self._budget and len(self._entries) > 1:
                _, dropped = self._entries.popitem(last=False)
                self._held -= dropped.footprint

    def discard(self, keep: Callable[[Hashable], bool]) -> None:
        """Drop every cached chunk whose key ``keep`` rejects (after schema drift)."""
        with self._lock:
            for key in [k for k in self._entries if not keep(k)]:
                self._held -= self._entries.pop(key).footprint

    def close(self) -> None:
        """Stop the read-ahead worker (pending renders are dropped; no more read-ahead)."""
        with self._lock:
            self._closed = True
        self._worker.shutdown(wait=False, cancel_futures=True)
