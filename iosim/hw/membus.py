"""The memory bus: one bandwidth that CPU copies and DMA engines share, so they slow each other.

A CPU copy reads and writes DRAM (2 bytes of traffic per byte copied); a DMA crosses it once.
The bus is a timeline of slots, each the time the bus needs for 64 KiB: a transfer fills the
free capacity of the slots from its start onwards. Unlike a FIFO queue,
a transfer booked for later (a disk DMA behind its seek) leaves the slots before it free for
the copies that run meanwhile, which is how DRAM bandwidth is really shared.
"""

from __future__ import annotations

from iosim.accounting import Accounting

SLOT_BYTES = 64 * 1024  # slot length: the time to carry 64 KiB (a few us on any bus)
PRUNE_SLOTS = 4096  # slots kept before the past ones are forgotten


class MemBus:
    """Shared DRAM bandwidth, booked by slot."""

    def __init__(self, env, bandwidth_bytes_per_s: float, acct: Accounting) -> None:
        self.env = env
        self.bandwidth_bytes_per_s = bandwidth_bytes_per_s
        self.slot_bytes = float(SLOT_BYTES)
        self.slot_s = SLOT_BYTES / bandwidth_bytes_per_s
        self.used: dict[int, float] = {}  # slot index -> bytes already booked in it
        self._prune_at = PRUNE_SLOTS  # prune the past slots when ``used`` grows beyond this
        self.acct = acct

    @property
    def busy_s(self) -> float:
        """Seconds of full-bandwidth use the traffic so far amounts to."""
        return self.acct.membus_bytes / self.bandwidth_bytes_per_s

    def count(self, traffic_bytes: int) -> None:
        """Traffic that competes with nothing now: lines a cached copy dirties, written back
        to DRAM later as the cache evicts them."""
        self.acct.membus_bytes += traffic_bytes

    def transfer(self, ready_s: float, traffic_bytes: int) -> float:
        """Book ``traffic_bytes`` of DRAM traffic from ``ready_s``; return when it is carried.

        The first slot has only the capacity left after ``ready_s``; each later one what
        earlier bookings left free. (Conditionals, not max()/min(), and the first slot
        apart from the rest: the same values in fewer steps.)"""
        if traffic_bytes <= 0:  # nothing to carry (a 0-byte linearize): done at once
            return ready_s
        self.acct.membus_bytes += traffic_bytes
        used = self.used
        cap = self.slot_bytes
        slot_s = self.slot_s
        pos = ready_s / slot_s
        slot = int(pos)
        filled = (pos - slot) * cap
        remaining = float(traffic_bytes)
        booked = used.get(slot)
        if booked is not None and booked >= filled:
            filled = booked
        take = cap - filled
        if take > 0 and remaining <= take:  # it all fits in the first slot
            filled += remaining
            used[slot] = filled
        else:
            if take > 0:
                filled += take
                used[slot] = filled
                remaining -= take
            while True:
                slot += 1
                filled = used.get(slot, 0.0)
                take = cap - filled
                if take > 0:
                    if remaining <= take:
                        filled += remaining
                        used[slot] = filled
                        break
                    filled += take
                    used[slot] = filled
                    remaining -= take
        if len(used) > self._prune_at:
            self._prune()
        end_s = (slot + filled / cap) * slot_s
        return end_s if end_s > ready_s else ready_s

    def _prune(self) -> None:
        """Forget the slots before now (no transfer starts before now, so none is read
        again). The next prune waits until ``used`` has doubled, so a bus booked far ahead
        (an overloaded CPU) does not rescan its future slots on each transfer."""
        floor = int(self.env.now / self.slot_s)
        self.used = used = {slot: b for slot, b in self.used.items() if slot >= floor}
        self._prune_at = max(PRUNE_SLOTS, 2 * len(used))
