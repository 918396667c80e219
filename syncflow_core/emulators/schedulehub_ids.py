"""Which records of one table exist, in memory: their ids (sorted) and uid lower halves.

A child's parents, a duplicate's uid and the targets of full-record updates are looked
up here, a whole batch at a time (``numpy.searchsorted``), instead of in the table: a
random primary-key lookup costs SQLite about 2 µs, the batch here a few µs in all. Memory:
16 bytes per record (two int64 arrays that grow by doubling).

New ids only ever come above every id held (``UidGenerator`` starts above the stored
maximum, and uids are drawn under the store's lock), so adding is an append; a deleted
record keeps its slot with low 0, which no uid has (a uid's lower half starts with the
variant bits ``10``: as a signed integer it is negative).

>>> live = LiveIds.of([10, 20], [-5, -6])
>>> live.add([30], [-7]); live.remove([20])
>>> live.lows([10, 20, 30, 40]).tolist()
[-5, 0, -7, 0]
>>> live.has([10, 30], [-5, -7]), live.has([10], [-6])
(True, False)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

_ABSENT = 0
Ints = npt.NDArray[np.int64]


class LiveIds:
    """The (id, low) pairs of one table's records. Not thread-safe: the store's lock is."""

    def __init__(self) -> None:
        self._ids: Ints = np.empty(1024, np.int64)
        self._lows: Ints = np.empty(1024, np.int64)
        self._size = 0

    @classmethod
    def of(cls, ids: Sequence[int], lows: Sequence[int]) -> LiveIds:
        """From a table read at start (in id order, or it is sorted here)."""
        live = cls()
        live.add(ids, lows)
        return live

    def add(self, ids: Sequence[int], lows: Sequence[int]) -> None:
        """Add records; ``ids`` ascending (above every id held, or the arrays are re-sorted)."""
        count = len(ids)
        if not count:
            return
        new_ids = np.fromiter(ids, np.int64, count)
        new_lows = np.fromiter(lows, np.int64, count)
        end = self._size + count
        if end > len(self._ids):
            capacity = max(2 * len(self._ids), end)
            self._ids = np.resize(self._ids[: self._size], capacity)
            self._lows = np.resize(self._lows[: self._size], capacity)
        self._ids[self._size : end] = new_ids
        self._lows[self._size : end] = new_lows
        in_order = self._size == 0 or new_ids[0] > self._ids[self._size - 1]
        self._size = end
        if not (in_order and bool(np.all(new_ids[1:] > new_ids[:-1]))):
            order = np.argsort(self._ids[:end], kind="stable")  # never for uids of ours
            self._ids[:end] = self._ids[:end][order]
            self._lows[:end] = self._lows[:end][order]

    def remove(self, ids: Sequence[int]) -> None:
        """Forget records (their slots stay, marked absent)."""
        if not len(ids):
            return
        wanted = np.fromiter(ids, np.int64, len(ids))
        found = self._find(wanted)
        self._lows[found[found >= 0]] = _ABSENT

    def clear(self) -> None:
        self._size = 0

    def lows(self, ids: Sequence[int]) -> Ints:
        """The lower half of each id's uid; 0 where there is no such record."""
        wanted = np.fromiter(ids, np.int64, len(ids))
        found = self._find(wanted)
        out = np.zeros(len(wanted), np.int64)
        hit = found >= 0
        out[hit] = self._lows[found[hit]]
        return out

    def has(self, ids: Sequence[int], lows: Sequence[int]) -> bool:
        """Whether every (id, low) is a live record."""
        expected = np.fromiter(lows, np.int64, len(lows))
        return bool(np.array_equal(self.lows(ids), expected))

    def _find(self, wanted: Ints) -> npt.NDArray[np.intp]:
        """Each wanted id's slot, or -1."""
        held = self._ids[: self._size]
        slots = np.searchsorted(held, wanted)
        inside = slots < self._size
        slots[~inside] = 0
        match = inside & (held[slots] == wanted) if self._size else np.zeros(len(wanted), bool)
        return np.where(match, slots, -1)
