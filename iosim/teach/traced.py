"""A traced run and the facts that teaching output derives from its events.

``iosim explain`` and ``iosim quiz`` read what a run did from its trace, not from a table of
formulas per path, so what they say stays true when the model changes: copies are the CPU
copy and DMA slices, syscalls are the sender's slices, the time is the critical path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iosim.events import CPU, DISK, IRQ_ACK, Event, Kind, title
from iosim.result import Result
from iosim.simulate import simulate
from iosim.trace import Tracer

EPS_S = 1e-12  # events closer than a picosecond are simultaneous (float rounding)


@dataclass(frozen=True)
class Run:
    """One simulated transfer and its trace events in time order."""

    result: Result
    events: tuple[Event, ...]
    page_log_s: tuple[float, ...] = ()
    """When each ``result.page_log`` change happened on the task's clock (see below)."""


def run_traced(path: str, size_bytes: int | str, *, watch_page: int = 0,
               **simulate_kwargs: Any) -> Run:
    """Simulate with a tracer attached, watching page ``watch_page``; events sorted by
    start, enclosing slices first. ``simulate_kwargs``: what ``iosim.simulate`` takes
    (profile, overrides, seed and scenario keys such as ``cache`` or ``drop=[3]``)."""
    tracer = Tracer()
    result = simulate(path, size_bytes, tracer=tracer, watch_page=watch_page,
                      **simulate_kwargs)
    events = tracer.sorted_events()
    return Run(result, tuple(events), tuple(_task_times(tracer.events, result.page_log)))


ASYNC_HOLDERS = ("put skb",)  # refcount changes made by interrupts, not by the task


def _task_times(in_order: list[Event], page_log: list) -> list[float]:
    """Pages log at the simulation clock, which lags a task that books its work ahead: a
    reference the task takes inside a syscall is placed no earlier than that syscall's
    start (the first syscall traced after it, since syscalls are traced as they return)."""
    changes = [i for i, e in enumerate(in_order) if e.kind is Kind.REFCOUNT]
    untraced = len(page_log) - len(changes)  # logged while the machine was built (warm cache)
    out = [t_s for t_s, _, _ in page_log[:untraced]]
    for (t_s, _, what), i in zip(page_log[untraced:], changes, strict=True):
        call = next((e for e in in_order[i + 1:] if is_syscall(e)), None)
        if what not in ASYNC_HOLDERS and call is not None:
            t_s = max(t_s, call.start_s)
        out.append(t_s)
    return out


def is_syscall(e: Event) -> bool:
    """A syscall of the program."""
    return e.kind is Kind.SYSCALL


def block_reason(e: Event) -> str | None:
    """Why the task slept, when the event is a block (a context switch)."""
    return e.what if e.kind is Kind.BLOCK else None


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
        if e.kind is Kind.COPY:
            sums = found.setdefault((e.who, e.src, e.dst), [0, 0])
            sums[0] += 1
            sums[1] += e.nbytes
    return [CopyEdge(w, s, d, n, b) for (w, s, d), (n, b) in found.items()]


def tally(names: list[str]) -> dict[str, int]:
    """Occurrences of each name, in order of first appearance."""
    out: dict[str, int] = {}
    for name in names:
        out[name] = out.get(name, 0) + 1
    return out


def syscalls(events: tuple[Event, ...]) -> dict[str, int]:
    """How often the program called each syscall."""
    return tally([f"{e.what}()" for e in events if e.kind is Kind.SYSCALL])


def blocks(events: tuple[Event, ...]) -> dict[str, int]:
    """How often the task blocked, by reason."""
    return tally([r for e in events if (r := block_reason(e)) is not None])


@dataclass(frozen=True)
class Span:
    """One stretch of the critical path."""

    start_s: float
    end_s: float
    what: str
    category: str = ""
    """What the stretch's time is spent on (``the disk``, ``CPU copies`` ...), set where the
    stretch is found so a reader never classifies it by its words."""


def _is_step(e: Event) -> bool:
    """Events that can hold up the transfer: device work, copies, blocks, pushes, IRQs."""
    if e.is_slice:
        return e.track in ("disk", "dma", "wire", "cpu") or e.kind is Kind.BLOCK
    # the socket's queue grows when an skb is pushed; interrupts; the window opening
    return e.kind in (Kind.QUEUED, Kind.IRQ, Kind.CWND)


ACKS = "waiting for ACKs (congestion window)"


