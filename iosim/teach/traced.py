"""A traced run and the facts that teaching output derives from its events.

``iosim explain`` and ``iosim quiz`` read what a run did from its trace, not from a table of
formulas per path, so what they say stays true when the model changes: copies are the CPU
copy and DMA slices, syscalls are the sender's slices, the time is the critical path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from iosim.kernel.socket import CWND_SEND
from iosim.metrics import Result
from iosim.simulate import simulate
from iosim.trace import Event, Tracer

EPS_S = 1e-12  # events closer than a picosecond are simultaneous (float rounding)
_COPY = re.compile(r"^(CPU copy|DMA) (.+?) -> (.+?)(?: \((.+)\))?$")
_BLOCK = re.compile(r"^blocked: (.+) \(context switch\)$")


@dataclass(frozen=True)
class Run:
    """One simulated transfer and its trace events in time order."""

    result: Result
    events: tuple[Event, ...]
    page_log_s: tuple[float, ...] = ()
    """When each ``result.page_log`` change happened on the task's clock (see below)."""


def run_traced(path: str, size_bytes: int | str, *, profile: str = "teaching", seed: int = 0,
               overrides: dict[str, Any] | None = None, cache: str = "cold",
               buffer_bytes: int | str = 64 * 1024, watch_page: int = 0, **scenario: Any
               ) -> Run:
    """Simulate with a tracer attached; events sorted by start, enclosing slices first.

    ``scenario``: further scenario keys (a failure mode such as ``drop=[3]``)."""
    tracer = Tracer()
    result = simulate(path, size_bytes, profile=profile, seed=seed, overrides=overrides,
                      tracer=tracer, cache=cache, buffer_bytes=buffer_bytes,
                      watch_page=watch_page, **scenario)
    events = sorted(tracer.events, key=lambda e: (e.start_s, -duration_s(e)))
    return Run(result, tuple(events), tuple(_task_times(tracer.events, result.page_log)))


ASYNC_HOLDERS = ("put skb",)  # refcount changes made by interrupts, not by the task


def _task_times(in_order: list[Event], page_log: list) -> list[float]:
    """Pages log at the simulation clock, which lags a task that books its work ahead: a
    reference the task takes inside a syscall is placed no earlier than that syscall's
    start (the first syscall traced after it, since syscalls are traced as they return)."""
    changes = [i for i, e in enumerate(in_order) if e.kind == "counter" and e.track == "pages"]
    untraced = len(page_log) - len(changes)  # logged while the machine was built (warm cache)
    out = [t_s for t_s, _, _ in page_log[:untraced]]
    for (t_s, _, what), i in zip(page_log[untraced:], changes, strict=True):
        call = next((e for e in in_order[i + 1:] if is_syscall(e)), None)
        if what not in ASYNC_HOLDERS and call is not None:
            t_s = max(t_s, call.start_s)
        out.append(t_s)
    return out


def duration_s(e: Event) -> float:
    """How long a slice lasted; 0 for instants and counters."""
    return e.end_s - e.start_s if e.kind == "slice" else 0.0


def end_s(e: Event) -> float:
    """When an event finished (its start, for instants and counters)."""
    return e.end_s if e.kind == "slice" else e.start_s


def copy_of(e: Event) -> tuple[str, str, str] | None:
    """``("CPU" | "DMA", from, to)`` when the event is a copy, else None."""
    m = _COPY.match(e.name) if e.kind == "slice" else None
    if m is None:
        return None
    return ("CPU" if m.group(1) == "CPU copy" else "DMA"), m.group(2), m.group(3)


def is_syscall(e: Event) -> bool:
    """A syscall of the program (the sender's slices named ``name()``)."""
    return e.kind == "slice" and e.track == "sender" and e.name.endswith("()")


def block_reason(e: Event) -> str | None:
    """Why the task slept, when the event is a block (a context switch)."""
    m = _BLOCK.match(e.name) if e.kind == "slice" and e.track == "sender" else None
    return m.group(1) if m else None


@dataclass(frozen=True)
class CopyEdge:
    """All copies one agent made from one buffer to another."""

    who: str
    src: str
    dst: str
    count: int
    nbytes: int


def copies(events: tuple[Event, ...]) -> list[CopyEdge]:
    """Copies grouped by (who, from, to), in order of first appearance."""
    found: dict[tuple[str, str, str], list[int]] = {}
    for e in events:
        key = copy_of(e)
        if key is not None:
            sums = found.setdefault(key, [0, 0])
            sums[0] += 1
            sums[1] += e.args["bytes"]
    return [CopyEdge(w, s, d, n, b) for (w, s, d), (n, b) in found.items()]


def tally(names: list[str]) -> dict[str, int]:
    """Occurrences of each name, in order of first appearance."""
    out: dict[str, int] = {}
    for name in names:
        out[name] = out.get(name, 0) + 1
    return out


def syscalls(events: tuple[Event, ...]) -> dict[str, int]:
    """How often the program called each syscall."""
    return tally([e.name for e in events if is_syscall(e)])


def blocks(events: tuple[Event, ...]) -> dict[str, int]:
    """How often the task blocked, by reason."""
    return tally([r for e in events if (r := block_reason(e)) is not None])


@dataclass(frozen=True)
class Span:
    """One stretch of the critical path."""

    start_s: float
    end_s: float
    what: str


def _is_step(e: Event) -> bool:
    """Events that can hold up the transfer: device work, copies, blocks, pushes, IRQs."""
    if e.kind == "slice":
        return e.track in ("disk", "dma", "wire", "cpu") or block_reason(e) is not None
    if e.kind == "counter":
        return e.track == "socket"  # the socket's queue grows when an skb is pushed
    return e.track == "cpu" or e.name == CWND_SEND


