"""UUID v7 uids whose upper half is the row key: strictly increasing, parseable."""

from __future__ import annotations

import uuid

from syncflow_core.emulators.schedulehub_uid import (
    UidGenerator,
    format_uids,
    id_of,
    is_uid,
    low_of,
)


def test_uids_are_rfc_9562_version_7() -> None:
    (uid,) = UidGenerator().new(1).uids
    parsed = uuid.UUID(uid)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert str(parsed) == uid


def test_ids_strictly_increase_across_calls_and_bursts() -> None:
    gen = UidGenerator()
    batches = [gen.new(5000), gen.new(3), gen.new(0), gen.new(9000)]
    ids = [i for fresh in batches for i in fresh.ids]
    uids = [u for fresh in batches for u in fresh.uids]
    assert ids == sorted(set(ids))
    assert [id_of(u) for u in uids] == ids
    assert uids == sorted(uids)
    lows = [low for fresh in batches for low in fresh.lows]
    assert format_uids(ids, lows) == uids
    assert [low_of(u) for u in uids] == lows
    assert len(set(lows)) == len(lows)  # 62 random bits each


def test_counter_overflow_moves_to_the_next_millisecond() -> None:
    floor = (1_800_000_000_000 << 16) | (0x7 << 12) | 0xFFE  # 2 counter values left
    ids = list(UidGenerator(floor).new(4).ids)
    assert ids[0] == floor + 1
    assert ids[1] >> 16 == (floor >> 16) + 1  # next millisecond, counter restarted
    assert all((i >> 12) & 0xF == 7 for i in ids)
    assert ids == sorted(set(ids))


def test_a_floor_keeps_new_ids_above_stored_ones() -> None:
    far = (4_000_000_000_000 << 16) | (0x7 << 12)  # a clock far ahead, as after a restart
    (first,) = UidGenerator(far).new(1).ids
    assert first == far + 1


def test_id_of_refuses_what_is_not_a_uuid7() -> None:
    (uid,) = UidGenerator().new(1).uids
    assert id_of(uid.upper()) == id_of(uid)
    v4 = str(uuid.uuid4())
    for bad in ("", "x" * 36, v4, uid[:-1], uid + "0"):
        assert id_of(bad) is None
    assert is_uid(uid)
    assert not is_uid(uid.upper())
