"""Run one path on one machine and turn the counters into a Result."""

from __future__ import annotations

import gc
from typing import Any

from iosim import faults, limits
from iosim.config import Profile, load_profile, make_scenario
from iosim.kernel.socket import SNDBUF_FULL
from iosim.machine import Machine
from iosim.metrics import CPU_CATEGORIES, Result
from iosim.paths import PATHS
from iosim.trace import Tracer


def simulate(path: str, size_bytes: int | str, profile: str | Profile = "teaching",
             seed: int = 0, overrides: dict[str, Any] | None = None,
             tracer: Tracer | None = None, origin: str = "scenario",
             bounds: limits.Bounds | None = None, **scenario: Any) -> Result:
    """Simulate sending ``size_bytes`` of a file to a TCP socket along ``path``.

    ``profile`` is a bundled profile name, a TOML path or a loaded ``Profile``;
    ``overrides`` changes profile keys (``{"nic.rate": "25Gbit/s"}``); other keyword
    arguments are scenario keys (``cache="warm"``, ``buffer_bytes="16KiB"`` ...). A
    ``tracer`` (``iosim.trace.Tracer``) collects every event of the run. ``bounds``
    (``iosim.limits.Bounds``) says where a run that starves stops (default: derived from
    the inputs). Raises ``ConfigError`` on bad input, ``limits.RunStopped`` at a bound.
    """
    sc = make_scenario(path, size_bytes, PATHS, origin=origin, seed=seed, **scenario)
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    if overrides:
        prof = prof.with_overrides(overrides)
    spec = PATHS[path]
    if spec.overrides:
        prof = prof.with_overrides(spec.overrides, origin=f"path {path}")
    limits.check(prof, sc, origin)
    m = Machine(prof, sc)
    m.acct.trace = tracer
    m.sender = m.env.process(spec.program(m, sc))
    faults.install(m, sc)
    # A run allocates millions of short-lived objects that reference counting frees; the
    # cyclic collector's passes over them cost a quarter of the time, so pause it.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        limits.run(m, bounds)
    finally:
        if was_enabled:
            gc.enable()
    return _result(m)


def _utilization(m: Machine, t: float) -> dict[str, float]:
    """Busy fraction of each resource over the run's ``t`` seconds."""
    if t <= 0:
        return {}
    util = {
        "disk": m.disk.media.busy_s / t,
        "membus": m.membus.busy_s / t,
        "cpu": m.cpu.lanes.busy_s / (m.profile.cpu.cores * t),
        "sender_core": m.task.busy_s / t,
        "link": m.nic.link.busy_s / t,
    }
    return {k: round(min(v, 1.0), 6) for k, v in util.items()}


def _bottleneck(util: dict[str, float], sndbuf_blocked: float, cwnd_limited: float) -> str:
    """The resource that limits goodput.

    A saturated memory bus stalls the cores that copy, so it is named before a busy core;
    a sender that mostly sleeps on a full send buffer while nothing is saturated is limited
    by the send buffer over the round trip (the TCP window), not by any device; unless
    the congestion window held the data back most of the time (slow start, loss recovery):
    then it waits for ACKs, which is latency.
    """
    if not util:
        return "none"
    if util.get("membus", 0.0) >= 0.9:
        return "membus"
    busiest = max(util, key=util.get)
    if util[busiest] >= 0.9:
        return busiest
    if cwnd_limited >= 0.5:
        return "latency"
    if sndbuf_blocked >= 0.5:
        return "sndbuf"
    return busiest if util[busiest] >= 0.5 else "latency"


def _result(m: Machine) -> Result:
    a = m.acct
    rx = m.receiver
    sc = m.scenario
    delivered = m.receiver.rcv_nxt
    t = m.receiver.last_delivery_s
    cores = m.profile.cpu.cores
    cpu_by = {k: a.cpu_time_s[k] for k in CPU_CATEGORIES}
    cpu_total = sum(cpu_by.values())
    cpu_by["idle"] = max(0.0, cores * t - cpu_total)
    util = _utilization(m, t)
    bottleneck = _bottleneck(util, a.blocked_s.get(SNDBUF_FULL, 0.0) / t if t else 0.0,
                             a.cwnd_limited_s / t if t else 0.0)

    def per_byte(nbytes: int) -> float:
        return nbytes / delivered if delivered else 0.0

    return Result(
        path=sc.path,
        bytes_requested=sc.size_bytes,
        bytes_delivered=delivered,
        sim_time_s=t,
        goodput_bps=delivered * 8 / t if t > 0 else 0.0,  # bytes -> bits: 8 bits per byte
        copies=per_byte(a.cpu_copy_bytes + a.dma_copy_bytes),
        cpu_copies=per_byte(a.cpu_copy_bytes),
        dma_copies=per_byte(a.dma_copy_bytes),
        cpu_copy_bytes=a.cpu_copy_bytes,
        dma_copy_bytes=a.dma_copy_bytes,
        disk_dma_bytes=a.disk_dma_bytes,
        nic_dma_bytes=a.nic_dma_bytes,
        membus_bytes=a.membus_bytes,
        syscalls=a.syscalls,
        mode_switches=a.mode_switches,
        context_switches=a.context_switches,
        page_faults=a.page_faults,
        irqs=a.irqs,
        skbs=a.skbs,
        frags=a.frags,
        disk_requests=a.disk_requests,
        cpu_time_s=cpu_total,
        cpu_time_by_category=cpu_by,
        utilization=util,
        bottleneck=bottleneck,
        wire_bytes=a.wire_bytes,
        pages_pinned=a.pages_pinned,
        zerocopy_notifications=a.zerocopy_notifications,
        linearized_bytes=a.linearized_bytes,
        zerocopy_copied_sends=a.zerocopy_copied_sends,
        cow_copies=a.cow_copies,
        cow_copy_bytes=a.cow_copy_bytes,
        writer_stores=a.writer_stores,
        evictions=a.evictions,
        reclaim_skipped_pinned=a.reclaim_skipped_pinned,
        refaults=a.refaults,
        truncated_inflight_pages=a.truncated_inflight_pages,
        lost_segments=a.lost_segments,
        retransmits=a.retransmits,
        retransmit_bytes=a.retransmit_bytes,
        rto_timeouts=a.rto_timeouts,
        duplicate_bytes=rx.duplicate_bytes,
        # frags beyond one per page of payload: an unaligned range spans one more page
        unaligned_extra_frags=a.frags - -(-a.frag_bytes // m.page_bytes),
        bounce_copy_bytes=a.bounce_copy_bytes,
        stale_bytes=rx.stale_bytes,
        changed_bytes=rx.changed_bytes,
        mixed_version_segments=rx.mixed_segments,
        integrity=("mixed" if rx.mixed_segments else "stale" if rx.stale_bytes
                   else "changed" if rx.changed_bytes else "exact"),
        invariant_violations=m.check_invariants(),
        seed=sc.seed,
        cwnd_limited_s=a.cwnd_limited_s,
        page_log=list(m.pages.watch_log),
        scenario=sc.to_dict(),
        profile=m.profile.to_dict(),
    )
