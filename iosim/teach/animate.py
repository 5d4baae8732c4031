"""``iosim animate``: one self-contained web page that replays a run page by page.

The page is drawn from a run's trace events only (``iosim.events``): each page is a tile
in the lane of the buffer that holds it (disk, page cache, user buffer, pipe, socket, NIC,
wire, receiver), at the column of the file page its data belongs to, so data moves *down*
its column; every copy, DMA and page reference is a step with its actor lit, every syscall
enters and leaves the kernel (a mode switch each way), and the counters advance with
simulated time. Repeated rounds of a long run are folded as ``iosim explain`` folds them.

The document is plain data (``document``): steps, each with the element changes it makes
and the counters after it, named after ``Result`` fields, so the tests check the same
numbers the page shows. ``render_html`` puts it into the template (``animate.html``, package
data: inline JS, CSS and SVG, no network), which works from ``file://`` and in a notebook.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from iosim import events as ev
from iosim import net
from iosim.atomic import write_text
from iosim.config import SCENARIO_DEFAULTS, ConfigError, load_profile, profile_changes
from iosim.events import Event, Kind
from iosim.machine import DATA_FILE
from iosim.paths import PATHS
from iosim.result import Result
from iosim.simulate import replay, simulate
from iosim.teach.explain import repeats
from iosim.trace import Tracer
from iosim.units import format_size, format_time

LANES = ("disk", "cache", "user", "pipe", "socket", "nic", "wire", "receiver")
LANE_TITLES = {"disk": "disk", "cache": "page cache", "user": "user memory", "pipe": "pipe",
               "socket": "socket (skbs)", "nic": "NIC", "wire": "wire",
               "receiver": "receiver"}
ACTORS = ("CPU", "disk DMA", "NIC DMA", "IRQ", "link", "writer")
FOLD_OVER_STEPS = 160  # a run with more steps than this is folded (repeated rounds)
MAX_STEPS = 20_000  # beyond this a page is too long to follow: ask for a smaller size
MAX_COLUMNS = 512  # file pages drawn: 2 MiB of 4 KiB pages
TRACE_LIMIT = 400_000  # events kept; a run that drops any is refused (the page must be whole)

# Counters the page shows, named after Result fields (``totals`` carries them as data-).
COUNTERS = ("copies", "cpu_copy_bytes", "dma_copy_bytes", "membus_bytes", "syscalls",
            "mode_switches", "context_switches", "page_faults", "irqs", "cpu_time_s",
            "bytes_delivered", "sim_time_s", "disk_requests", "frags", "retransmits",
            "retransmit_bytes", "lost_segments", "writer_stores", "cow_copies", "evictions",
            "reclaim_busy_refs")

# page-reference holder -> the lane its reference is drawn in (others: a tag on the tile)
HOLDER_LANES = {"pipe": "pipe", "skb": "socket", "pin": "socket", "zerocopy": "socket",
                "mmap": "user"}
HOLDER_WORDS = {
    ("get", "read"): "the kernel holds {pages} while the disk fills them (filemap_get_pages)",
    ("put", "read"): "the kernel lets go of {pages}: they are uptodate",
    ("get", "fault"): "the page fault holds {pages} while the disk fills them",
    ("put", "fault"): "the fault lets go of {pages}",
    ("get", "pipe"): "splice: pipe buffers reference {pages}, no copy",
    ("put", "pipe"): "the pipe buffers of {pages} are released",
    ("get", "skb"): "skb frags reference {pages}, no copy (scatter-gather)",
    ("put", "skb"): "the ACK frees the skb: its frags drop {pages}",
    ("get", "pin"): "MSG_ZEROCOPY pins {pages} as skb frags, no copy",
    ("put", "pin"): "the ACK frees the skb: {pages} unpinned",
    ("get", "zerocopy"): "MSG_ZEROCOPY takes references on {pages} as skb frags "
                         "(get_user_pages, charged as locked memory), no copy",
    ("get", "mmap"): "mmap: {pages} mapped into the process (page table entries)",
    ("put", "munmap"): "munmap: {pages} unmapped",
    ("put", "pagecache"): "reclaim evicts {pages} from the page cache",
    ("put", "truncate"): "truncate detaches {pages} from the file",
    ("put", "free"): "free(): {pages} are released",
}
# linux-6: the read batch keeps its references through the copy or splice (review K19)
LINUX6_HOLDER_WORDS = {
    **HOLDER_WORDS,
    ("get", "read"): "the read batch references {pages} (filemap_get_read_batch)",
    ("put", "read"): "{pages} copied or in the pipe: the batch lets go (folio_batch_release)",
}
# puts made by IRQs and other tasks
ASYNC_HOLDERS = ("skb", "pin", "zerocopy", "pagecache", "truncate")


def path_color(path: str) -> str:
    """The colour of ``path`` in every chart: its ``PathSpec``'s."""
    spec = PATHS.get(path)
    return spec.color if spec is not None else "#7F7F7F"


@dataclass(frozen=True)
class Traced:
    """A run and its events in the order they were recorded."""

    result: Result
    events: tuple[Event, ...]


def trace(path: str, size_bytes: int | str = "64KiB", *, profile: str = "teaching",
          seed: int = 0, overrides: dict[str, Any] | None = None, **scenario: Any) -> Traced:
    """Simulate ``path`` with a tracer attached (arguments as ``iosim.simulate``)."""
    if path not in PATHS:
        raise ConfigError(f"unknown path {path!r}: expected one of {', '.join(PATHS)}")
    tracer = Tracer(TRACE_LIMIT)
    result = simulate(path, size_bytes, profile=profile, seed=seed, overrides=overrides,
                      tracer=tracer, **scenario)
    if tracer.dropped:
        raise ConfigError(f"size {format_size(result.bytes_requested)}: too long to animate "
                          f"({tracer.limit + tracer.dropped} events); try --size 256KiB")
    return Traced(result, tuple(tracer.events))


