"""Reservation lanes: a cheap model of a device that serves one job per lane, FIFO.

A job asks at time ``now`` and gets the earliest free lane; the device is busy until the
job's end. Booking time instead of running a SimPy process per job keeps the number of
events per transfer constant, which is what makes a simulated GiB cheap.
"""

from __future__ import annotations

from heapq import heapify, heapreplace


class Lanes:
    """``count`` identical servers with FIFO reservation and busy-time accounting.

    Beyond two lanes (a 32-core CPU, a 64-deep disk queue) the earliest free lane is kept
    at the top of a heap of (free at, lane), so a booking costs O(log n), not a scan; ties
    go to the lowest lane, as a scan from lane 0 would pick.
    """

    def __init__(self, name: str, count: int = 1) -> None:
        if count < 1:
            raise ValueError(f"{name}: lane count must be >= 1, got {count}")
        self.name = name
        self.free_at_s = [0.0] * count
        self.busy_s = 0.0
        self._heap = [(0.0, lane) for lane in range(count)] if count > 2 else None
        self._single = count == 1

    def acquire(self, ready_s: float) -> tuple[int, float]:
        """The lane that frees first, and when the job can start on it."""
        heap = self._heap
        if heap is not None:
            free_s, lane = heap[0]
        else:
            free = self.free_at_s
            lane = 0 if self._single or free[0] <= free[1] else 1
            free_s = free[lane]
        return lane, free_s if free_s > ready_s else ready_s

    def occupy(self, lane: int, start_s: float, end_s: float) -> None:
        """Mark ``lane`` busy from ``start_s`` to ``end_s``."""
        self.free_at_s[lane] = end_s
        self.busy_s += end_s - start_s
        heap = self._heap
        if heap is not None:
            if heap[0][1] == lane:  # the lane acquire gave: always, in this model
                heapreplace(heap, (end_s, lane))
            else:
                heap[:] = [(free_s, i) for i, free_s in enumerate(self.free_at_s)]
                heapify(heap)

    def reserve(self, ready_s: float, duration_s: float) -> tuple[float, float]:
        """Book ``duration_s`` on the earliest free lane from ``ready_s``; return (start, end).

        ``acquire`` then ``occupy``, inline: every fixed CPU cost and every link booking
        comes through here."""
        heap = self._heap
        free = self.free_at_s
        if heap is not None:
            free_s, lane = heap[0]
        else:
            lane = 0 if self._single or free[0] <= free[1] else 1
            free_s = free[lane]
        start = free_s if free_s > ready_s else ready_s
        end = start + duration_s
        free[lane] = end
        self.busy_s += end - start
        if heap is not None:
            heapreplace(heap, (end, lane))  # the top is the lane just taken
        return start, end


class CoreLane:
    """One lane of a ``Lanes``, for work pinned to it (a thread on one core): its bookings
    hold only that lane, while other work still picks any lane of the ``Lanes``."""

    __slots__ = ("core", "lanes")

    def __init__(self, lanes: Lanes, core: int) -> None:
        self.lanes = lanes
        self.core = core

    def acquire(self, ready_s: float) -> tuple[int, float]:
        return self.core, max(ready_s, self.lanes.free_at_s[self.core])

    def occupy(self, lane: int, start_s: float, end_s: float) -> None:
        self.lanes.occupy(lane, start_s, end_s)

    def reserve(self, ready_s: float, duration_s: float) -> tuple[float, float]:
        lane, start = self.acquire(ready_s)
        self.occupy(lane, start, start + duration_s)
        return start, start + duration_s
