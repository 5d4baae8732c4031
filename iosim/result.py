"""The flat record of one run: every field declared once, with its meaning.

A field is either a ``counter`` (the accounting sink has an attribute of the same name that
components add to during the run, copied into the record as it stands at the end) or
``derived`` (computed when the run ends: per-byte ratios, times, the receiver's verdict).
Adding a counter is one line here: ``iosim.accounting.Accounting`` grows the attribute, the
run copies it, and the JSON, CSV columns and the field table (``docs/results.md``,
``iosim fields``) show it.

Counting rules:
- a *copy* is one movement of bytes from one buffer to another by the CPU or a DMA engine;
  ``copies`` = (CPU + DMA copy bytes) / bytes delivered, so cold-cache read+write is 4.0;
- a CPU copy moves 2 bytes over the memory bus per byte (read + write), a DMA moves 1;
- ``mode_switches`` are user<->kernel transitions, 2 per syscall; ``context_switches`` are
  the times the task blocked and the scheduler ran something else.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

COUNTER, DERIVED = "counter", "derived"


def counter(doc: str, default: int | float = 0) -> Any:
    """A field the accounting sink counts during the run."""
    return dataclasses.field(default=default, metadata={"source": COUNTER, "doc": doc})


def derived(doc: str, default: Any = None, factory: Any = None) -> Any:
    """A field computed when the run ends."""
    if factory is not None:
        return dataclasses.field(default_factory=factory,
                                 metadata={"source": DERIVED, "doc": doc})
    return dataclasses.field(default=default, metadata={"source": DERIVED, "doc": doc})


@dataclass(frozen=True)
class Result:
    """What one run measured. Sizes in bytes, times in seconds, rates as their names say."""

    path: str = derived("Which file->socket mechanism ran (see ``iosim.PATHS``).", "")
    bytes_requested: int = derived("Bytes the application asked to send.", 0)
    bytes_delivered: int = derived("Bytes the receiver got, each counted once.", 0)
    sim_time_s: float = derived("Simulated time from the first syscall until the receiver "
                                "held the last byte.", 0.0)
    goodput_bps: float = derived("Application data delivered per simulated second, in bits "
                                 "per second.", 0.0)
    copies: float = derived("(CPU + DMA copy bytes) / bytes delivered: 4.0 for cold-cache "
                            "read+write.", 0.0)
    cpu_copies: float = derived("CPU copy bytes / bytes delivered.", 0.0)
    dma_copies: float = derived("DMA copy bytes / bytes delivered.", 0.0)
    cpu_copy_bytes: int = counter("Bytes moved by CPU copies (memcpy, copy_to_user, "
                                  "copy_from_user).")
    dma_copy_bytes: int = counter("Bytes moved by DMA engines (disk -> page cache, memory "
                                  "-> NIC).")
    disk_dma_bytes: int = counter("DMA bytes from the disk into the page cache.")
    nic_dma_bytes: int = counter("DMA bytes read by the NIC, retransmissions included.")
    membus_bytes: int = counter("DRAM traffic: 2 bytes per CPU-copied byte, 1 per DMA byte.")
    syscalls: int = counter("System calls the sender made.")
    mode_switches: int = counter("User<->kernel transitions: 2 per syscall.")
    context_switches: int = counter("Times the sender blocked (disk, full send buffer, empty "
                                    "pipe, completion wait).")
    page_faults: int = counter("Page faults the sender took (mmap pages, first touch of user "
                               "buffers).")
    irqs: int = counter("Interrupts: disk completions, NIC TX completions, ACK arrivals.")
    skbs: int = counter("sk_buffs the send calls built (tcp_sendmsg_locked, splice_to_socket: "
                        "tcp_stream_alloc_skb); on linux-6 the unsent tail takes appends, so "
                        "small writes share skbs.")
    tso_fragments: int = counter("linux-6: skbs tso_fragment split off an unsent skb to send "
                                 "its head (a window, burst or Nagle cut; one allocation each).")
    frags: int = counter("Page frags attached to those sk_buffs (page references instead of "
                         "copies); on linux-6 also the frag a tso_fragment cuts in two, which "
                         "then references its page from two skbs.")
    disk_requests: int = counter("Read requests sent to the disk.")
    cpu_time_s: float = derived("CPU time spent on the transfer, all cores.", 0.0)
    cpu_time_by_category: dict[str, float] = derived(
        "CPU time per category (copy, syscall, context_switch, fault, pin, pipe, net, irq, "
        "notification, receive, writer) plus ``idle``: core-seconds not used during the "
        "run.", factory=dict)
    utilization: dict[str, float] = derived(
        "Busy fraction of disk, membus, cpu (all cores), the sender's core and the link "
        "during the run.", factory=dict)
    bottleneck: str = derived(
        "What limits goodput: a saturated memory bus first, else the busiest resource at "
        "90 % or more, else ``latency`` if pushed data mostly waited for the congestion "
        "window, else ``sndbuf`` if the sender mostly slept on a full send buffer (the "
        "window over the round trip), else the busiest resource at 50 % or more, else "
        "``readahead`` if the sender slept on disk reads for half the run or more (the "
        "read-ahead window over the disk's latency), else ``latency``.", "")
    wire_bytes: int = counter("Bytes on the wire: payload (retransmissions included) plus "
                              "TCP/IP and Ethernet headers and framing of every segment.")
    pages_pinned: int = counter("User pages MSG_ZEROCOPY took a reference on "
                                "(get_user_pages, one per page per send; the textbook says "
                                "pinned, Linux takes FOLL_GET references charged as locked "
                                "memory); vmsplice's references, one per page per call; "
                                "io_uring's registered buffers, pinned once.")
    uring_sqes: int = counter("io_uring submission queue entries the program queued "
                              "(io_uring_send_zc: a read and a send per buffer).")
    uring_cqes: int = counter("io_uring completion queue entries the program reaped: one "
                              "per SQE, plus a notification CQE (IORING_CQE_F_NOTIF) per "
                              "zero-copy send, after the ACK.")
    zerocopy_notifications: int = counter("MSG_ZEROCOPY completions queued on the error "
                                          "queue (before coalescing).")
    linearized_bytes: int = counter("Frag bytes copied into one buffer before DMA: the "
                                    "driver's, for an skb with more frags than the DMA "
                                    "engine's scatter-gather entries; on linux-6 also frags "
                                    "others may change (page cache, MSG_ZEROCOPY pages), "
                                    "copied before a software checksum when the NIC has no "
                                    "checksum offload (included in ``cpu_copy_bytes``).")
    gso_copy_bytes: int = counter("linux-6: bytes software segmentation copied into linear "
                                  "per-MSS skbs because the NIC has no scatter-gather "
                                  "(skb_segment / __skb_linearize), once per transmission, "
                                  "resends included (part of ``cpu_copy_bytes``).")
    csum_read_bytes: int = counter("linux-6: bytes the CPU read to checksum segments in "
                                   "software (no checksum offload): a read pass, not a copy "
                                   "(1 byte of memory traffic per byte).")
    tx_completions: int = counter("Transmissions the NIC completed: one per TSO skb, one per "
                                  "segment when the kernel segments in software.")
    receiver_wakeups: int = counter("Loopback: skbs that found the local receiver caught up, "
                                    "asleep in recv() (sk_wait_data), and woke it "
                                    "(sk_data_ready); on another core each wake-up waits "
                                    "cpu.wakeup_remote.")
    zerocopy_copied_sends: int = counter("MSG_ZEROCOPY completions the kernel flagged as "
                                         "copies (SO_EE_CODE_ZEROCOPY_COPIED): per send "
                                         "(textbook), per notification record (linux-6).")
    zerocopy_extended_sends: int = counter("linux-6: MSG_ZEROCOPY sends that joined the "
                                           "previous send's notification record "
                                           "(msg_zerocopy_realloc), so one completion covers "
                                           "both.")
    zerocopy_enobufs: int = counter("linux-6: MSG_ZEROCOPY sends refused with ENOBUFS "
                                    "(optmem_max or RLIMIT_MEMLOCK exceeded); the program "
                                    "waits for a completion and sends again.")
    locked_vm_peak_pages: int = counter("linux-6: most pages MSG_ZEROCOPY had charged to "
                                        "locked memory at once (mm_account_pinned_pages).")
    sndbuf_max_bytes: int = counter("Largest send buffer the socket had (linux-6 starts at "
                                    "tcp_wmem[1] = 16 KiB and autotunes with cwnd).")
    cow_copies: int = counter("Copy-on-write faults of a MAP_PRIVATE writer (each copies one "
                              "page).")
    cow_copy_bytes: int = counter("Bytes those COW faults copied (the writer's copies, not "
                                  "counted in ``copies``).")
    writer_stores: int = counter("Stores the concurrent writer made.")
    evictions: int = counter("Pages reclaim removed from the page cache.")
    reclaim_busy_refs: int = counter("Times reclaim could not free a page because a pipe, "
                                     "an skb frag or a page reference (FOLL_GET) still held "
                                     "it (mm/vmscan.c:__remove_mapping). Pinned (FOLL_PIN) "
                                     "pages are a different thing.")
    refaults: int = counter("Pages read from the disk again over a shadow entry "
                            "(mm/workingset.c:workingset_refault). linux-6: any evicted page "
                            "read again; textbook: only pages evicted before they were used.")
    evicted_unused: int = counter("Pages reclaim evicted before anyone read, spliced or mapped "
                                  "them: read-ahead wasted.")
    truncated_inflight_pages: int = counter("Pages truncate detached from the file while "
                                            "still referenced (still being sent).")
    lost_segments: int = counter("TCP segments the wire dropped.")
    retransmits: int = counter("Segments sent again (fast retransmit or timeout).")
    retransmit_bytes: int = counter("Bytes sent again.")
    rto_timeouts: int = counter("Retransmission timer expiries.")
    duplicate_bytes: int = derived("Bytes the receiver got more than once and dropped.", 0)
    unaligned_extra_frags: int = counter("Frags beyond what the bytes need if page-aligned: "
                                         "one per range handed to the socket whose start "
                                         "makes it span one more page.")
    bounce_copy_bytes: int = counter("Bytes the CPU copied to aligned bounce buffers for a "
                                     "NIC needing DMA alignment (included in "
                                     "``cpu_copy_bytes``).")
    stale_bytes: int = derived("Bytes delivered holding an older version than the sender "
                               "captured.", 0)
    changed_bytes: int = derived("Bytes delivered holding newer data than the sender "
                                 "captured (an in-place writer).", 0)
    mixed_version_segments: int = derived("TCP segments whose bytes come from different "
                                          "versions of the data.", 0)
    integrity: str = derived("``exact`` (what the sender captured), ``changed`` (newer data, "
                             "whole segments), ``stale`` (older data) or ``mixed`` (some "
                             "segment mixes versions).", "")
    invariant_violations: list[str] = derived("Broken invariants found during or after the "
                                              "run; empty when the model is sound.",
                                              factory=list)
    seed: int = derived("RNG seed of the run.", 0)
    cwnd_limited_s: float = counter("Seconds during which pushed data waited for the "
                                    "congestion window (ACKs to open it).", 0.0)
    page_log: list[tuple[float, int, str]] = derived(
        "(time, refcount, event) of the page ``watch_page`` names, over all its lives.",
        factory=list)
    scenario: dict[str, Any] = derived("The effective scenario (path options, cache state, "
                                       "sizes).", factory=dict)
    profile: dict[str, Any] = derived("The effective hardware profile in base units.",
                                      factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict, JSON-ready."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """Stable JSON: same inputs and seed give byte-identical text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)


