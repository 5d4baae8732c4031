"""Run one path on one machine: parse the inputs, then a pure ``run`` builds the Result.

``simulate()`` takes what people type (names, ``"64KiB"``, overrides); ``run()`` takes the
validated ``Profile`` and ``Scenario`` and nothing else, so every front-end (CLI, sweeps,
explain, quiz, experiments) that already holds them calls it directly, and ``replay()``
runs a Result's effective inputs again (with a tracer, to watch it).
"""

from __future__ import annotations

import gc
from typing import Any

from iosim import faults, limits
from iosim.accounting import CPU_CATEGORIES
from iosim.config import (
    DEFAULT_PROFILE,
    Profile,
    Scenario,
    load_profile,
    make_scenario,
    profile_from_dict,
)
from iosim.kernel.pagecache import DISK_WAITS
from iosim.kernel.socket import SNDBUF_FULL
from iosim.machine import Machine
from iosim.paths import PATHS
from iosim.result import Result
from iosim.trace import Tracer


def prepare(path: str, size_bytes: int | str, profile: str | Profile = DEFAULT_PROFILE,
            seed: int = 0, overrides: dict[str, Any] | None = None,
            origin: str = "scenario", **scenario: Any) -> tuple[Profile, Scenario]:
    """Validate raw inputs into the (profile, scenario) that ``run`` takes.

    Raises ``ConfigError`` naming the key and what was expected (``limits.check`` included:
    timers that cannot advance time, model state beyond this machine's memory)."""
    sc = make_scenario(path, size_bytes, PATHS, origin=origin, seed=seed, **scenario)
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    if overrides:
        prof = prof.with_overrides(overrides)
    limits.check(prof, sc, origin)
    return prof, sc


def simulate(path: str, size_bytes: int | str, profile: str | Profile = DEFAULT_PROFILE,
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
    prof, sc = prepare(path, size_bytes, profile, seed, overrides, origin, **scenario)
    return run(prof, sc, tracer, bounds)


def run(profile: Profile, scenario: Scenario, tracer: Tracer | None = None,
        bounds: limits.Bounds | None = None) -> Result:
    """Run ``scenario`` on ``profile``: the same inputs give the same Result, always.

    ``bounds`` (default: derived from the inputs) stops a run that starves: ``RunStopped``.
    """
    spec = PATHS[scenario.path]
    if spec.overrides:
        profile = profile.with_overrides(spec.overrides, origin=f"path {scenario.path}")
    # A run allocates millions of short-lived objects that reference counting frees; the
    # cyclic collector's passes over them cost a quarter of the time, so pause it.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        head = min(scenario.header_bytes, scenario.size_bytes) if spec.sends_header else 0
        m = Machine(profile, scenario, head)
        m.acct.trace = tracer
        m.sender = m.env.process(spec.program(m, scenario))
        m.sender.callbacks.append(m.task.release_core)
        faults.install(m, scenario)
        limits.run(m, bounds)
        return _result(m)
    finally:
        if was_enabled:
            gc.enable()


def replay(result: Result, tracer: Tracer | None = None) -> Result:
    """Run a Result's effective profile and scenario again (the same numbers come back);
    with a ``tracer``, to see every event of it."""
    return run(profile_from_dict(result.profile), Scenario.from_dict(result.scenario),
               tracer)


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


def _bottleneck(util: dict[str, float], sndbuf_blocked: float, cwnd_limited: float,
                disk_wait: float) -> str:
    """The resource that limits goodput; the arguments are shares of the run's time.

    A saturated memory bus stalls the cores that copy, so it is named before a busy core;
    a sender that mostly sleeps on a full send buffer while nothing is saturated is limited
    by the send buffer over the round trip (the TCP window), not by any device; unless
    the congestion window held the data back most of the time (slow start, loss recovery):
    then it waits for ACKs, which is latency. With nothing even half busy, a sender that
    mostly slept on disk reads waits out the disk's latency once per read-ahead window
    (``readahead``: the window is too small for the disk's bandwidth-delay product).
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
    if util[busiest] >= 0.5:
        return busiest
    return "readahead" if disk_wait >= 0.5 else "latency"


def _result(m: Machine) -> Result:
    a = m.acct
    rx = m.receiver
    sc = m.scenario
    delivered = m.delivered_bytes
    t = m.receiver.last_delivery_s
    cores = m.profile.cpu.cores
    cpu_by = {k: a.cpu_time_s[k] for k in CPU_CATEGORIES}
    cpu_total = sum(cpu_by.values())
    cpu_by["idle"] = max(0.0, cores * t - cpu_total)
    util = _utilization(m, t)
    def share(seconds: float) -> float:
        return seconds / t if t else 0.0

    bottleneck = _bottleneck(util, share(a.blocked_s.get(SNDBUF_FULL, 0.0)),
                             share(a.cwnd_limited_s),
                             share(sum(a.blocked_s.get(r, 0.0) for r in DISK_WAITS)))

    def per_byte(nbytes: int) -> float:
        return nbytes / delivered if delivered else 0.0

    return Result(
        **a.counters(),
        path=sc.path,
        bytes_requested=sc.size_bytes,
        bytes_delivered=delivered,
        sim_time_s=t,
        goodput_bps=delivered * 8 / t if t > 0 else 0.0,  # bytes -> bits: 8 bits per byte
        copies=per_byte(a.cpu_copy_bytes + a.dma_copy_bytes),
        cpu_copies=per_byte(a.cpu_copy_bytes),
        dma_copies=per_byte(a.dma_copy_bytes),
        cpu_time_s=cpu_total,
        cpu_time_by_category=cpu_by,
        utilization=util,
        bottleneck=bottleneck,
        duplicate_bytes=rx.duplicate_bytes,
        stale_bytes=rx.stale_bytes,
        changed_bytes=rx.changed_bytes,
        mixed_version_segments=rx.mixed_segments,
        integrity=("mixed" if rx.mixed_segments else "stale" if rx.stale_bytes
                   else "changed" if rx.changed_bytes else "exact"),
        invariant_violations=m.check_invariants(),
        seed=sc.seed,
        page_log=list(m.pages.watch_log),
        scenario=sc.to_dict(),
        profile=m.profile.to_dict(),
    )
