"""Plain callbacks at a later simulated time, for the hot paths that need no SimPy event.

A NIC's DMA and TX completions and a segment's arrival schedule tens of thousands of
callbacks per simulated GiB, and nothing ever waits on them. ``env.timeout(d)`` followed by
``.callbacks.append(fn)`` costs a ``Timeout`` object and two Python calls
(``Timeout.__init__``, ``Environment.schedule``); ``after`` pushes the very heap entry
``schedule`` would (time ``now + delay``, priority NORMAL, the next event id), so events run
in the same order and every result stays the same.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappush

from simpy.events import NORMAL


class Callback:
    """What ``Environment.step`` reads of an event: its callbacks, and that it succeeded."""

    __slots__ = ("_ok", "callbacks")

    def __init__(self, fn: Callable) -> None:
        self.callbacks = [fn]
        self._ok = True


def after(env, delay_s: float, fn: Callable) -> None:
    """Call ``fn(event)`` ``delay_s`` seconds from now, as a Timeout's callback would be."""
    if delay_s < 0:
        raise ValueError(f"Negative delay {delay_s}")
    heappush(env._queue, (env._now + delay_s, NORMAL, next(env._eid), Callback(fn)))