def _describe(e: Event) -> str:
    if e.kind == "counter":
        return "the sender pushes an skb to the NIC"
    if e.name == CWND_SEND:
        return "the ACK opens the congestion window: the held-back data goes out"
    if e.kind == "instant":
        return e.name
    copy = copy_of(e)
    if copy is not None:
        who, src, dst = copy
        return f"{who} copy {src} -> {dst}"
    if e.track == "wire":
        return "wire: an skb on the link"
    if e.track == "disk":
        return "disk: the media reads the previous request"
    reason = block_reason(e)
    return f"the task sleeps: {reason}" if reason else e.name


def _sender_work(events: tuple[Event, ...], a_s: float, b_s: float) -> str:
    """What the sender's CPU did between two steps of the critical path."""
    def within(t_s: float, upto_end: bool = False) -> bool:
        return a_s - EPS_S <= t_s < b_s + (EPS_S if upto_end else -EPS_S)

    parts = [f"{e.name} entry" for e in events if is_syscall(e) and within(e.start_s)]
    faults = sum(1 for e in events if e.name == "page fault" and within(e.start_s))
    if faults:
        parts.append(f"{faults} page fault{'s' if faults > 1 else ''}")
    if any(block_reason(e) and within(e.end_s) for e in events):
        parts.append("wake-up (context switch)")
    if any(e.name.startswith("pipe:") for e in events if e.kind == "slice" and within(e.end_s)):
        parts.append("pipe buffers")
    if any(e.kind == "counter" and e.track == "socket" and within(e.start_s, upto_end=True)
           for e in events):
        parts.append("skb")
    return "the sender's CPU work: " + (", ".join(parts) if parts else "fixed costs")


def critical_path(run: Run) -> list[Span]:
    """Walk back from the receiver's last byte to the first syscall.

    At each step the predecessor is the event that ended when the current one started (the
    same resource first: a busy link, disk or DMA engine); a gap before it is the sender's
    fixed CPU work (mode switches, syscall, fault and skb costs) or the disk's latency.
    Data the congestion window held back goes out when an ACK opens it: the walk steps to
    that ACK and from it back a round trip to the transmission it acknowledges.
    """
    events = run.events
    last_s = run.result.sim_time_s
    delivered = [e for e in events if e.track == "receiver" and abs(e.start_s - last_s) < EPS_S]
    if not delivered:
        return []
    seq_name = "skb seq " + delivered[-1].name.rsplit(" ", 1)[-1]
    wire = [e for e in events if e.track == "wire" and e.name == seq_name
            and e.end_s <= last_s + EPS_S]
    spans = [Span(wire[-1].end_s, last_s, "half an RTT: the last segment reaches the receiver")]
    steps = [e for e in events if _is_step(e)]
    index = {id(e): i for i, e in enumerate(steps)}
    media = [e for e in events if e.track == "disk"]
    rtt_s = 0.0 if run.result.profile["nic"].get("loopback") else \
        run.result.profile["wire"]["rtt_s"]
    opened = [e for e in events if e.name == CWND_SEND]
    cur = wire[-1]
    while cur.start_s > EPS_S:
        spans.append(Span(cur.start_s, end_s(cur), _describe(cur)))
        start = cur.start_s
        if cur.name == CWND_SEND:  # the ACK that opened the window, at the same instant
            acks = [e for e in steps if e.name.startswith("IRQ: ACK")
                    and abs(e.start_s - start) < EPS_S]
            if acks:
                cur = acks[-1]
                continue
        if cur.name.startswith("IRQ: ACK"):  # a round trip after the data left the link
            sent = [e for e in events if e.kind == "slice" and e.track in ("wire", "receiver")
                    and abs(e.end_s + rtt_s - start) < EPS_S]
            if sent:
                spans.append(Span(sent[-1].end_s, start,
                                  "a round trip: the data reaches the receiver, its ACK returns"
                                  if rtt_s else "the local receiver ACKs"))
                cur = sent[-1]
                continue
        if cur.kind == "slice" and cur.track in ("dma", "cpu") and not any(
                e.track == cur.track and e.kind == "slice" and abs(e.end_s - start) < EPS_S
                for e in steps):
            at = [e for e in opened if abs(e.start_s - start) < EPS_S]
            if at:  # not a busy engine: data the window held back, sent as an ACK came
                cur = at[-1]
                continue
        if cur.track == "disk" or cur.name.startswith("DMA disk"):
            busy = [e for e in media if abs(e.end_s - start) < EPS_S]
            if busy:  # the media was still reading an earlier request
                cur = busy[-1]
                continue
            queued = next(e.args["queued_at"] for e in media if e.start_s == start)
            spans.append(Span(queued, start, "disk latency: the request waits for the media"))
            start = queued
        before = [e for e in steps[:index.get(id(cur), len(steps))]
                  if end_s(e) <= start + EPS_S and e is not cur and e.track != "disk"]
        if not before:
            spans.append(Span(0.0, start, ""))
            break
        latest = max(end_s(e) for e in before)
        touching = [e for e in before if abs(end_s(e) - latest) < EPS_S]
        same = [e for e in touching if e.track == cur.track]
        if start - latest > EPS_S:
            spans.append(Span(latest, start, ""))
        cur = (same or touching)[-1]
    spans = [s for s in reversed(spans) if s.end_s - s.start_s > EPS_S]
    merged: list[Span] = []
    for s in spans:  # adjacent gaps are one stretch of the sender's work
        if merged and not s.what and not merged[-1].what:
            merged[-1] = Span(merged[-1].start_s, s.end_s, "")
        else:
            merged.append(s)
    return [s if s.what else Span(s.start_s, s.end_s, _sender_work(events, s.start_s, s.end_s))
            for s in merged]
