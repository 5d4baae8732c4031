"""The CPU: cores that run the sender's syscalls, copies and the kernel's interrupt work.

Work is booked on the earliest free core; a copy holds its core until both the core's copy
speed and the memory bus let it finish. Every CPU second is charged to a category.
"""

from __future__ import annotations

import copy

from iosim import events
from iosim.accounting import Accounting
from iosim.hw.lanes import CoreLane, Lanes
from iosim.hw.membus import MemBus


class Cpu:
    """``cores`` lanes; ``run`` books fixed costs, ``copy`` books memcpy-like work."""

    def __init__(self, spec, membus: MemBus, acct: Accounting) -> None:
        self.spec = spec
        self.lanes = Lanes("cpu", spec.cores)
        self.membus = membus
        self.acct = acct

    def pinned(self, core: int) -> Cpu:
        """This CPU as a thread pinned to ``core`` uses it (``sched_setaffinity``, as
        nginx's worker_cpu_affinity does): same memory bus, accounting and busy time."""
        view = copy.copy(self)
        view.lanes = CoreLane(self.lanes, core)
        return view

    def cached(self, working_set_bytes: int | None) -> bool:
        """Whether data of this working set stays in the last-level cache between uses."""
        return working_set_bytes is not None and working_set_bytes <= self.spec.cache_size_bytes

    def run(self, ready_s: float, duration_s: float, category: str) -> float:
        """Book ``duration_s`` of CPU work charged to ``category``; return its end time."""
        acct = self.acct
        acct.cpu_time_s[category] += duration_s
        start, end = self.lanes.reserve(ready_s, duration_s)
        if acct.trace is not None:
            acct.trace.add(events.work(category, start, end))
        return end

    def copy(self, ready_s: float, nbytes: int, category: str = "copy", counted: bool = True,
             working_set_bytes: int | None = None,
             bandwidth_bytes_per_s: float | None = None) -> float:
        """Copy ``nbytes``: the core works at its copy speed, the bus carries 2 bytes per byte.

        ``counted=False`` for copies that are not the transfer's (another task's COW copy).
        ``working_set_bytes``: the size of the data the source belongs to (a user buffer, a
        file); when it fits in the last-level cache the copy reads from the cache, at
        ``copy_bandwidth_cached``, and neither waits for nor occupies DRAM (its traffic is
        still counted: the lines are written back later). ``bandwidth_bytes_per_s``: a pass
        slower than memcpy that also reads and writes every byte (AES-GCM encryption).
        """
        if counted:
            self.acct.cpu_copy_bytes += nbytes
        lane, start = self.lanes.acquire(ready_s)
        if working_set_bytes is not None and working_set_bytes <= self.spec.cache_size_bytes:
            self.membus.count(2 * nbytes)  # (``cached``, inline)
            end = start + nbytes / (bandwidth_bytes_per_s
                                    or self.spec.copy_bandwidth_cached_bytes_per_s)
        else:  # the core stalls on the bus if the bus is the slower of the two
            bus_end = self.membus.transfer(start, 2 * nbytes)  # read + write: 2 bytes/byte
            end = start + nbytes / (bandwidth_bytes_per_s
                                    or self.spec.copy_bandwidth_bytes_per_s)
            if bus_end > end:
                end = bus_end
        self.lanes.occupy(lane, start, end)
        self.acct.cpu_time_s[category] += end - start
        if self.acct.trace is not None:
            self.acct.trace.add(events.work(category, start, end, nbytes))
        return end

    def read(self, ready_s: float, nbytes: int, category: str = "copy",
             working_set_bytes: int | None = None) -> float:
        """Read ``nbytes`` once (a software checksum, ``csum_partial``): at copy speed, one
        byte of bus traffic per byte; not a copy."""
        lane, start = self.lanes.acquire(ready_s)
        if self.cached(working_set_bytes):
            self.membus.count(nbytes)
            end = start + nbytes / self.spec.copy_bandwidth_cached_bytes_per_s
        else:
            bus_end = self.membus.transfer(start, nbytes)
            end = start + nbytes / self.spec.copy_bandwidth_bytes_per_s
            if bus_end > end:
                end = bus_end
        self.lanes.occupy(lane, start, end)
        self.acct.cpu_time_s[category] += end - start
        if self.acct.trace is not None:  # CPU time; its bus bytes are the CHECKSUM event's
            self.acct.trace.add(events.work(category, start, end))
        return end
