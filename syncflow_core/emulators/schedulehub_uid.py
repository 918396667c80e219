"""ScheduleHub uids: UUID v7 whose upper 64 bits are also the row's integer key.

RFC 9562 lets a UUID v7 use its 12 ``rand_a`` bits as a counter (method 1), which makes
the upper half (48-bit milliseconds, version, counter) strictly increasing within one
generator. The emulator stores that half as the table's INTEGER PRIMARY KEY, so a uid
is found by a primary-key lookup and new rows append to the B-tree: no second index on
the uid, and ``/index`` pages in uid order for free. The lower half (variant and random
bits) is stored as a signed 64-bit integer: two integers, no text.

>>> fresh = UidGenerator().new(2)
>>> id1, id2 = fresh.ids
>>> uid1 = fresh.uids[0]
>>> id1 < id2 and id_of(uid1) == id1 and uid1[14] == "7"
True
>>> format_uids(fresh.ids, fresh.lows) == fresh.uids and low_of(uid1) == fresh.lows[0]
True
>>> id_of("not-a-uid") is None
True
"""

from __future__ import annotations

import random
import re
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

_VERSION_BITS = 0x7 << 12
_COUNTER_MASK = 0xFFF
_UID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class FreshUids:
    """New uids, column by column: ``ids`` (upper halves, increasing), ``lows`` (lower
    halves as signed 64-bit integers), ``uids`` (the text)."""

    ids: Sequence[int]
    lows: Sequence[int]
    uids: list[str]

    def __len__(self) -> int:
        return len(self.uids)


class UidGenerator:
    """Monotonic UUID v7 source: every id is greater than the last one and than ``floor``."""

    def __init__(self, floor: int = 0) -> None:
        self._last = floor
        self._lock = threading.Lock()

    def new(self, count: int) -> FreshUids:
        """``count`` fresh uids in increasing order."""
        with self._lock:
            ids = self._next_ids(count)
        # Mersenne Twister bytes: uid randomness needs no cryptography, and os.urandom is a
        # system call that took 8% of a busy emulator's time.
        lows = bytearray(random.randbytes(8 * count))
        lows[0::8] = lows[0::8].translate(_SET_VARIANT)
        signed = struct.unpack(f">{count}q", lows)
        return FreshUids(ids, signed, _format(struct.pack(f">{count}Q", *ids), lows, count))

    def _next_ids(self, count: int) -> list[int] | range:
        now = (time.time_ns() // 1_000_000) << 16 | _VERSION_BITS
        current = max(now, self._last + 1)
        if current & 0xF000 == _VERSION_BITS and (current & _COUNTER_MASK) + count <= 0x1000:
            self._last = current + count - 1 if count else self._last
            return range(current, current + count)  # the common case: no counter overflow
        ids = []
        for _ in range(count):
            if current & 0xF000 != _VERSION_BITS:  # the counter overflowed: next millisecond
                current = ((current >> 16) + 1) << 16 | _VERSION_BITS
            ids.append(current)
            current += 1
        self._last = ids[-1] if ids else self._last
        return ids


def format_uids(ids: Sequence[int], lows: Sequence[int]) -> list[str]:
    """The uids of these (upper half, signed lower half) pairs."""
    count = len(ids)
    return _format(struct.pack(f">{count}Q", *ids), struct.pack(f">{count}q", *lows), count)


def _format(highs: bytes, lows: bytes | bytearray, count: int) -> list[str]:
    """Uids from their halves packed big-endian, 8 bytes each.

    Built column by column in one buffer (strided slices, hex), then split: a fraction of
    the cost of formatting a thousand integers one by one.
    """
    if not count:
        return []
    both = bytearray(16 * count)
    for j in range(8):
        both[j::16] = highs[j::8]
        both[8 + j :: 16] = lows[j::8]
    digits = both.hex().encode()  # 32 hex digits per uid
    text = bytearray(37 * count)  # 36 characters and a newline per uid
    source = 0
    for position in range(37):
        if position in _DASHES:
            text[position::37] = b"-" * count
        elif position == 36:
            text[position::37] = b"\n" * count
        else:
            text[position::37] = digits[source::32]
            source += 1
    return text.decode().split("\n")[:-1]


_DASHES = frozenset((8, 13, 18, 23))
_SET_VARIANT = bytes((b & 0x3F) | 0x80 for b in range(256))  # the top two bits: 10


def id_of(uid: str) -> int | None:
    """The integer key of a uid, or ``None`` when it is not a UUID v7 (any case)."""
    uid = uid.lower()
    if _UID.fullmatch(uid) is None:
        return None
    return int(uid[:8] + uid[9:13] + uid[14:18], 16)


def split_uids(uids: Sequence[str]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(upper halves, signed lower halves) of canonical lowercase uids, column by column:
    the hex digits are gathered with strided slices of the joined text, then unpacked.

    >>> fresh = UidGenerator().new(3)
    >>> split_uids(fresh.uids) == (tuple(fresh.ids), tuple(fresh.lows))
    True
    """
    count = len(uids)
    if not count:
        return (), ()
    text = "".join(uids).encode()
    digits = bytearray(32 * count)
    for target, source in enumerate(_DIGIT_POSITIONS):
        digits[target::32] = text[source::36]
    both = bytes.fromhex(digits.decode())
    highs, lows = bytearray(8 * count), bytearray(8 * count)
    for j in range(8):
        highs[j::8] = both[j::16]
        lows[j::8] = both[8 + j :: 16]
    return struct.unpack(f">{count}Q", highs), struct.unpack(f">{count}q", lows)


_DIGIT_POSITIONS = [p for p in range(36) if p not in (8, 13, 18, 23)]


def low_of(uid: str) -> int:
    """The lower half of a (valid, lowercase) uid as a signed 64-bit integer."""
    low = int(uid[19:23] + uid[24:], 16)
    return low - (1 << 64) if low >> 63 else low


def id_of_checked(uid: str) -> int:
    """:func:`id_of` for a uid already known to be a lowercase UUID v7 (no pattern match)."""
    return int(uid[:8] + uid[9:13] + uid[14:18], 16)


def is_uid(value: str) -> bool:
    """Whether ``value`` is a canonical lowercase UUID v7."""
    return _UID.fullmatch(value) is not None


UID_PATTERN = _UID.pattern
