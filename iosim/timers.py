"""Timeouts for the hot paths, without SimPy's ``Timeout`` object.

A NIC's DMA and TX completions, a segment's arrival and a task catching up with its booked
work schedule tens of thousands of timeouts per simulated GiB. ``env.timeout(d)`` costs a
``Timeout`` object and two Python calls (``Timeout.__init__``, ``Environment.schedule``);
``after`` and ``sleep`` push the very heap entry ``schedule`` would (time ``now + delay``,
priority NORMAL, the next event id), so events run in the same order and every result
stays the same. Nothing may ``interrupt`` a process sleeping on one.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappush

from simpy.events import NORMAL


class Callback:
    """What ``Environment.step`` and ``Process._resume`` read of a timeout: its callbacks,
    that it succeeded, its value (None)."""

    __slots__ = ("_ok", "_value", "callbacks")

    def __init__(self, callbacks: list) -> None:
        self.callbacks = callbacks
        self._ok = True
        self._value = None


def after(env, delay_s: float, fn: Callable) -> None:
    """Call ``fn(event)`` ``delay_s`` seconds from now, as a Timeout's callback would be."""
    if delay_s < 0:
        raise ValueError(f"Negative delay {delay_s}")
    heappush(env._queue, (env._now + delay_s, NORMAL, next(env._eid), Callback([fn])))


def sleep(env, delay_s: float) -> Callback:
    """A timeout ``delay_s`` seconds from now for a process to yield (``env.timeout``)."""
    if delay_s < 0:
        raise ValueError(f"Negative delay {delay_s}")
    ev = Callback([])
    heappush(env._queue, (env._now + delay_s, NORMAL, next(env._eid), ev))
    return ev
