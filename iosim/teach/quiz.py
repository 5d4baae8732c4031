"""``iosim quiz``: OSTEP-style problems from a seed, with worked answers from the simulator.

The seed picks each problem (path, size, buffer, NIC scatter-gather, cache state, what to
ask); ``-c`` runs the simulation and derives the answer step by step from that run's trace
and counters, then checks the derivation's final number against the ``simulate()`` field it
should equal, so a worked answer can never drift from the model.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field

from iosim.config import DEFAULT_PROFILE, load_profile
from iosim.events import NIC, SEGMENTS, Kind
from iosim.net import TCPIP_HEADER_BYTES, mss_bytes
from iosim.paths import PAGE_CACHE, PATHS
from iosim.teach.explain import fit
from iosim.teach.traced import EPS_S, Run, blocks, copies, critical_path, run_traced, syscalls
from iosim.units import format_rate, format_size, format_time

# where the two kernel models differ, said once in an answer that meets it
KERNELS_RESEND = ("  kernels: textbook: a resend sends the skb's data again, copying nothing / "
                  "linux-6: the same with NIC SG; without it each resend is copied again")
KERNELS_INPLACE = ("  kernels: textbook: without NIC SG the data is copied at the syscall, "
                   "before the store / linux-6: the skb references the pages and software GSO "
                   "copies them at transmission, so the store reaches the wire")

KINDS = ("copies", "syscalls", "membus", "time", "compare", "faults")
FAULTS = ("drop", "private", "shared")  # a lost segment; a MAP_PRIVATE or in-place writer
KiB = 1024  # bytes
SIZES_BYTES = {  # small enough to reason about by hand, large enough to need rounds
    "copies": (16 * KiB, 64 * KiB, 256 * KiB, 1024 * KiB),
    "syscalls": (16 * KiB, 64 * KiB, 256 * KiB, 1024 * KiB),
    "membus": (16 * KiB, 64 * KiB, 256 * KiB, 1024 * KiB),
    "time": (16 * KiB, 32 * KiB, 64 * KiB, 128 * KiB),
    "compare": (64 * KiB, 256 * KiB, 1024 * KiB),
    "faults": (64 * KiB, 256 * KiB, 1024 * KiB),
}
BUFFERS_BYTES = (16 * KiB, 32 * KiB, 64 * KiB)
QUESTIONS = {
    "copies": "How many bytes do the CPU and the DMA engines copy, and how many copies per "
              "byte delivered is that?",
    "syscalls": "How many syscalls does the program make, and how many user<->kernel mode "
                "switches?",
    "membus": "How many bytes cross the memory bus?",
    "time": "How long from the first syscall until the receiver holds the last byte?",
    "cpu": "Which of the two uses less CPU time for this transfer, and why?",
    "goodput": "Which of the two delivers the file sooner (higher goodput), and why?",
    "drop": "Segment {n} is lost on the wire. How many segments and bytes are sent again, how "
            "many bytes does the NIC read by DMA in all, and does the resend copy anything?",
    "private": "Another process has the file mapped MAP_PRIVATE and stores into page {n} "
               "while it is in flight. How many pages are copied, and which data reaches "
               "the receiver?",
    "shared": "Another process stores into page {n} of the file through a MAP_SHARED mapping "
              "while it is in flight. How many bytes reach the receiver as the new data, "
              "and how many segments mix old and new bytes?",
}


@dataclass(frozen=True)
class Problem:
    """One generated problem; ``other`` and ``metric`` only for ``compare``."""

    number: int
    kind: str
    path: str
    size_bytes: int
    cache: str
    buffer_bytes: int
    sg: bool
    other: str = ""
    metric: str = ""
    fault: str = ""
    fault_n: int = 0  # the lost segment's number or the written page's index

    def scenario(self) -> dict:
        """The scenario keys of the problem's failure mode (none for other kinds)."""
        if self.fault == "drop":
            return {"drop": [self.fault_n]}
        if self.fault:
            return {"writer": self.fault, "writer_at": [self.fault_n * 4096]}  # page -> byte
        return {}

    def effective_sg(self, path: str) -> bool:
        """Whether ``path`` runs with scatter-gather (``sendfile`` forces it off)."""
        return bool(PATHS[path].overrides.get("nic.sg", self.sg))


