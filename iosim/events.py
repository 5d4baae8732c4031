"""The trace vocabulary: what a run did, as typed records.

Components emit ``Event`` records through the constructors below (only when a tracer is
attached, so an untraced run pays one ``is None`` test per site); every reader (explain,
quiz, the flow graph, charts, the animation, the Chrome export) matches on the fields:
``kind`` says what happened, ``track`` which component did it, and the typed fields say
with what (``who`` moved ``nbytes`` from ``src`` to ``dst``, stream offset ``seq``, pages
``first_page`` .. ``first_page + pages - 1``). ``title()`` renders an event as the line a
person reads; no reader parses it back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """What an event records."""

    SYSCALL = "syscall"  # sender slice: ``what`` is the syscall's name
    BLOCK = "block"  # sender slice: the task slept (a context switch); ``what`` is why
    FAULT = "fault"  # sender instant: one page fault
    COPY = "copy"  # slice: ``who`` (CPU or DMA) moved ``nbytes`` from ``src`` to ``dst``
    CHECKSUM = "checksum"  # cpu slice: a software checksum read ``nbytes`` of ``src``, no copy
    PIPE = "pipe"  # sender slice: ``pages`` pipe buffers (references) from ``src`` to ``dst``
    DISK = "disk"  # disk slice: the media reads ``nbytes`` into ``pages`` pages
    WIRE = "wire"  # wire slice: the skb at ``seq`` on the link
    LOST = "lost"  # wire instant: every segment of the skb at ``seq`` was dropped
    DELIVER = "deliver"  # receiver instant: bytes of the skb at ``seq`` arrived
    IRQ = "irq"  # cpu instant: an interrupt; ``what`` is its cause (the IRQ_* names)
    REF = "ref"  # pages instant: ``who`` took (``what`` = get) or dropped (put) references
    REFCOUNT = "refcount"  # pages counter: the watched page ``first_page`` has ``value`` refs
    QUEUED = "queued"  # socket counter: ``value`` bytes in the send buffer (skb pushed/freed)
    CWND = "cwnd"  # socket instant: data the congestion window held back goes out
    RETRANSMIT = "retransmit"  # socket instant: a clone of the queued data at ``seq`` resent
    STORE = "store"  # sender instant: a concurrent writer (``who``) stores into a page
    TRUNCATE = "truncate"  # pages instant: the file was truncated and rewritten
    ALLOC = "alloc"  # pages instant: new pages of ``src`` (a file's page cache, a user buffer)
    RECLAIM = "reclaim"  # pages instant: reclaim skipped ``pages`` pages others referenced
    COW = "cow"  # sender instant: a MAP_PRIVATE writer stores; the first store copies the page
    USER_STORE = "user store"  # sender instant: a writer stores into the sender's user buffer
    DROP = "drop"  # wire instant: some (not all) segments of the skb at ``seq`` were dropped
    WORK = "work"  # cores slice: CPU work charged to ``what``, ``nbytes`` of it copying
    HOLD = "hold"  # socket instant: linux-6 keeps the unsent skb at ``seq`` back; ``what`` why


SLICES = frozenset({Kind.SYSCALL, Kind.BLOCK, Kind.COPY, Kind.CHECKSUM, Kind.PIPE, Kind.DISK,
                    Kind.WIRE, Kind.WORK})
COUNTERS = frozenset({Kind.REFCOUNT, Kind.QUEUED})

# Tracks, in the order viewers show them: the program's view first, then down the hardware.
TRACKS = ("sender", "cpu", "disk", "dma", "nic", "wire", "receiver", "pages", "socket",
          "cores")

# Buffers and data a move goes between (``src``/``dst``).
DISK = "disk"
PAGE_CACHE = "page cache"
USER_BUFFER = "user buffer"
MAPPING = "mmap'd page cache"
FILE = "file"
PIPE = "pipe"
SOCKET = "socket"
SOCKET_BUFFER = "socket buffer"
LINEAR = "skb linear data"  # the bytes copied into an skb
FRAGS = "page frags"  # the pages an skb's frags reference
SOCKET_FRAGS = "socket's page frags"  # linux-6: write() data, the socket's private copy
SEGMENTS = "linear segments"  # linux-6: software GSO's per-MSS copies (NIC without SG)
NIC = "NIC"
RECEIVER_BUFFER = "receiver's buffer"

CPU, DMA = "CPU", "DMA"  # who moves bytes

# IRQ causes (``what`` of an IRQ event)
IRQ_DISK = "disk read complete"
IRQ_TX = "NIC TX completion"
IRQ_ACK = "ACK"


@dataclass(slots=True)
class Event:
    """One thing a component did; instants and counters have ``end_s == start_s``."""

    kind: Kind
    track: str
    start_s: float
    end_s: float
    nbytes: int = 0
    who: str = ""
    src: str = ""
    dst: str = ""
    what: str = ""
    note: str = ""
    seq: int | None = None
    first_page: int | None = None
    pages: int = 0
    value: float = 0.0
    args: dict[str, Any] = field(default_factory=dict)
    """Further values shown with the event (units in their names), never its meaning."""

    @property
    def duration_s(self) -> float:
        """How long the event lasted (0 for instants and counters)."""
        return self.end_s - self.start_s

    @property
    def is_slice(self) -> bool:
        """Something that took time."""
        return self.kind in SLICES

    @property
    def is_counter(self) -> bool:
        """A value that changed."""
        return self.kind in COUNTERS


def syscall(name: str, start_s: float, end_s: float, nbytes: int | None = None,
            src: str = "", dst: str = "", note: str = "", **args: Any) -> Event:
    """The program's syscall ``name`` from entry to return; ``note`` holds its flags."""
    e = Event(Kind.SYSCALL, "sender", start_s, end_s, nbytes or 0, src=src, dst=dst,
              what=name, note=note, args=args)
    if nbytes is not None:
        e.args["bytes"] = nbytes
    return e