def retrace(result: Result) -> Traced:
    """Run a Result's effective profile and scenario again, traced (``iosim.replay``)."""
    tracer = Tracer(TRACE_LIMIT)
    again = replay(result, tracer)
    if tracer.dropped:
        raise ConfigError(f"size {format_size(result.bytes_requested)}: too long to animate "
                          f"({tracer.limit + tracer.dropped} events); try a smaller size")
    return Traced(again, tuple(tracer.events))


# --- the document -------------------------------------------------------------------------

def _pages_text(indexes: Sequence[int], noun: str = "page") -> str:
    if not indexes:
        return f"no {noun}s"
    if len(indexes) == 1:
        return f"{noun} {indexes[0]}"
    lo, hi = min(indexes), max(indexes)
    if hi - lo + 1 == len(indexes):
        return f"{noun}s {lo}-{hi}"
    return f"{len(indexes)} {noun}s"


class _Builder:
    """Walks one run's events in time order and records the page's steps."""

    def __init__(self, t: Traced) -> None:
        r = t.result
        self.r = r
        self.pb = r.profile["kernel"]["page_size_bytes"]
        self.offset = r.scenario["offset_bytes"]
        self.size = r.bytes_requested
        self.boff = r.scenario["buffer_offset_bytes"] % self.pb
        self.columns = -(-(self.offset + self.size) // self.pb)
        if self.columns > MAX_COLUMNS:
            raise ConfigError(f"size {format_size(self.size)}: too many pages to draw "
                              f"({self.columns}); animate at most "
                              f"{format_size(MAX_COLUMNS * self.pb)}")
        self.mss = net.mss_bytes(r.profile["nic"]["mtu_bytes"])
        self.loopback = bool(r.profile["nic"].get("loopback"))
        self.holder_words = (LINUX6_HOLDER_WORDS if r.profile["kernel"].get("model") == "linux-6"
                             else HOLDER_WORDS)
        self.file = DATA_FILE  # the transferred file (pages of others are only counted)
        self.elems: dict[str, dict[str, Any]] = {}
        self.ops: list[list[Any]] = []  # element changes since the last step
        self.counts: dict[str, float] = dict.fromkeys(COUNTERS, 0)
        self.extra = {"queued_bytes": 0, "other_pages": 0}
        self.steps: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        self.mode = "user"
        self.call = -1
        # pages: serial -> facts; where each file page is cached now
        self.pages: dict[int, dict[str, Any]] = {}
        self.cached: dict[tuple[str, int], int] = {}
        self.chips: dict[tuple[str, int], list[str]] = {}
        self.slots: dict[tuple[str, int], set[int]] = {}  # (lane, column) -> sub-rows taken
        self.n = 0  # element ids
        self.write_seq = 0  # stream bytes that entered the socket
        self.linear: list[list[Any]] = []  # [lo, hi, element id] of copied skb data
        self.flight: list[list[Any]] = []  # [seq, nbytes, element id] on the wire
        self.resend: list[int] = []  # seqs whose next transmission is a retransmission
        self.rx: list[list[int]] = []  # byte ranges the receiver holds
        self.rx_ids: list[str] = []
        self.disk_reads: list[str] = []
        self.buffers: dict[str, list[int]] = {}  # "buffer N" -> its page serials by index
        self.fills = self._fills(t.events)
        self.cows: dict[int, str] = {}
        self.delivered_s = 0.0
        self.pending_lost: list[list[int]] = []  # byte ranges of the next arrival that were lost
        self.lost_ids: list[str] = []

    # -- helpers ------------------------------------------------------------------------
    def _id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def set(self, eid: str, **props: Any) -> None:
        self.elems[eid] = props
        self.ops.append([eid, props])

    def drop(self, eid: str) -> None:
        if self.elems.pop(eid, None) is not None:
            self.ops.append([eid, None])

    def col(self, stream_byte: float) -> float:
        """The column (file page) of a stream byte, fractional."""
        return (self.offset + stream_byte) / self.pb

    def slot(self, lane: str, column: float) -> int:
        taken = self.slots.setdefault((lane, int(column)), set())
        k = 0
        while k in taken:
            k += 1
        taken.add(k)
        return k

    def free_slot(self, lane: str, column: float, k: int) -> None:
        self.slots.get((lane, int(column)), set()).discard(k)

    @staticmethod
    def _fills(events: Sequence[Event]) -> list[tuple[float, str, int, int]]:
        """(time, buffer, file offset of the buffer's start, bytes from it) of every read()
        copy into a user buffer (a linux-6 read copies batch by batch: ``buffer_offset``)."""
        return [(e.start_s, f"buffer {e.args['buffer']}",
                 e.args["file_offset"] - e.args.get("buffer_offset", 0),
                 e.args.get("buffer_offset", 0) + e.nbytes)
                for e in events if e.kind is Kind.COPY and e.dst == ev.USER_BUFFER
                and "buffer" in e.args]

    def step(self, t_s: float, text: str, key: str, *, actor: str = "", move: dict | None
             = None, task: bool = False, flash: Sequence[str] = (), boundary: str = "",
             detail: str = "") -> None:
        """Close a step: the changes and counter updates since the last one happen in it."""
        self.counts["sim_time_s"] = self.delivered_s
        # copies per byte of the whole transfer, so the number grows to the Result's
        self.counts["copies"] = ((self.counts["cpu_copy_bytes"] + self.counts["dma_copy_bytes"])
                                 / self.r.bytes_delivered if self.r.bytes_delivered else 0.0)
        self.steps.append({
            "t": t_s, "text": text, "detail": detail, "key": key, "actor": actor,
            "move": move, "task": task, "flash": list(flash), "ops": self.ops,
            "counters": dict(self.counts), "extra": dict(self.extra), "mode": self.mode,
            "call": self.call, "boundary": boundary, "fold": 0})
        self.ops = []

    # -- tiles ----------------------------------------------------------------------------
    def _tile_props(self, p: dict[str, Any]) -> dict[str, Any]:
        holders = [h for h in p["holders"] if h not in HOLDER_LANES]
        return {"lane": p["lane"], "c": p["c"], "w": p["w"], "a": p.get("a", 0.0),
                "b": p.get("b", 1.0), "refs": p["refs"], "state": p["state"],
                "label": p["label"], "tag": " ".join(holders)}

    def show(self, serial: int) -> None:
        p = self.pages[serial]
        self.set(f"p{serial}", kind="tile", **self._tile_props(p))

    def _file_page(self, serial: int, file: str, index: int, state: str) -> None:
        if file != self.file:
            self.pages[serial] = {"other": True, "refs": 1}
            self.extra["other_pages"] += 1
            return
        lo = max(index * self.pb, self.offset) - index * self.pb
        hi = min((index + 1) * self.pb, self.offset + self.size) - index * self.pb
        self.pages[serial] = {"lane": "cache", "c": index, "w": 1.0, "a": max(lo, 0) / self.pb,
                              "b": max(hi, 0) / self.pb, "refs": 1, "holders": [],
                              "state": state, "label": str(index), "index": index}
        self.cached[(file, index)] = serial
        self.show(serial)

    def _user_page(self, serial: int, buffer: str, index: int, t_s: float) -> None:
        pages = self.buffers.setdefault(buffer, [])
        pages.extend([-1] * (index + 1 - len(pages)))
        pages[index] = serial
        c, w = self._user_place(buffer, index, t_s)
        self.pages[serial] = {"lane": "user", "c": c, "w": w, "refs": 1, "holders": [],
                              "state": "empty", "label": f"{_short(buffer)}:{index}",
                              "index": index, "buffer": buffer}
        self.show(serial)

    def _user_place(self, buffer: str, index: int, t_s: float) -> tuple[float, float]:
        """Where buffer page ``index`` is drawn: under the file bytes it holds (or will hold
        at its buffer's next fill)."""
        fill = next((f for f in self.fills if f[1] == buffer and f[0] >= t_s - 1e-12), None)
        if fill is None:
            fill = next((f for f in reversed(self.fills) if f[1] == buffer), None)
        if fill is None:
            return float(index), 1.0
        _, _, file_offset, nbytes = fill
        lo = max(index * self.pb - self.boff, 0)
        hi = min((index + 1) * self.pb - self.boff, max(nbytes, 1))
        return (file_offset + lo) / self.pb, max(hi - lo, 0) / self.pb

    def _ref_page(self, serial: int, where: str, index: int) -> dict[str, Any] | None:
        """The page a reference names; a page of a warm start is met here first."""
        p = self.pages.get(serial)
        if p is None and where == ev.PAGE_CACHE:
            warm = self.cached.get((self.file, index))
            if warm is not None and warm < 0:  # a warm page not yet named: now it is
                p = self.pages.pop(warm)
                self.drop(f"p{warm}")
                self.pages[serial] = p
                self.cached[(self.file, index)] = serial
                self.show(serial)
        return None if p is None or p.get("other") else p

    def warm_start(self) -> None:
        """Pages a warm cache holds before the first event (allocated before tracing)."""
        if self.r.scenario["cache"] != "warm":
            return
        capacity = self.r.profile["kernel"]["page_cache_bytes"] // self.pb
        for index in range(min(self.columns, capacity)):
            self._file_page(-1 - index, self.file, index, "data")

    # -- the walk -------------------------------------------------------------------------
    def build(self, events: Sequence[Event]) -> None:
        if not any(e.kind is Kind.ALLOC and e.what == self.file for e in events
                   if e.start_s == 0):
            self.warm_start()  # the cache was filled before the tracer was attached
        # every event at its start, syscalls and sleeps also at their end; at one time, in
        # the order they were recorded (a slice is recorded when it ends)
        # and a syscall's entry (recorded at its return) just after the previous syscall
        moments: list[tuple[float, float, int, Event]] = []
        previous_call = -1.0
        for i, e in enumerate(events):
            entered = previous_call + 0.5 if e.kind is Kind.SYSCALL else i
            moments.append((e.start_s, entered, 0, e))
            if e.kind in (Kind.SYSCALL, Kind.BLOCK):
                moments.append((e.end_s, i, 1, e))
            if e.kind is Kind.SYSCALL:
                previous_call = i
        moments.sort(key=lambda m: (m[0], m[1], m[2]))
        self.told_faults = self._buffer_faults(events)
        for t_s, _, end, e in moments:
            getattr(self, "on_" + e.kind.name.lower())(e, t_s, bool(end))
        self.counts["sim_time_s"] = self.delivered_s
        last = self.steps[-1]["t"] if self.steps else 0.0
        got = self.counts["bytes_delivered"]
        self.step(max(last, self.delivered_s), f"done: the receiver holds all "
                  f"{format_size(got)}" if got >= self.size else
                  f"end: the receiver holds {format_size(got)} of {format_size(self.size)}",
                  "end", detail=self._summary())

    def _summary(self) -> str:
        c = self.counts
        return (f"{c['copies']:.2f} copies per byte ({format_size(c['cpu_copy_bytes'])} by "
                f"CPU, {format_size(c['dma_copy_bytes'])} by DMA), "
                f"{_count(int(c['syscalls']), 'syscall')}, "
                f"{_count(int(c['context_switches']), 'context switch')}"
                f"{'es' if c['context_switches'] != 1 else ''}, CPU time "
                f"{format_time(c['cpu_time_s'])}, the last byte at "
                f"{format_time(self.delivered_s)}")

    # syscalls and the task's sleep
    def on_syscall(self, e: Event, t_s: float, end: bool) -> None:
        name = f"{e.what}()"
        nbytes = e.args.get("bytes")
        flags = " ".join(str(e.args[k]) for k in ("direction", "flags", "option", "events")
                         if k in e.args)
        if not end:
            self.counts["syscalls"] += 1
            self.counts["mode_switches"] += 1
            self.call = len(self.calls)
            self.calls.append({"name": e.what, "enter": len(self.steps), "blocks": 0,
                               "text": f"{name} {flags}".strip()})
            self.mode = "kernel"
            self.step(t_s, f"{name}{' ' + flags if flags else ''}: the task enters the "
                      "kernel (mode switch)", f"enter {e.what} {flags} {nbytes}",
                      task=True, boundary="enter",
                      detail="a mode switch: the same task now runs kernel code; "
                      "not a context switch")
            return
        self.counts["mode_switches"] += 1
        self.mode = "user"
        done = f" {format_size(nbytes)}" if nbytes is not None else ""
        call = next(c for c in reversed(self.calls) if c["name"] == e.what and "leave" not in c)
        call["leave"] = len(self.steps)
        self.step(t_s, f"{name} returns{done}: back to user mode (mode switch)",
                  f"leave {e.what} {nbytes}", task=True, boundary="leave")
        self.call = -1

    def on_block(self, e: Event, t_s: float, end: bool) -> None:
        if not end:
            self.counts["context_switches"] += 1
            if self.calls:
                self.calls[-1]["blocks"] += 1
            self.mode = "asleep"
            self.step(t_s, f"the task sleeps: {e.what} (context switch: another task runs)",
                      f"block {e.what}", task=True,
                      detail=f"asleep for {format_time(e.duration_s)}")
            return
        self.mode = "kernel" if self.call >= 0 else "user"
        self.step(t_s, f"the task wakes up ({e.what} done) and goes on in the kernel",
                  f"wake {e.what}", task=True)

    @staticmethod
    def _buffer_faults(events: Sequence[Event]) -> set[int]:
        """The faults that brought user-buffer pages in: recorded just before their ALLOC,
        one per page; the ALLOC step counts them."""
        told: set[int] = set()
        for i, e in enumerate(events):
            if e.kind is Kind.ALLOC and e.src == ev.USER_BUFFER:
                faults = [f for f in events[max(0, i - 4 * e.pages):i] if f.kind is Kind.FAULT]
                told.update(id(f) for f in faults[-e.pages:])
        return told

    def on_fault(self, e: Event, t_s: float, end: bool) -> None:
        if id(e) not in self.told_faults:
            self.counts["page_faults"] += 1

    def on_work(self, e: Event, t_s: float, end: bool) -> None:
        self.counts["cpu_time_s"] += e.duration_s
        self.counts["membus_bytes"] += 2 * e.nbytes  # a CPU copy reads and writes DRAM

    def on_refcount(self, e: Event, t_s: float, end: bool) -> None:
        pass  # the tiles carry every page's count (REF events)

    def on_queued(self, e: Event, t_s: float, end: bool) -> None:
        self.extra["queued_bytes"] = int(e.value)

    def on_disk(self, e: Event, t_s: float, end: bool) -> None:
        self.counts["disk_requests"] += 1  # the DMA of the same read is the visible step

    def on_pipe(self, e: Event, t_s: float, end: bool) -> None:
        pass  # told by the references the pipe buffers take and drop

    # copies and DMA
    def on_copy(self, e: Event, t_s: float, end: bool) -> None:
        nbytes = e.nbytes
        if e.who == ev.DMA:
            self.counts["dma_copy_bytes"] += nbytes
            self.counts["membus_bytes"] += nbytes  # a DMA crosses the bus once
            if e.src == ev.DISK:
                self._disk_dma(e, t_s)
            else:
                self._nic_dma(e, t_s)
            return
        self.counts["cpu_copy_bytes"] += nbytes
        size = format_size(nbytes)
        why = f" ({e.note})" if e.note else ""
        if e.dst == ev.USER_BUFFER and "buffer" in e.args:
            self._fill_buffer(e, t_s)
            return
        if e.track == "receiver":
            if e.dst == ev.SOCKET_BUFFER:  # MSG_ZEROCOPY on loopback
                self.step(t_s, f"CPU copy: {size} of pinned user pages into kernel pages{why}",
                          "CPU orphan copy", actor="CPU")
                return
            self.step(t_s, f"the local receiver copies {size} out of the skb (loopback)",
                      "CPU receiver copy", actor="CPU",
                      move=self._move("socket", "receiver", e.seq or 0, nbytes, "copy"))
            return
        if e.dst == ev.SOCKET_BUFFER and e.note in ("skb_linearize",
                                                   "bounce buffer for DMA alignment"):
            self.step(t_s, f"CPU copy: {size} of page frags{why}", f"CPU {e.note} {nbytes}",
                      actor="CPU",
                      detail="the driver copies what the NIC's DMA cannot read in place")
            return
        lo = self.write_seq
        self.write_seq += nbytes
        src_lane = {ev.PAGE_CACHE: "cache", ev.USER_BUFFER: "user", ev.MAPPING: "user"}.get(
            e.src, "user")
        eid = self._id("L")
        self.linear.append([lo, lo + nbytes, eid])
        self.set(eid, kind="block", lane="socket", c0=self.col(lo), c1=self.col(lo + nbytes),
                 k=0, state="copy", label=f"copied {size}")
        what = {ev.USER_BUFFER: "copy_from_user", ev.MAPPING: "copy_from_user out of the "
                "mapping", ev.PAGE_CACHE: "no scatter-gather: the pages are copied"}.get(
            e.src, "copy")
        self.step(t_s, f"CPU copy: {size} {e.src} -> skb ({what}){why}",
                  f"CPU {e.src} socket {nbytes}", actor="CPU", task=True,
                  move=self._move(src_lane, "socket", lo, nbytes, "copy"))

    def _fill_buffer(self, e: Event, t_s: float) -> None:
        buffer = f"buffer {e.args['buffer']}"
        pos = e.args["file_offset"]
        off = e.args.get("buffer_offset", 0)  # where in the buffer this copy starts
        moved = []
        for index, serial in enumerate(self.buffers.get(buffer, [])):
            p = self.pages.get(serial)
            if p is None:
                continue
            lo = max(index * self.pb - self.boff, off)
            hi = min((index + 1) * self.pb - self.boff, off + e.nbytes)
            if hi <= lo:
                continue
            p.update(c=(pos - off + lo) / self.pb, w=(hi - lo) / self.pb, state="data")
            self.show(serial)
            moved.append(f"p{serial}")
        stream = pos - self.offset
        self.step(t_s, f"CPU copy: {format_size(e.nbytes)} page cache -> user buffer "
                  f"(copy_to_user)", f"CPU cache user {e.nbytes}", actor="CPU", task=True,
                  move=self._move("cache", "user", stream, e.nbytes, "copy"), flash=moved)

    def _disk_dma(self, e: Event, t_s: float) -> None:
        file = e.args.get("file", self.file)
        indexes = list(range(e.first_page or 0, (e.first_page or 0) + e.pages))
        mine = file in ("", self.file)
        if mine:
            for index in indexes:
                serial = self.cached.get((self.file, index))
                if serial is not None and serial in self.pages:
                    self.pages[serial]["state"] = "data"
                    self.show(serial)
            eid = self._id("D")
            self.disk_reads.append(eid)
            self.set(eid, kind="block", lane="disk", c0=indexes[0], c1=indexes[-1] + 1, k=0,
                     state="busy", label=f"reading {format_size(e.nbytes)}")
        where = _pages_text(indexes) if mine else f"{e.pages} pages of another file"
        self.step(t_s, f"disk DMA: {format_size(e.nbytes)} disk -> page cache ({where})",
                  "DMA disk", actor="disk DMA",
                  move=self._move_cols("disk", "cache", indexes[0], indexes[-1] + 1, "dma")
                  if mine else None, detail="the disk's DMA engine writes the pages; the CPU "
                  "is free meanwhile")

    def _nic_dma(self, e: Event, t_s: float) -> None:
        seq = e.seq or 0
        entries = e.args.get("sg_entries", 1)
        self.drop("nic")
        how = (f"gathers {entries - 1} page frag(s) (scatter-gather)" if e.src == ev.FRAGS
               else "reads the skb's copied data")
        self.set("nic", kind="block", lane="nic", c0=self.col(seq), c1=self.col(seq + e.nbytes),
                 k=0, state="dma", label=f"skb seq {seq}")
        self.step(t_s, f"NIC DMA: {format_size(e.nbytes)} from memory, {how}",
                  "DMA NIC", actor="NIC DMA",
                  move=self._move("socket", "nic", seq, e.nbytes, "dma"),
                  detail=f"{entries} DMA descriptors (SG entries), one trip over the bus")

    def _move(self, src: str, dst: str, seq: float, nbytes: int, style: str) -> dict:
        return self._move_cols(src, dst, self.col(seq), self.col(seq + nbytes), style)

    @staticmethod
    def _move_cols(src: str, dst: str, c0: float, c1: float, style: str) -> dict:
        return {"from": src, "to": dst, "c0": c0, "c1": c1, "style": style}

    # pages: birth, references, reclaim, writers
    def on_alloc(self, e: Event, t_s: float, end: bool) -> None:
        ids, indexes = e.args["ids"], e.args["indexes"]
        if e.src == ev.PAGE_CACHE:
            for serial, index in zip(ids, indexes, strict=True):
                self._file_page(serial, e.what, index, "empty")
            if e.what != self.file:
                self.step(t_s, f"another reader's file takes {len(ids)} page(s) of the cache",
                          "alloc other", actor="")
                return
            self.step(t_s, f"page cache: new {_pages_text(indexes)}, empty until the disk "
                      "fills them", "alloc cache",
                      flash=[f"p{s}" for s in ids])
            return
        for serial, index in zip(ids, indexes, strict=True):
            self._user_page(serial, e.what, index, t_s)
        self.counts["page_faults"] += len(ids)
        self.step(t_s, f"page faults: {e.what}'s {_pages_text(indexes)} mapped on first "
                  "touch", "alloc user", task=True, flash=[f"p{s}" for s in ids])

    def on_ref(self, e: Event, t_s: float, end: bool) -> None:
        op, holder = e.what, e.who
        ids, indexes = e.args["ids"], e.args["indexes"]
        touched = []
        for serial, index in zip(ids, indexes, strict=True):
            p = self._ref_page(serial, e.src, index)
            if p is None:
                if op == "get" and holder == "skb":  # the kernel's own pages (kTLS records)
                    self.counts["frags"] += 1
                if e.src == ev.PAGE_CACHE and (op, holder) == ("put", "pagecache"):
                    self.counts["evictions"] += 1
                    self.extra["other_pages"] -= 1
                continue
            touched.append(f"p{serial}")
            if op == "get":
                p["refs"] += 1
                p["holders"].append(holder)
                if holder in HOLDER_LANES:
                    self._chip(serial, p, holder)
                if holder in ("skb", "pin", "zerocopy"):
                    self.counts["frags"] += 1
                    end_byte = round((p["c"] + p["w"]) * self.pb) - self.offset
                    self.write_seq = max(self.write_seq, min(end_byte, self.size))
            else:
                p["refs"] -= 1
                gone = {"munmap": "mmap"}.get(holder, holder)
                if gone in p["holders"]:
                    p["holders"].remove(gone)
                if gone in HOLDER_LANES:
                    self._unchip(serial, gone)
                if holder == "pagecache":
                    self.counts["evictions"] += 1
                key = (self.file, p.get("index", -1))
                if holder in ("pagecache", "truncate") and self.cached.get(key) == serial:
                    del self.cached[key]
                    p["state"] = "detached" if p["refs"] > 0 else p["state"]
            if p["refs"] <= 0:
                self.drop(f"p{serial}")
                del self.pages[serial]
            else:
                self.show(serial)
        if not touched:
            return
        words = self.holder_words.get((op, holder), f"{op} {holder}: {{pages}}")
        noun = "page" if e.src == ev.PAGE_CACHE else "user page"
        text = words.format(pages=_pages_text(indexes, noun))
        lane = HOLDER_LANES.get(holder)
        move = None
        if lane and op == "get":
            cs = [self.pages[int(i[1:])]["c"] for i in touched if int(i[1:]) in self.pages]
            home = "cache" if e.src == ev.PAGE_CACHE else "user"
            if cs:
                move = self._move_cols(home, lane, min(cs), max(cs) + 1, "ref")
        refs = ""
        if len(touched) == 1 and int(touched[0][1:]) in self.pages:
            refs = f"; refcount now {self.pages[int(touched[0][1:])]['refs']}"
        self.step(t_s, f"{text} ({op}_page){refs}", f"{op} {holder} {len(ids)}",
                  task=holder not in ASYNC_HOLDERS or op == "get", move=move, flash=touched,
                  actor="IRQ" if (op, holder) in (("put", "skb"), ("put", "pin")) else "")

    def _chip(self, serial: int, p: dict[str, Any], holder: str) -> None:
        lane = HOLDER_LANES[holder]
        k = self.slot(lane, p["c"])
        cid = f"r{serial}.{holder}.{k}"
        self.chips.setdefault((holder, serial), []).append(cid)
        self.set(cid, kind="chip", lane=lane, c=p["c"], w=p["w"], k=k, label=p["label"],
                 state=holder)

    def _unchip(self, serial: int, holder: str) -> None:
        chips = self.chips.get((holder, serial))
        if chips:
            cid = chips.pop(0)
            props = self.elems.get(cid)
            if props is not None:
                self.free_slot(props["lane"], props["c"], props["k"])
            self.drop(cid)

    def on_reclaim(self, e: Event, t_s: float, end: bool) -> None:
        skipped = [f"p{s}" for s in e.args["ids"] if s in self.pages]
        self.counts["reclaim_busy_refs"] += e.pages
        if not skipped:
            return
        self.step(t_s, f"reclaim skips {_pages_text(e.args['indexes'])}: a pipe, skb or pin "
                  "still references them", "reclaim skip", flash=skipped,
                  detail="a page is reclaimable only when the cache (and its mappings) hold "
                  "its only references")

    def on_store(self, e: Event, t_s: float, end: bool) -> None:
        self.counts["writer_stores"] += 1
        serial = self.cached.get((self.file, e.first_page))
        flash = []
        if serial is not None and serial in self.pages:
            self.pages[serial]["state"] = "new"
            self.show(serial)
            flash = [f"p{serial}"]
        how = "write()" if e.who == "write" else "a MAP_SHARED store"
        self.step(t_s, f"writer: {how} changes page {e.first_page} in place", "store",
                  actor="writer", flash=flash,
                  detail="every skb frag and pipe buffer referencing the page sees the new "
                  "data: the NIC sends what the page holds at DMA time")

    def on_cow(self, e: Event, t_s: float, end: bool) -> None:
        self.counts["writer_stores"] += 1
        index = e.first_page
        if not e.args["copied"]:
            flash = [self.cows[index]] if index in self.cows else []
            self.step(t_s, f"writer stores into its private copy of page {index}", "cow store",
                      actor="writer", flash=flash)
            return
        self.counts["cow_copies"] += 1
        eid = self._id("cow")
        self.cows[index] = eid
        self.set(eid, kind="tile", lane="user", c=index, w=1.0, a=0.0, b=1.0, refs=1,
                 state="cow", label=f"cow {index}", tag="writer")
        serial = self.cached.get((self.file, index))
        flash = [eid] + ([f"p{serial}"] if serial is not None else [])
        self.step(t_s, f"writer stores into MAP_PRIVATE page {index}: copy-on-write gives it "
                  "a private copy", "cow", actor="writer", flash=flash,
                  move=self._move_cols("cache", "user", index, index + 1, "copy"),
                  detail="the page cache (and every skb referencing it) keeps the old data")

    def on_user_store(self, e: Event, t_s: float, end: bool) -> None:
        self.counts["writer_stores"] += 1
        serial = e.args["id"]
        flash = []
        if serial is not None and serial in self.pages:
            self.pages[serial]["state"] = "new"
            self.show(serial)
            flash = [f"p{serial}"]
            text = "writer stores into a user-buffer page an skb still sends from"
        else:
            text = "writer stores into the user buffer (no skb holds that page)"
        self.step(t_s, text, "user store", actor="writer", flash=flash)

    def on_truncate(self, e: Event, t_s: float, end: bool) -> None:
        self.step(t_s, "the file is truncated and rewritten", "truncate", actor="writer")

    # the network
    def on_wire(self, e: Event, t_s: float, end: bool) -> None:
        seq = e.seq or 0
        resend = seq in self.resend
        if resend:
            self.resend.remove(seq)
        eid = self._id("x")
        self.flight.append([seq, e.nbytes, eid])
        self.set(eid, kind="block", lane="wire", c0=self.col(seq), c1=self.col(seq + e.nbytes),
                 k=0, state="resend" if resend else "flying",
                 label=f"{e.args.get('segments', 1)} seg")
        self.drop("nic")
        self.step(t_s, f"wire: {'resent ' if resend else ''}skb seq {seq}, "
                  f"{format_size(e.nbytes)} as {_count(e.args.get('segments', 1), 'segment')} "
                  "on the link", "wire", actor="link",
                  move=self._move("nic", "wire", seq, e.nbytes, "wire"),
                  detail=f"{format_time(e.duration_s)} to serialise at the link rate")

    def _landed(self, seq: int) -> list[Any] | None:
        for i, f in enumerate(self.flight):
            if f[0] == seq:
                return self.flight.pop(i)
        return None

    def on_lost(self, e: Event, t_s: float, end: bool) -> None:
        self.counts["lost_segments"] += -(-e.nbytes // self.mss)
        f = self._landed(e.seq or 0)
        if f is not None:
            props = dict(self.elems.get(f[2], {}), state="lost")
            self.set(f[2], **props)
        self.step(t_s, f"lost: every segment of seq {e.seq} dropped on the wire", "lost",
                  flash=[f[2]] if f else [], actor="link")
        if f is not None:
            self.drop(f[2])

    def on_checksum(self, e: Event, t_s: float, end: bool) -> None:
        """A software checksum reads the data once: bus traffic, no copy."""
        self.counts["membus_bytes"] += e.nbytes

    def on_hold(self, e: Event, t_s: float, end: bool) -> None:
        """linux-6 keeps an unsent skb back (autocork, Nagle, deferral, TSQ, pacing)."""

    def on_drop(self, e: Event, t_s: float, end: bool) -> None:
        self.counts["lost_segments"] += len(e.args["ranges"])
        ids = []
        for a, b in e.args["ranges"]:
            eid = self._id("z")
            ids.append(eid)
            self.set(eid, kind="block", lane="wire", c0=self.col(a), c1=self.col(b), k=1,
                     state="lost", label="lost")
        self.pending_lost = [list(r) for r in e.args["ranges"]]
        self.lost_ids = ids
        self.step(t_s, f"lost on the wire: {_count(len(ids), 'segment')} of seq {e.seq} "
                  f"({format_size(e.nbytes)})", "drop", flash=ids, actor="link")

    def on_deliver(self, e: Event, t_s: float, end: bool) -> None:
        seq = e.seq or 0
        f = self._landed(seq)
        for i in self.lost_ids:
            self.drop(i)
        if f is not None:
            self.drop(f[2])
        sent = f[1] if f is not None else e.nbytes  # loopback: no wire, nothing lost
        new = self._receive(seq, seq + sent, self.pending_lost)
        self.lost_ids, self.pending_lost = [], []
        ack = e.args["ack"]
        # the stream's bytes, less any framing (kTLS records) the application never sees
        self.counts["bytes_delivered"] = min(max(self.counts["bytes_delivered"], ack),
                                             self.r.bytes_delivered)
        if new:  # the receiver's clock: the last time new bytes arrived
            self.delivered_s = max(self.delivered_s, t_s)
        self.step(t_s, f"receiver gets seq {seq} (+{format_size(e.nbytes)}); in order up to "
                  f"byte {ack}", "deliver", actor="",
                  move=self._move("wire", "receiver", seq, e.nbytes, "wire"))

    def _receive(self, lo: int, hi: int, holes: list[list[int]]) -> bool:
        """Add stream bytes ``lo .. hi-1`` less the lost ``holes`` to what the receiver
        holds; True if any of them are new."""
        pieces = [(lo, hi)]
        for a, b in holes:
            pieces = [p for x, y in pieces for p in ((x, min(y, a)), (max(x, b), y))
                      if p[1] > p[0]]
        held = sum(b - a for a, b in self.rx)
        merged: list[list[int]] = []
        for x, y in sorted([*map(tuple, self.rx), *pieces]):
            if merged and x <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], y)
            else:
                merged.append([x, y])
        self.rx = merged
        for rid in self.rx_ids:
            self.drop(rid)
        self.rx_ids = []
        for x, y in merged:
            rid = self._id("rx")
            self.rx_ids.append(rid)
            self.set(rid, kind="block", lane="receiver", c0=self.col(x), c1=self.col(y), k=0,
                     state="received", label=format_size(y - x))
        return sum(b - a for a, b in merged) > held

    def on_irq(self, e: Event, t_s: float, end: bool) -> None:
        if not (self.loopback and e.what == ev.IRQ_ACK):
            self.counts["irqs"] += 1  # an ACK on loopback is the local softirq: no IRQ
        if e.what == ev.IRQ_DISK:
            if self.disk_reads:
                self.drop(self.disk_reads.pop(0))
            self.step(t_s, "IRQ: disk read complete, the pages are uptodate", "irq disk",
                      actor="IRQ")
        elif e.what == ev.IRQ_TX:
            self.step(t_s, f"IRQ: TX completion of seq {e.seq}: the NIC is done with its "
                      "clone; the skb waits for the ACK", "irq tx", actor="IRQ")
        else:
            ack = e.args.get("ack", 0)
            freed = []
            for item in list(self.linear):
                lo, hi, eid = item
                if hi <= ack:
                    self.drop(eid)
                    self.linear.remove(item)
                    freed.append(eid)
                elif lo < ack:
                    item[0] = ack
                    props = dict(self.elems[eid], c0=self.col(ack))
                    self.set(eid, **props)
            self.step(t_s, f"IRQ: ACK up to byte {ack}" + (": the acked skbs' copied data "
                      "is freed" if freed else ""), "irq ack", actor="IRQ")

    def on_cwnd(self, e: Event, t_s: float, end: bool) -> None:
        self.step(t_s, f"the ACK opens the congestion window ({format_size(e.args['cwnd'])}):"
                  f" {format_size(e.nbytes)} more go out", "cwnd")

    def on_retransmit(self, e: Event, t_s: float, end: bool) -> None:
        self.counts["retransmits"] += -(-e.nbytes // self.mss)
        self.counts["retransmit_bytes"] += e.nbytes
        self.resend.append(e.seq or 0)
        chips = [cid for (holder, _), ids in self.chips.items()
                 if holder in ("skb", "pin", "zerocopy")
                 for cid in ids if self.col(e.seq or 0) - 1 < self.elems[cid]["c"]
                 <= self.col((e.seq or 0) + e.nbytes)]
        self.step(t_s, f"retransmit seq {e.seq} ({format_size(e.nbytes)}): a clone of the skb "
                  "still queued, the same pages, no new copy", "retransmit", flash=chips,
                  detail="the NIC reads the pages again: what they hold now goes out")


def _value(key: str, value: Any) -> str:
    """A scenario value as a person writes it (``50us``, not ``4.9999e-05``)."""
    if key.endswith("_s") and isinstance(value, float):
        return format_time(value).replace(" ", "")
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _same(value: Any, default: Any) -> bool:
    """A result's scenario value equals the default (JSON gives lists for tuples)."""
    if isinstance(value, list | tuple) and isinstance(default, list | tuple):
        return list(value) == list(default)
    return value == default


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 or noun.endswith("ch") else "s")