@dataclass
class Answer:
    """A worked answer: its lines and the checks of its numbers against ``simulate()``."""

    lines: list[str] = field(default_factory=list)
    checks: list[tuple[str, float, float, float]] = field(default_factory=list)

    def check(self, name: str, derived: float, simulated: float, tolerance: float = 0.0
              ) -> None:
        """Record that the derivation's ``derived`` should equal ``simulate().name``."""
        self.checks.append((name, derived, simulated, tolerance))

    @property
    def ok(self) -> bool:
        """Every derived number equals its simulate() field."""
        return all(abs(d - s) <= tol for _, d, s, tol in self.checks)


def problems(seed: int = 0, count: int = 4, kind: str = "all") -> list[Problem]:
    """The problems of a seed: every field is drawn each time, so a seed's problems stay
    the same whatever the kind."""
    if kind != "all" and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: expected all or one of {', '.join(KINDS)}")
    rng = random.Random(seed)
    names = list(PATHS)
    out = []
    for number in range(1, count + 1):
        drawn = rng.choice(KINDS)
        k = drawn if kind == "all" else kind
        path, other = rng.sample(names, 2)
        size = rng.choice(SIZES_BYTES[k])
        cache = rng.choice(("cold", "warm"))
        buffer = rng.choice(BUFFERS_BYTES)
        sg = rng.random() < 0.75  # most NICs gather; a quarter of the problems lack it
        metric = rng.choice(("cpu", "goodput"))
        fault = rng.choice(FAULTS)
        fault_n = rng.randint(1, 40)
        if k == "faults":
            # a real segment of the transfer, or a page of it
            fault_n = 1 + (fault_n - 1) % (size // 1448) if fault == "drop" else \
                fault_n % (size // 4096)
        out.append(Problem(number, k, path, size, cache, buffer, sg,
                           other if k == "compare" else "", metric if k == "compare" else "",
                           fault if k == "faults" else "", fault_n if k == "faults" else 0))
    return out


def kernel_of(profile: str, overrides: dict | None = None) -> str:
    """The kernel model the problems run on (``kernel.model`` of the profile as set)."""
    return load_profile(profile, overrides or None).kernel.model


def statement(p: Problem, profile: str = DEFAULT_PROFILE) -> list[str]:
    """The problem as the student reads it."""
    paths = [p.path, p.other] if p.kind == "compare" else [p.path]
    lines = [f"Problem {p.number} ({p.kind})"]
    lines += [f"  {name}: {PATHS[name].summary}" for name in paths]
    sg = {name: "sg on" if p.effective_sg(name) else "sg off" for name in paths}
    nic = ", ".join(f"{name} {v}" for name, v in sg.items()) if len(set(sg.values())) > 1 \
        else sg[p.path]
    lines.append(f"  send {format_size(p.size_bytes)}, {p.cache} cache, user buffer "
                 f"{format_size(p.buffer_bytes)}, NIC {nic}; profile {profile}")
    lines.append("  Q: " + QUESTIONS[p.metric or p.fault or p.kind].format(n=p.fault_n))
    return lines


def simulate_problem(p: Problem, path: str, profile: str = DEFAULT_PROFILE, fault: bool = False,
                     overrides: dict | None = None) -> Run:
    """The traced run a problem is about (with its failure mode when ``fault``);
    ``overrides``: profile values of the whole quiz (``kernel.model``)."""
    scenario = p.scenario() if fault else {}
    return run_traced(path, p.size_bytes, profile=profile, cache=p.cache,
                      buffer_bytes=p.buffer_bytes, overrides={**(overrides or {}),
                                                              "nic.sg": p.sg}, **scenario)


def answer(p: Problem, profile: str = DEFAULT_PROFILE, overrides: dict | None = None) -> Answer:
    """The worked answer, derived from the run(s) of the problem."""
    run = simulate_problem(p, p.path, profile, fault=True, overrides=overrides)
    if p.kind == "faults":
        return _faults(p, run, simulate_problem(p, p.path, profile, overrides=overrides))
    if p.kind == "compare":
        return _compare(p, run, simulate_problem(p, p.other, profile, overrides=overrides))
    return {"copies": _copies, "syscalls": _syscalls, "membus": _membus,
            "time": _time}[p.kind](run)


def _sum_text(parts: list[int]) -> str:
    return " + ".join(format_size(b) for b in parts) or "0 B"


def _copies(run: Run) -> Answer:
    a = Answer(["  every copy in the trace, by who made it:"])
    found = copies(run.events)
    for c in found:
        a.lines.append(f"    {c.who} {c.src} -> {c.dst}: {c.count} x, {format_size(c.nbytes)}")
    cpu = [c.nbytes for c in found if c.who == "CPU"]
    dma = [c.nbytes for c in found if c.who == "DMA"]
    n = run.result.bytes_delivered
    per_byte = (sum(cpu) + sum(dma)) / n
    a.lines += [f"  CPU = {_sum_text(cpu)} = {format_size(sum(cpu))}; "
                f"DMA = {_sum_text(dma)} = {format_size(sum(dma))}",
                f"  copies per byte = ({format_size(sum(cpu))} + {format_size(sum(dma))}) / "
                f"{format_size(n)} = {per_byte:.2f} ({sum(cpu) / n:.2f} CPU + "
                f"{sum(dma) / n:.2f} DMA)"]
    r = run.result
    a.check("cpu_copy_bytes", sum(cpu), r.cpu_copy_bytes)
    a.check("dma_copy_bytes", sum(dma), r.dma_copy_bytes)
    a.check("copies", per_byte, r.copies)
    return a


def _syscalls(run: Run) -> Answer:
    calls = syscalls(run.events)
    total = sum(calls.values())
    slept = blocks(run.events)
    why = ", ".join(f"{k} x{n}" for k, n in slept.items()) or "never"
    a = Answer([
        "  the program's syscalls, from the trace: "
        + " + ".join(f"{k} x{n}" for k, n in calls.items()) + f" = {total}",
        f"  mode switches = 2 per syscall (user -> kernel -> user) = 2 x {total} = {2 * total}",
        f"  (context switches are another thing: the task slept {sum(slept.values())} "
        f"time(s): {why})"])
    a.check("syscalls", total, run.result.syscalls)
    a.check("mode_switches", 2 * total, run.result.mode_switches)
    return a


def _membus(run: Run) -> Answer:
    found = copies(run.events)
    cpu = [c.nbytes for c in found if c.who == "CPU"]
    dma = [c.nbytes for c in found if c.who == "DMA"]
    total = 2 * sum(cpu) + sum(dma)
    def listed(who: str, nbytes: list[int]) -> str:
        names = ", ".join(f"{c.src} -> {c.dst}" for c in found if c.who == who)
        if not names:
            return "none = 0 B"
        return f"{names} = {_sum_text(nbytes)}" + (
            f" = {format_size(sum(nbytes))}" if len(nbytes) > 1 else "")

    a = Answer([
        f"  CPU copies: {listed('CPU', cpu)}",
        f"  DMA: {listed('DMA', dma)}",
        "  a CPU copy reads and writes DRAM (2 bytes per byte), a DMA crosses it once:",
        f"  membus = 2 x CPU + DMA = 2 x {format_size(sum(cpu))} + {format_size(sum(dma))} = "
        f"{format_size(total)} ({total} bytes)"])
    a.check("membus_bytes", total, run.result.membus_bytes)
    return a


def _time(run: Run) -> Answer:
    spans = critical_path(run)
    a = Answer(["  the critical path, walked back from the last byte at the receiver:"])
    i = 0
    while i < len(spans):  # fold back-to-back stretches of the same kind
        j = i
        while j + 1 < len(spans) and spans[j + 1].what == spans[i].what:
            j += 1
        times = f" (x{j - i + 1})" if j > i else ""
        a.lines.append(f"    {format_time(spans[i].start_s):>8} .. {format_time(spans[j].end_s):>8}"
                       f"  {format_time(spans[j].end_s - spans[i].start_s):>8}  "
                       f"{spans[i].what}{times}")
        i = j + 1
    total = sum(s.end_s - s.start_s for s in spans)
    a.lines.append(f"  time = sum of the stretches = {total * 1e6:.3f} us")  # s -> us
    # the stretches are differences of clock readings: their sum is exact up to rounding
    a.check("sim_time_s", total, run.result.sim_time_s, tolerance=EPS_S)
    return a


def _segments(run: Run) -> list[tuple[int, int]]:
    """(stream offset, bytes) of every segment first sent, in order, from the wire's
    slices: the NIC cuts each skb into MSS-sized segments, the last one shorter."""
    mss = mss_bytes(run.result.profile["nic"]["mtu_bytes"])
    out = []
    for e in run.events:
        if e.kind is Kind.WIRE:
            out += [(e.seq + off, min(mss, e.nbytes - off)) for off in range(0, e.nbytes, mss)]
    return out


def _read_after_store(run: Run):
    """A predicate on a segment's stream offset: did its transmission read the data after
    the writer's store? From the trace: the store's time, and each first transmission's
    read (software GSO's copy, else the NIC's DMA end)."""
    stored = next((e.start_s for e in run.events if e.kind is Kind.STORE), None)
    read: dict[int, float] = {}  # transmission's seq -> when it read the data
    for e in run.events:
        if e.kind is Kind.COPY and e.seq is not None and e.seq not in read:
            if e.dst == SEGMENTS:
                read[e.seq] = e.start_s
            elif e.dst == NIC:
                read[e.seq] = e.end_s
    starts = sorted(read)

    def after(offset: int) -> bool:
        i = bisect.bisect_right(starts, offset) - 1
        return stored is not None and i >= 0 and read[starts[i]] > stored
    return after


def _faults(p: Problem, run: Run, clean: Run) -> Answer:
    """Worked answers for a lost segment, a COW writer and an in-place writer (``clean``:
    the same transfer without the fault)."""
    segments = _segments(clean)
    # Linux 6: TCP always has SG (sk_setup_caps), so a NIC without it gets its copies at
    # each transmission (validate_xmit_skb -> skb_segment / __skb_linearize): resends too
    gso = (run.result.profile["kernel"]["model"] == "linux-6"
           and not run.result.profile["nic"]["sg"])
    mss = mss_bytes(run.result.profile["nic"]["mtu_bytes"])
    # an in-place store reaches the wire where the skb references the page-cache page
    frag_path = run.result.frags > 0 and p.fault in PATHS[p.path].exposed_to
    a = Answer([f"  MSS = MTU - {TCPIP_HEADER_BYTES} (IPv4 + TCP + timestamps) = {mss} B; the "
                f"clean run sends {len(segments)} segments"])
    if p.fault == "drop":
        start, nbytes = segments[p.fault_n - 1]
        sent = clean.result.nic_dma_bytes  # the stream once: kTLS adds its record framing
        once = ("file once" if sent == p.size_bytes
                else "stream once (the file + 22 B per TLS record)")
        a.lines += [
            f"  segment {p.fault_n} carries bytes {start}..{start + nbytes - 1} ({nbytes} B: "
            + ("a whole MSS)" if nbytes == mss else "the short tail of its skb)"),
            "  the receiver SACKs what follows it (or a tail probe draws the SACK), and the "
            "sender resends just that segment: 1 segment",
            "  the resend is a clone of the skb still on the retransmit queue: "
            + ("its frags reference the same pages" if frag_path else
               "it shares the skb's own copy of the data")
            + ("; but the NIC cannot gather, so software GSO copies the resent segment again"
               f" (validate_xmit_skb): {nbytes} B" if gso else ", so nothing is copied again"),
            f"  NIC DMA = the {once} + the resent bytes = {sent} + {nbytes} = "
            f"{sent + nbytes} B",
            (f"  CPU copies: the clean run's {clean.result.cpu_copy_bytes} B + the resend's "
             f"{nbytes} B = {clean.result.cpu_copy_bytes + nbytes} B" if gso else
             f"  CPU copies: as without the loss, {clean.result.cpu_copy_bytes} B"),
            KERNELS_RESEND]
        r = run.result
        a.check("retransmits", 1, r.retransmits)
        a.check("retransmit_bytes", nbytes, r.retransmit_bytes)
        a.check("nic_dma_bytes", sent + nbytes, r.nic_dma_bytes)
        a.check("cpu_copy_bytes", clean.result.cpu_copy_bytes + (nbytes if gso else 0),
                r.cpu_copy_bytes)
        return a
    page = 4096
    lo, hi = p.fault_n * page, (p.fault_n + 1) * page
    if p.fault == "private":
        a.lines += [
            f"  the store faults on a MAP_PRIVATE page: the kernel copies page {p.fault_n} "
            f"for the writer (copy-on-write): 1 copy of {page} B, the writer's, not the send's",
            "  the page cache keeps the old page, and so does everything that references or "
            "copied it: the receiver gets exactly the data the sender took (0 B changed)"]
        a.check("cow_copies", 1, run.result.cow_copies)
        a.check("cow_copy_bytes", page, run.result.cow_copy_bytes)
        a.check("changed_bytes", 0, run.result.changed_bytes)
        return a
    # in place: what a transmission read after the store carries the new data; it read the
    # pages at its DMA (gather) or at software GSO's copy (a NIC without SG on Linux 6)
    after = _read_after_store(run)
    new = [(s, n) for s, n in segments if after(s) and s < hi and lo < s + n]
    changed = sum(min(s + n, hi) - max(s, lo) for s, n in new) if frag_path else 0
    mixed = sum(1 for s, n in new if s < lo or hi < s + n) if frag_path else 0
    a.lines.append(f"  page {p.fault_n} is bytes {lo}..{hi - 1}; the store lands when the skb "
                   "carrying it is queued")
    if frag_path:
        late = len([1 for s, n in segments if not after(s) and s < hi and lo < s + n])
        a.lines += [
            "  the skb's frags reference the page-cache page itself, so "
            + ("the copy software GSO makes at transmission (skb_segment)" if gso else
               "the DMA") + " reads what the page holds then"
            + (f"; {late} segment(s) of the page were read before the store and stay old"
               if late else "") + f": {changed} B changed",
            "  a segment that holds new bytes of the page and bytes beside them (old) mixes "
            f"versions: {mixed} mixed segment(s)"]
    else:
        a.lines.append("  this path copied the data (or sends a user buffer) before the store: "
                       "the page cache changes, the data on the wire does not: 0 B changed, "
                       "0 mixed segments")
    if not p.sg and PATHS[p.path].references == PAGE_CACHE:
        a.lines.append(KERNELS_INPLACE)
    a.check("changed_bytes", changed, run.result.changed_bytes)
    a.check("mixed_version_segments", mixed, run.result.mixed_version_segments)
    return a


def _compare(p: Problem, run: Run, other: Run) -> Answer:
    runs = {p.path: run, p.other: other}
    a = Answer()
    if p.metric == "cpu":
        cats = [k for k in run.result.cpu_time_by_category if k != "idle"]
        a.lines.append("  CPU time by category, from each run's CPU accounting:")
        a.lines.append(f"    {'':14}" + "".join(f"{name:>14}" for name in runs))
        for k in cats:
            vals = [r.result.cpu_time_by_category[k] for r in runs.values()]
            if any(vals):
                a.lines.append(f"    {k:14}" + "".join(f"{format_time(v):>14}" for v in vals))
        totals = {name: sum(r.result.cpu_time_by_category[k] for k in cats)
                  for name, r in runs.items()}
        a.lines.append(f"    {'total':14}" + "".join(f"{format_time(v):>14}"
                                                     for v in totals.values()))
        win, lose = sorted(runs, key=lambda name: totals[name])
        diffs = {k: runs[lose].result.cpu_time_by_category[k]
                 - runs[win].result.cpu_time_by_category[k] for k in cats}
        top = max(diffs, key=lambda k: diffs[k])
        a.lines.append(f"  {win} uses less CPU ({format_time(totals[lose] - totals[win])} "
                       f"less); the biggest difference is {top}: {format_time(diffs[top])}")
        a.lines.append("  why: " + _why_cpu(top, runs[lose], lose))
        for name, r in runs.items():
            a.check(f"cpu_time_s of {name}", totals[name], r.result.cpu_time_s)
        return a
    a.lines.append("  goodput = bytes x 8 / time (8 bits per byte):")
    rates = {}
    for name, r in runs.items():
        res = r.result
        rates[name] = res.bytes_delivered * 8 / res.sim_time_s  # bytes -> bits
        a.lines.append(f"    {name}: {res.bytes_delivered} x 8 / {format_time(res.sim_time_s)} = "
                       f"{format_rate(rates[name] / 8)}; bottleneck {res.bottleneck}")
    win, lose = sorted(runs, key=lambda name: -rates[name])
    paths = {name: _by_category(r) for name, r in runs.items()}
    cats = list(dict.fromkeys([*paths[lose], *paths[win]]))
    diffs = {k: paths[lose].get(k, 0.0) - paths[win].get(k, 0.0) for k in cats}
    top = max(diffs, key=lambda k: diffs[k])
    lead_s = runs[lose].result.sim_time_s - runs[win].result.sim_time_s
    share = lead_s / runs[lose].result.sim_time_s
    verdict = "practically a tie" if share < 0.01 else f"{share:.0%} sooner"
    a.lines.append(f"  {win} finishes {format_time(lead_s)} earlier ({verdict}); on the "
                   f"critical path from the first syscall to the last byte, {lose} spends "
                   f"{format_time(diffs[top])} more on {top}:")
    for name in runs:
        a.lines.append(f"    {name}: " + ", ".join(f"{k} {format_time(v)}"
                                                   for k, v in paths[name].items()))
    for name, r in runs.items():
        a.check(f"goodput_bps of {name}", rates[name], r.result.goodput_bps)
    return a


def _by_category(run: Run) -> dict[str, float]:
    out: dict[str, float] = {}
    for s in critical_path(run):
        k = s.category
        out[k] = out.get(k, 0.0) + s.end_s - s.start_s
    return out


def _why_cpu(category: str, run: Run, name: str) -> str:
    """The loser's trace facts behind one CPU-time category."""
    if category == "copy":
        found = [c for c in copies(run.events) if c.who == "CPU"]
        return f"{name} copies with the CPU: " + ", ".join(
            f"{c.src} -> {c.dst} {format_size(c.nbytes)}" for c in found)
    if category == "syscall":
        return f"{name} makes {sum(syscalls(run.events).values())} syscalls: " + ", ".join(
            f"{k} x{n}" for k, n in syscalls(run.events).items())
    if category == "context_switch":
        return f"{name} sleeps: " + ", ".join(f"{k} x{n}" for k, n in blocks(run.events).items())
    if category == "fault":
        return f"{name} takes {run.result.page_faults} page faults"
    return f"{name} spends more on {category}"


def render(seed: int = 0, count: int = 4, kind: str = "all", profile: str = DEFAULT_PROFILE,
           solve: bool = False, overrides: dict | None = None) -> str:
    """The whole ``iosim quiz`` output: arguments, problems and, with ``solve``, answers;
    ``overrides``: profile values for every problem (``{"kernel.model": "linux-6"}``)."""
    out = [f"ARG seed {seed}", f"ARG kind {kind}", f"ARG count {count}",
           f"ARG profile {profile}", f"ARG kernel {kernel_of(profile, overrides)}",
           *(f"ARG set {k}={v}" for k, v in (overrides or {}).items()),
           f"ARG compute {solve}", ""]
    for p in problems(seed, count, kind):
        out += statement(p, profile)
        if solve:
            a = answer(p, profile, overrides)
            out += ["  Answer:", *("  " + line for line in a.lines)]
            for name, derived, simulated, tolerance in a.checks:
                verdict = "ok" if abs(derived - simulated) <= tolerance else (
                    f"MISMATCH (derived {derived!r})")
                out.append(f"    check: simulate() {name} = {_value(name, simulated)}: "
                           f"{verdict}")
        out.append("")
    if not solve:
        out.append("Work them out on the teaching profile, then rerun with -c for the answers.")
    return "\n".join(fit(line) for line in out).rstrip("\n") + "\n"


def _value(name: str, value: float) -> str:
    """A simulate() field's value, exact enough to compare by eye."""
    field_name = name.split(" ")[0]
    if field_name.endswith("_bytes"):
        return f"{value:.0f} bytes"
    if field_name.endswith("_s"):
        return f"{value * 1e6:.6f} us"  # seconds -> microseconds
    if field_name.endswith("_bps"):
        return f"{value:.0f} bit/s"
    return f"{value:g}"
