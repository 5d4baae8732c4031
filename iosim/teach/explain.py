"""``iosim explain``: the story of one small transfer, told from its trace.

Every line comes from an event of a traced run (syscalls, blocks, faults, copies, page
references, IRQs, the wire), so the narrative follows the model, not a script per path.
Repeated rounds are folded ("rounds 3-16 repeat ..."), a run's page N is followed over its
whole life, and a one-line "textbook / kernel" note marks each place where the usual picture
and Linux differ (docs/model.md).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from iosim.config import DEFAULT_PROFILE
from iosim.events import (
    CPU,
    DISK,
    DMA,
    FRAGS,
    IRQ_ACK,
    IRQ_TX,
    NIC,
    PAGE_CACHE,
    PIPE,
    SEGMENTS,
    SOCKET_BUFFER,
    USER_BUFFER,
    Event,
    Kind,
    shown_args,
    title,
)
from iosim.kernel.socket import SNDBUF_FULL
from iosim.paths import PATHS
from iosim.teach.traced import (
    Run,
    blocks,
    copies,
    is_syscall,
    run_traced,
    syscalls,
    tally,
)
from iosim.units import format_rate, format_size, format_time

WIDTH = 100  # columns: the output fits a terminal and a slide
# what the story leaves to the animation: page births, reclaim's skips, the writer's private
# stores, partial losses (the receiver line tells what arrived), each core's bookings
UNTOLD = frozenset({Kind.ALLOC, Kind.RECLAIM, Kind.COW, Kind.USER_STORE, Kind.DROP,
                    Kind.WORK})
MAX_PERIOD = 4  # longest repeating block (rounds or lines) that is folded

# topic -> the one line shown where the model meets it first (DESIGN.md section 3)
NOTES = {
    "mode": "textbook: a syscall = 2 context switches / kernel: 2 mode switches, same task",
    "block": "textbook: switches come with syscalls / kernel: a context switch is a task asleep",
    "sendfile": "textbook: sendfile is its own path / kernel: splice via a 16-buffer pipe",
    "sg": "textbook: SG-DMA gathers the pages / kernel: frags reference them, a SG NIC gathers",
    "nosg": "textbook: SG-DMA, no CPU copy / kernel: without NIC scatter-gather the CPU copies",
    "zc_copy": "textbook: MSG_ZEROCOPY never copies / kernel: where the route lacks SG it copies",
    "tx_done": "textbook: put_page at the DMA-done IRQ / kernel: the skb keeps refs until ACKed",
    "zc_done": "textbook: buffer free once sent / kernel: completion after the ACK (errqueue)",
    "retransmit": "textbook: re-read or copy the data / kernel: resend the pages as they are now",
}

# topic -> where the two kernel models (kernel.model) differ, shown at the first step where
# it matters whichever kernel ran (docs/model.md, "textbook vs Linux 6.x")
KERNEL_NOTES = {
    "k_write": "kernels: textbook: write() data in the skb's linear area, an skb per write() / "
               "linux-6: in the socket's page frags, appended to the unsent tail skb up to 45 "
               "MSS (tcp_sendmsg_locked)",
    "k_nosg": "kernels: textbook: without NIC SG (or checksum offload) the CPU copies into the "
              "skb once, in the syscall / linux-6: the skb keeps page references and software "
              "GSO copies at each transmission, resends too (validate_xmit_skb)",
    "k_readahead": "kernels: textbook: a fixed read-ahead window at the miss, the next one at "
                   "once / linux-6: the first window sized from the request "
                   "(get_init_ra_size), then growing (get_next_ra_size)",
    "k_burst": "kernels: textbook: what the window allows leaves in one burst (after a "
               "loss, TSO deferral) / linux-6: at most half the cwnd per burst "
               "(tcp_cwnd_test), TSO deferral (tcp_tso_should_defer)",
    "k_hold": "kernels: textbook: an skb leaves when its syscall ends / linux-6: tcp_push may "
              "hold it (autocork, Nagle, TSO deferral, small queues, pacing)",
    "k_sndbuf": "kernels: textbook: a fixed send buffer (kernel.sndbuf) / linux-6: 16 KiB, "
                "87040 B at connect, growing with cwnd to kernel.sndbuf (tcp_sndbuf_expand)",
    "k_zc": "kernels: textbook: one completion per send / linux-6: one per record of sends "
            "(msg_zerocopy_realloc, up to 512 KiB)",
    "k_retransmit": "kernels: textbook: a resend sends the skb's data again, no copy / "
                    "linux-6: the same, but without NIC SG each resend is copied again",
}

# page-log holder -> what taking or dropping that reference means
HOLDERS = {
    "alloc": "the page cache holds the first reference",
    "get pipe": "a pipe buffer references the page (no copy)",
    "put pipe": "the pipe buffer is released",
    "get skb": "an skb frag references the page (no copy)",
    "put skb": "the ACK frees the skb that held it",
    "get mmap": "mapped into the process (page table entry)",
    "put munmap": "unmapped",
    "put pagecache": "evicted from the page cache",
    "get read": "the reader holds it while the disk fills it (filemap_get_pages)",
    "put read": "uptodate: the reader lets go and goes on",
    "get fault": "an mmap fault holds it while the disk fills it",
    "put fault": "uptodate: the fault lets go and maps it",
    "get pin": "MSG_ZEROCOPY pins the user page for an skb frag",
    "get zerocopy": "MSG_ZEROCOPY takes a reference on the user page for an skb frag "
                    "(get_user_pages, FOLL_GET; charged as locked memory)",
    "put truncate": "truncate detaches it from the file",
}
# linux-6: the read batch keeps its references through the copy or the splice (review K19)
LINUX6_HOLDERS = {
    **HOLDERS,
    "get read": "the read batch references it (filemap_get_read_batch)",
    "put read": "copied or in the pipe: the batch lets go (folio_batch_release)",
}


@dataclass(frozen=True)
class Step:
    """One narrated event: ``key`` is its text without times, for spotting repeats."""

    t_s: float
    tag: str
    text: str
    key: str
    inside: bool = False  # within a syscall: indented under it
    task: bool = False  # the task's own work (counts for a round's shape)
    nbytes: int = 0
    notes: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()  # the textbook-vs-kernel topics this step is an example of


def explain(path: str, size_bytes: int | str = "16KiB", *, page: int = 0,
            profile: str = DEFAULT_PROFILE, overrides: dict[str, Any] | None = None,
            seed: int = 0, **scenario: Any) -> str:
    """The full ``iosim explain`` text: arguments, story, page life, diagram, totals.

    ``scenario``: scenario keys (``cache="warm"``, ``buffer_bytes``) and a failure mode to
    tell as well (``drop=[3]``, ``writer="private"`` ...)."""
    run = run_traced(path, size_bytes, watch_page=page, profile=profile, overrides=overrides,
                     seed=seed, **scenario)
    r = run.result
    args = [("path", path), ("size", format_size(r.bytes_requested)), ("profile", profile),
            ("cache", r.scenario["cache"]), ("page", page),
            ("buffer", format_size(r.scenario["buffer_bytes"])), ("seed", seed)]
    args += [("set", f"{k}={str(v).lower() if isinstance(v, bool) else v}")
             for k, v in (overrides or {}).items()] or [("set", "(none)")]
    args += [(k, ",".join(map(str, v)) if isinstance(v, list | tuple) else v)
             for k, v in scenario.items() if k not in ("cache", "buffer_bytes")]
    out = [f"ARG {k} {v}" for k, v in args]
    out += ["", *header(run), "", *story(run, page), "", *page_life(run, page), "",
            *diagram(run), "", *totals(run)]
    return "\n".join(fit(line) for line in out) + "\n"


def fit(line: str) -> str:
    """Wrap a line to WIDTH, continuing under its text column."""
    if len(line) <= WIDTH:
        return line
    body = line.lstrip()
    indent = len(line) - len(body)
    for marker in ("  ", ": "):  # continue under the text after the time and tag columns
        cut = line.rfind(marker, indent, 40)
        if cut > 0:
            indent = cut + len(marker)
            break
    indent = min(indent, 40)
    return "\n".join(textwrap.wrap(line, WIDTH, subsequent_indent=" " * indent,
                                   break_on_hyphens=False))


def header(run: Run) -> list[str]:
    """What ran, the program's loop, and the machine's relevant numbers."""
    r = run.result
    p = r.profile
    spec = PATHS[r.path]
    program = (spec.program.__doc__ or "").strip().replace("``", "").rstrip(".")
    nic = p["nic"]
    k = {key: format_size(v) for key, v in p["kernel"].items() if key.endswith("_bytes")}
    model = p["kernel"]["model"]
    dropped = "" if nic["sg"] == nic["csum_offload"] or not nic["sg"] else (
        " (linux-6: software checksums, shared frags copied)" if model == "linux-6"
        else " (the textbook kernel drops sg without it)")
    return [
        f"{r.path}: {spec.summary}",
        f"program: {program}",
        f"machine: {p['name']}: {p['description']}",
        f"kernel:  {model} (kernel.model; --kernel textbook|linux-6)",
        f"         NIC sg {'on' if nic['sg'] else 'off'}, csum offload "
        f"{'on' if nic['csum_offload'] else 'off'}{dropped}",
        f"         page {k['page_size_bytes']}, read-ahead {k['readahead_bytes']}, pipe "
        f"{k['pipe_size_bytes']}, sndbuf {k['sndbuf_bytes']}",
        *(f"note: {note}" for note in spec.notes),
    ]


# --- the story ---------------------------------------------------------------------------

def _args_text(e: Event) -> str:
    a = e.args
    parts = [str(a[k]) for k in ("direction", "flags", "option", "events") if k in a]
    if "bytes" in a:
        parts.append(format_size(a["bytes"]))
    if "completed" in a:
        parts.append(f"completions {a['completed']}")
    return " ".join(parts)


def _topics(e: Event) -> tuple[str, ...]:
    """The textbook-vs-kernel topics (NOTES) and kernel-model topics (KERNEL_NOTES) an
    event is an example of."""
    k = e.kind
    if k is Kind.SYSCALL:
        return ("mode", *(("sendfile",) if e.what == "sendfile" else ()),
                *(("zc_done", "k_zc") if e.what == "recvmsg" else ()),
                *(("k_write",) if e.what == "write" else ()))
    if k is Kind.BLOCK:
        return ("block", *(("k_sndbuf",) if e.what == SNDBUF_FULL else ()))
    if k is Kind.COPY and e.who == DMA and e.src == FRAGS:
        return ("sg",)
    if k is Kind.COPY and e.who == DMA and e.src == DISK:
        return ("k_readahead",)
    if k is Kind.COPY and e.who == CPU and "AES-GCM" in e.note:
        return ()  # kTLS's encryption pass: the path's own notes tell it
    if k is Kind.COPY and e.who == CPU and "MSG_ZEROCOPY" in e.note:
        return ("zc_copy", "k_nosg")
    if k is Kind.COPY and e.who == CPU and e.src == PAGE_CACHE and e.dst in (SOCKET_BUFFER,
                                                                             SEGMENTS):
        return ("nosg", "k_nosg")
    if k is Kind.CHECKSUM or (k is Kind.COPY and e.dst == SEGMENTS):
        return ("k_nosg",)
    if k is Kind.WIRE:
        return ("k_burst",)
    if k is Kind.HOLD:
        return ("k_hold",)
    if k is Kind.IRQ and e.what == IRQ_TX:
        return ("tx_done",)
    if k is Kind.RETRANSMIT:
        return ("retransmit", "k_retransmit")
    return ()


def _step(e: Event, inside: bool, n_blocks: int) -> Step | None:
    """The narrated form of one event, or None for events told another way."""
    nbytes = e.nbytes
    k = e.kind
    topics = _topics(e)
    if k is Kind.SYSCALL:
        what = f"{e.what}() {_args_text(e)}".strip()
        return Step(e.start_s, "syscall", f"{what}; returns at {format_time(e.end_s)} "
                    "(2 mode switches)",
                    f"{e.what}() {e.args.get('direction', '')} {e.args.get('bytes', '')}",
                    task=True, topics=topics)
    if k is Kind.COPY:
        if e.who == CPU:
            moved = f"{e.src} -> {e.dst}" + (f" ({e.note})" if e.note else "")
            text = f"{moved}, {format_size(nbytes)} in {format_time(e.duration_s)}"
            return Step(e.start_s, "CPU copy", text, f"CPU {e.src} {e.dst} {nbytes}", inside,
                        task=True, nbytes=nbytes, topics=topics)
        engine = "the disk's DMA engine" if e.src == DISK else (
            f"the NIC's DMA engine ({e.args.get('sg_entries', 1)} SG entries)")
        return Step(e.start_s, "DMA copy", f"{e.src} -> {e.dst}, {format_size(nbytes)} by "
                    f"{engine}", f"DMA {e.src} -> {e.dst}", inside, nbytes=nbytes,
                    topics=topics)
    if k is Kind.CHECKSUM:
        return Step(e.start_s, "checksum", f"{e.src}: {format_size(nbytes)} read by the CPU "
                    f"({e.note}: no checksum offload), no copy", f"checksum {e.src}", inside,
                    nbytes=nbytes, topics=topics)
    if k is Kind.BLOCK:
        return Step(e.start_s, "blocked", f"{format_time(e.duration_s)} waiting: {e.what}; "
                    f"context switch {n_blocks} (another task runs)", f"blocked {e.what}",
                    inside, task=True, topics=topics)
    if k is Kind.PIPE:
        move = f"{e.src} -> {e.dst}"
        deed = ("by reference (get_page), no copy" if e.src == PAGE_CACHE
                else "handed to the socket, then released")
        return Step(e.start_s, "pipe", f"{move}: {e.pages} buffers "
                    f"({format_size(nbytes)}) {deed}", f"pipe {move} {e.pages}",
                    inside, task=True)
    if k is Kind.FAULT:
        return Step(e.start_s, "fault", "page fault: a page mapped on first touch",
                    "fault", inside, task=True)
    if e.is_counter or k in (Kind.DISK, Kind.REF) or k in UNTOLD:
        return None  # refcounts come from the page log; disk reads from their DMA
    if k is Kind.WIRE:
        return Step(e.start_s, "wire", f"{title(e)}: {format_size(nbytes)} as "
                    f"{e.args.get('segments', '?')} segments, {format_time(e.duration_s)} "
                    f"on the link", "skb on the wire", inside, nbytes=nbytes, topics=topics)
    if k is Kind.LOST:
        return Step(e.start_s, "wire", f"{title(e)}: all {format_size(nbytes)} dropped on the "
                    "wire", "lost on the wire", inside)
    if k is Kind.DELIVER:
        ack = e.args.get("ack")
        upto = f"; in order up to byte {ack}" if ack is not None and ack < (
            e.seq + nbytes) else ""
        return Step(e.start_s, "receiver", f"gets seq {e.seq} (+{format_size(nbytes)}){upto}",
                    "data at the receiver", inside, nbytes=nbytes)
    if k is Kind.IRQ:
        what = title(e)[len("IRQ: "):]
        key = "IRQ: ACK" if e.what == IRQ_ACK else title(e)
        extra = "".join(f", {name} {v}" for name, v in shown_args(e).items() if name != "pages")
        return Step(e.start_s, "IRQ", what + extra, key, inside, topics=topics)
    extra = "".join(f" {name}={v}" for name, v in shown_args(e).items())
    return Step(e.start_s, e.track, title(e) + extra, f"{e.track} {title(e)}", inside,
                topics=topics)


def _page_steps(run: Run, page: int) -> list[Step]:
    steps = []
    previous = 0
    for t_s, (_, count, what) in zip(run.page_log_s, run.result.page_log, strict=True):
        steps.append(Step(t_s, f"page {page}", f"refcount {previous} -> {count} ({what})",
                          f"page {t_s} {what}", task=True))
        previous = count
    return steps


def steps_of(run: Run, page: int) -> list[Step]:
    """Every narrated step in time order, each topic's note on its first example."""
    out: list[Step] = []
    open_until = -1.0  # end of the syscall the current events happen inside
    n_blocks = 0
    for e in run.events:
        n_blocks += e.kind is Kind.BLOCK
        step = _step(e, e.start_s < open_until, n_blocks)
        if is_syscall(e):
            open_until = max(open_until, e.end_s)
        if step is not None:
            out.append(step)
    calls = [(e.start_s, e.end_s) for e in run.events if is_syscall(e)]
    out += [replace(s, inside=any(a < s.t_s < b for a, b in calls))
            for s in _page_steps(run, page)]
    out.sort(key=lambda s: s.t_s)  # stable: page steps follow events at the same time
    seen: set[str] = set()
    noted = []
    for s in out:
        new = [t for t in s.topics if t not in seen]
        seen.update(new)
        noted.append(replace(s, notes=tuple(NOTES.get(t) or KERNEL_NOTES[t] for t in new)))
    return noted