def _short(buffer: str) -> str:
    """``buffer 3`` -> ``b3``: a user page's label."""
    return "b" + buffer.rsplit(" ", 1)[-1]


def _fold(steps: list[dict[str, Any]]) -> None:
    """Fold repeated rounds: the steps of rounds that repeat the ones before are hidden
    (``fold`` 1) behind one summary step (``fold`` 2), as ``iosim explain`` folds its story;
    the page shows them all when asked (F)."""
    round_key = None
    seen: set[str] = set()
    for s in steps:
        if s["task"] and (s["key"].startswith(("enter ", "get pipe"))):
            if s["key"] in seen:
                round_key = s["key"]
                break
            seen.add(s["key"])
    starts = [i for i, s in enumerate(steps) if s["key"] == round_key] if round_key else []
    if len(starts) < 3:
        return
    bounds = [*starts, len(steps) - 1]  # the final step stays out of every round
    rounds = [steps[bounds[i]:bounds[i + 1]] for i in range(len(starts))]
    shapes = [tuple(s["key"] for s in r if s["task"]) for r in rounds]
    out = steps[:starts[0]]
    for start, period, count in repeats(shapes):
        out += [s for r in rounds[start:start + period] for s in r]
        if count < 2:
            continue
        first, last = start + period, start + period * count - 1
        hidden = [s for r in rounds[first:last + 1] for s in r]
        for s in hidden:
            s["fold"] = 1
        same = f"round {start + 1}" if period == 1 else f"rounds {start + 1}-{start + period}"
        which = f"round {first + 1} repeats" if first == last else (
            f"rounds {first + 1}-{last + 1} repeat")
        tail = hidden[-1]
        out += [*hidden, {**tail, "text": f"{which} the steps of {same} "
                          f"({format_time(hidden[0]['t'])} .. {format_time(tail['t'])})",
                          "detail": f"{len(hidden)} steps folded: press F to show them",
                          "key": "fold", "actor": "", "move": None, "task": False,
                          "flash": [], "ops": [], "boundary": "", "fold": 2}]
    steps[:] = out + steps[bounds[-1]:]


