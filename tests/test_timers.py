"""The hot paths' timeouts (iosim.timers) and the memory bus's slot booking: the same
order and the same numbers as the plain SimPy and slot-by-slot forms they replace."""

from __future__ import annotations

import random

import pytest
import simpy

from iosim.accounting import Accounting
from iosim.hw.membus import MemBus
from iosim.timers import after, sleep


def test_after_and_sleep_run_in_the_order_timeouts_would():
    """Mixed with env.timeout at equal and different times, callbacks and sleepers wake
    in scheduling order at the times asked."""
    env = simpy.Environment()
    seen = []
    env.timeout(2.0).callbacks.append(lambda _ev: seen.append(("timeout", env.now)))
    after(env, 2.0, lambda _ev: seen.append(("after", env.now)))
    after(env, 1.0, lambda _ev: seen.append(("early", env.now)))

    def proc():
        yield sleep(env, 2.0)
        seen.append(("sleep", env.now))
        value = yield sleep(env, 0.5)
        seen.append(("again", env.now, value))

    env.process(proc())
    env.run()
    assert seen == [("early", 1.0), ("timeout", 2.0), ("after", 2.0), ("sleep", 2.0),
                    ("again", 2.5, None)]


def test_negative_delays_are_refused():
    env = simpy.Environment()
    with pytest.raises(ValueError, match="Negative delay"):
        after(env, -1.0, lambda _ev: None)
    with pytest.raises(ValueError, match="Negative delay"):
        sleep(env, -1e-9)


def _reference_transfer(used: dict, slot_bytes: float, slot_s: float, ready_s: float,
                        traffic_bytes: int) -> float:
    """The slot-by-slot booking MemBus.transfer must equal: fill each slot's free capacity
    from ``ready_s`` on (the first slot only after ``ready_s``)."""
    pos = ready_s / slot_s
    slot = int(pos)
    head = (pos - slot) * slot_bytes
    remaining = float(traffic_bytes)
    while True:
        filled = max(head, used.get(slot, head))
        take = min(slot_bytes - filled, remaining)
        if take > 0:
            filled += take
            used[slot] = filled
            remaining -= take
            if remaining <= 0:
                break
        slot += 1
        head = 0.0
    return max((slot + filled / slot_bytes) * slot_s, ready_s)


@pytest.mark.parametrize("seed", range(3))
def test_membus_books_as_the_slot_by_slot_reference(seed):
    rng = random.Random(seed)

    class Clock:
        now = 0.0

    bw = rng.choice([1e9, 10e9, 25.6e9, 3e9 + 7])
    bus = MemBus(Clock(), bw, Accounting())
    used: dict[int, float] = {}
    t = 0.0
    for _ in range(1500):
        t += rng.choice([0.0, 1e-7, 1e-6, rng.random() * 1e-5])
        Clock.now = t
        ready = t + rng.choice([0.0, 1e-6, rng.random() * 1e-4])
        n = rng.choice([1, 4096, 65536, 131072, rng.randrange(1, 1 << 20)])
        assert bus.transfer(ready, n) == _reference_transfer(
            used, bus.slot_bytes, bus.slot_s, ready, n)