def block(reason: str, start_s: float, end_s: float) -> Event:
    """The task slept from ``start_s`` to ``end_s``: a context switch."""
    return Event(Kind.BLOCK, "sender", start_s, end_s, what=reason)


def fault(t_s: float) -> Event:
    """One page fault taken by the task."""
    return Event(Kind.FAULT, "sender", t_s, t_s)


def checksum(src: str, start_s: float, end_s: float, nbytes: int, note: str = "") -> Event:
    """The CPU read ``nbytes`` of ``src`` to checksum them in software (no copy)."""
    return Event(Kind.CHECKSUM, "cpu", start_s, end_s, nbytes, who=CPU, src=src, note=note)


def copy(track: str, who: str, src: str, dst: str, start_s: float, end_s: float,
         nbytes: int, note: str = "", **args: Any) -> Event:
    """``who`` (CPU or DMA) moved ``nbytes`` from ``src`` to ``dst``; ``note`` says why."""
    return Event(Kind.COPY, track, start_s, end_s, nbytes, who=who, src=src, dst=dst,
                 note=note, args=args)


def pipe(src: str, dst: str, start_s: float, end_s: float, buffers: int, nbytes: int
         ) -> Event:
    """A pass of ``buffers`` pipe buffers (page references, no bytes moved)."""
    return Event(Kind.PIPE, "sender", start_s, end_s, nbytes, src=src, dst=dst, pages=buffers)


def disk_read(start_s: float, end_s: float, nbytes: int, pages: int, queued_at_s: float
              ) -> Event:
    """The disk media reading one request (queued at ``queued_at_s``)."""
    return Event(Kind.DISK, "disk", start_s, end_s, nbytes, pages=pages,
                 args={"queued_at_s": queued_at_s})


def wire(seq: int, start_s: float, end_s: float, nbytes: int, segments: int) -> Event:
    """The skb at ``seq`` serialised on the link as ``segments`` segments."""
    return Event(Kind.WIRE, "wire", start_s, end_s, nbytes, seq=seq,
                 args={"segments": segments})


def lost(seq: int, t_s: float, nbytes: int) -> Event:
    """Every segment of the transmission at ``seq`` was dropped."""
    return Event(Kind.LOST, "wire", t_s, t_s, nbytes, seq=seq)


def deliver(seq: int, t_s: float, nbytes: int, ack_seq: int) -> Event:
    """``nbytes`` of the transmission at ``seq`` reached the receiver, which now has every
    byte below ``ack_seq`` in order."""
    return Event(Kind.DELIVER, "receiver", t_s, t_s, nbytes, seq=seq, args={"ack": ack_seq})


def irq(cause: str, t_s: float, seq: int | None = None, **args: Any) -> Event:
    """An interrupt (``IRQ_DISK``, ``IRQ_TX``, ``IRQ_ACK``)."""
    return Event(Kind.IRQ, "cpu", t_s, t_s, what=cause, seq=seq, args=args)


