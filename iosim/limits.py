"""Bounds on one run: inputs it cannot hold are refused before it starts, and a run that
starves stops with one line saying what starved, instead of running for ever.

Before a run, ``check`` refuses a timer that could not advance simulated time and model
state larger than this machine's free memory. During it, ``run`` steps the SimPy
environment exactly as ``Environment.run`` does (so results are unchanged) and, every
``CHECK_EVERY_EVENTS`` events, compares the run with its ``Bounds``: events in all, events
since the receiver last got a byte, simulated time, and an optional wall-clock limit. A run
past a bound raises ``RunStopped``, whose message names the bound, what was delivered and
the failure mode that most likely starved the transfer.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from heapq import heappop
from typing import Any

from simpy.core import EmptySchedule

from iosim import net, units
from iosim.config import ConfigError, Profile, Scenario

CHECK_EVERY_EVENTS = 2048  # events between two looks at the bounds (a few ms of work)
CHECK_WALL_EVERY_EVENTS = 64  # the same under a wall-clock limit, which must be kept to
STALL_EVENTS = 1_000_000  # events with no byte delivered: a starved run (5-10 s of work)
BASE_EVENTS = 2_000_000  # events any run may take, whatever its size
EVENTS_PER_UNIT = 100  # per unit of work (a syscall-sized piece, a segment): ~20x the most seen
MIN_SIM_BOUND_S = 86_400.0  # a day of simulated time: longer than TCP keeps a dead peer
SIM_BOUND_FACTOR = 1000  # times the shortest time the slowest device needs for the bytes

# Memory a run's model state takes per page, measured with tracemalloc (311 B per cached
# page, ~170 B more per user-buffer page) and rounded up for the interpreter's own overhead.
CACHE_PAGE_BYTES = 400
BUFFER_PAGE_BYTES = 256
BUFFER_SLOT_BYTES = 8  # a user buffer keeps one list slot per page, touched or not
# paths that cycle through zc_buffers buffers
MULTI_BUFFER_PATHS = ("msg_zerocopy", "vmsplice_splice", "io_uring_send_zc")
BUFFER_PATHS = ("read_write", "msg_zerocopy", "writev_sendfile", "vmsplice_splice",
                "io_uring_send_zc")  # paths with a user buffer (writev_sendfile: --body user)
REGISTERED_PATHS = ("io_uring_send_zc",)  # registration faults in every buffer page


class RunStopped(RuntimeError):
    """A run stopped at one of its bounds; ``str()`` is the one line to show."""

    def __init__(self, reason: str, **facts: Any) -> None:
        super().__init__(reason)
        self.facts = facts


@dataclass(frozen=True)
class Bounds:
    """Where a run stops. ``None`` means the default derived from the run's inputs."""

    max_events: int | None = None
    stall_events: int = STALL_EVENTS
    max_sim_s: float | None = None
    max_wall_s: float | None = None
    progress: Callable[[int], None] | None = None
    """Called with the bytes delivered so far, between two looks at the bounds."""


