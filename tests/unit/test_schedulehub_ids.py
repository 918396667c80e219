"""LiveIds: which (id, low) pairs exist, looked up a batch at a time."""

from __future__ import annotations

import random

from syncflow_core.emulators.schedulehub_ids import LiveIds
from syncflow_core.emulators.schedulehub_uid import UidGenerator


def test_lookups_agree_with_a_dict_through_adds_and_removes() -> None:
    live, reference = LiveIds(), dict[int, int]()
    generator = UidGenerator()
    for _ in range(30):  # past the first capacity, several times
        fresh = generator.new(random.randrange(1, 400))
        live.add(fresh.ids, fresh.lows)
        reference.update(zip(fresh.ids, fresh.lows, strict=True))
        gone = random.sample(sorted(reference), k=min(50, len(reference)))
        live.remove(gone)
        for i in gone:
            reference[i] = 0
    asked = [*sorted(reference), max(reference) + 1, 0, 5]
    assert live.lows(asked).tolist() == [reference.get(i, 0) for i in asked]
    present = [i for i, low in reference.items() if low]
    assert live.has(present, [reference[i] for i in present])
    assert not live.has(present[:1], [reference[present[0]] + 1])  # same id, another uid
    assert not live.has([max(reference) + 1], [-1])


def test_ids_out_of_order_and_a_restart_load() -> None:
    live = LiveIds.of([30, 10], [-3, -1])
    live.add([20, 5], [-2, -5])  # not ours, but still answered right
    assert live.lows([5, 10, 20, 30]).tolist() == [-5, -1, -2, -3]
    live.clear()
    assert live.lows([5]).tolist() == [0]
    assert not live.has([5], [-5])