def ref(op: str, holder: str, t_s: float, where: str, indexes: list[int],
        ids: list[int] | None = None) -> Event:
    """``holder`` took (``op`` = get) or dropped (put) one reference on each page of
    ``where`` (page cache or user buffer) at ``indexes``; ``ids`` name the physical pages
    (``Page.serial``), which outlive their place in a file or buffer."""
    first = indexes[0] if indexes else None
    return Event(Kind.REF, "pages", t_s, t_s, who=holder, what=op, src=where,
                 first_page=first, pages=len(indexes),
                 args={"indexes": indexes, "ids": ids or []})


def alloc(where: str, owner: str, t_s: float, indexes: list[int], ids: list[int]) -> Event:
    """New pages, one reference each (their owner's): page-cache pages of file ``owner`` at
    ``indexes`` (read-ahead, a miss, a warm start) or pages of user buffer ``owner``
    faulted in on first touch."""
    return Event(Kind.ALLOC, "pages", t_s, t_s, src=where, what=owner,
                 first_page=indexes[0] if indexes else None, pages=len(indexes),
                 args={"indexes": indexes, "ids": ids})


def reclaim_skipped(t_s: float, indexes: list[int], ids: list[int]) -> Event:
    """Reclaim passed over these page-cache pages: a pipe, skb or pin still references them
    (shrink_folio_list keeps a page whose count is above the cache's and the mappings')."""
    return Event(Kind.RECLAIM, "pages", t_s, t_s, first_page=indexes[0] if indexes else None,
                 pages=len(indexes), args={"indexes": indexes, "ids": ids})


def cow(index: int, t_s: float, copied: bool) -> Event:
    """A MAP_PRIVATE writer stored into file page ``index``; ``copied``: this store faulted
    (do_wp_page -> wp_page_copy) and gave the writer a private copy of the page."""
    return Event(Kind.COW, "sender", t_s, t_s, who="private", first_page=index,
                 pages=int(copied), args={"copied": copied})


def user_store(t_s: float, page_id: int | None, index: int | None) -> Event:
    """A writer stored into the sender's user buffer: into page ``page_id`` (buffer page
    ``index``) if an skb still references that page, else into memory no skb holds."""
    return Event(Kind.USER_STORE, "sender", t_s, t_s, who="userbuf", first_page=index,
                 args={"id": page_id})


def drop(seq: int, t_s: float, nbytes: int, ranges: list[list[int]]) -> Event:
    """Segments of the transmission at ``seq`` dropped on the wire: ``nbytes`` in all, the
    stream ranges ``[start, end)`` in ``ranges`` (one per lost segment)."""
    return Event(Kind.DROP, "wire", t_s, t_s, nbytes, seq=seq,
                 args={"segments": len(ranges), "ranges": ranges})


def work(category: str, start_s: float, end_s: float, copied_bytes: int = 0) -> Event:
    """A core busy from ``start_s`` to ``end_s`` on work charged to ``category`` (the
    Result's ``cpu_time_by_category``); ``copied_bytes`` when the work is a copy."""
    return Event(Kind.WORK, "cores", start_s, end_s, copied_bytes, what=category)


def refcount(index: int, t_s: float, count: int) -> Event:
    """The watched page ``index`` now has ``count`` references."""
    return Event(Kind.REFCOUNT, "pages", t_s, t_s, first_page=index, value=count)


def queued(t_s: float, nbytes: int) -> Event:
    """Bytes in the send buffer after an skb was pushed or freed."""
    return Event(Kind.QUEUED, "socket", t_s, t_s, value=nbytes)


def cwnd_send(seq: int, t_s: float, nbytes: int, cwnd_bytes: int) -> Event:
    """Data the congestion window held back goes out as an ACK opens it."""
    return Event(Kind.CWND, "socket", t_s, t_s, nbytes, seq=seq, args={"cwnd": cwnd_bytes})


# why linux-6's TCP keeps an unsent skb back (``what`` of a HOLD event)
HOLD_AUTOCORK = "autocork"  # tcp_should_autocork: an earlier clone is still in the driver
HOLD_NAGLE = "nagle"  # tcp_nagle_check: a sub-MSS segment (Minshall, MSG_MORE, TCP_CORK)
HOLD_DEFER = "tso deferral"  # tcp_tso_should_defer: waiting for a larger window
HOLD_TSQ = "small queues"  # tcp_small_queue_check: enough already in qdisc and driver
HOLD_PACING = "pacing"  # tcp_pacing_check: not before the next departure time
HOLD_RWND = "receive window"  # tcp_snd_wnd_test: past what the receiver advertised