def available_memory_bytes() -> int | None:
    """Memory this machine can give a run now (MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # kB -> bytes
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def state_bytes(profile: Profile, sc: Scenario) -> tuple[int, str]:
    """Estimated peak model state of a run in bytes, and the key that dominates it."""
    page = profile.kernel.page_size_bytes
    file_pages = -(-(sc.offset_bytes % page + sc.size_bytes) // page)
    cache_pages = profile.kernel.page_cache_bytes // page
    if not sc.pressure_reader:  # a competing reader fills the whole cache, else the file
        cache_pages = min(cache_pages, file_pages)
    buffers = sc.zc_buffers if sc.path in MULTI_BUFFER_PATHS else 1
    slots = -(-(sc.buffer_offset_bytes % page + sc.buffer_bytes) // page)
    touched = slots if sc.path in REGISTERED_PATHS else min(slots, file_pages + 1)
    has_buffer = sc.path in BUFFER_PATHS and not (sc.path == "writev_sendfile"
                                                  and sc.body == "file")
    buffer_bytes = (buffers * (slots * BUFFER_SLOT_BYTES + touched * BUFFER_PAGE_BYTES)
                    if has_buffer else 0)
    cache_bytes = cache_pages * CACHE_PAGE_BYTES
    if buffer_bytes > cache_bytes:
        return cache_bytes + buffer_bytes, "zc_buffers" if buffers > 1 else "buffer_bytes"
    return cache_bytes + buffer_bytes, "kernel.page_cache" if (
        profile.kernel.page_cache_bytes // page < file_pages or sc.pressure_reader
    ) else "size_bytes"


def check(profile: Profile, sc: Scenario, origin: str = "scenario",
          origins: dict[str, str] | None = None, available_bytes: int | None = None) -> None:
    """Refuse, in one line, a run that could not advance time or would not fit in memory.

    The error names the key to change and where it came from (``origins``, else the file
    or flag the profile records, else ``origin``); ``available_bytes`` defaults to this
    machine's available memory.
    """
    def at(key: str) -> str:
        return (origins or {}).get(key) or profile.where.get(key) or origin

    if sc.pressure_reader:
        chunk_bytes = max(1, profile.kernel.readahead_bytes // profile.kernel.page_size_bytes
                          ) * profile.kernel.page_size_bytes
        fastest = chunk_bytes / 1e-9  # one read-ahead chunk per ns
        if sc.pressure_reader > fastest:
            raise ConfigError(f"{at('pressure_reader')}: key 'pressure_reader': expected at most "
                              f"{units.format_rate(fastest)} (one {units.format_size(chunk_bytes)}"
                              f" read-ahead chunk per ns: faster stops simulated time from "
                              f"advancing), got {units.format_rate(sc.pressure_reader)}")
    need, key = state_bytes(profile, sc)
    free = available_memory_bytes() if available_bytes is None else available_bytes
    if free is not None and need > free:
        raise ConfigError(f"{at(key)}: key '{key}': this run would hold about "
                          f"{units.format_size(need)} of model state (~{CACHE_PAGE_BYTES} B per "
                          f"cached page), more than the {units.format_size(free)} this machine "
                          f"has available; expected a smaller page cache, size or buffer")


def default_bounds(profile: Profile, sc: Scenario, bounds: Bounds | None) -> Bounds:
    """``bounds`` with its ``None`` entries derived from the run's inputs."""
    page = profile.kernel.page_size_bytes
    mss = net.mss_bytes(profile.nic.mtu_bytes)
    work = -(-sc.size_bytes // min(sc.buffer_bytes, page)) + -(-sc.size_bytes // mss)
    return scaled_bounds(bounds, work, SIM_BOUND_FACTOR * sc.size_bytes
                         / slowest_bytes_per_s(profile))


def slowest_bytes_per_s(profile: Profile) -> float:
    """The slowest device a byte may cross: link, disk, a core's copy, the memory bus
    (which a CPU copy crosses twice)."""
    return min(profile.nic.rate_bytes_per_s, profile.disk.bandwidth_bytes_per_s,
               profile.cpu.copy_bandwidth_bytes_per_s, profile.membus.bandwidth_bytes_per_s / 2)


def scaled_bounds(bounds: Bounds | None, work: int, sim_s: float) -> Bounds:
    """``bounds`` with its ``None`` entries filled from the run's ``work`` (syscall-sized
    pieces and segments) and the simulated time ``sim_s`` it may take (a day at least)."""
    bounds = bounds or Bounds()
    max_events = bounds.max_events
    if max_events is None:
        max_events = BASE_EVENTS + EVENTS_PER_UNIT * work
    max_sim_s = bounds.max_sim_s
    if max_sim_s is None:
        max_sim_s = max(MIN_SIM_BOUND_S, sim_s)
    return Bounds(max_events, bounds.stall_events, max_sim_s, bounds.max_wall_s,
                  bounds.progress)


def _delivered(m) -> int:
    """Bytes the receiver holds: in order, and out of order above a gap."""
    rx = m.receiver
    return rx.rcv_nxt + sum(end - start for start, end in rx.ooo)


def run(m, bounds: Bounds | None = None) -> None:
    """Run machine ``m``'s environment to its end, or raise ``RunStopped`` at a bound."""
    drive(m.env, default_bounds(m.profile, m.scenario, bounds), lambda: _delivered(m),
          lambda events, bound: _stop(m, events, bound), lambda: m.receiver.rcv_nxt)


def drive(env, b: Bounds, delivered: Callable[[], int], stop: Callable[[int, str], None],
          progress_bytes: Callable[[], int]) -> None:
    """Step ``env`` exactly as ``Environment.run`` does until its schedule is empty; at a
    bound call ``stop(events, bound)``, which raises ``RunStopped``. ``delivered`` counts
    the bytes the receivers hold (a run whose count stops moving is starved);
    ``progress_bytes`` is what ``b.progress`` is told.

    The model's bounds are looked at every ``CHECK_EVERY_EVENTS`` events whatever else is
    asked, so whether a run ends or stops never depends on the wall-clock limit being set;
    that limit alone is looked at every ``CHECK_WALL_EVERY_EVENTS`` (an event may cost
    milliseconds: a reclaim pass over a large cache).

    Each event is ``Environment.step``'s work, inline (one Python call less per event):
    pop the earliest, run its callbacks, crash on a failure nobody defused.
    """
    queue = env._queue
    events = stalled = 0
    seen = delivered()
    started_s = time.monotonic()
    wall = b.max_wall_s
    every = CHECK_EVERY_EVENTS if wall is None else CHECK_WALL_EVERY_EVENTS
    chunk = range(every)
    try:
        while True:
            for _ in chunk:
                try:
                    env._now, _, _, event = heappop(queue)
                except IndexError:
                    raise EmptySchedule from None
                callbacks, event.callbacks = event.callbacks, None
                for callback in callbacks:
                    callback(event)
                if not event._ok and not hasattr(event, "_defused"):
                    exc = type(event._value)(*event._value.args)
                    exc.__cause__ = event._value
                    raise exc
            events += every
            if wall is not None and time.monotonic() - started_s > wall:
                stop(events, f"the wall-clock limit of {wall:g} s")
            if events % CHECK_EVERY_EVENTS:
                continue
            now = delivered()
            stalled = 0 if now != seen else stalled + CHECK_EVERY_EVENTS
            seen = now
            if b.progress is not None:
                b.progress(progress_bytes())
            if stalled >= b.stall_events:
                stop(events, f"{stalled:,} events without a byte delivered")
            if events >= b.max_events:
                stop(events, f"{events:,} events, the most this run may take")
            if env.now > b.max_sim_s:
                stop(events, f"simulated time passed {units.format_time(b.max_sim_s)}, "
                             f"the most this run may take")
    except EmptySchedule:
        return


def _stop(m, events: int, bound: str) -> None:
    sc = m.scenario
    delivered = m.receiver.rcv_nxt
    why = _suspects(m)
    raise RunStopped(
        f"{sc.path} stopped after {bound}: {units.format_size(delivered)} of "
        f"{units.format_size(sc.size_bytes)} delivered at {units.format_time(m.env.now)} "
        f"simulated" + (f"; {why}" if why else ""),
        path=sc.path, events=events, delivered_bytes=delivered, sim_time_s=m.env.now)


def writer_cpu_s(profile: Profile, kind: str) -> float:
    """CPU time one store of a writer of ``kind`` costs (faults.Writer.store)."""
    cpu = profile.cpu
    if kind == "write":  # a syscall and a page copy
        return (2 * cpu.mode_switch_s + cpu.syscall_s
                + profile.kernel.page_size_bytes / cpu.copy_bandwidth_bytes_per_s)
    return cpu.page_fault_s  # a write fault (MAP_SHARED, userbuf); private: once per page


def _suspects(m) -> str:
    """The failure modes of the run that can starve a transfer, with their numbers."""
    sc, p, a = m.scenario, m.profile, m.acct
    out = []
    if sc.writer and sc.writer_rate:
        load = sc.writer_rate * writer_cpu_s(p, sc.writer) / p.cpu.cores
        out.append(f"the writer's {sc.writer_rate:g} stores/s ({a.writer_stores:,} so far) "
                   f"keep {load:.0%} of the {p.cpu.cores} cores busy")
    if sc.pressure and sc.pressure_interval_s is not None:
        out.append(f"reclaim of {sc.pressure} pages every "
                   f"{units.format_time(sc.pressure_interval_s)} ({a.evictions:,} evicted, "
                   f"{a.refaults:,} refaults)")
    if sc.pressure_reader:
        out.append(f"a competing reader at {units.format_rate(sc.pressure_reader)}")
    if sc.loss or sc.drop:
        out.append(f"loss {sc.loss:g}: {a.retransmits:,} retransmits, {a.rto_timeouts:,} "
                   f"timeouts")
    if not out and math.isfinite(m.env.now):
        out.append(f"{a.syscalls:,} syscalls, {a.skbs:,} sk_buffs so far")
    return "; ".join(out)