def repeats(keys: Sequence[Any], max_period: int = MAX_PERIOD) -> list[tuple[int, int, int]]:
    """Fold ``keys`` into ``(start, period, count)`` runs: the block of ``period`` keys at
    ``start`` occurs ``count`` times in a row. Shortest periods and longest runs win."""
    out = []
    i = 0
    while i < len(keys):
        best = (1, 1)
        for period in range(1, max_period + 1):
            count = 1
            block = keys[i:i + period]
            while keys[i + count * period:i + (count + 1) * period] == block:
                count += 1
            if count > 1 and period * count > best[0] * best[1]:
                best = (period, count)
        out.append((i, *best))
        i += best[0] * best[1]
    return out


def _line(s: Step, times: str = "") -> str:
    indent = "  " if s.inside else ""
    return f"{format_time(s.t_s):>9}  {indent}{s.tag:<9} {s.text}{times}"


def _lines(steps: list[Step]) -> list[str]:
    """Steps as lines, runs of the same step or block of steps folded."""
    out = []
    for start, period, count in repeats([s.key for s in steps]):
        block = steps[start:start + period]
        if period == 1 and count > 1:
            last = steps[start + count - 1]
            out.append(_line(block[0], f"  (x{count}, until {format_time(last.t_s)})"))
        else:
            out += [_line(s) for s in block]
        out += [" " * 13 + note for s in block for note in s.notes]
        if period > 1 and count > 1:
            last = steps[start + period * count - 1]
            out.append(" " * 11 + f"... the {period} steps above repeat {count - 1} more "
                       f"time{'s' if count > 2 else ''}, until {format_time(last.t_s)}")
    return out