def _run_doc(t: Traced, fold: bool | None) -> dict[str, Any]:
    b = _Builder(t)
    b.build(t.events)
    steps = b.steps
    if len(steps) > MAX_STEPS:
        raise ConfigError(f"size {format_size(b.size)}: {len(steps)} steps are too many to "
                          f"follow (at most {MAX_STEPS}); try a smaller --size")
    folded = fold if fold is not None else len(steps) > FOLD_OVER_STEPS
    if folded:
        _fold(steps)
    for i, s in enumerate(steps):  # where each syscall enters and leaves, after folding
        if s["boundary"] and s["fold"] != 2:
            b.calls[s["call"]][s["boundary"]] = i
    r = t.result
    sc = r.scenario
    spec = PATHS[r.path]
    # what this run set differently from the scenario's defaults (the echo of its options)
    options = [f"{k}={_value(k, v)}" for k, v in sc.items()
               if k not in ("path", "size_bytes", "seed", "watch_page")
               and k in SCENARIO_DEFAULTS and not _same(v, SCENARIO_DEFAULTS[k])]
    try:  # the --set keys that make the named profile this run's (a bundled name only)
        base = load_profile(r.profile["name"])
    except ConfigError:
        base = None
    sets = [] if base is None else [f"{k}={v}" for k, v in
                                    profile_changes(r.profile, base).items()]
    return {
        "path": r.path, "summary": spec.summary, "color": path_color(r.path),
        "size_bytes": r.bytes_requested, "page_bytes": b.pb, "columns": b.columns,
        "stream": [b.col(0), b.col(b.size)], "profile": r.profile["name"],
        "cache": sc["cache"], "seed": r.seed, "options": options, "sets": sets,
        "lanes": [[lane, LANE_TITLES[lane]] for lane in LANES], "actors": list(ACTORS),
        "steps": steps, "calls": b.calls, "folded": folded,
        "result": {k: getattr(r, k) for k in COUNTERS},
        "integrity": r.integrity, "invariants": r.invariant_violations,
    }


