"""UUID v7 uids whose upper half is the row key: strictly increasing, parseable."""

from __future__ import annotations

import uuid

from syncflow_core.emulators.schedulehub_uid import UidGenerator, id_of, is_uid


def test_uids_are_rfc_9562_version_7() -> None:
    (_, uid), *_ = UidGenerator().new(1)
    parsed = uuid.UUID(uid)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert str(parsed) == uid


def test_ids_strictly_increase_across_calls_and_bursts() -> None:
    gen = UidGenerator()
    pairs = gen.new(5000) + gen.new(3) + gen.new(0) + gen.new(9000)
    ids = [i for i, _ in pairs]
    assert ids == sorted(set(ids))
    assert [id_of(u) for _, u in pairs] == ids
    assert [u for _, u in pairs] == sorted(u for _, u in pairs)


def test_counter_overflow_moves_to_the_next_millisecond() -> None:
    floor = (1_800_000_000_000 << 16) | (0x7 << 12) | 0xFFE  # 2 counter values left
    ids = [i for i, _ in UidGenerator(floor).new(4)]
    assert ids[0] == floor + 1
    assert ids[1] >> 16 == (floor >> 16) + 1  # next millisecond, counter restarted
    assert all((i >> 12) & 0xF == 7 for i in ids)
    assert ids == sorted(set(ids))


def test_a_floor_keeps_new_ids_above_stored_ones() -> None:
    far = (4_000_000_000_000 << 16) | (0x7 << 12)  # a clock far ahead, as after a restart
    ((first, _),) = UidGenerator(far).new(1)
    assert first == far + 1


def test_id_of_refuses_what_is_not_a_uuid7() -> None:
    uid = UidGenerator().new(1)[0][1]
    assert id_of(uid.upper()) == id_of(uid)
    v4 = str(uuid.uuid4())
    for bad in ("", "x" * 36, v4, uid[:-1], uid + "0"):
        assert id_of(bad) is None
    assert is_uid(uid)
    assert not is_uid(uid.upper())