def _round_key(steps: list[Step]) -> Any:
    """The key whose repetition marks a new round of the program's loop."""
    seen = set()
    for s in steps:
        if s.tag in ("syscall", "pipe"):
            if s.key in seen:
                return s.key
            seen.add(s.key)
    return None


def _summary(steps: list[Step]) -> str:
    """What the devices did meanwhile, as counts."""
    parts = []
    for key, n in tally([s.key for s in steps if not s.task]).items():
        nbytes = sum(s.nbytes for s in steps if s.key == key)
        parts.append(f"{key} x{n}" + (f" ({format_size(nbytes)})" if nbytes else ""))
    return ", ".join(parts)


def story(run: Run, page: int) -> list[str]:
    """The step-by-step narrative, round by round."""
    steps = steps_of(run, page)
    key = _round_key(steps)
    starts = [i for i, s in enumerate(steps) if s.key == key] if key else []
    if not starts:
        starts = [0]
    bounds = [*starts, len(steps)]
    rounds = [steps[bounds[i]:bounds[i + 1]] for i in range(len(starts))]
    out = ["Step by step (t = simulated time since the first syscall; indented: inside it)"]
    if starts[0] > 0:
        out += ["setup", *_lines(steps[:starts[0]])]
    shapes = [tuple(s.key for s in r if s.task) for r in rounds]
    for start, period, count in repeats(shapes):
        for n in range(start, start + period):
            out += [f"round {n + 1}", *_lines(rounds[n])]
        if count > 1:
            first, last = start + period, start + period * count - 1
            folded = [s for r in rounds[first:last + 1] for s in r]
            same = (f"round {start + 1}" if period == 1 else
                    f"rounds {start + 1}-{start + period}")
            which = f"round {first + 1}" if first == last else f"rounds {first + 1}-{last + 1}"
            out.append(f"{which} ({format_time(folded[0].t_s)} .. {format_time(folded[-1].t_s)}"
                       f"): the program repeats the steps of {same}")
            out.append(f"           meanwhile: {_summary(folded)}")
    return out


