"""The accounting sink every component reports to, and the flat Result record of a run.

Counting rules (the contract of DESIGN.md section 4):
- a *copy* is one movement of bytes from one buffer to another by the CPU or a DMA engine;
  ``copies`` = (CPU + DMA copy bytes) / bytes delivered, so cold-cache read+write is 4.0;
- a CPU copy moves 2 bytes over the memory bus per byte (read + write), a DMA moves 1;
- ``mode_switches`` are user<->kernel transitions, 2 per syscall; ``context_switches`` are
  the times the task blocked and the scheduler ran something else.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

CPU_CATEGORIES = ("copy", "syscall", "context_switch", "fault", "pin", "pipe", "net", "irq",
                  "notification", "receive", "writer")


class Accounting:
    """Counters shared by all components of one run; plain attributes, updated in bulk."""

    def __init__(self) -> None:
        self.cpu_copy_bytes = 0
        self.dma_copy_bytes = 0
        self.disk_dma_bytes = 0
        self.nic_dma_bytes = 0
        self.membus_bytes = 0
        self.syscalls = 0
        self.mode_switches = 0
        self.context_switches = 0
        self.page_faults = 0
        self.irqs = 0
        self.disk_requests = 0
        self.skbs = 0
        self.frags = 0
        self.pages_pinned = 0
        self.zerocopy_notifications = 0
        self.zerocopy_copied_sends = 0
        self.evictions = 0
        self.linearized_bytes = 0
        self.bounce_copy_bytes = 0
        self.lost_segments = 0
        self.retransmits = 0
        self.retransmit_bytes = 0
        self.frag_bytes = 0
        self.refaults = 0
        self.cow_copies = 0
        self.cow_copy_bytes = 0
        self.writer_stores = 0
        self.truncated_inflight_pages = 0
        self.rto_timeouts = 0
        self.cwnd_limited_s = 0.0
        self.reclaim_skipped_pinned = 0
        self.wire_bytes = 0
        self.cpu_time_s = dict.fromkeys(CPU_CATEGORIES, 0.0)
        self.blocked_s: dict[str, float] = {}  # seconds the sender slept, by reason
        self.violations: list[str] = []
        self.trace = None  # a trace.Tracer when the run is traced

    def violation(self, text: str) -> None:
        """Record a broken invariant; runs report them rather than crash mid-way."""
        if len(self.violations) < 100:
            self.violations.append(text)


@dataclass(frozen=True)
class Result:
    """What one run measured. Sizes in bytes, times in seconds, rates in bytes per second."""

    path: str
    """Which file->socket mechanism ran (see ``iosim.PATHS``)."""
    bytes_requested: int
    """Bytes the application asked to send."""
    bytes_delivered: int
    """Bytes the receiver got, each counted once."""
    sim_time_s: float
    """Simulated time from the first syscall until the receiver held the last byte."""
    goodput_bps: float
    """Application data delivered per simulated second, in bits per second."""
    copies: float
    """(CPU + DMA copy bytes) / bytes delivered: 4.0 for cold-cache read+write."""
    cpu_copies: float
    """CPU copy bytes / bytes delivered."""
    dma_copies: float
    """DMA copy bytes / bytes delivered."""
    cpu_copy_bytes: int
    """Bytes moved by CPU copies (memcpy, copy_to_user, copy_from_user)."""
    dma_copy_bytes: int
    """Bytes moved by DMA engines (disk -> page cache, memory -> NIC)."""
    disk_dma_bytes: int
    """DMA bytes from the disk into the page cache."""
    nic_dma_bytes: int
    """DMA bytes read by the NIC, retransmissions included."""
    membus_bytes: int
    """DRAM traffic: 2 bytes per CPU-copied byte, 1 per DMA byte."""
    syscalls: int
    """System calls the sender made."""
    mode_switches: int
    """User<->kernel transitions: 2 per syscall."""
    context_switches: int
    """Times the sender blocked (disk, full send buffer, empty pipe, completion wait)."""
    page_faults: int
    """Page faults the sender took (mmap pages, first touch of user buffers)."""
    irqs: int
    """Interrupts: disk completions, NIC TX completions, ACK arrivals."""
    skbs: int
    """sk_buffs built by the socket layer."""
    frags: int
    """Page frags attached to those sk_buffs (page references instead of copies)."""
    disk_requests: int
    """Read requests sent to the disk."""
    cpu_time_s: float
    """CPU time spent on the transfer, all cores."""
    cpu_time_by_category: dict[str, float]
    """CPU time per category (copy, syscall, context_switch, fault, pin, pipe, net, irq,
    notification) plus ``idle``: core-seconds not used during the run."""
    utilization: dict[str, float]
    """Busy fraction of disk, membus, cpu (all cores) and link during the run."""
    bottleneck: str
    """What limits goodput: a saturated memory bus first, else the busiest resource at 90 %
    or more, else ``sndbuf`` if the sender mostly slept on a full send buffer (the window
    over the round trip), else the busiest resource at 50 % or more, else ``latency``."""
    wire_bytes: int
    """Bytes on the wire: payload (retransmissions included) plus TCP/IP and Ethernet
    headers and framing of every segment."""
    pages_pinned: int
    """User pages MSG_ZEROCOPY pinned (one per page per send)."""
    zerocopy_notifications: int
    """MSG_ZEROCOPY completions queued on the error queue (before coalescing)."""
    linearized_bytes: int
    """Frag bytes the driver copied because an skb had more frags than the DMA engine's
    scatter-gather entries (included in ``cpu_copy_bytes``)."""
    zerocopy_copied_sends: int
    """MSG_ZEROCOPY sends the kernel completed as copies (SO_EE_CODE_ZEROCOPY_COPIED)."""
    cow_copies: int
    """Copy-on-write faults of a MAP_PRIVATE writer (each copies one page)."""
    cow_copy_bytes: int
    """Bytes those COW faults copied (the writer's copies, not counted in ``copies``)."""
    writer_stores: int
    """Stores the concurrent writer made."""
    evictions: int
    """Pages reclaim removed from the page cache."""
    reclaim_skipped_pinned: int
    """Times reclaim skipped a page because a pipe, skb or pin still referenced it."""
    refaults: int
    """Pages evicted before they were used and read from the disk again."""
    truncated_inflight_pages: int
    """Pages truncate detached from the file while still referenced (still being sent)."""
    lost_segments: int
    """TCP segments the wire dropped."""
    retransmits: int
    """Segments sent again (fast retransmit or timeout)."""
    retransmit_bytes: int
    """Bytes sent again."""
    rto_timeouts: int
    """Retransmission timer expiries."""
    duplicate_bytes: int
    """Bytes the receiver got more than once and dropped."""
    unaligned_extra_frags: int
    """Frags beyond what the bytes need if page-aligned: the cost of an unaligned range."""
    bounce_copy_bytes: int
    """Bytes the CPU copied to aligned bounce buffers for a NIC needing DMA alignment
    (included in ``cpu_copy_bytes``)."""
    stale_bytes: int
    """Bytes delivered holding an older version than the sender captured."""
    changed_bytes: int
    """Bytes delivered holding newer data than the sender captured (an in-place writer)."""
    mixed_version_segments: int
    """TCP segments whose bytes come from different versions of the data."""
    integrity: str
    """``exact`` (what the sender captured), ``changed`` (newer data, whole segments),
    ``stale`` (older data) or ``mixed`` (some segment mixes versions)."""
    invariant_violations: list[str]
    """Broken invariants found during or after the run; empty when the model is sound."""
    seed: int
    """RNG seed of the run."""
    cwnd_limited_s: float = 0.0
    """Seconds during which pushed data waited for the congestion window (ACKs to open it)."""
    page_log: list[tuple[float, int, str]] = field(default_factory=list)
    """(time, refcount, event) of the page ``watch_page`` names, over all its lives."""
    scenario: dict[str, Any] = field(default_factory=dict)
    """The effective scenario (path options, cache state, sizes)."""
    profile: dict[str, Any] = field(default_factory=dict)
    """The effective hardware profile in base units."""

    def to_dict(self) -> dict[str, Any]:
        """A plain dict, JSON-ready."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """Stable JSON: same inputs and seed give byte-identical text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)


RESULT_FIELDS = tuple(f.name for f in dataclasses.fields(Result))