def document(runs: Sequence[Traced], fold: bool | None = None) -> dict[str, Any]:
    """The animation's data: one entry per run, and the order of all steps on one clock."""
    if not 1 <= len(runs) <= 2:
        raise ConfigError(f"animate one path or two side by side, got {len(runs)}")
    docs = [_run_doc(t, fold) for t in runs]
    order = sorted(((s["t"], n, i) for n, d in enumerate(docs)
                    for i, s in enumerate(d["steps"])))
    return {"format": 1, "runs": docs, "order": [[n, i] for _, n, i in order],
            "title": " vs ".join(f"{d['path']}" for d in docs) + ": "
            + format_size(docs[0]["size_bytes"]) + f", {docs[0]['cache']} cache, "
            + f"{docs[0]['profile']} profile"}


def render_html(doc: dict[str, Any]) -> str:
    """The whole page: the template with the document inlined (no network, no server)."""
    template = resources.files("iosim.teach").joinpath("animate.html").read_text("utf-8")
    data = json.dumps(doc, separators=(",", ":"), allow_nan=False)
    data = data.replace("</", "<\\/")  # the JSON sits inside a <script> element
    return (template.replace("/*IOSIM_TITLE*/", html.escape(doc["title"]))
            .replace("/*IOSIM_DOC*/null", data))