def hold(seq: int, t_s: float, nbytes: int, reason: str) -> Event:
    """linux-6's TCP keeps the unsent ``nbytes`` at ``seq`` back for ``reason`` (HOLD_*)."""
    return Event(Kind.HOLD, "socket", t_s, t_s, nbytes, seq=seq, what=reason)


def retransmit(seq: int, t_s: float, nbytes: int) -> Event:
    """A clone of the queued data from ``seq`` sent again."""
    return Event(Kind.RETRANSMIT, "socket", t_s, t_s, nbytes, seq=seq)


def store(writer: str, index: int, t_s: float) -> Event:
    """A concurrent writer of kind ``writer`` stored into file page ``index``."""
    return Event(Kind.STORE, "sender", t_s, t_s, who=writer, first_page=index)


def truncate(t_s: float) -> Event:
    """The file was truncated and rewritten."""
    return Event(Kind.TRUNCATE, "pages", t_s, t_s)


_UNSHOWN = frozenset({"indexes", "ids", "ranges"})  # page and byte lists: too long to show


def title(e: Event) -> str:
    """The event as a person reads it (trace viewers, text traces)."""
    k = e.kind
    if k is Kind.SYSCALL:
        return f"{e.what}()"
    if k is Kind.BLOCK:
        return f"blocked: {e.what} (context switch)"
    if k is Kind.FAULT:
        return "page fault"
    if k is Kind.COPY:
        mover = "CPU copy" if e.who == CPU else "DMA"
        return f"{mover} {e.src} -> {e.dst}" + (f" ({e.note})" if e.note else "")
    if k is Kind.CHECKSUM:
        return f"checksum of the {e.src} (a read, no copy)"
    if k is Kind.PIPE:
        return f"pipe: {e.src} -> {e.dst}"
    if k is Kind.DISK:
        return f"read {e.nbytes} B"
    if k is Kind.WIRE:
        return f"skb seq {e.seq}"
    if k is Kind.LOST:
        return f"lost seq {e.seq}"
    if k is Kind.DELIVER:
        return f"delivered seq {e.seq}"
    if k is Kind.IRQ:
        return f"IRQ: ACK {e.args['ack']}" if e.what == IRQ_ACK else f"IRQ: {e.what}"
    if k is Kind.REF:
        return f"{e.what} {e.who}: {e.pages} page(s) of the {e.src}"
    if k is Kind.REFCOUNT:
        return f"refcount of page {e.first_page}"
    if k is Kind.QUEUED:
        return "bytes queued (sndbuf)"
    if k is Kind.CWND:
        return "congestion window: send"
    if k is Kind.RETRANSMIT:
        return f"retransmit seq {e.seq}"
    if k is Kind.STORE:
        return f"writer ({e.who}) stores into page {e.first_page}"
    if k is Kind.TRUNCATE:
        return "truncate + rewrite of the file"
    if k is Kind.ALLOC:
        return f"new page(s) of the {e.src}"
    if k is Kind.RECLAIM:
        return "reclaim skips referenced page(s)"
    if k is Kind.COW:
        return (f"writer (private) copies page {e.first_page} (COW)" if e.args["copied"]
                else f"writer (private) stores into its copy of page {e.first_page}")
    if k is Kind.USER_STORE:
        return "writer stores into the user buffer"
    if k is Kind.DROP:
        return f"segments of seq {e.seq} lost"
    if k is Kind.HOLD:
        return f"held back: {e.what}"
    return f"CPU: {e.what}"


def shown_args(e: Event) -> dict[str, Any]:
    """The values shown beside an event's title (what its title does not already say)."""
    k = e.kind
    out: dict[str, Any] = {}
    if k is Kind.PIPE:
        out["buffers"] = e.pages
    elif k in (Kind.DISK, Kind.ALLOC, Kind.RECLAIM):
        out["pages"] = e.pages
    elif k in (Kind.CWND, Kind.IRQ, Kind.HOLD) and e.seq is not None:
        out["seq"] = e.seq
    if k in (Kind.COPY, Kind.CHECKSUM, Kind.PIPE, Kind.WIRE, Kind.LOST, Kind.DELIVER, Kind.CWND,
             Kind.RETRANSMIT, Kind.DROP, Kind.HOLD) or (k is Kind.WORK and e.nbytes):
        out["bytes"] = e.nbytes
    out.update((key, v) for key, v in e.args.items()
               if key not in _UNSHOWN and not (k is Kind.IRQ and key == "ack"))
    return out