FIELDS = dataclasses.fields(Result)
RESULT_FIELDS = tuple(f.name for f in FIELDS)
COUNTER_FIELDS = tuple(f.name for f in FIELDS if f.metadata["source"] == COUNTER)


def unit_of(name: str) -> str:
    """A field's unit from its name's suffix (the house rule: units in names)."""
    for suffix, unit in (("_bytes", "bytes"), ("_bps", "bit/s"), ("_per_s", "1/s"),
                         ("_s", "s")):
        if name.endswith(suffix):
            return unit
    return ""


def field_table() -> str:
    """Every Result field as a Markdown table (what ``docs/results.md`` holds)."""
    rows = ["| field | unit | counted or derived | meaning |", "|---|---|---|---|"]
    for f in FIELDS:
        doc = " ".join(f.metadata["doc"].split()).replace("|", "\\|")
        rows.append(f"| `{f.name}` | {unit_of(f.name)} | {f.metadata['source']} | {doc} |")
    return "\n".join(rows) + "\n"


DOC_HEADER = """# Result fields

`iosim.simulate()` returns one flat `Result`; `--json` prints it, sweeps and experiments
write its scalar fields as CSV columns. Generated from `iosim/result.py` by
`iosim fields --markdown > docs/results.md`; a test keeps it current.

"""