class Animation:
    """An animation page: ``save(path)``, ``html``, and inline display in a notebook."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.html = render_html(doc)

    def save(self, path: str | Path) -> Path:
        """Write the page atomically (temporary file, then rename)."""
        write_text(path, self.html)
        return Path(path)

    def __repr__(self) -> str:  # no memory address: a notebook's saved output stays the same
        return f"<iosim animation: {' vs '.join(r['path'] for r in self.doc['runs'])}>"

    def _repr_html_(self) -> str:
        height = 760 if len(self.doc["runs"]) == 1 else 900
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" width="100%" '
                f'height="{height}" style="border:1px solid #ccc" '
                'title="iosim animation"></iframe>')


def animate(what: Result | Sequence[Result] | str, other: str | None = None, *,
            size_bytes: int | str = "64KiB", fold: bool | None = None,
            profile: str | None = None, overrides: dict[str, Any] | None = None,
            **scenario: Any) -> Animation:
    """An animation of one run or two side by side on one clock.

    ``what`` is a ``Result`` (or two), run again with a tracer from its effective inputs
    (``iosim.replay``), or a path name (with ``other`` a second path, and the arguments of
    ``iosim.simulate``). ``fold``: hide repeated rounds (default: runs of more than
    FOLD_OVER_STEPS steps).
    """
    if isinstance(what, str):
        paths = [what] + ([other] if other else [])
        runs = [trace(p, size_bytes, profile=profile or "teaching", overrides=overrides,
                      **scenario) for p in paths]
    else:
        results = [what] if isinstance(what, Result) else list(what)
        runs = [retrace(r) for r in results]
    return Animation(document(runs, fold))