# --- page N over its life ------------------------------------------------------------------

def page_life(run: Run, page: int) -> list[str]:
    """Page N's refcount from allocation to its last reference, with the NIC's part in it."""
    r = run.result
    log = r.page_log
    pb = r.profile["kernel"]["page_size_bytes"]
    offset = r.scenario["offset_bytes"]
    stream_pos = (offset // pb + page) * pb - offset  # byte of the stream page N starts at
    title = f"Page {page} of the file (bytes {max(stream_pos, 0)}.. of the transfer): refcount"
    if not log:
        return [title, "  never allocated: outside the transfer"]
    holder_text = LINUX6_HOLDERS if r.profile["kernel"].get("model") == "linux-6" else HOLDERS
    rows = [(t, f"{count:>3}  {what}: {holder_text.get(what, what)}")
            for t, (_, count, what) in zip(run.page_log_s, log, strict=True)]
    if any(what == "get skb" for _, _, what in log):
        sent = [e for e in run.events if e.kind is Kind.WIRE]
        wire = [e for e in sent if e.seq <= stream_pos < e.seq + e.nbytes]
        dma = [e for e in run.events if e.kind is Kind.COPY and e.dst == NIC]
        for w in wire[:1]:
            seq = w.seq
            d = dma[sent.index(w)] if sent.index(w) < len(dma) else None
            if d is not None:
                rows.append((d.start_s, f"{'':>3}  NIC DMA reads it (skb seq {seq}); the "
                                        "refcount does not change"))
            done = [e for e in run.events if e.kind is Kind.IRQ and e.what == IRQ_TX
                    and e.seq == seq]
            if done:
                rows.append((done[0].start_s, f"{'':>3}  TX completion frees the clone; the "
                                              "skb and its reference wait for the ACK"))
        rows.sort(key=lambda row: row[0])
    out = [title, *[f"{format_time(t):>9}  {text}" for t, text in rows]]
    holders = {what.split(" ", 1)[1] for _, _, what in log if what.startswith("get ")}
    if not holders:
        out.append("           never referenced beyond its owner: its bytes left by CPU copy")
    else:
        out.append(f"           ends at {log[-1][1]}: every holder ({', '.join(sorted(holders))})"
                   " gave its reference back")
    return out


# --- the diagram ---------------------------------------------------------------------------

BOX_WIDTH = 17
ARROW_WIDTH = 20
ZONES = {"disk": "hardware", "NIC": "hardware", "receiver": "remote", "user buffer": "user",
         "mmap'd pages": "user"}


def _edges(run: Run) -> tuple[list[str], dict[tuple[str, str], str]]:
    """The buffers the data passed through, in order, and the label of each hop."""
    r = run.result
    found = copies(run.events)
    middle: dict[str, float] = {}
    for e in run.events:
        names = [e.src, e.dst] if e.kind is Kind.COPY else ([PIPE] if e.kind is Kind.PIPE
                                                             else [])
        for name in names:
            if name in ("user buffer", "mmap'd page cache", "pipe"):
                middle.setdefault("mmap'd pages" if name.startswith("mmap") else name, e.start_s)
    if PATHS[r.path].references == USER_BUFFER:  # frags reference the user's pages
        middle.setdefault("user buffer", 0.0)
    nodes = ["disk", "page cache", *sorted(middle, key=middle.get), "socket buffer", "NIC",
             "receiver"]

    def total(who: str, src: str, dst: str) -> int:
        return sum(c.nbytes for c in found if (c.who, c.src, c.dst) == (who, src, dst))

    pipe_in = sum(e.nbytes for e in run.events if e.kind is Kind.PIPE and e.src == PAGE_CACHE)
    frags = sum(e.nbytes for e in run.events
                if e.kind is Kind.COPY and e.who == DMA and e.src == FRAGS and e.dst == NIC)
    to_nic = sum(c.nbytes for c in found if c.dst == "NIC")
    wire = sum(e.nbytes for e in run.events if e.kind is Kind.WIRE)
    disk = total("DMA", "disk", "page cache")
    labels = {("disk", "page cache"): f"DMA {format_size(disk)}" if disk else "cached: no I/O",
              ("socket buffer", "NIC"): f"DMA {format_size(to_nic)}",
              ("NIC", "receiver"): f"wire {format_size(wire)}"}
    before_skb = nodes[-4]
    into_skb = sum(c.nbytes for c in found if c.who == "CPU" and c.dst == "socket buffer")
    parts = [f"CPU copy {format_size(into_skb)}"] if into_skb else []
    if frags:
        parts.append(("pinned " if before_skb == "user buffer" else "refs ") + format_size(frags))
    labels[(before_skb, "socket buffer")] = " + ".join(parts)
    if "pipe" in middle:
        labels[("page cache", "pipe")] = f"refs {format_size(pipe_in)}"
    if "user buffer" in middle:
        labels[("page cache", "user buffer")] = (
            f"CPU copy {format_size(total('CPU', 'page cache', 'user buffer'))}")
    if "mmap'd pages" in middle:
        labels[("page cache", "mmap'd pages")] = f"mapped, {r.page_faults} faults"
    return nodes, labels


def _box(name: str) -> list[str]:
    inner = BOX_WIDTH - 2
    zone = ZONES.get(name, "kernel")
    return ["+" + "-" * inner + "+", "|" + name.center(inner) + "|",
            "+" + zone.center(inner, "-") + "+"]


def diagram(run: Run) -> list[str]:
    """The path as boxes and labelled arrows, snaking three boxes to a row like the seeds."""
    nodes, labels = _edges(run)
    per_row = 3
    pitch = BOX_WIDTH + ARROW_WIDTH
    out = ["Data path of this run (DMA: a device moves the bytes; CPU copy: the CPU does; "
           "refs: page", "references only, no bytes move)"]
    rows = [nodes[i:i + per_row] for i in range(0, len(nodes), per_row)]
    for n, row in enumerate(rows):
        rtl = n % 2 == 1
        cols = [per_row - 1 - i if rtl else i for i in range(len(row))]
        canvas = [[" "] * (per_row * pitch) for _ in range(3)]
        for name, col in zip(row, cols, strict=True):
            for y, text in enumerate(_box(name)):
                canvas[y][col * pitch:col * pitch + BOX_WIDTH] = text
        for i in range(len(row) - 1):
            left = min(cols[i], cols[i + 1])
            label = labels.get((row[i], row[i + 1]), "")
            arrow = ("<" + "-" * (ARROW_WIDTH - 1)) if rtl else ("-" * (ARROW_WIDTH - 1) + ">")
            x = left * pitch + BOX_WIDTH
            canvas[1][x:x + ARROW_WIDTH] = arrow
            canvas[0][x:x + ARROW_WIDTH] = label.center(ARROW_WIDTH)[:ARROW_WIDTH]
        out += ["  " + "".join(line).rstrip() for line in canvas]
        if n + 1 < len(rows):
            x = 2 + cols[-1] * pitch + BOX_WIDTH // 2
            label = labels.get((row[-1], rows[n + 1][0]), "")
            labelled = (" " * (x - len(label) - 2) + label + "  |" if x > WIDTH // 2
                        else " " * x + "|  " + label)  # the label on the roomier side
            out += [" " * x + "|", labelled, " " * x + "v"]
    return out


# --- totals --------------------------------------------------------------------------------

def _check(derived: float, counted: float, name: str) -> str:
    return "" if derived == counted else f"   MISMATCH: the counters say {name} = {counted}"


def totals(run: Run) -> list[str]:
    """The run's totals, each derived from the trace and checked against the counters."""
    r = run.result
    found = copies(run.events)
    cpu = sum(c.nbytes for c in found if c.who == "CPU")
    dma = sum(c.nbytes for c in found if c.who == "DMA")
    calls = syscalls(run.events)
    slept = blocks(run.events)
    n_calls = sum(calls.values())
    faults = sum(1 for e in run.events if e.kind is Kind.FAULT)
    delivered = r.bytes_delivered
    out = ["Totals (derived from the trace, checked against the run's counters)"]
    for c in found:
        out.append(f"  {c.who} copy {c.src} -> {c.dst}: {c.count} x, {format_size(c.nbytes)}")
    out.append(f"  copies       {format_size(cpu)} by CPU + {format_size(dma)} by DMA = "
               f"{(cpu + dma) / delivered:.2f} per byte ({cpu / delivered:.2f} CPU + "
               f"{dma / delivered:.2f} DMA)" + _check(cpu + dma, r.cpu_copy_bytes +
                                                       r.dma_copy_bytes, "copy bytes"))
    out.append("  syscalls     " + " + ".join(f"{k} x{n}" for k, n in calls.items()) +
               f" = {n_calls}; mode switches 2 x {n_calls} = {2 * n_calls}" +
               _check(n_calls, r.syscalls, "syscalls") +
               _check(2 * n_calls, r.mode_switches, "mode_switches"))
    why = ", ".join(f"{k} x{n}" for k, n in slept.items()) or "none"
    out.append(f"  ctx switches {sum(slept.values())} (the task slept: {why})" +
               _check(sum(slept.values()), r.context_switches, "context_switches"))
    out.append(f"  page faults  {faults}" + _check(faults, r.page_faults, "page_faults"))
    summed = sum(e.nbytes for e in run.events if e.kind is Kind.CHECKSUM)
    read = f" + {format_size(summed)} (checksums read once)" if summed else ""
    bus = 2 * cpu + dma + summed
    out.append(f"  memory bus   2 x {format_size(cpu)} (CPU copies read and write) + "
               f"{format_size(dma)} (DMA crosses once){read} = {format_size(bus)}" +
               _check(bus, r.membus_bytes, "membus_bytes"))
    spent = ", ".join(f"{k} {format_time(v)}" for k, v in r.cpu_time_by_category.items()
                      if v > 0 and k != "idle")
    out.append(f"  CPU time     {format_time(r.cpu_time_s)} ({spent})")
    out.append(f"  time         {format_time(r.sim_time_s)} from the first syscall until the "
               f"receiver holds the last byte; goodput {format_rate(r.goodput_bps / 8)}")
    if r.lost_segments or r.retransmits:
        out.append(f"  loss         {r.lost_segments} segment(s) lost, {r.retransmits} resent "
                   f"({format_size(r.retransmit_bytes)}), {r.rto_timeouts} timeout(s)")
    if r.writer_stores or r.cow_copies:
        out.append(f"  writer       {r.writer_stores} store(s), {r.cow_copies} copy-on-write "
                   f"page(s)")
    out.append(f"  received     {r.integrity}: {format_size(r.changed_bytes)} newer than the "
               f"sender took, {format_size(r.stale_bytes)} older, "
               f"{r.mixed_version_segments} segment(s) mixing versions")
    broken = "; ".join(r.invariant_violations)
    out.append(f"  invariants   {broken or 'all hold'}")
    return out