def _describe(e: Event) -> tuple[str, str]:
    """(what the step is, what its time is spent on)."""
    if e.kind is Kind.QUEUED:
        return "the sender pushes an skb to the NIC", "sender CPU work"
    if e.kind is Kind.CWND:
        opens = "the ACK opens the congestion window: the held-back data goes out"
        return opens, opens
    if not e.is_slice:
        return title(e), title(e)
    if e.kind is Kind.COPY:
        return f"{e.who} copy {e.src} -> {e.dst}", "CPU copies" if e.who == CPU else "DMA"
    if e.kind is Kind.WIRE:
        return "wire: an skb on the link", "the link"
    if e.kind is Kind.DISK:
        return "disk: the media reads the previous request", "the disk"
    if e.kind is Kind.BLOCK:
        # asleep until the disk's data arrives: the disk's time
        return (f"the task sleeps: {e.what}",
                "the disk" if e.what.startswith("disk read") else "sleeping")
    return title(e), title(e)


def _sender_work(events: tuple[Event, ...], a_s: float, b_s: float) -> str:
    """What the sender's CPU did between two steps of the critical path."""
    def within(t_s: float, upto_end: bool = False) -> bool:
        return a_s - EPS_S <= t_s < b_s + (EPS_S if upto_end else -EPS_S)

    parts = [f"{e.what}() entry" for e in events
             if e.kind is Kind.SYSCALL and within(e.start_s)]
    faults = sum(1 for e in events if e.kind is Kind.FAULT and within(e.start_s))
    if faults:
        parts.append(f"{faults} page fault{'s' if faults > 1 else ''}")
    if any(e.kind is Kind.BLOCK and within(e.end_s) for e in events):
        parts.append("wake-up (context switch)")
    if any(e.kind is Kind.PIPE and within(e.end_s) for e in events):
        parts.append("pipe buffers")
    if any(e.kind is Kind.QUEUED and within(e.start_s, upto_end=True) for e in events):
        parts.append("skb")
    return "the sender's CPU work: " + (", ".join(parts) if parts else "fixed costs")


def _is_ack(e: Event) -> bool:
    return e.kind is Kind.IRQ and e.what == IRQ_ACK


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
    delivered = [e for e in events if e.kind is Kind.DELIVER
                 and abs(e.start_s - last_s) < EPS_S]
    if not delivered:
        return []
    wire = [e for e in events if e.kind is Kind.WIRE and e.seq == delivered[-1].seq
            and e.end_s <= last_s + EPS_S]
    if not wire:
        return []  # loopback: no link to walk back from
    spans = [Span(wire[-1].end_s, last_s, "half an RTT: the last segment reaches the receiver",
                  "propagation")]
    steps = [e for e in events if _is_step(e)]
    index = {id(e): i for i, e in enumerate(steps)}
    media = [e for e in events if e.kind is Kind.DISK]
    rtt_s = 0.0 if run.result.profile["nic"].get("loopback") else \
        run.result.profile["wire"]["rtt_s"]
    opened = [e for e in events if e.kind is Kind.CWND]
    cur = wire[-1]
    while cur.start_s > EPS_S:
        spans.append(Span(cur.start_s, cur.end_s, *_describe(cur)))
        start = cur.start_s
        if cur.kind is Kind.CWND:  # the ACK that opened the window, at the same instant
            acks = [e for e in steps if _is_ack(e) and abs(e.start_s - start) < EPS_S]
            if acks:
                cur = acks[-1]
                continue
        if _is_ack(cur):  # a round trip after the data left the link
            sent = [e for e in events if e.is_slice and e.track in ("wire", "receiver")
                    and abs(e.end_s + rtt_s - start) < EPS_S]
            if sent:
                spans.append(Span(sent[-1].end_s, start,
                                  "a round trip: the data reaches the receiver, its ACK returns"
                                  if rtt_s else "the local receiver ACKs", ACKS))
                cur = sent[-1]
                continue
        if cur.is_slice and cur.track in ("dma", "cpu") and not any(
                e.track == cur.track and e.is_slice and abs(e.end_s - start) < EPS_S
                for e in steps):
            at = [e for e in opened if abs(e.start_s - start) < EPS_S]
            if at:  # not a busy engine: data the window held back, sent as an ACK came
                cur = at[-1]
                continue
        if cur.kind is Kind.DISK or (cur.kind is Kind.COPY and cur.src == DISK):
            busy = [e for e in media if abs(e.end_s - start) < EPS_S]
            if busy:  # the media was still reading an earlier request
                cur = busy[-1]
                continue
            queued = next(e.args["queued_at_s"] for e in media if e.start_s == start)
            spans.append(Span(queued, start, "disk latency: the request waits for the media",
                              "the disk"))
            start = queued
        before = [e for e in steps[:index.get(id(cur), len(steps))]
                  if e.end_s <= start + EPS_S and e is not cur and e.track != "disk"]
        if not before:
            spans.append(Span(0.0, start, ""))
            break
        latest = max(e.end_s for e in before)
        touching = [e for e in before if abs(e.end_s - latest) < EPS_S]
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
    return [s if s.what else Span(s.start_s, s.end_s, _sender_work(events, s.start_s, s.end_s),
                                  "sender CPU work") for s in merged]
