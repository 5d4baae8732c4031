"""Measure this host's costs and write them as an iosim profile.

Every cost is timed from Python, so each figure is a difference between a loop that does the
kernel work and a loop that does the same Python calls without it: the interpreter's own
overhead (tens of ns per call) cancels, what remains is kernel work. Figures that come from
differences are computed per repeat, so their spread is honest; a difference that comes out
at or below zero is clamped to 1 ns and says so in its ``method``.

Copies are the kernel's own (``read()`` of a cached file), from DRAM and from the cache;
faults are taken on a mapping of a cached file, fault-around included; the loopback TCP costs
per sk_buff and per page frag come from transfers with sender and receiver pinned to one CPU,
as ``iosim validate`` runs its real transfers.

The profile keys the host cannot measure (disk, DMA, interrupts, ...) are inherited from a
base profile through ``extends``; the TOML lists each of them as a comment with the reason.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import fcntl
import glob
import gzip
import itertools
import math
import mmap
import operator
import os
import platform
import resource
import select
import socket
import statistics
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from iosim import net, units
from iosim.config import CHOICES, SCHEMA, load_profile
from iosim.host.realpaths import (
    MSG_ZEROCOPY,
    RUSAGE_SENDER,
    SO_ZEROCOPY,
    ZC_BUFFERS,
    Bystanders,
    Completions,
    Iovec,
    congestion_controls,
    counters_delta,
    data_segments_out,
    ksoftirqd_pids,
    libc_vmsplice,
    loopback_peer,
    pinned,
    prepare_congestion,
    reap_child,
    receive_counters,
    retire_zerocopy,
    set_congestion,
    softirq_clock,
    source_file,
)

MIB = 1 << 20
MODEL_CONGESTION = "cubic"  # the model's TCP is CUBIC-like and unpaced: its costs under cubic
SKBS = "/skbs"  # a run's key suffix: the skbs (tcpi_data_segs_out) its transfer of a kind sent
BEHIND = "/behind"  # and the windows its receiver wanted closed (TCPWantZeroWindowAdv)
# lo's MSS for its 64 KiB MTU: the largest IPv4 packet (65535 B) less the IPv4 and TCP
# headers and the timestamps option, 65483 B, so a 64 KiB send() leaves a 53 B tail
LOOPBACK_MSS_BYTES = net.mss_bytes(64 * 1024)
MIN_TIME_S = 1e-9  # floor for a derived cost that the noise pushed to zero or below
BUSY_SHARE = 0.10  # other tasks' share of the machine above which calibrate warns
# The loopback transfers' CPU costs swing up to 2x from run to run on a 2-vCPU guest (where
# the receive softirq runs, whether the reader sleeps): their medians take 3x the repeats
# of the other measurements (about 10 s more here). Held against the same validation runs, the
# calibration, not the measurements, moved the ratio errors most (docs/model.md).
LOOPBACK_REPEATS_FACTOR = 3
F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)
TRAFFIC_BYTES_PER_COPIED_BYTE = 2  # a copy reads the source and writes the destination


@dataclass(frozen=True)
class Measurement:
    """One figure in base units of ``unit_kind``, and the figure of each repeat (``samples``).

    ``unit_kind`` is a profile kind: "time" (s), "rate" (bytes/s), "size" (bytes), "count".
    ``spread`` is (min, max) of the samples and the value.
    """

    value: float
    unit_kind: str
    spread: tuple[float, float]
    method: str
    samples: tuple[float, ...] = ()


def _median_of(runs: list[dict[str, float]], derive: Callable[[dict[str, float]], float],
               unit_kind: str, method: str) -> Measurement:
    """A figure that is a small difference of long loops, where timing jitter both ways
    outweighs interference: the median of the figure of each repeat."""
    samples = [derive(run) for run in runs]
    clamped = [MIN_TIME_S if unit_kind == "time" and v <= 0 else v for v in samples]
    if clamped != samples:
        method += f" (a value <= 0 was clamped to {MIN_TIME_S * 1e9:g} ns: below resolution)"
    value = statistics.median(clamped)
    return Measurement(value, unit_kind, (min(clamped), max(clamped)),
                       method + f"; median of {len(runs)} runs", tuple(clamped))


def _best_of(runs: list[dict[str, float]], derive: Callable[[dict[str, float]], float],
             unit_kind: str, method: str) -> Measurement:
    """A figure derived from timings that a busy host can only make longer.

    ``runs`` holds the raw timings of each repeat (seconds of wall or CPU time, lower is
    better); ``derive`` turns one set of them into the figure. The value is derived from the
    shortest of each timing over the repeats, so that another task's work in one repeat, even
    in only one of the loops a difference is taken of, does not leak into it; the figure of
    each repeat is kept as a sample, for the spread.
    """
    best = {key: min(run[key] for run in runs) for key in runs[0]}
    values = [derive(best), *(derive(run) for run in runs)]
    clamped = [MIN_TIME_S if unit_kind == "time" and v <= 0 else v for v in values]
    if clamped != values:
        method += f" (a value <= 0 was clamped to {MIN_TIME_S * 1e9:g} ns: below resolution)"
    method += f"; from the fastest of {len(runs)} runs of each timing"
    return Measurement(clamped[0], unit_kind, (min(clamped), max(clamped)), method,
                       tuple(clamped[1:]))


def _fixed(value: float, unit_kind: str, method: str) -> Measurement:
    return Measurement(value, unit_kind, (value, value), method, (value,))


def _loop_s(fn: Callable, args: tuple, calls: int) -> float:
    """Seconds per ``fn(*args)`` call, loop overhead included (it cancels in differences)."""
    start_ns = time.perf_counter_ns()
    for _ in range(calls):
        fn(*args)
    return (time.perf_counter_ns() - start_ns) / 1e9 / calls


# ---------------------------------------------------------------------------------------------
# Memory


COPY_CHUNK_BYTES = 64 * 1024  # the read size of the copy measurements (and of the paths)


def _pread_s(fd: int, view: memoryview, span_bytes: int, calls: int) -> float:
    """Seconds for ``calls`` preadv of ``len(view)`` bytes at successive 64 KiB offsets,
    cycling over the first ``span_bytes`` of the file."""
    buffers = [view]
    offset = 0
    start_ns = time.perf_counter_ns()
    for _ in range(calls):
        os.preadv(fd, buffers, offset)
        offset += COPY_CHUNK_BYTES
        if offset >= span_bytes:
            offset = 0
    return (time.perf_counter_ns() - start_ns) / 1e9


def copy_spans(largest_bytes: int) -> list[int]:
    """The spans the copy speed is measured over: 256 KiB up to ``largest_bytes``, steps of
    x2 with a x1.5 between (enough to place a cache edge within a third)."""
    spans, span = [], 256 * 1024
    while span <= largest_bytes:
        spans.append(span)
        if span * 3 // 2 <= largest_bytes:
            spans.append(span * 3 // 2)
        span *= 2
    return spans


def measure_copy_curve(source: str, file_bytes: int, repeats: int = 5,
                       min_total_bytes: int = 64 * MIB) -> dict[int, list[dict[str, float]]]:
    """The kernel's copy speed (copy_to_user) by working set: per span, the timings of each
    repeat (``copy``: seconds of the reads, ``base``: of as many 0-byte reads, ``bytes``).

    ``read()`` of a cached file into a 64 KiB buffer, minus the same number of 0-byte reads
    (the syscall and the interpreter), cycling over the file's first ``span`` bytes: these
    are the copies the paths make, unlike a user-space memcpy. Each span reads at least
    ``min_total_bytes`` and twice itself, after one pass to bring it in. Each repeat sweeps
    every span, so that a neighbour's busy spell slows some of every span's runs rather
    than every run of some spans.
    """
    view = memoryview(bytearray(COPY_CHUNK_BYTES))
    curve: dict[int, list[dict[str, float]]] = {s: [] for s in copy_spans(file_bytes)}
    fd = os.open(source, os.O_RDONLY)
    try:
        for _ in range(repeats):
            for span, runs in curve.items():
                total = max(min_total_bytes, 2 * span)
                calls = total // COPY_CHUNK_BYTES
                _pread_s(fd, view, span, span // COPY_CHUNK_BYTES)  # bring the span in
                runs.append({"copy": _pread_s(fd, view, span, calls),
                             "base": _pread_s(fd, view[:0], span, calls), "bytes": total})
    finally:
        os.close(fd)
    return curve


def _copy_rate(t: dict[str, float]) -> float:
    return t["bytes"] / max(MIN_TIME_S, t["copy"] - t["base"])


DRAM_MARGIN = 1.25  # a span whose copy beats the largest span's by this is served by a cache


def _cache_edge(speed: dict[int, float]) -> tuple[int, float]:
    """(last-level cache size, copy speed within it) from the copy speed by span.

    The largest span is DRAM; a first guess of the cache edge is the largest span still
    ``DRAM_MARGIN`` faster; the cache's speed is the median over spans of 1/16 to 1/4 of it
    (past any smaller cache, clear of the edge); the edge is then the largest span faster
    than the geometric mean of the two speeds (half way, on the log scale the speed drops on).
    """
    spans = sorted(speed)
    dram = speed[spans[-1]]
    fast = [s for s in spans if speed[s] >= DRAM_MARGIN * dram]
    if not fast:
        raise RuntimeError(f"copy speed did not drop from {units.format_size(spans[0])} to "
                           f"{units.format_size(spans[-1])}: no cache edge found")
    guess = fast[-1]
    inside = [speed[s] for s in spans if guess / 16 <= s <= guess / 4] or [speed[spans[0]]]
    cached = statistics.median(inside)
    threshold = math.sqrt(cached * dram)
    edge = max(s for s in spans if speed[s] >= threshold)
    return edge, cached


def measure_caches(source: str, file_bytes: int, repeats: int = 5,
                   min_total_bytes: int = 64 * MIB) -> dict[str, Measurement]:
    """Copy speed from DRAM and from the last-level cache, and that cache's size: all from
    where the measured copy speed drops (``measure_copy_curve``), not from sysfs, which in
    a VM tells the host's cache, not this guest's share of it.

    The figures come from the fastest of each timing of each span over the repeats (another
    task can only slow a copy down, or evict); each repeat's own figures give the spread.
    """
    timings = measure_copy_curve(source, file_bytes, repeats, min_total_bytes)
    spans = sorted(timings)
    curve = {s: [_copy_rate(t) for t in runs] for s, runs in timings.items()}
    best = {s: _copy_rate({k: min(t[k] for t in runs) for k in runs[0]})
            for s, runs in timings.items()}
    edge, cached = _cache_edge(best)
    per_repeat = []
    for i in range(repeats):
        with contextlib.suppress(RuntimeError):
            per_repeat.append(_cache_edge({s: rates[i] for s, rates in curve.items()}))
    shown = ", ".join(f"{units.format_size(s)} {best[s] / 1e9:.3g}" for s in spans)
    how = (f"read() of a cached file in {units.format_size(COPY_CHUNK_BYTES)} calls minus "
           f"0-byte reads, cycling over spans of it; fastest of {repeats} runs, GB/s by span: "
           f"{shown}")
    largest = spans[-1]
    dram = curve[largest]
    edges = [e for e, _ in per_repeat] or [edge]
    speeds = [c for _, c in per_repeat] or [cached]
    return {
        "cpu.copy_bandwidth": Measurement(
            best[largest], "rate", (min(*dram, best[largest]), max(*dram, best[largest])),
            f"copy speed over {units.format_size(largest)} (beyond the cache: from DRAM); "
            + how, tuple(dram)),
        "cpu.copy_bandwidth_cached": Measurement(
            cached, "rate", (min(*speeds, cached), max(*speeds, cached)),
            "median copy speed over spans of 1/16 to 1/4 of the cache (from the last-level "
            "cache)", tuple(speeds)),
        "cpu.cache_size": Measurement(
            edge, "size", (min(*edges, edge), max(*edges, edge)),
            f"the largest span copied faster than sqrt(cached x DRAM speed) (the last-level "
            f"cache, as copies see it); {how}", tuple(edges)),
        "host.copy_bandwidth_hot": Measurement(
            best[spans[0]], "rate", (min(*curve[spans[0]], best[spans[0]]),
                                     max(*curve[spans[0]], best[spans[0]])),
            f"copy speed over {units.format_size(spans[0])} (a buffer that stays in the "
            "core's own caches)", tuple(curve[spans[0]])),
    }


def _read_exact(fd: int, count: int, timeout_s: float) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout_s
    while len(data) < count:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise TimeoutError("calibration child did not answer")
        chunk = os.read(fd, count - len(data))
        if not chunk:
            raise RuntimeError("calibration child exited early")
        data += chunk
    return data


_SPAN = struct.Struct("<qq")  # start_ns, end_ns on CLOCK_MONOTONIC, shared by all processes


def _copy_child(go_fd: int, result_fd: int, size_bytes: int, copies: int) -> None:
    src = bytearray(size_bytes)
    dst = bytearray(size_bytes)
    dst[:] = src
    os.write(result_fd, b"r")
    while os.read(go_fd, 1):
        start_ns = time.perf_counter_ns()
        for _ in range(copies):
            dst[:] = src
        os.write(result_fd, _SPAN.pack(start_ns, time.perf_counter_ns()))


def measure_membus_bandwidth(repeats: int = 5, size_bytes: int = 128 * MIB,
                             processes: int = 2, copies: int = 2) -> Measurement:
    """Memory-bus bandwidth estimate from parallel copies in ``processes`` forked children.

    Aggregate copy rate x 2 bytes of bus traffic per byte copied (read + write; write-allocate
    reads are ignored, and a few cores rarely saturate DRAM): a lower bound.
    """
    processes = max(1, min(processes, len(os.sched_getaffinity(0))))
    children: list[tuple[int, int, int]] = []  # pid, go write end, result read end
    try:
        for _ in range(processes):
            go_r, go_w = os.pipe()
            res_r, res_w = os.pipe()
            try:
                pid = os.fork()
            except OSError:
                for fd in (go_r, go_w, res_r, res_w):
                    os.close(fd)
                raise
            if pid == 0:
                code = 1
                try:
                    os.close(go_w)
                    os.close(res_r)
                    _copy_child(go_r, res_w, size_bytes, copies)
                    code = 0
                finally:  # the child never returns into the caller, whatever happened
                    os._exit(code)
            os.close(go_r)
            os.close(res_w)
            children.append((pid, go_w, res_r))
        for _, _, res_r in children:
            _read_exact(res_r, 1, 30.0)
        runs = []
        for _ in range(repeats):
            for _, go_w, _ in children:
                os.write(go_w, b"g")
            spans = [_SPAN.unpack(_read_exact(res_r, _SPAN.size, 30.0))
                     for _, _, res_r in children]
            runs.append({"elapsed": (max(e for _, e in spans) - min(s for s, _ in spans))
                         / 1e9})
    finally:
        for _pid, go_w, res_r in children:
            os.close(go_w)  # EOF: the child leaves its loop
            os.close(res_r)
        for pid, _, _ in children:
            reap_child(pid, grace_s=2.0)
    traffic_bytes = processes * copies * size_bytes * TRAFFIC_BYTES_PER_COPIED_BYTE
    return _best_of(runs, lambda t: traffic_bytes / t["elapsed"], "rate",
                    f"{processes} processes copying {units.format_size(size_bytes)} at once, "
                    f"aggregate x {TRAFFIC_BYTES_PER_COPIED_BYTE} bytes of traffic per byte "
                    "copied (lower bound)")


def measure_page_fault(source: str, size_bytes: int, repeats: int = 5
                       ) -> dict[str, Measurement]:
    """A minor fault on a cached file page, and how many pages one fault maps.

    Read one byte per page of a fresh shared mapping of a cached file, as mmap+write does;
    ``ru_minflt`` counts the faults. Fault-around maps cached pages next to the one faulted
    (``fault_around_bytes``, or a whole large folio), so the pages per fault, rounded to a
    power of two, is ``kernel.fault_around`` and the time per fault includes that mapping.
    """
    page = mmap.PAGESIZE
    fd = os.open(source, os.O_RDONLY)
    runs, pages_per_fault = [], []
    try:
        for _ in range(repeats):
            with mmap.mmap(fd, size_bytes, prot=mmap.PROT_READ) as mapped:
                faults_before = resource.getrusage(RUSAGE_SENDER).ru_minflt
                start_ns = time.perf_counter_ns()
                for offset in range(0, size_bytes, page):
                    mapped[offset]
                fault_ns = time.perf_counter_ns() - start_ns
                faults = max(1, resource.getrusage(RUSAGE_SENDER).ru_minflt - faults_before)
                start_ns = time.perf_counter_ns()
                for offset in range(0, size_bytes, page):  # same loop, pages now mapped
                    mapped[offset]
                base_ns = time.perf_counter_ns() - start_ns
            runs.append({"fault": fault_ns / 1e9, "base": base_ns / 1e9})
            pages_per_fault.append(size_bytes // page / faults)
    finally:
        os.close(fd)
    per_fault = statistics.median(pages_per_fault)
    pages = 2 ** max(0, round(math.log2(per_fault)))
    faults = size_bytes // page / per_fault
    touched = (f"read-touch each page of a fresh shared mmap of a cached "
               f"{units.format_size(size_bytes)} file")
    return {
        "cpu.page_fault": _best_of(runs, lambda t: (t["fault"] - t["base"]) / faults, "time",
                                   touched + ", minus the same loop on mapped pages, / "
                                   "ru_minflt"),
        "kernel.fault_around": Measurement(
            pages * page, "size", (pages * page, pages * page),
            touched + f": {statistics.median(pages_per_fault):.3g} pages per fault (median; "
            f"spread {min(pages_per_fault):.3g} .. {max(pages_per_fault):.3g}), rounded to a "
            "power of two", (pages * page,)),
    }


# ---------------------------------------------------------------------------------------------
# Syscalls


@dataclass(frozen=True)
class SyscallCosts:
    """The three costs that are measured together because they are derived from each other."""

    null_syscall: Measurement
    data_syscall: Measurement
    pipe_op: Measurement | None  # None without os.splice


def measure_syscalls(repeats: int = 5, calls: int = 200_000) -> SyscallCosts:
    """Null syscall, a data syscall's fixed work, and one pipe_buffer move.

    - null: ``os.getppid()`` minus ``sys.getrecursionlimit()`` (both: no arguments, return a
      new int); the kernel work is entry + exit, i.e. two mode switches.
    - data syscall: 1-byte ``os.write`` to /dev/null minus ``operator.is_`` with the same two
      arguments, minus the null syscall: fd lookup, ``vfs_write`` checks, fsnotify.
    - pipe op: ``splice`` of one page between two pipes minus ``splice`` of 0 bytes (the
      kernel returns at once: a null syscall with identical Python work), minus the data
      syscall's fixed work, / 2 (the page leaves one pipe and enters the other).
    """
    page = mmap.PAGESIZE
    runs = []
    devnull = os.open(os.devnull, os.O_WRONLY)
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    try:
        os.write(w1, b"p" * page)
        for _ in range(repeats):
            run = {"base0": _loop_s(sys.getrecursionlimit, (), calls),
                   "getppid": _loop_s(os.getppid, (), calls),
                   "base2": _loop_s(operator.is_, (devnull, b"x"), calls),
                   "write": _loop_s(os.write, (devnull, b"x"), calls)}
            if hasattr(os, "splice"):
                run["splice_zero"] = _loop_s(os.splice, (r1, w2, 0), calls)
                start_ns = time.perf_counter_ns()
                for _ in range(calls // 2):  # the page goes back and forth: 2 splices a turn
                    os.splice(r1, w2, page)
                    os.splice(r2, w1, page)
                run["splice_page"] = (time.perf_counter_ns() - start_ns) / 1e9 / (calls // 2 * 2)
            runs.append(run)
    finally:
        for fd in (devnull, r1, w1, r2, w2):
            os.close(fd)

    def null(t: dict[str, float]) -> float:
        return t["getppid"] - t["base0"]

    def data(t: dict[str, float]) -> float:
        return t["write"] - t["base2"] - null(t)

    pipe = (_median_of(runs, lambda t: (t["splice_page"] - t["splice_zero"] - data(t)) / 2,
                     "time", "splice of one page pipe->pipe minus splice of 0 bytes, minus the "
                     "data syscall, / 2") if hasattr(os, "splice") else None)
    return SyscallCosts(
        _median_of(runs, null, "time", "os.getppid() loop minus a no-syscall builtin loop"),
        _median_of(runs, data, "time", "1-byte os.write to /dev/null minus a 2-argument "
                   "builtin, minus the null syscall"),
        pipe)


def measure_page_pin(pipe_op_s: float, repeats: int = 5, calls: int = 20_000
                     ) -> Measurement | None:
    """Taking a reference on one user page for the kernel (``cpu.page_pin``), as vmsplice
    does (``fs/splice.c:vmsplice_to_pipe`` -> ``iov_iter_get_pages2``): vmsplice() of a
    mapped 64 KiB buffer into a pipe, then splice() of the pipe to /dev/null (each page's
    reference dropped, ``splice_write_null``), minus the same two calls moving nothing (the
    syscalls and the Python around them), per page, minus its two pipe_buffer moves. None
    where libc has no vmsplice or os has no splice."""
    vmsplice = libc_vmsplice()
    if vmsplice is None or not hasattr(os, "splice"):
        return None
    page = mmap.PAGESIZE
    nbytes = 16 * page  # a default pipe's 16 slots
    buffer = mmap.mmap(-1, nbytes)
    buffer.write(b"v" * nbytes)  # mapped and written: no fault in the loop
    cell = (ctypes.c_char * nbytes).from_buffer(buffer)
    iov = Iovec(ctypes.addressof(cell), nbytes)
    empty = Iovec(ctypes.addressof(cell), 0)
    pipe_r, pipe_w = os.pipe()
    devnull = os.open(os.devnull, os.O_WRONLY)

    def moving(which: Iovec, count: int) -> float:
        ref = ctypes.byref(which)
        start_ns = time.perf_counter_ns()
        for _ in range(calls):
            if vmsplice(pipe_w, ref, 1, 0) != count:
                raise OSError(ctypes.get_errno(), "vmsplice moved less than asked")
            os.splice(pipe_r, devnull, count) if count else os.splice(pipe_r, devnull, 0)
        return (time.perf_counter_ns() - start_ns) / 1e9 / calls

    runs = []
    try:
        for _ in range(repeats):
            runs.append({"pages": moving(iov, nbytes), "none": moving(empty, 0)})
    finally:
        os.close(devnull)
        os.close(pipe_r)
        os.close(pipe_w)
        del cell
        buffer.close()
    return _median_of(runs, lambda t: (t["pages"] - t["none"]) / 16 - 2 * pipe_op_s, "time",
                      "vmsplice() of a mapped 64 KiB buffer into a pipe and splice() of it "
                      "to /dev/null, minus the same calls moving nothing, per page, minus two "
                      "pipe ops")


def _pingpong_child(read_fd: int, write_fd: int, cpu: int) -> None:
    os.sched_setaffinity(0, {cpu})
    while byte := os.read(read_fd, 1):
        os.write(write_fd, byte)


def measure_context_switch(repeats: int = 5, round_trips: int = 20_000,
                           child_cpu: int | None = None) -> Measurement:
    """One switch between two tasks: a pipe ping-pong with a forked child on the same CPU.

    A round trip is 2 switches plus 2 pipe writes and 2 pipe reads; the writes and reads are
    timed separately in one process (1-byte write then read, data always there) and removed,
    so the switch includes the wakeup but not the syscalls. With ``child_cpu`` the child
    runs on that other CPU: then each half is a cross-CPU wake-up (an IPI, which a VM
    exits for, and the idle CPU waking), in wall time.
    """
    cpu = min(os.sched_getaffinity(0))
    child = cpu if child_cpu is None else child_cpu
    saved_affinity = os.sched_getaffinity(0)
    to_child_r, to_child_w = os.pipe()
    to_parent_r, to_parent_w = os.pipe()
    pair_r, pair_w = os.pipe()
    pid = 0
    runs = []
    try:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(to_child_w)
                os.close(to_parent_r)
                _pingpong_child(to_child_r, to_parent_w, child)
                code = 0
            finally:  # the child never returns into the caller, whatever happened
                os._exit(code)
        os.close(to_child_r)
        os.close(to_parent_w)
        to_child_r = to_parent_w = -1
        os.sched_setaffinity(0, {cpu})
        write, read = os.write, os.read
        for _ in range(repeats):
            start_ns = time.perf_counter_ns()
            for _ in range(round_trips):
                write(pair_w, b"x")
                read(pair_r, 1)
            pair_s = (time.perf_counter_ns() - start_ns) / 1e9 / round_trips
            start_ns = time.perf_counter_ns()
            for _ in range(round_trips):
                write(to_child_w, b"x")
                if not read(to_parent_r, 1):
                    raise RuntimeError("context-switch child exited early")
            round_trip_s = (time.perf_counter_ns() - start_ns) / 1e9 / round_trips
            runs.append({"pair": pair_s, "round_trip": round_trip_s})
    finally:
        os.sched_setaffinity(0, saved_affinity)
        for fd in (to_child_r, to_child_w, to_parent_r, to_parent_w, pair_r, pair_w):
            if fd >= 0:
                os.close(fd)
        if pid:
            reap_child(pid, grace_s=2.0)
    where = "the same CPU" if child == cpu else f"CPU {child} (this one on CPU {cpu})"
    return _median_of(runs, lambda t: t["round_trip"] / 2 - t["pair"], "time",
                      f"pipe ping-pong with a forked child pinned to {where}: round trip / 2 "
                      "minus one pipe write+read")


# ---------------------------------------------------------------------------------------------
# Loopback TCP


def _tcp_send_run(total_bytes: int, chunk_bytes: int) -> tuple[float, float, int]:
    """Send ``total_bytes`` from memory in ``chunk_bytes`` sends to a draining child.

    Returns wall seconds (until the child has everything), sender + receiver CPU seconds,
    and the number of send calls.
    """
    view = memoryview(bytearray(chunk_bytes))
    with loopback_peer("drain") as peer:
        send = peer.sock.send
        calls, sent = 0, 0
        before = resource.getrusage(RUSAGE_SENDER)
        start_ns = time.perf_counter_ns()
        while sent < total_bytes:
            sent += send(view[:min(chunk_bytes, total_bytes - sent)])
            calls += 1
        report = peer.finish()
        wall_s = (time.perf_counter_ns() - start_ns) / 1e9
        after = resource.getrusage(RUSAGE_SENDER)
    if report.received_bytes != total_bytes:
        raise RuntimeError("loopback receiver lost data")
    sender_cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall_s, sender_cpu_s + report.cpu_s, calls


def measure_loopback_tcp(repeats: int = 5, size_bytes: int = 256 * MIB,
                         small_size_bytes: int = 32 * MIB, big_chunk_bytes: int = 64 * 1024,
                         small_chunk_bytes: int = 1024) -> dict[str, Measurement]:
    """Loopback TCP throughput, and its CPU cost split into per-call and per-byte parts.

    Two runs per repeat, with large and with small sends; sender + receiver CPU time is
    fitted to ``calls x per_call + bytes x per_byte`` (two equations, two unknowns).
    """
    runs = []
    for _ in range(repeats):
        wall_s, cpu1_s, calls1 = _tcp_send_run(size_bytes, big_chunk_bytes)
        _, cpu2_s, calls2 = _tcp_send_run(small_size_bytes, small_chunk_bytes)
        runs.append({"wall": wall_s, "cpu1": cpu1_s, "cpu2": cpu2_s})

    def per_call(t: dict[str, float]) -> float:
        return ((t["cpu2"] * size_bytes - t["cpu1"] * small_size_bytes)
                / (calls2 * size_bytes - calls1 * small_size_bytes))

    big, small = units.format_size(big_chunk_bytes), units.format_size(small_chunk_bytes)
    return {
        "rate": _best_of(runs, lambda t: size_bytes / t["wall"], "rate",
                         f"{units.format_size(size_bytes)} in {big} sends over 127.0.0.1 to a "
                         "draining child, until it has all"),
        "per_call": _best_of(runs, per_call, "time", f"sender+receiver CPU of {big} vs {small} "
                             "sends, fitted per send() call"),
        "per_byte": _best_of(runs, lambda t: (t["cpu1"] - calls1 * per_call(t)) / size_bytes,
                             "time", f"sender+receiver CPU of {big} vs {small} sends, fitted "
                             "per byte"),
    }


def _buffer_sender(buffer: memoryview, total_bytes: int) -> Callable[[socket.socket], int]:
    """A send loop: ``total_bytes`` in ``send()`` calls of one buffer; it returns its calls."""
    def send_loop(sock: socket.socket) -> int:
        calls, sent = 0, 0
        while sent < total_bytes:
            sent += sock.send(buffer[:min(len(buffer), total_bytes - sent)])
            calls += 1
        return calls
    return send_loop


@dataclass(frozen=True)
class _PairCpu:
    """CPU seconds of one pinned loopback transfer: sender, receiver, deferred softirq (on
    both their CPUs), the receiver's wake-ups, and the skbs the sender's TCP sent
    (``tcpi_data_segs_out``; on loopback one segment per skb), which need not be one per
    call: a 64 KiB ``send()`` is a full 65,483-byte skb and a 53-byte tail that leaves on
    its own unless Nagle holds it (``net/ipv4/tcp_output.c:tcp_nagle_check``)."""

    sender_s: float
    receiver_s: float
    softirq_s: float
    calls: int
    wakeups: int = 0
    segments: int = 0
    disturbed: bool = False  # others and the hypervisor took over BUSY_SHARE of its wall
    behind: int | None = None  # windows the receiver wanted closed: it was a buffer behind

    @property
    def total_s(self) -> float:
        return self.sender_s + self.receiver_s + self.softirq_s


def _pinned_transfer(cpu: int, total_bytes: int, send_loop: Callable[[socket.socket], int],
                     receiver_cpu: int | None = None, congestion: str | None = None
                     ) -> _PairCpu:
    """Run ``send_loop(sock)`` (it returns its syscalls) against a draining child, the
    sender on ``cpu`` and the receiver on ``receiver_cpu`` (the same by default), under
    congestion controller ``congestion`` (None: the host's default), and measure who spent
    what."""
    receiver_cpu = cpu if receiver_cpu is None else receiver_cpu
    clocks = [softirq_clock(c) for c in {cpu, receiver_cpu}]
    everywhere = set(range(os.cpu_count() or 1))
    with loopback_peer("drain", cpu=receiver_cpu) as peer, pinned(cpu):
        if congestion is not None:
            set_congestion(peer.sock, congestion)
        bystanders = Bystanders(everywhere, {peer.pid} | ksoftirqd_pids(everywhere))
        softirq_before = sum(clock() for clock in clocks)
        counters_before = receive_counters()
        before = resource.getrusage(RUSAGE_SENDER)
        start_s = time.monotonic()
        calls = send_loop(peer.sock)
        report = peer.finish()
        after = resource.getrusage(RUSAGE_SENDER)
        softirq_s = sum(clock() for clock in clocks) - softirq_before
        wall_s = time.monotonic() - start_s
        others_s, steal_s = bystanders.measure(wall_s)
        segments = data_segments_out(peer.sock)  # the receiver has every byte: all sent
        counters = counters_delta(counters_before, receive_counters())
    if report.received_bytes != total_bytes:
        raise RuntimeError("loopback receiver lost data")
    sender_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return _PairCpu(sender_s, report.cpu_s, softirq_s, calls,
                    report.voluntary_context_switches,
                    calls if segments is None else segments,
                    others_s + steal_s > BUSY_SHARE * wall_s,
                    None if counters is None else counters["zero_window_wanted"])


def measure_loopback_costs(cpu: int, syscall_s: float, copy_cached_bytes_per_s: float,
                           pipe_op_s: float, repeats: int = 5, total_bytes: int = 256 * MIB,
                           chunk_bytes: int = 64 * 1024, source: str | None = None,
                           copy_bytes_per_s: float | None = None,
                           cached_region_bytes: int = 0, other_cpu: int | None = None,
                           congestion: str | None = None, page_pin_s: float | None = None,
                           max_rounds: int | None = None, tails: bool = True
                           ) -> dict[str, Measurement]:
    """The TCP costs of a loopback pair: per sk_buff, per page-cache frag, and of
    MSG_ZEROCOPY per page; and how the work splits between sender and receiver.

    Transfers of ``total_bytes`` per repeat, sender and draining receiver pinned to ``cpu``
    (as ``iosim validate``'s ``same`` placement runs them); the CPU of the sender, the
    receiver and ksoftirqd together is what each transfer cost, per call of
    ``chunk_bytes``: "per skb" is per such call, one skb in the model. The kernel's own
    count (``tcpi_data_segs_out``) is recorded as ``host.tcp_skbs_*``: a 64 KiB ``send()``
    is a 65,483-byte skb and a 53-byte tail, which leaves on its own unless Nagle holds it,
    so the kernel sends up to two per call (what such a tail costs: the ``whole`` pair
    below). Copies are subtracted at the speed the model gives them (a buffer or an skb just
    written: ``copy_cached_bytes_per_s``; a file beyond the cache: ``copy_bytes_per_s``):

    - ``send()`` of one 64 KiB buffer (linear skbs): all CPU minus the syscalls and the two
      copies (the sender's in, the receiver's out) is ``per_skb + rx_skb``, split by the
      share the sender's own CPU had. This sender outruns its receiver, which then takes
      skbs from the socket backlog (a few wake-ups per transfer);
    - the same with the sender pausing after each send (twice the first transfer's work
      per skb, spent in user space and subtracted from its CPU time): the receiver keeps up
      and is woken for each skb, and what the pair spent beyond syscalls and copies, per
      skb, minus ``per_skb``, is ``host.rx_skb_woken`` (the model has one receive cost per
      skb, the backlog one: this is the evidence for a second);
    - with ``tails``, its twin of calls of one MSS (no tail), paused alike: the first costs
      beyond the second, per call, over its extra skbs per call, is ``cpu.tail_skb``
      (``_tail_skb``; with ``other_cpu``, the pair again for ``cpu.split_tail_skb``);
    - ``sendfile()`` of the real file ``source`` (larger than the cache, as validate's
      large files are: cold pages and struct pages), asking for the rest of it: what it cost
      beyond syscalls, pipe ops, per-skb costs and the receiver's copy from DRAM, per 4 KiB
      frag, is ``cpu.rx_frag``. The same of one hot 64 KiB region, again and again (what
      calibrate used to do), and of a region of ``cached_region_bytes`` (in the cache) are
      ``host.rx_frag_hot`` and ``host.rx_frag_cached``: how much of the cost is cache misses;
    - ``send(MSG_ZEROCOPY)`` of one 64 KiB buffer (completions reaped as the paths do, 8
      sends in flight): beyond syscalls, per-skb costs and the two copies (loopback copies
      the pinned pages before delivery), per page, is ``cpu.page_pin``. It includes the
      completion of each send: a per-send part did not separate (sends of 256 KiB cost more
      per page, not less), so ``cpu.notification`` is written as 1 ns.

    Every socket uses ``congestion`` (None: the host's default): the model's TCP is CUBIC
    without pacing, so its costs are measured under ``cubic``; what a pacing controller
    (BBR) adds per skb is ``measure_per_skb``'s to tell.

    With ``other_cpu``, the linear and file transfers run again with the receiver there
    (``split``): the sender's share of the TCP work and its total per skb in each placement
    (``host.tcp_sender_share_*``, ``host.tcp_per_skb_*``) say where the kernel runs the
    loopback receive softirq, and split by that share, each kind's work per skb is the
    sender's and the receiver's of the model's split placement (``cpu.split_tx_skb``,
    ``split_rx_skb``, ``split_tx_paged_skb``, ``split_rx_paged_skb``; ``nic.loopback_split``).

    ``syscall_s`` is a syscall's kernel cost (two mode switches and the fixed work). These
    are CPU times, which vary from run to run with how the receiver batches its reads: each
    figure is the median over the repeats. Another task or the hypervisor changes them too
    (the cache, the bus, timer and wake-up exits): a round in which they took more than
    ``BUSY_SHARE`` of any transfer's wall time is left out and run again, up to
    ``max_rounds`` rounds (default twice ``repeats``; ``host.loopback_rounds`` says how many
    ran).
    """
    page = mmap.PAGESIZE
    skbs = -(-total_bytes // chunk_bytes)
    frags = total_bytes // page
    copy_s = total_bytes / copy_cached_bytes_per_s
    cold_copy_s = total_bytes / (copy_bytes_per_s or copy_cached_bytes_per_s)
    buffer = memoryview(bytearray(chunk_bytes))

    send_loop = _buffer_sender(buffer, total_bytes)

    def zerocopy_loop(sock: socket.socket) -> int:
        sock.setsockopt(socket.SOL_SOCKET, SO_ZEROCOPY, 1)
        state = Completions()
        in_flight: list[int] = []
        calls, sent = 0, 0
        while sent < total_bytes:
            if len(in_flight) == ZC_BUFFERS:
                calls += retire_zerocopy(sock, state, [in_flight.pop(0)])
            sent += sock.send(buffer[:min(chunk_bytes, total_bytes - sent)], MSG_ZEROCOPY)
            calls += 1
            in_flight.append(state.sends)
            state.sends += 1
        return calls + retire_zerocopy(sock, state, in_flight)

    def region_loop(fd: int, region_bytes: int) -> Callable[[socket.socket], int]:
        def loop(sock: socket.socket) -> int:
            out_fd, calls, sent = sock.fileno(), 0, 0
            while sent < total_bytes:
                offset = sent % region_bytes
                sent += os.sendfile(out_fd, fd, offset,
                                    min(chunk_bytes, total_bytes - sent, region_bytes - offset))
                calls += 1
            return calls
        return loop

    def file_loop(fd: int) -> Callable[[socket.socket], int]:
        def loop(sock: socket.socket) -> int:  # the rest of the file each call, as paths do
            out_fd, calls, sent = sock.fileno(), 0, 0
            while sent < total_bytes:
                sent += os.sendfile(out_fd, fd, sent, total_bytes - sent)
                calls += 1
            return calls
        return loop

    pause = {"s": 0.0, "spent_s": 0.0}  # the woken loop's pause, and the CPU it took

    def paused(send_bytes: int) -> Callable[[socket.socket], int]:
        def loop(sock: socket.socket) -> int:
            calls, sent = 0, 0
            while sent < total_bytes:
                sent += sock.send(buffer[:min(send_bytes, total_bytes - sent)])
                calls += 1
                before_s, until = time.thread_time(), time.perf_counter() + pause["s"]
                while time.perf_counter() < until:
                    pass
                pause["spent_s"] += time.thread_time() - before_s
            return calls
        return loop

    whole_bytes = min(chunk_bytes, LOOPBACK_MSS_BYTES)  # one full skb a call, no tail

    runs: list[dict[str, float]] = []
    calls: dict[str, list[int]] = {}
    shares: dict[str, list[float]] = {}
    wakeups: list[float] = []
    with contextlib.ExitStack() as stack:
        region = stack.enter_context(source_file(chunk_bytes))
        fds = []
        for name in (region, source):
            if name is not None:
                fds.append(os.open(name, os.O_RDONLY))
                stack.callback(os.close, fds[-1])
        loops: dict[str, tuple[Callable[[socket.socket], int], int | None]] = {
            "linear": (send_loop, None), "woken": (paused(chunk_bytes), None),
            "hot": (region_loop(fds[0], chunk_bytes), None)}
        if source is not None:
            loops["paged"] = (file_loop(fds[1]), None)
            if cached_region_bytes >= chunk_bytes:
                loops["cached"] = (region_loop(fds[1], cached_region_bytes), None)
        if _zerocopy_allowed():
            loops["zerocopy"] = (zerocopy_loop, None)
        if tails:  # the woken transfer's twin of MSS-sized calls: what a tail skb costs
            loops["whole"] = (paused(whole_bytes), None)
        if other_cpu is not None:
            loops["linear_split"] = (send_loop, other_cpu)
            if tails:
                loops["woken_split"] = (paused(chunk_bytes), other_cpu)
                loops["whole_split"] = (paused(whole_bytes), other_cpu)
            if source is not None:
                loops["paged_split"] = (file_loop(fds[1]), other_cpu)
        rounds: list[tuple[bool, dict, dict, dict, list]] = []
        most = 2 * repeats if max_rounds is None else max(max_rounds, repeats)
        while sum(1 for r in rounds if not r[0]) < repeats and len(rounds) < most:
            run: dict[str, float] = {}
            r_calls: dict[str, int] = {}
            r_shares: dict[str, float] = {}
            r_wakeups: list[float] = []
            disturbed = False
            for kind, (loop, receiver_cpu) in loops.items():
                pause["spent_s"] = 0.0
                used = _pinned_transfer(cpu, total_bytes, loop, receiver_cpu, congestion)
                disturbed |= used.disturbed
                run[kind] = used.total_s - pause["spent_s"]
                run[kind + SKBS] = used.segments
                run[kind + BEHIND] = -1 if used.behind is None else used.behind
                if kind == "linear":  # the woken loop pauses twice this transfer's work/skb
                    pause["s"] = max(20e-6, 2 * (used.total_s - used.calls * syscall_s
                                                 - 2 * copy_s) / skbs)
                elif kind == "woken":
                    r_wakeups.append(used.wakeups / skbs)
                r_calls[kind] = used.calls
                base = used.calls * syscall_s
                if kind.startswith("linear"):
                    work = used.total_s - base - 2 * copy_s
                    r_shares[kind] = (used.sender_s - base - copy_s) / work
                elif kind.startswith("paged"):  # the sender copies nothing
                    work = used.total_s - base - 2 * frags * pipe_op_s - cold_copy_s
                    r_shares[kind] = (used.sender_s - base - 2 * frags * pipe_op_s) / work
                elif kind == "woken":  # the sender's own work, its pause taken out
                    work = run[kind] - base - 2 * copy_s
                    r_shares[kind] = (used.sender_s - pause["spent_s"] - base - copy_s) / work
            rounds.append((disturbed, run, r_calls, r_shares, r_wakeups))
        disturbed_rounds = sum(1 for r in rounds if r[0])
        clean = [r for r in rounds if not r[0]] or rounds  # all disturbed: what there is
        for _, run, r_calls, r_shares, r_wakeups in clean:
            runs.append(run)
            wakeups.extend(r_wakeups)
            for kind, n in r_calls.items():
                calls.setdefault(kind, []).append(n)
            for kind, v in r_shares.items():
                shares.setdefault(kind, []).append(v)
    call = {kind: statistics.median(n) for kind, n in calls.items()}
    rounds_run = _fixed(len(rounds), "count", (
        f"rounds of the loopback transfers run, {disturbed_rounds} disturbed (other tasks or "
        f"the hypervisor took more than {BUSY_SHARE:.0%} of a transfer's wall time): "
        + ("left out" if len(runs) < len(rounds) else
           "kept, none was clean" if disturbed_rounds else "none")))
    share = min(1.0, max(0.0, statistics.median(shares["linear"])))

    def skb_s(t: dict[str, float], kind: str = "linear") -> float:  # per_skb + rx_skb
        return (t[kind] - call[kind] * syscall_s - 2 * copy_s) / skbs

    def frag_s(kind: str, copy: float) -> Callable[[dict[str, float]], float]:
        return lambda t: (t[kind] - call[kind] * syscall_s - 2 * frags * pipe_op_s
                          - skbs * skb_s(t) - copy) / frags

    def page_pin(t: dict[str, float]) -> float:
        return (t["zerocopy"] - call["zerocopy"] * syscall_s - 2 * copy_s
                - skbs * skb_s(t)) / frags

    both = (f"{units.format_size(total_bytes)} over 127.0.0.1 in "
            f"{units.format_size(chunk_bytes)} calls, sender and receiver on CPU {cpu}, "
            f"{congestion or 'default'} congestion control")
    beyond = "all CPU beyond syscalls, pipe ops, per-skb costs and the copy, per 4 KiB frag"
    found = {
        "cpu.per_skb": _median_of(runs, lambda t: share * skb_s(t), "time",
                                  f"send() of {both}: all CPU (ksoftirqd/{cpu} included) "
                                  f"minus syscalls and copies, per skb, x the sender's share "
                                  f"({share:.0%})"),
        "cpu.rx_skb": _median_of(runs, lambda t: (1 - share) * skb_s(t), "time",
                                 f"send() of {both}: all CPU minus syscalls and copies, per "
                                 f"skb, x the receiver's and ksoftirqd's share "
                                 f"({1 - share:.0%}); the receiver behind, on its backlog"),
        "host.rx_skb_woken": _median_of(
            runs, lambda t: skb_s(t, "woken") - share * skb_s(t), "time",
            f"send() of {both}, pausing after each send in user space (its CPU subtracted): "
            f"all CPU minus syscalls and copies, per skb, minus cpu.per_skb; the receiver "
            f"kept up, woken for {statistics.median(wakeups):.0%} of the skbs (median)"),
        "host.rx_frag_hot": _median_of(
            runs, frag_s("hot", copy_s), "time",
            f"sendfile() of one cached 64 KiB region again and again, {both}: {beyond} (from "
            "the cache)"),
        "host.tcp_sender_share_linear_same": _share(shares["linear"], "send() of " + both),
        "host.tcp_sender_share_woken_same": _share(shares["woken"], "send() of " + both
                                                   + ", pausing after each send"),
    }
    woken_share = min(1.0, max(0.0, statistics.median(shares["woken"])))
    found["cpu.rx_input"] = _median_of(
        runs, lambda t: min(max(woken_share * skb_s(t, "woken") - share * skb_s(t), 0.0),
                            (1 - share) * skb_s(t)), "time",
        f"send() of {both}, pausing after each send so that the receiver sleeps when the "
        f"next skb comes: the sender's work per skb ({woken_share:.0%} of it) minus "
        "cpu.per_skb, its TCP input in softirq (tcp_v4_rcv finds the socket not owned), at "
        "most cpu.rx_skb")
    paused_calls = (f"pausing after each send (the receiver woken for each), in 64 KiB "
                    f"calls and in calls of one MSS ({whole_bytes} B)")
    tail = _tail_skb(runs, call, ("woken", "whole"), syscall_s, copy_s,
                     found["cpu.per_skb"].value + found["cpu.rx_skb"].value,
                     f"send() of {both}, {paused_calls}") if "whole" in call else None
    if tail is not None:
        found["cpu.tail_skb"] = tail
    if "paged" in call:
        found["cpu.rx_frag"] = _median_of(
            runs, frag_s("paged", cold_copy_s), "time",
            f"sendfile() of a cached file beyond the cache (the rest of it each call, as the "
            f"paths do), {both}: {beyond} (from DRAM)")
        found["host.tcp_sender_share_paged_same"] = _share(shares["paged"],
                                                           "sendfile() of " + both)
    else:  # no real file: the hot region is all there is
        found["cpu.rx_frag"] = found["host.rx_frag_hot"]
    if "cached" in call:
        found["host.rx_frag_cached"] = _median_of(
            runs, frag_s("cached", copy_s), "time",
            f"sendfile() of a {units.format_size(cached_region_bytes)} region of a cached "
            f"file again and again (within the cache), {both}: {beyond} (from the cache)")
    if "zerocopy" in call:  # (SO_ZEROCOPY refused: these stay the base profile's)
        found["cpu.page_pin"] = _median_of(
            runs, page_pin, "time", f"send(MSG_ZEROCOPY) of {both}: all CPU beyond syscalls, "
            "per-skb costs and the two copies, per page (pin, unpin, the page loopback copies "
            "it into, and the send's completion)")
        found["cpu.notification"] = _fixed(
            MIN_TIME_S, "time", "not separable on this host: included in cpu.page_pin (a "
            "per-send part of the MSG_ZEROCOPY cost came out at or below zero)")
    if "zerocopy" in call and page_pin_s is not None:  # the pin alone is vmsplice's
        loopback = found.pop("cpu.page_pin")
        found["host.zerocopy_page_loopback"] = loopback
        found["cpu.orphan_page"] = _median_of(
            runs, lambda t: page_pin(t) - page_pin_s, "time",
            f"{loopback.method}, minus cpu.page_pin (vmsplice's reference alone): "
            "skb_copy_ubufs' page for the copy before local delivery, and the completion")
        found["cpu.notification"] = _fixed(
            MIN_TIME_S, "time", "not separable on this host: included in cpu.orphan_page (a "
            "per-send part of the MSG_ZEROCOPY cost came out at or below zero)")
    split = f"receiver on CPU {other_cpu} instead"
    for kind in ("linear_split", "paged_split"):
        if kind in call:
            found[f"host.tcp_sender_share_{kind}"] = _share(shares[kind], f"{kind}: {split}")

    def paged_skb_s(t: dict[str, float], kind: str) -> float:  # sendfile: no sender copy
        return (t[kind] - call[kind] * syscall_s - 2 * frags * pipe_op_s - cold_copy_s) / skbs

    for kind, key, work, what in (
            ("linear_split", "skb", skb_s, f"send() of {both}, {split}"),
            ("paged_split", "paged_skb", paged_skb_s,
             f"sendfile() of a cached file beyond the cache, {both}, {split}")):
        if kind not in call:
            continue
        part = min(1.0, max(0.0, statistics.median(shares[kind])))
        beyond = ("all CPU minus syscalls, pipe ops and copies, per skb" if key == "skb" else
                  "all CPU minus syscalls, pipe ops and the receiver's copy, per skb")
        found[f"cpu.split_tx_{key}"] = _median_of(
            runs, lambda t, k=kind, w=work, f=part: f * w(t, k), "time",
            f"{what}: {beyond}, x the sender's share ({part:.0%}: its output and the "
            "loopback receive softirq, which runs on its CPU)")
        found[f"cpu.split_rx_{key}"] = _median_of(
            runs, lambda t, k=kind, w=work, f=part: (1 - f) * w(t, k), "time",
            f"{what}: {beyond}, x the receiver's and ksoftirqd's share ({1 - part:.0%})")
    if "woken_split" in call and "cpu.split_tx_skb" in found:
        tail = _tail_skb(runs, call, ("woken_split", "whole_split"), syscall_s, copy_s,
                         found["cpu.split_tx_skb"].value + found["cpu.split_rx_skb"].value,
                         f"send() of {both}, {split}, {paused_calls}")
        if tail is not None:
            found["cpu.split_tail_skb"] = tail
    if "linear_split" in call:
        for kind, where in (("linear", "same"), ("linear_split", "split")):
            found[f"host.tcp_per_skb_{where}"] = _median_of(
                runs, lambda t, k=kind: skb_s(t, k), "time",
                f"send() of {both}{'' if where == 'same' else ', ' + split}: all CPU minus "
                "syscalls and copies, per skb (sender, receiver and softirq together)")
    found["host.loopback_rounds"] = rounds_run
    for kind in ("linear", "linear_split", "paged"):
        if kind in call:  # how many skbs its calls made: a 53-byte tail of their own, or not
            sent = tuple(int(t[kind + SKBS]) for t in runs)
            found[f"host.tcp_skbs_{kind}"] = Measurement(
                statistics.median_low(sent), "count", (min(sent), max(sent)),
                f"the {kind} transfer of {both}: skbs sent (tcpi_data_segs_out) in its "
                f"{call[kind]:g} calls; median of {len(runs)} runs", sent)
    for kind in ("linear", "woken", "linear_split"):
        behind = tuple(int(t[kind + BEHIND]) for t in runs if kind in t)
        if behind and min(behind) >= 0:  # (-1: /proc/net/netstat unreadable)
            found[f"host.tcp_behind_{kind}"] = Measurement(
                statistics.median_low(behind), "count", (min(behind), max(behind)),
                f"the {kind} transfer of {both}: windows its receiver wanted closed, a buffer "
                "behind (TcpExt TCPWantZeroWindowAdv, tcp_select_window); a few when it kept "
                f"up, dozens per 64 MiB when it fell behind and its costs rose; median of "
                f"{len(behind)} runs", behind)
    return found


def _tail_skb(runs: list[dict[str, float]], call: dict[str, float], kinds: tuple[str, str],
              syscall_s: float, copy_s: float, full_s: float, what: str
              ) -> Measurement | None:
    """What an extra skb of a few bytes costs the pair: a paused 64 KiB ``send()`` sends a
    full skb and its 53 B tail (Nagle lets the tail go, its predecessor ACKed during the
    pause), a paused send of one MSS the full skb alone; both woken for each call, in the
    same regime. Per call, the first costs beyond the second (syscalls and copies taken
    out) what its extra skbs do. None where the tails did not go on their own (fewer than
    one extra skb in four calls: nothing to divide by). At most ``full_s``, a full skb's.
    ``kinds``: the 64 KiB transfer's and the MSS-sized one's (one CPU, or two)."""
    tailed, whole = kinds
    samples = []
    for t in runs:
        extra = t[tailed + SKBS] / call[tailed] - t[whole + SKBS] / call[whole]
        if extra < 0.25:
            continue
        per_call = [(t[kind] - call[kind] * syscall_s - 2 * copy_s) / call[kind]
                    for kind in kinds]
        samples.append(min(full_s, max(MIN_TIME_S, (per_call[0] - per_call[1]) / extra)))
    if not samples:
        return None
    return Measurement(statistics.median(samples), "time", (min(samples), max(samples)),
                       f"{what}: the first minus the second per call, over the extra skbs "
                       f"per call (each 64 KiB call's 53 B tail, on its own); at most "
                       f"cpu.per_skb + cpu.rx_skb; median of {len(samples)} runs",
                       tuple(samples))


def _share(samples: list[float], what: str) -> Measurement:
    """The sender's share of the TCP work of a transfer (the rest: receiver and ksoftirqd)."""
    clipped = [min(1.0, max(0.0, v)) for v in samples]
    return Measurement(statistics.median(clipped), "share", (min(clipped), max(clipped)),
                       f"{what}: the sender's CPU beyond its syscalls, copies and pipe ops, "
                       "over all such work of sender, receiver and ksoftirqd; median of "
                       f"{len(samples)} runs", tuple(clipped))


def measure_per_skb(cpu: int, receiver_cpu: int, congestion: str | None, syscall_s: float,
                    copy_cached_bytes_per_s: float, repeats: int = 5,
                    total_bytes: int = 256 * MIB, chunk_bytes: int = 64 * 1024
                    ) -> Measurement:
    """The loopback TCP work per skb (sender, receiver and softirq together) of ``send()``
    of one 64 KiB buffer under ``congestion``, as ``measure_loopback_costs`` takes it: all
    CPU minus syscalls and the two copies, per skb. Under a pacing controller the
    difference to ``cubic``'s is what pacing costs."""
    buffer = memoryview(bytearray(chunk_bytes))
    skbs = -(-total_bytes // chunk_bytes)
    copy_s = total_bytes / copy_cached_bytes_per_s

    send_loop = _buffer_sender(buffer, total_bytes)

    runs = []
    for _ in range(repeats):
        used = _pinned_transfer(cpu, total_bytes, send_loop, receiver_cpu, congestion)
        runs.append({"work": used.total_s - used.calls * syscall_s - 2 * copy_s})
    where = "one CPU" if cpu == receiver_cpu else f"CPUs {cpu} and {receiver_cpu}"
    return _median_of(runs, lambda t: t["work"] / skbs, "time",
                      f"send() of {units.format_size(total_bytes)} in "
                      f"{units.format_size(chunk_bytes)} calls on {where}, {congestion} "
                      "congestion control: all CPU minus syscalls and copies, per skb")


def measure_startup(cpu: int, receiver_cpu: int, congestion: str | None, repeats: int = 5,
                    first_bytes: int = 4 * MIB, chunks: int = 8,
                    chunk_bytes: int = 64 * 1024) -> Measurement:
    """What a new connection costs once: the first ``first_bytes`` of a fresh connection
    take longer than each later ``first_bytes`` of it (the send buffer and receive window
    grow from tcp_wmem[1]/tcp_rmem[1], the first ACKs and wake-ups, the controller's start).

    ``chunks`` x ``first_bytes`` in ``chunk_bytes`` send() calls from one buffer; the
    receiver stamps when each ``first_bytes`` has arrived. The figure is the first stamp
    (from the first call) minus the median of the later intervals, median over repeats.
    """
    buffer = memoryview(bytearray(chunk_bytes))
    total = chunks * first_bytes
    runs = []
    for _ in range(repeats):
        with loopback_peer("drain", cpu=receiver_cpu, mark_bytes=first_bytes) as peer, \
                pinned(cpu):
            if congestion is not None:
                set_congestion(peer.sock, congestion)
            start_ns = time.monotonic_ns()
            _buffer_sender(buffer, total)(peer.sock)
            report = peer.finish()
        marks = report.marks_ns
        if len(marks) != chunks:
            raise RuntimeError("loopback receiver missed a mark")
        steady_s = statistics.median(b - a for a, b in itertools.pairwise(marks)) / 1e9
        runs.append({"first": (marks[0] - start_ns) / 1e9, "steady": steady_s})
    where = "one CPU" if cpu == receiver_cpu else f"CPUs {cpu} and {receiver_cpu}"
    return _median_of(runs, lambda t: t["first"] - t["steady"], "time",
                      f"fresh connection on {where}, {congestion or 'default'} congestion "
                      f"control: the first {units.format_size(first_bytes)} minus each later "
                      f"{units.format_size(first_bytes)} of {chunks}")


def measure_first_touch(cpu: int, source: str, size_bytes: int, repeats: int = 5,
                        chunk_bytes: int = 64 * 1024) -> dict[str, Measurement]:
    """What the sender pays to copy out of a mapping, as mmap+write does: per page, from a
    fresh mapping (its first touch faults, fault-around maps the neighbours) beyond the
    same send() from the mapping once its pages are mapped, and per byte, the touched
    mapping's copy against a hot 64 KiB buffer's.

    Sender CPU time of ``size_bytes`` in ``chunk_bytes`` send() calls over loopback, sender
    and receiver on ``cpu``; ``ru_minflt`` counts the faults of the fresh mapping.
    """
    page = mmap.PAGESIZE
    pages = size_bytes // page
    buffer = memoryview(bytearray(chunk_bytes))
    runs, faults = [], []
    fd = os.open(source, os.O_RDONLY)
    try:
        for _ in range(repeats):
            run = {}
            for kind in ("fresh", "touched", "buffer"):
                with contextlib.ExitStack() as stack:
                    if kind == "buffer":
                        views = [buffer] * (size_bytes // chunk_bytes)
                    else:
                        mapped = mmap.mmap(fd, size_bytes, prot=mmap.PROT_READ)
                        stack.callback(mapped.close)
                        view = memoryview(mapped)
                        stack.callback(view.release)
                        if kind == "touched":
                            for offset in range(0, size_bytes, page):
                                view[offset]
                        views = [view[o:o + chunk_bytes]
                                 for o in range(0, size_bytes, chunk_bytes)]
                        stack.callback(lambda vs=views: [v.release() for v in vs])
                    peer = stack.enter_context(loopback_peer("drain", cpu=cpu))
                    stack.enter_context(pinned(cpu))
                    before = resource.getrusage(RUSAGE_SENDER)
                    for chunk in views:
                        sent = 0
                        while sent < len(chunk):
                            sent += peer.sock.send(chunk[sent:])
                    after = resource.getrusage(RUSAGE_SENDER)
                    peer.finish()
                run[kind] = (after.ru_utime - before.ru_utime) + (after.ru_stime
                                                                  - before.ru_stime)
                if kind == "fresh":
                    faults.append(after.ru_minflt - before.ru_minflt)
            runs.append(run)
    finally:
        os.close(fd)
    what = (f"send() of {units.format_size(size_bytes)} of a cached file from a mapping, "
            f"sender and receiver on CPU {cpu}; sender CPU")
    return {
        "host.mmap_first_touch": _median_of(
            runs, lambda t: (t["fresh"] - t["touched"]) / pages, "time",
            f"{what}: fresh mapping minus one whose pages are mapped, per page "
            f"({statistics.median(faults):.0f} faults, median)"),
        "host.mmap_copy_extra": _median_of(
            runs, lambda t: (t["touched"] - t["buffer"]) / pages, "time",
            f"{what}: a mapping whose pages are mapped minus a hot 64 KiB buffer, per page "
            "(the copy from the file's pages instead of a buffer in the core's caches)"),
    }


def _zerocopy_allowed() -> bool:
    """Whether this kernel takes SO_ZEROCOPY on a TCP socket."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_ZEROCOPY, 1)
        except OSError:
            return False
    return True


def measure_loopback_rtt(repeats: int = 5, round_trips: int = 2000) -> Measurement:
    """Round trip of one byte over 127.0.0.1 TCP (TCP_NODELAY) to an echoing child.

    It includes both stacks and two wakeups, which is what a round trip costs on loopback.
    """
    runs = []
    with loopback_peer("echo") as peer:
        sock = peer.sock
        for _ in range(repeats):
            start_ns = time.perf_counter_ns()
            for _ in range(round_trips):
                sock.send(b"x")
                if not sock.recv(1):
                    raise RuntimeError("echo child exited early")
            runs.append({"round_trip": (time.perf_counter_ns() - start_ns) / 1e9 / round_trips})
        peer.finish()
    return _best_of(runs, lambda t: t["round_trip"], "time", "1-byte TCP ping-pong over "
                    "127.0.0.1 with a forked echo child (TCP_NODELAY)")


# ---------------------------------------------------------------------------------------------
# Settings read from the kernel


def _read_ints(path: str) -> list[int]:
    with open(path) as fh:
        return [int(x) for x in fh.read().split()]


def _last_level_cache() -> Measurement:
    """The largest data (or unified) cache of the first CPU this process may use."""
    cpu = min(os.sched_getaffinity(0))
    best, where = 0, ""
    for index in glob.glob(f"/sys/devices/system/cpu/cpu{cpu}/cache/index*"):
        with open(f"{index}/type") as fh:
            if fh.read().strip() == "Instruction":
                continue
        with open(f"{index}/size") as fh:
            size = units.parse_size(fh.read().strip().replace("K", "KiB").replace("M", "MiB"))
        if size > best:
            best, where = size, f"{index}/size"
    if not best:
        raise ValueError("no cache listed in sysfs")
    return _fixed(best, "size", f"read from {where}: what the kernel was told; "
                  "cpu.cache_size is measured instead")


def read_settings() -> dict[str, Measurement]:
    """Sizes and counts the kernel reports; a file that cannot be read is left out."""
    out: dict[str, Measurement] = {}
    out["cpu.cores"] = _fixed(len(os.sched_getaffinity(0)), "count",
                              "len(os.sched_getaffinity(0)): CPUs this process may use")
    out["kernel.page_size"] = _fixed(os.sysconf("SC_PAGE_SIZE"), "size",
                                     "os.sysconf('SC_PAGE_SIZE')")
    r, w = os.pipe()
    try:
        out["kernel.pipe_size"] = _fixed(fcntl.fcntl(w, F_GETPIPE_SZ), "size",
                                         "fcntl(F_GETPIPE_SZ) on a new pipe")
    except OSError:
        pass
    finally:
        os.close(r)
        os.close(w)
    readers: list[tuple[str, str, str, Callable[[list[int]], int]]] = [
        ("kernel.sndbuf", "/proc/sys/net/ipv4/tcp_wmem", "size", max),
        ("host.tcp_wmem_default", "/proc/sys/net/ipv4/tcp_wmem", "size", lambda v: v[1]),
        ("kernel.rmem_max", "/proc/sys/net/ipv4/tcp_rmem", "size", max),
        ("kernel.rmem_default", "/proc/sys/net/ipv4/tcp_rmem", "size", lambda v: v[1]),
        ("kernel.max_skb_frags", "/proc/sys/net/core/max_skb_frags", "count", max),
        ("nic.mtu", "/sys/class/net/lo/mtu", "size", max),
    ]
    for key, path, kind, pick in readers:
        with contextlib.suppress(OSError, ValueError, IndexError):
            out[key] = _fixed(pick(_read_ints(path)), kind, f"read from {path}")
    with contextlib.suppress(OSError, ValueError):
        out["host.sysfs_cache_size"] = _last_level_cache()
    out.update(_tcp_settings())
    try:
        with open("/proc/meminfo") as fh:
            meminfo = dict(line.split(":", 1) for line in fh)
        available_kib = int(meminfo["MemAvailable"].split()[0])
        out["kernel.page_cache"] = _fixed(available_kib * 1024, "size",
                                          "MemAvailable from /proc/meminfo at calibration")
    except (OSError, KeyError, ValueError):
        pass
    return out


def _tcp_settings() -> dict[str, Measurement]:
    """The sysctls and limits behind the linux-6 model's TCP keys, as this host has them: the
    default congestion controller (a sending socket that sets none uses it), the idle
    restart, the option memory, the locked-memory limit MSG_ZEROCOPY is charged against,
    and whether the kernel keeps softirq time out of the interrupted task's runtime.
    A controller the model does not have (reno, vegas, ...) is left to the base profile."""
    out: dict[str, Measurement] = {}
    path = "/proc/sys/net/ipv4/tcp_congestion_control"
    with contextlib.suppress(OSError):
        with open(path) as fh:
            name = fh.read().strip()
        if name in CHOICES["kernel.tcp_congestion"]:
            out["kernel.tcp_congestion"] = _fixed(name, "choice", f"read from {path}")
    path = "/proc/sys/net/ipv4/tcp_slow_start_after_idle"
    with contextlib.suppress(OSError, ValueError, IndexError):
        out["kernel.slow_start_after_idle"] = _fixed(bool(_read_ints(path)[0]), "bool",
                                                     f"read from {path}")
    path = "/proc/sys/net/core/optmem_max"
    with contextlib.suppress(OSError, ValueError, IndexError):
        out["kernel.optmem_max"] = _fixed(_read_ints(path)[0], "size", f"read from {path}")
    with contextlib.suppress(OSError, EOFError, ValueError):  # a kernel built without it
        with gzip.open("/proc/config.gz", "rt") as fh:
            config = fh.read()
        out["kernel.irq_time_accounting"] = _fixed(
            "CONFIG_IRQ_TIME_ACCOUNTING=y" in config.splitlines(), "bool",
            "CONFIG_IRQ_TIME_ACCOUNTING in /proc/config.gz")
    soft, _hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    if soft != resource.RLIM_INFINITY:
        out["kernel.memlock"] = _fixed(soft, "size", "getrlimit(RLIMIT_MEMLOCK), soft limit")
    return out


# ---------------------------------------------------------------------------------------------
# The report


# Keys the host cannot measure from Python, and why; they come from the base profile.
INHERITED_REASONS: dict[str, str] = {
    "cpu.irq": "loopback raises no device interrupts",
    "disk.latency": "a page-cache read of a cached file is not a disk; measure the device",
    "disk.bandwidth": "a page-cache read of a cached file is not a disk; measure the device",
    "disk.queue_depth": "a page-cache read of a cached file is not a disk; measure the device",
    "dma.descriptor": "loopback does no DMA",
    "dma.max_sg_entries": "loopback does no DMA",
    "dma.alignment": "loopback does no DMA",
    "nic.tx_ring": "loopback has no TX ring",
    "kernel.readahead": "a property of the block device, not measured",
}

# Facts of the loopback device (drivers/net/loopback.c), written so that the profile matches
# the host that iosim.host.realpaths measures.
LOOPBACK_FACTS: dict[str, tuple[object, str]] = {
    "nic.tso_max": (65536, "loopback GSO limit (GSO_LEGACY_MAX_SIZE, 64 KiB); not measured"),
    "nic.sg": (True, "loopback sets NETIF_F_SG; not measured"),
    "nic.csum_offload": (True, "loopback sets NETIF_F_HW_CSUM (no checksum); not measured"),
    "nic.loopback": (True, "this host is measured and validated over 127.0.0.1 (the lo device)"),
    "kernel.model": ("linux-6", "a real Linux host: the mechanisms of a current kernel"),
}


def _toml_value(value: object, unit_kind: str) -> str:
    """A value in the unit a reader expects, exact enough to round-trip (4 digits)."""
    if unit_kind == "time":
        for unit, factor in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
            if value >= factor:  # type: ignore[operator]
                return f'"{value / factor:.4g}{unit}"'  # type: ignore[operator]
        return f'"{value / 1e-9:.4g}ns"'  # type: ignore[operator]
    if unit_kind == "rate":
        for unit, factor in (("GB/s", 1e9), ("MB/s", 1e6), ("kB/s", 1e3)):
            if value >= factor:  # type: ignore[operator]
                return f'"{value / factor:.4g}{unit}"'  # type: ignore[operator]
        return f'"{value:.4g}B/s"'  # a rate always carries its unit
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(int(value)) if float(value) == int(value) else repr(value)  # type: ignore


def _human(value: float, unit_kind: str) -> str:
    if unit_kind == "share":
        return f"{value:.0%}"
    if unit_kind == "time":
        return units.format_time(value)
    if unit_kind == "rate":
        return f"{value / 1e9:.3g} GB/s"
    if unit_kind == "size":
        return units.format_size(value)
    if unit_kind in ("choice", "bool"):
        return str(value).lower()
    return f"{value:g}"


def _spread_text(m: Measurement) -> str:
    lo, hi = m.spread
    if lo == hi:
        return _human(m.value, m.unit_kind)
    return f"{_human(lo, m.unit_kind)} .. {_human(hi, m.unit_kind)}"


@dataclass
class CalibrationReport:
    """What ``calibrate`` measured. Keys are ``section.key`` for profile keys, ``host.*`` for
    figures that inform but have no profile key; ``failures`` says what could not be run."""

    measurements: dict[str, Measurement]
    date: str
    host: str
    kernel: str
    repeats: int
    quick: bool
    elapsed_s: float
    failures: dict[str, str] = field(default_factory=dict)

    def to_profile_toml(self, base_profile_name: str = "teaching") -> str:
        """A profile TOML of this host: measured keys set, the rest inherited and listed."""
        base = load_profile(base_profile_name).raw
        lines = [
            f"# iosim profile measured on {self.host} ({self.kernel}) on {self.date}",
            (f"# by iosim.host.calibrate ({'quick' if self.quick else 'full'} mode, "
             f"{self.elapsed_s:.1f} s). Each comment says how its value was taken: wall-clock"),
            "# timings from their fastest run (another task can only slow a run down), CPU times",
            "# and small differences as the median of the runs; the spread is that of the runs.",
            "# Commented-out keys are inherited from the base profile.",
            "# This is a loopback host: nic.rate is loopback TCP throughput, wire.rtt is a",
            "# loopback TCP round trip (both are CPU-bound, not a wire).",
            f'name = {_toml_value("host-" + self.host, "")}',
            f'description = {_toml_value(f"Calibrated on {self.host} on {self.date}", "")}',
            f'extends = {_toml_value(base_profile_name, "")}',
        ]
        extras = sorted(k for k in self.measurements if k.startswith("host."))
        if extras or self.failures:
            lines.append("")
            lines.append("# Also measured (no profile key):")
            for key in extras:
                m = self.measurements[key]
                lines.append(f"#   {key} = {_human(m.value, m.unit_kind)}: {m.method}")
            for key, reason in sorted(self.failures.items()):
                lines.append(f"#   {key}: not measured: {reason}")
        for section, spec in SCHEMA.items():
            lines.append("")
            lines.append(f"[{section}]")
            for key, (kind, _) in spec.items():
                dotted = f"{section}.{key}"
                if dotted in self.measurements:
                    m = self.measurements[dotted]
                    if len(m.samples) > 1:
                        lines.append(f"# measured {self.date}: {len(m.samples)} runs, spread "
                                     f"{_spread_text(m)}; {m.method}")
                    else:
                        lines.append(f"# measured {self.date}: {m.method}")
                    value = round(m.value) if kind in ("size", "count") else m.value
                    lines.append(f"{key} = {_toml_value(value, kind)}")
                elif dotted in LOOPBACK_FACTS:
                    value, why = LOOPBACK_FACTS[dotted]
                    lines.append(f"# {why}")
                    lines.append(f"{key} = {_toml_value(value, kind)}")
                else:
                    why = INHERITED_REASONS.get(dotted, "not measured")
                    inherited = base.get(section, {}).get(key)
                    shown = _toml_value(inherited, "") if inherited is not None else "?"
                    lines.append(f"# {key} = {shown}  # from {base_profile_name}: {why}")
        return "\n".join(lines) + "\n"

    def summary(self) -> str:
        """One line per figure, for the terminal."""
        rows = []
        for key, m in sorted(self.measurements.items()):
            spread = f"  ({_spread_text(m)})" if m.spread[0] != m.spread[1] else ""
            rows.append(f"{key:26s} {_human(m.value, m.unit_kind):>12s}{spread}")
        rows += [f"{key:26s} not measured: {why}" for key, why in sorted(self.failures.items())]
        busy = self.measurements.get("host.others_share")
        if busy is not None and busy.value > BUSY_SHARE:
            rows.append(f"warning: other tasks took {busy.value:.0%} of the machine during the "
                        "calibration; its figures are a busy host's: calibrate again when it "
                        "is quiet")
        return "\n".join(rows)


def pair_cpu() -> int:
    """The CPU that pinned loopback measurements put sender and receiver on."""
    return min(os.sched_getaffinity(0))


def calibrate(progress: Callable[[str], None] | None = None, repeats: int = 5,
              quick: bool = False) -> CalibrationReport:
    """Measure this host (< 60 s; < 10 s with ``quick``, which uses smaller sizes)."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    say = progress or (lambda _message: None)
    started_s = time.monotonic()
    everywhere = set(range(os.cpu_count() or 1))
    bystanders = Bystanders(everywhere, ksoftirqd_pids(everywhere))
    if quick:
        repeats = min(repeats, 3)
    sizes = {
        "file": 128 * MIB if quick else 512 * MIB,  # the copy curve's largest span
        "copy": 16 * MIB if quick else 64 * MIB,  # read per span, at least
        "membus": 64 * MIB if quick else 128 * MIB,  # per process, x2 buffers: beyond caches
        "fault": 16 * MIB if quick else 64 * MIB,
        "calls": 20_000 if quick else 200_000,
        "ctx": 2_000 if quick else 20_000,
        "pair": 32 * MIB if quick else 256 * MIB,
        "tcp": 32 * MIB if quick else 256 * MIB,
        "tcp_small": 4 * MIB if quick else 32 * MIB,
        "rtt": 300 if quick else 2_000,
        "touch": 16 * MIB if quick else 64 * MIB,
        "startup_chunks": 3 if quick else 8,
    }
    found: dict[str, Measurement] = {}
    failures: dict[str, str] = {}

    def attempt(label: str, keys: str, run: Callable[[], None]) -> None:
        say(label)
        try:
            run()
        except (OSError, RuntimeError, TimeoutError) as exc:
            failures[keys] = f"{type(exc).__name__}: {exc}"

    def need(*keys: str) -> list[float]:
        missing = [k for k in keys if k not in found]
        if missing:
            raise RuntimeError(f"needs {', '.join(missing)}, which could not be measured")
        return [found[k].value for k in keys]

    cpus = sorted(os.sched_getaffinity(0))
    cpu = pair_cpu()
    other_cpu = cpus[1] if len(cpus) > 1 else None
    attempt("kernel settings", "kernel settings", lambda: found.update(read_settings()))

    def membus() -> None:
        bus = measure_membus_bandwidth(repeats, sizes["membus"])
        if "cpu.copy_bandwidth" in found:  # one core's copy from DRAM: also a lower bound
            one = found["cpu.copy_bandwidth"]
            if TRAFFIC_BYTES_PER_COPIED_BYTE * one.value > bus.value:
                bus = Measurement(
                    TRAFFIC_BYTES_PER_COPIED_BYTE * one.value, "rate",
                    tuple(TRAFFIC_BYTES_PER_COPIED_BYTE * x for x in one.spread),  # type: ignore
                    f"{TRAFFIC_BYTES_PER_COPIED_BYTE} x cpu.copy_bandwidth (one core's kernel "
                    f"copy from DRAM), more than the parallel copies showed "
                    f"({_human(bus.value, 'rate')}: {bus.method})",
                    tuple(TRAFFIC_BYTES_PER_COPIED_BYTE * x for x in one.samples))
        found["membus.bandwidth"] = bus

    def syscalls() -> None:
        costs = measure_syscalls(repeats, sizes["calls"])
        found["host.null_syscall"] = costs.null_syscall
        null = costs.null_syscall
        found["cpu.mode_switch"] = Measurement(
            null.value / 2, "time", (null.spread[0] / 2, null.spread[1] / 2),
            "null syscall / 2 (entry + exit); " + null.method,
            tuple(s / 2 for s in null.samples))
        found["cpu.syscall"] = costs.data_syscall
        if costs.pipe_op is not None:
            found["cpu.pipe_op"] = costs.pipe_op
            pin = measure_page_pin(costs.pipe_op.value, repeats, sizes["calls"] // 10)
            if pin is not None:
                found["cpu.page_pin"] = pin

    def ctx() -> None:
        found["cpu.context_switch"] = measure_context_switch(repeats, sizes["ctx"])
        if other_cpu is not None:
            # a tenth of the round trips: each costs tens of microseconds in a VM
            found["cpu.wakeup_remote"] = measure_context_switch(
                repeats, sizes["ctx"] // 10, child_cpu=other_cpu)

    def tcp() -> None:
        tcp = measure_loopback_tcp(repeats, sizes["tcp"], sizes["tcp_small"])
        found["nic.rate"] = tcp["rate"]
        found["host.tcp_per_call"] = tcp["per_call"]
        found["host.tcp_per_byte"] = tcp["per_byte"]

    def rtt() -> None:
        found["wire.rtt"] = measure_loopback_rtt(repeats, sizes["rtt"])

    controls = congestion_controls()
    names = [c for c in dict.fromkeys((controls.default, MODEL_CONGESTION, "bbr"))
             if c and c in controls.available and prepare_congestion(c) is None]
    model_cc = MODEL_CONGESTION if MODEL_CONGESTION in names else None
    places = {"same": cpu} | ({"split": other_cpu} if other_cpu is not None else {})

    def startup() -> None:
        for where, receiver in places.items():
            for name in names:
                found[f"host.tcp_startup_{where}_{name}"] = measure_startup(
                    cpu, receiver, name, repeats, chunks=sizes["startup_chunks"])

    def pacing() -> None:
        mode_switch_s, syscall_s, cached_bps = need("cpu.mode_switch", "cpu.syscall",
                                                    "cpu.copy_bandwidth_cached")
        for where, receiver in places.items():
            for name in names:
                if name != model_cc:
                    found[f"host.tcp_per_skb_{where}_{name}"] = measure_per_skb(
                        cpu, receiver, name, 2 * mode_switch_s + syscall_s, cached_bps,
                        repeats, sizes["pair"])

    with contextlib.ExitStack() as stack:
        sources: list[str] = []

        def source() -> None:
            sources.append(stack.enter_context(source_file(sizes["file"])))

        def caches() -> None:
            if not sources:
                raise RuntimeError("no cached source file")
            found.update(measure_caches(sources[0], sizes["file"], repeats, sizes["copy"]))

        def fault() -> None:
            if not sources:
                raise RuntimeError("no cached source file")
            found.update(measure_page_fault(sources[0], sizes["fault"], repeats))

        def pair() -> None:
            mode_switch_s, syscall_s, cached_bps, pipe_op_s, dram_bps, cache_bytes = need(
                "cpu.mode_switch", "cpu.syscall", "cpu.copy_bandwidth_cached", "cpu.pipe_op",
                "cpu.copy_bandwidth", "cpu.cache_size")
            found.update(measure_loopback_costs(
                cpu, 2 * mode_switch_s + syscall_s, cached_bps, pipe_op_s,
                repeats if quick else LOOPBACK_REPEATS_FACTOR * repeats,
                sizes["pair"], source=sources[0] if sources else None,
                copy_bytes_per_s=dram_bps,
                cached_region_bytes=int(cache_bytes) // 4 // COPY_CHUNK_BYTES
                * COPY_CHUNK_BYTES, other_cpu=other_cpu, congestion=model_cc,
                page_pin_s=found["cpu.page_pin"].value if "cpu.page_pin" in found else None,
                max_rounds=repeats if quick else None,
                # a quick run's few 32 MiB rounds do not tell a 3 us tail from their noise
                # (356 ns once, 1 ns .. 831 ns): its profile costs every skb alike
                tails=not quick))

        def touch() -> None:
            if not sources:
                raise RuntimeError("no cached source file")
            found.update(measure_first_touch(cpu, sources[0], sizes["touch"], repeats))

        attempt(f"cached source file ({units.format_size(sizes['file'])})", "source file",
                source)
        attempt(f"copy speed by working set, 256 KiB to {units.format_size(sizes['file'])}: "
                "DRAM, the last-level cache and its size", "cpu.copy_bandwidth", caches)
        attempt("page fault and fault-around on a cached file", "cpu.page_fault", fault)
        attempt("memory bus (parallel copies)", "membus.bandwidth", membus)
        attempt("syscall, mode switch, pipe op", "cpu.syscall", syscalls)
        attempt("context switch and cross-CPU wake-up (pipe ping-pong)", "cpu.context_switch",
                ctx)
        attempt(f"loopback TCP per skb, per frag (a file beyond the cache), per MSG_ZEROCOPY "
                f"page and completion (sender and receiver on CPU {cpu}, and split)",
                "cpu.per_skb", pair)
        attempt("first touch of a mapping in send()", "host.mmap_first_touch", touch)
    attempt("loopback TCP throughput and cost", "nic.rate", tcp)
    attempt("loopback TCP round trip", "wire.rtt", rtt)
    attempt("loopback TCP per skb under the other congestion controllers (pacing)",
            "host.tcp_per_skb_bbr", pacing)
    attempt("connection start-up, per placement and congestion controller",
            "host.tcp_startup", startup)
    elapsed_s = time.monotonic() - started_s
    others_s, steal_s = bystanders.measure(elapsed_s)
    found["host.others_share"] = _fixed(
        min(1.0, (others_s + steal_s) / (elapsed_s * len(everywhere))), "share",
        "CPU time other tasks ran on this machine, and the hypervisor stole, during the "
        "calibration, over all CPUs' wall time: above 10 % the copy speeds, the cache size "
        "and the loopback costs are a busy host's (neighbours take the cache and the bus)")
    return CalibrationReport(
        measurements=found, date=datetime.datetime.now().isoformat(timespec="minutes"),
        host=platform.node(),
        kernel=f"{platform.system()} {platform.release()}", repeats=repeats, quick=quick,
        elapsed_s=elapsed_s, failures=failures)
