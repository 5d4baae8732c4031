"""Reservation lanes: a cheap model of a device that serves one job per lane, FIFO.

A job asks at time ``now`` and gets the earliest free lane; the device is busy until the
job's end. Booking time instead of running a SimPy process per job keeps the number of
events per transfer constant, which is what makes a simulated GiB cheap.
"""

from __future__ import annotations


class Lanes:
    """``count`` identical servers with FIFO reservation and busy-time accounting."""

    def __init__(self, name: str, count: int = 1) -> None:
        if count < 1:
            raise ValueError(f"{name}: lane count must be >= 1, got {count}")
        self.name = name
        self.free_at_s = [0.0] * count
        self.busy_s = 0.0

    def acquire(self, ready_s: float) -> tuple[int, float]:
        """The lane that frees first, and when the job can start on it."""
        free = self.free_at_s
        if len(free) == 1:
            lane = 0
        elif len(free) == 2:
            lane = 0 if free[0] <= free[1] else 1
        else:
            lane = free.index(min(free))
        return lane, max(ready_s, free[lane])

    def occupy(self, lane: int, start_s: float, end_s: float) -> None:
        """Mark ``lane`` busy from ``start_s`` to ``end_s``."""
        self.free_at_s[lane] = end_s
        self.busy_s += end_s - start_s

    def reserve(self, ready_s: float, duration_s: float) -> tuple[float, float]:
        """Book ``duration_s`` on the earliest free lane from ``ready_s``; return (start, end)."""
        lane, start = self.acquire(ready_s)
        self.occupy(lane, start, start + duration_s)
        return start, start + duration_s
