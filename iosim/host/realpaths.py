"""Real file-to-socket transfers on this machine, to hold the simulator's answers against.

Each transfer sends a file that sits in the page cache to a TCP socket on 127.0.0.1 whose far
end is a forked child that drains it, so the receiver's CPU time never lands in the sender's
``getrusage``. Only the loopback address is ever used. Everything is bounded: sizes are capped,
sockets carry kernel send/receive timeouts (``SO_SNDTIMEO``/``SO_RCVTIMEO``, which cost no
extra syscalls, unlike Python socket timeouts that ``poll`` before every call), and children
and temporary files are removed on every exit, including errors and Ctrl-C.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import mmap
import os
import resource
import select
import signal
import socket
import statistics
import struct
import subprocess
import tempfile
import termios
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

PATHS = ("read_write", "mmap_write", "sendfile", "splice", "msg_zerocopy", "writev_sendfile",
         "vmsplice_splice", "ktls_sendfile")  # in the order of the model's paths
LOOPBACK = "127.0.0.1"
MAX_SIZE_BYTES = 1 << 30  # 1 GiB: the source file lives in the page cache (and maybe tmpfs)
MAX_BUFFER_BYTES = 64 << 20
IO_TIMEOUT_S = 10.0  # no single send/recv/accept may block longer than this
TEMP_PREFIX = "iosim-host-"


def temp_prefix() -> str:
    """This process's temporary names: its own leftovers can be told from another's."""
    return f"{TEMP_PREFIX}{os.getpid()}-"


# Linux ABI values, for Pythons whose socket module lacks the names.
SO_ZEROCOPY = getattr(socket, "SO_ZEROCOPY", 60)
MSG_ZEROCOPY = getattr(socket, "MSG_ZEROCOPY", 0x4000000)
MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0x2000)
IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
IPV6_RECVERR = getattr(socket, "IPV6_RECVERR", 25)
TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", 12)
TCP_CONGESTION = getattr(socket, "TCP_CONGESTION", 13)
TCP_CA_NAME_MAX = 16
SO_EE_ORIGIN_ZEROCOPY = 5
SO_EE_CODE_ZEROCOPY_COPIED = 1
# struct sock_extended_err: ee_errno u32, ee_origin u8, ee_type u8, ee_code u8, ee_pad u8,
# ee_info u32, ee_data u32. For zerocopy, [ee_info, ee_data] is the range of completed sends.
_SOCK_EXTENDED_ERR = struct.Struct("=IBBBBII")
_ERRQUEUE_ANC_BYTES = socket.CMSG_SPACE(_SOCK_EXTENDED_ERR.size + 16) if hasattr(
    socket, "CMSG_SPACE") else 64
ZC_BUFFERS = 8  # buffers the MSG_ZEROCOPY sender cycles through (the model's zc_buffers)
HEADER_BYTES = 256  # writev_sendfile's header (the model's Scenario.header_bytes default)
TCP_ULP = getattr(socket, "TCP_ULP", 31)
SOL_TLS = getattr(socket, "SOL_TLS", 282)
TLS_TX = getattr(socket, "TLS_TX", 1)
# struct tls12_crypto_info_aes_gcm_128 (include/uapi/linux/tls.h): version, cipher_type,
# iv[8], key[16], salt[4], rec_seq[8]; TLS 1.2 (0x0303), TLS_CIPHER_AES_GCM_128 (51).
_TLS12_AES_GCM_128 = struct.Struct("=HH8s16s4s8s")
TLS_TEST_KEY = bytes(range(16))  # a fixed key: the receiver only drains the ciphertext

RUSAGE_SENDER = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)
# The child's report after EOF: bytes received, CRC-32 of them, its CPU seconds while receiving,
# when its first and last data arrived (time.monotonic_ns: CLOCK_MONOTONIC, the same in every
# process), its voluntary and involuntary context switches while receiving, and how many
# mark times follow (one q each: when the bytes received first reached each multiple of
# ``mark_bytes``).
_REPORT = struct.Struct("<QIdqqqqI")
_MARK = struct.Struct("<q")
_READY = b"R"  # the child's first byte: its set-up is done and it is about to receive
_COUNT = struct.Struct("<Q")  # the child's running count of bytes received, in shared memory
SIOCOUTQ = termios.TIOCOUTQ  # the same ioctl number: bytes written and not yet ACKed
SPLICE_F_GIFT = 8
_CHILD_BUFFER_BYTES = 1 << 20


class _Skip(Exception):
    """The kernel refused a feature the path needs; the run is skipped, not failed."""


@dataclass(frozen=True)
class RealRun:
    """One method's real transfer, medians over ``repeats``; all numbers are 0 when skipped.

    ``wall_s`` runs from the first call until the receiver held the last byte (the child's
    clock and ours are both CLOCK_MONOTONIC), as the model's ``sim_time_s`` does; the
    handshake that follows (our FIN, the child's report) is outside it. CPU times, syscalls,
    context switches and faults are the sender thread's alone, until its last call returns.
    On loopback the sender's system time includes receive-side TCP work the kernel does in
    softirq context on the sending CPU (the rest runs in ksoftirqd: ``softirq_cpu_s``, known
    when the run is pinned to a CPU); the receiver's own CPU (its copies out of the socket)
    is in ``receiver_cpu_s``. ``syscalls``
    counts the calls of the send loop (plus mmap/munmap for mmap_write), not the setup.

    ``sender_cpu``/``receiver_cpu`` are where the two tasks were pinned (None: not pinned);
    ``softirq_cpu_s`` is ksoftirqd on the sender's CPU and ``receiver_softirq_cpu_s`` on the
    receiver's, when that is another CPU. ``congestion`` is the congestion controller the
    sending socket used (``TCP_CONGESTION``). ``others_cpu_s`` is the CPU time other tasks
    ran on any CPU of this machine (on another CPU they still share the last-level cache and
    the memory bus) and ``steal_s`` the time the hypervisor took from its CPUs, over the run
    and the look-ups around it, scaled to the run's wall time: what a shared host adds.
    ``receiver_wakeups`` counts the times the receiver blocked for data and was woken (its
    voluntary context switches); ``first_data_s`` is when the receiver got its first bytes,
    from the first call. ``data_segments`` is how many data-carrying segments the sending
    socket transmitted (``tcpi_data_segs_out``): on loopback, the skbs it sent. ``receive``: the
    receiver's TCP as the kernel counted it over the run (``receive_counters``).
    """

    path: str
    size_bytes: int
    buffer_bytes: int
    repeats: int
    wall_s: float = 0.0
    throughput_bytes_per_s: float = 0.0
    user_cpu_s: float = 0.0
    sys_cpu_s: float = 0.0
    receiver_cpu_s: float = 0.0
    softirq_cpu_s: float = 0.0
    syscalls: int = 0
    voluntary_context_switches: int = 0
    involuntary_context_switches: int = 0
    minor_faults: int = 0
    zerocopy_copied: bool | None = None
    skipped: str | None = None
    sender_cpu: int | None = None
    receiver_cpu: int | None = None
    congestion: str | None = None
    receiver_softirq_cpu_s: float = 0.0
    others_cpu_s: float = 0.0
    steal_s: float = 0.0
    receiver_wakeups: int = 0
    first_data_s: float = 0.0
    data_segments: int | None = None
    receive: dict[str, int] | None = None


@dataclass(frozen=True)
class PeerReport:
    """What the receiving child saw once the sender closed its side."""

    received_bytes: int
    crc32: int
    cpu_s: float
    last_data_ns: int
    """``time.monotonic_ns()`` when the last data arrived (0 if none did)."""
    first_data_ns: int = 0
    voluntary_context_switches: int = 0
    involuntary_context_switches: int = 0
    marks_ns: tuple[int, ...] = ()
    """When the bytes received first reached each multiple of the peer's ``mark_bytes``."""


class LoopbackPeer:
    """The sender's end of a TCP connection to a forked child on 127.0.0.1."""

    def __init__(self, sock: socket.socket, pid: int, progress: mmap.mmap | None = None
                 ) -> None:
        self.sock = sock
        self.pid = pid
        self.finished = False
        self.progress = progress  # the child's running count of bytes read, if it keeps one

    def finish(self) -> PeerReport:
        """Close our sending side and wait until the child has received everything."""
        self.sock.shutdown(socket.SHUT_WR)
        *head, marks = _REPORT.unpack(self._recv_exact(_REPORT.size))
        times = [_MARK.unpack(self._recv_exact(_MARK.size))[0] for _ in range(marks)]
        self.finished = True
        return PeerReport(*head, marks_ns=tuple(times))

    def _recv_exact(self, count: int) -> bytes:
        data = bytearray()
        while len(data) < count:
            chunk = _retry_timeout(self.sock.recv, count - len(data))
            if not chunk:
                raise RuntimeError("loopback receiver exited without reporting")
            data += chunk
        return bytes(data)


def _retry_timeout(call: Callable, *args):
    """Run a blocking socket call; EAGAIN here means SO_SNDTIMEO/SO_RCVTIMEO expired."""
    try:
        return call(*args)
    except BlockingIOError:
        raise TimeoutError(f"loopback socket idle for {IO_TIMEOUT_S:g} s") from None


def set_kernel_timeouts(sock: socket.socket, timeout_s: float = IO_TIMEOUT_S) -> None:
    """Bound blocking calls in the kernel, keeping the socket in plain blocking mode."""
    sock.settimeout(None)
    timeval = struct.pack("@ll", int(timeout_s), int(timeout_s % 1 * 1e6))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)


def _child_main(address: tuple[str, int], mode: str, verify: bool, mark_bytes: int = 0,
                progress: mmap.mmap | None = None) -> int:
    with socket.create_connection(address, timeout=IO_TIMEOUT_S) as sock:
        set_kernel_timeouts(sock)
        if mode == "echo":
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray(_CHILD_BUFFER_BYTES)
        view = memoryview(buf)
        view[:] = bytes(_CHILD_BUFFER_BYTES)  # fault its pages in now, not while receiving
        total_bytes, crc, first_data_ns, last_data_ns = 0, 0, 0, 0
        marks: list[int] = []
        next_mark = mark_bytes or -1
        start = resource.getrusage(resource.RUSAGE_SELF)
        sock.sendall(_READY)  # set up: whatever the parent times next is the transfer alone
        while True:
            # ACK at once, as the model's receiver does: a delayed ACK (up to 40 ms) would
            # stall a sender that waits for MSG_ZEROCOPY completions. The kernel leaves
            # quick-ACK mode on its own, so it is asked again before every read.
            sock.setsockopt(socket.IPPROTO_TCP, TCP_QUICKACK, 1)
            n = sock.recv_into(buf)
            if not n:
                break
            last_data_ns = time.monotonic_ns()
            first_data_ns = first_data_ns or last_data_ns
            if mode == "echo":
                sock.sendall(view[:n])
            if verify:
                crc = zlib.crc32(view[:n], crc)
            total_bytes += n
            if progress is not None:  # tp->copied_seq as the sender may read it
                _COUNT.pack_into(progress, 0, total_bytes)
            while 0 < next_mark <= total_bytes:
                marks.append(last_data_ns)
                next_mark += mark_bytes
        end = resource.getrusage(resource.RUSAGE_SELF)
        cpu_s = (end.ru_utime - start.ru_utime) + (end.ru_stime - start.ru_stime)
        sock.sendall(_REPORT.pack(total_bytes, crc, cpu_s, last_data_ns, first_data_ns,
                                  end.ru_nvcsw - start.ru_nvcsw, end.ru_nivcsw - start.ru_nivcsw,
                                  len(marks))
                     + b"".join(_MARK.pack(t) for t in marks))
    return 0


def reap_child(pid: int, grace_s: float = 0.0) -> None:
    """Wait up to ``grace_s`` for a child to exit, then kill it; never leave a zombie."""
    deadline = time.monotonic() + grace_s
    try:
        while True:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(0.001)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ChildProcessError, ProcessLookupError):
        pass


@contextlib.contextmanager
def pinned(cpu: int | None) -> Iterator[None]:
    """Run the calling thread on ``cpu`` only (None: leave it alone), then restore."""
    if cpu is None:
        yield
        return
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, saved)


def softirq_clock(cpu: int) -> Callable[[], float]:
    """CPU seconds ksoftirqd/``cpu`` has run so far: softirq work (loopback TCP input) that
    the kernel deferred from the tasks on that CPU. Reads 0 when /proc does not show it."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/comm") as fh:
                name = fh.read().strip()
        except OSError:  # the process ended while we looked
            continue
        if name == f"ksoftirqd/{cpu}":
            schedstat = f"/proc/{entry.name}/schedstat"
            break
    else:
        return lambda: 0.0

    def seconds() -> float:
        with open(schedstat) as fh:
            return int(fh.read().split()[0]) / 1e9  # on-CPU time in ns

    return seconds


def _thread_times(exclude: set[int]) -> dict[int, tuple[int, int]]:
    """Every thread of every other process: tid -> (ns it has run, the CPU it last ran on)."""
    found: dict[int, tuple[int, int]] = {}
    for proc in os.scandir("/proc"):
        if not proc.name.isdigit() or int(proc.name) in exclude:
            continue
        try:
            tasks = list(os.scandir(f"/proc/{proc.name}/task"))
        except OSError:  # the process ended while we looked
            continue
        for task in tasks:
            try:
                with open(f"{task.path}/schedstat") as fh:
                    ran_ns = int(fh.read().split()[0])
                with open(f"{task.path}/stat") as fh:
                    last_cpu = int(fh.read().rsplit(")", 1)[1].split()[36])  # field 39
            except (OSError, ValueError, IndexError):
                continue
            found[int(task.name)] = (ran_ns, last_cpu)
    return found


def _steal_ticks(cpus: set[int]) -> int:
    """Clock ticks (USER_HZ) the hypervisor took from ``cpus`` so far (/proc/stat)."""
    total = 0
    with contextlib.suppress(OSError), open("/proc/stat") as fh:
        for line in fh:
            name, *fields = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                total += int(fields[7]) if len(fields) > 7 else 0
    return total


class Bystanders:
    """What a shared host did on some CPUs while a run took place: the CPU time other tasks
    ran there and the time the hypervisor stole from them.

    Other tasks are every thread of every process but ours, the peer's and the given
    kernel threads (ksoftirqd of the pair's CPUs, which do the pair's own work); a thread is
    counted on the CPU it last ran on. A task that starts and ends within the run is
    missed: this is a lower bound, which a pinned pair complements with its wall-time gap.
    """

    def __init__(self, cpus: set[int], exclude: set[int]) -> None:
        self.cpus = cpus
        self.exclude = exclude | {os.getpid()}
        self._steal = _steal_ticks(cpus)
        self._threads = _thread_times(self.exclude)
        self._start_ns = time.monotonic_ns()

    def measure(self, wall_s: float) -> tuple[float, float]:
        """(others' CPU seconds, stolen seconds) on ``cpus`` since this object was made,
        scaled to ``wall_s`` of it (the run, without the look-ups around it)."""
        window_ns = max(1, time.monotonic_ns() - self._start_ns)
        now = _thread_times(self.exclude)
        ran_ns = sum(ns - self._threads.get(tid, (0, 0))[0]
                     for tid, (ns, cpu) in now.items() if cpu in self.cpus)
        steal_s = (_steal_ticks(self.cpus) - self._steal) / os.sysconf("SC_CLK_TCK")
        share = min(1.0, wall_s * 1e9 / window_ns)
        return max(0, ran_ns) / 1e9 * share, steal_s * share


def ksoftirqd_pids(cpus: set[int]) -> set[int]:
    """The ksoftirqd threads of ``cpus``."""
    names = {f"ksoftirqd/{cpu}" for cpu in cpus}
    found = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError), open(f"/proc/{entry.name}/comm") as fh:
            if fh.read().strip() in names:
                found.add(int(entry.name))
    return found


# ---------------------------------------------------------------------------------------------
# Congestion control


CONGESTION_SYSCTL = "/proc/sys/net/ipv4/tcp_congestion_control"
AVAILABLE_SYSCTL = "/proc/sys/net/ipv4/tcp_available_congestion_control"
ALLOWED_SYSCTL = "/proc/sys/net/ipv4/tcp_allowed_congestion_control"


def _sysctl_words(path: str) -> tuple[str, ...]:
    try:
        with open(path) as fh:
            return tuple(fh.read().split())
    except OSError:
        return ()


@dataclass(frozen=True)
class CongestionControls:
    """The host's congestion controllers: the default new sockets get, those built in or
    loaded (available), those a task without CAP_NET_ADMIN may choose (allowed)."""

    default: str | None
    available: tuple[str, ...]
    allowed: tuple[str, ...]


def congestion_controls() -> CongestionControls:
    """What /proc/sys/net/ipv4 says now."""
    default = _sysctl_words(CONGESTION_SYSCTL)
    return CongestionControls(default[0] if default else None,
                              _sysctl_words(AVAILABLE_SYSCTL), _sysctl_words(ALLOWED_SYSCTL))


def prepare_congestion(name: str) -> str | None:
    """Make controller ``name`` usable on a socket; None if it is, else why not.

    One that is not available is loaded with ``modprobe tcp_NAME`` (which may be missing,
    refused or not allowed in a VM or container); then a socket must accept it through
    ``setsockopt(TCP_CONGESTION)``, which also needs it allowed or CAP_NET_ADMIN.
    """
    if not name or len(name) >= TCP_CA_NAME_MAX or not name.replace("_", "").isalnum():
        return f"{name!r} is not a congestion controller name"
    note = ""
    if name not in congestion_controls().available:
        try:
            done = subprocess.run(["modprobe", f"tcp_{name}"], capture_output=True, text=True,
                                  timeout=10, check=False)
            if done.returncode:
                lines = (done.stderr or done.stdout).strip().splitlines()
                note = f"modprobe tcp_{name} failed: {lines[-1] if lines else done.returncode}"
        except (OSError, subprocess.SubprocessError) as exc:
            note = f"modprobe tcp_{name} could not run: {exc}"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            set_congestion(sock, name)
        except OSError as exc:
            why = f"setsockopt(TCP_CONGESTION, {name!r}) refused: {exc.strerror or exc}"
            available = ", ".join(congestion_controls().available) or "none listed"
            return f"{why}{'; ' + note if note else ''} (available: {available})"
    return None


def set_congestion(sock: socket.socket, name: str) -> None:
    """Use controller ``name`` on ``sock`` (tcp_set_congestion_control)."""
    sock.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, name.encode())


def congestion_of(sock: socket.socket) -> str:
    """The controller ``sock`` uses."""
    raw = sock.getsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, TCP_CA_NAME_MAX)
    return raw.split(b"\0", 1)[0].decode()


# struct tcp_info (include/uapi/linux/tcp.h): 8 one-byte fields, 24 __u32 (tcpi_rto ..
# tcpi_total_retrans), 4 __u64 (pacing rates, bytes acked and received), then __u32 segs_out,
# segs_in, notsent_bytes, min_rtt, data_segs_in, data_segs_out (Linux 4.6 and later)
TCPI_DATA_SEGS_OUT_OFFSET = 8 + 24 * 4 + 4 * 8 + 5 * 4
TCP_INFO_BYTES = 256  # what the kernel copies is min(this, its struct): enough for the field


def data_segments_out(sock: socket.socket) -> int | None:
    """Segments carrying data the socket has sent (``tcpi_data_segs_out``: each skb
    ``net/ipv4/tcp_output.c:__tcp_transmit_skb`` sends with data adds its GSO segment count,
    ``tcp_skb_pcount``); on loopback, whose MSS is the 64 KiB MTU's, one per skb.
    None if the kernel's tcp_info is too short to hold it."""
    raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_BYTES)
    if len(raw) < TCPI_DATA_SEGS_OUT_OFFSET + 4:
        return None
    return struct.unpack_from("I", raw, TCPI_DATA_SEGS_OUT_OFFSET)[0]


NETSTAT_PATH = "/proc/net/netstat"
# TcpExt counters that say how the local receiver took the stream (``receive_counters``)
RECEIVE_COUNTERS = {
    "backlog_coalesced": "TCPBacklogCoalesce",  # net/ipv4/tcp_ipv4.c:tcp_add_backlog
    "queue_coalesced": "TCPRcvCoalesce",  # net/ipv4/tcp_input.c:tcp_try_coalesce
    "zero_window_wanted": "TCPWantZeroWindowAdv",  # net/ipv4/tcp_output.c:tcp_select_window
    "delayed_acks": "DelayedACKs",  # net/ipv4/tcp_timer.c:tcp_delack_timer_handler
}


def receive_counters(path: str = NETSTAT_PATH) -> dict[str, int] | None:
    """The network namespace's TcpExt counters named in ``RECEIVE_COUNTERS`` (by their
    keys), or None where the file is missing or lacks one. They count every socket of the
    namespace; on an idle host a transfer's difference of two readings is its own: skbs
    its receiver's TCP merged into the one before (in the backlog while the reader owned
    its socket, or on the receive queue), windows it could not open because the reader was
    a whole buffer behind, and ACKs the delayed-ACK timer sent."""
    try:
        with open(path) as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:") and values.startswith("TcpExt:"):
            try:  # (a header and a value line of different lengths: unreadable)
                table = dict(zip(names.split()[1:], values.split()[1:], strict=True))
                return {key: int(table[name]) for key, name in RECEIVE_COUNTERS.items()}
            except (KeyError, ValueError):
                return None
    return None


def counters_delta(before: dict[str, int] | None, after: dict[str, int] | None
                   ) -> dict[str, int] | None:
    """``after - before`` per counter, or None if either reading failed."""
    if before is None or after is None:
        return None
    return {key: after[key] - before[key] for key in before}


def child_pids() -> set[int]:
    """Processes (zombies included) whose parent is this one: to check that none is left."""
    me, found = os.getpid(), set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                stat = fh.read()
        except OSError:  # the process ended while we looked
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == me:  # field 4, ppid, after "(comm)"
            found.add(int(entry.name))
    return found


@contextlib.contextmanager
def loopback_peer(mode: str = "drain", verify: bool = False, cpu: int | None = None,
                  mark_bytes: int = 0, progress: bool = False) -> Iterator[LoopbackPeer]:
    """A connected TCP socket on 127.0.0.1 whose far end is a forked child.

    ``mode="drain"`` reads and discards; ``"echo"`` sends every byte back (TCP_NODELAY). With
    ``verify`` the child keeps a CRC-32 of what it received. With ``cpu`` the child runs only on
    that CPU. With ``mark_bytes`` it also reports when each multiple of it had arrived. With
    ``progress`` it keeps its running count of bytes read in memory shared with the sender
    (``LoopbackPeer.progress``), updated after every ``recv``.
    """
    if mode not in ("drain", "echo"):
        raise ValueError(f"mode must be 'drain' or 'echo', got {mode!r}")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    shared = mmap.mmap(-1, _COUNT.size) if progress else None  # MAP_SHARED | MAP_ANONYMOUS
    pid = 0
    conn: socket.socket | None = None
    peer: LoopbackPeer | None = None
    try:
        listener.bind((LOOPBACK, 0))
        listener.listen(1)
        listener.settimeout(IO_TIMEOUT_S)
        address = listener.getsockname()
        pid = os.fork()
        if pid == 0:  # child: never return into the caller's code
            code = 1
            try:
                listener.close()
                if cpu is not None:
                    os.sched_setaffinity(0, {cpu})
                extra = {} if shared is None else {"progress": shared}
                code = _child_main(address, mode, verify, mark_bytes, **extra)
            finally:  # whatever happened, the child exits here
                os._exit(code)
        conn, _ = listener.accept()
        set_kernel_timeouts(conn)
        if mode == "echo":
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if _retry_timeout(conn.recv, len(_READY)) != _READY:
            raise RuntimeError("loopback receiver did not start")
        peer = LoopbackPeer(conn, pid, shared)
        yield peer
    finally:
        if conn is not None:
            conn.close()
        listener.close()
        if shared is not None:
            shared.close()
        if pid:
            reap_child(pid, grace_s=1.0 if peer is not None and peer.finished else 0.0)


@contextlib.contextmanager
def source_file(size_bytes: int, directory: str | None = None) -> Iterator[str]:
    """A temporary file of ``size_bytes``, read once so that it sits in the page cache.

    The content repeats a random block of an odd length, so a transfer that sends the wrong
    offsets changes the receiver's CRC.
    """
    _check_size(size_bytes)
    block = os.urandom((1 << 20) + 4099)
    with tempfile.TemporaryDirectory(prefix=temp_prefix(), dir=directory) as tmp:
        path = os.path.join(tmp, "source.bin")
        with open(path, "wb") as fh:
            left = size_bytes
            while left:
                left -= fh.write(block[:min(left, len(block))])
        _warm_page_cache(path)
        yield path


def _warm_page_cache(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        while os.read(fd, 1 << 20):
            pass
    finally:
        os.close(fd)


def _check_size(size_bytes: int) -> None:
    if not 0 < size_bytes <= MAX_SIZE_BYTES:
        raise ValueError(f"size_bytes must be in 1..{MAX_SIZE_BYTES} (1 GiB), got {size_bytes}")


# Senders: each moves size_bytes from src_fd to sock and returns (syscalls, zerocopy_copied).
Sender = Callable[[socket.socket, int, int, int], tuple[int, bool | None]]


def _send_all(sock: socket.socket, view: memoryview) -> int:
    """``sendall`` that counts its ``send`` calls."""
    calls, sent = 0, 0
    while sent < len(view):
        sent += sock.send(view[sent:])
        calls += 1
    return calls


def _send_read_write(sock: socket.socket, src_fd: int, size_bytes: int, buffer_bytes: int
                     ) -> tuple[int, bool | None]:
    view = memoryview(bytearray(buffer_bytes))
    syscalls, offset = 0, 0
    with open(src_fd, "rb", buffering=0, closefd=False) as src:  # readinto: one read(2)
        while offset < size_bytes:
            n = src.readinto(view[:min(buffer_bytes, size_bytes - offset)])
            syscalls += 1
            if not n:
                raise RuntimeError("source file shorter than size_bytes")
            syscalls += _send_all(sock, view[:n])
            offset += n
    return syscalls, None


@contextlib.contextmanager
def _mapped(src_fd: int, size_bytes: int) -> Iterator[memoryview]:
    """A read-only view of the file's own page-cache pages.

    If an exception (Ctrl-C) escapes while its traceback still holds a slice, the mapping
    cannot be closed yet; it is unmapped when the traceback goes, and the caller sees the
    original exception rather than a BufferError.
    """
    mapped = mmap.mmap(src_fd, size_bytes, prot=mmap.PROT_READ)
    view = memoryview(mapped)
    try:
        yield view
    finally:
        view.release()
        with contextlib.suppress(BufferError):
            mapped.close()


def _send_mmap_write(sock: socket.socket, src_fd: int, size_bytes: int, buffer_bytes: int
                     ) -> tuple[int, bool | None]:
    syscalls = 2  # mmap and munmap
    with _mapped(src_fd, size_bytes) as view:
        for offset in range(0, size_bytes, buffer_bytes):
            syscalls += _send_all(sock, view[offset:offset + buffer_bytes])
    return syscalls, None


def _send_sendfile(sock: socket.socket, src_fd: int, size_bytes: int, buffer_bytes: int
                   ) -> tuple[int, bool | None]:
    """Each call asks for the rest of the file, as real servers (and the model) do; the kernel
    moves it through its internal pipe, so ``buffer_bytes`` plays no part."""
    return _sendfile_rest(sock, src_fd, 0, size_bytes), None


def _sendfile_rest(sock: socket.socket, src_fd: int, offset: int, size_bytes: int) -> int:
    """sendfile() from ``offset`` to ``size_bytes``, each call asking for all that is left;
    the number of calls it took."""
    out_fd = sock.fileno()
    syscalls = 0
    while offset < size_bytes:
        n = os.sendfile(out_fd, src_fd, offset, size_bytes - offset)
        syscalls += 1
        if n == 0:
            raise RuntimeError("source file shorter than size_bytes")
        offset += n
    return syscalls


def _send_splice(sock: socket.socket, src_fd: int, size_bytes: int, buffer_bytes: int
                 ) -> tuple[int, bool | None]:
    out_fd = sock.fileno()
    pipe_r, pipe_w = os.pipe()
    try:
        syscalls, offset = 0, 0
        while offset < size_bytes:
            # file -> pipe moves page references; it stops at the pipe's capacity.
            n = os.splice(src_fd, pipe_w, min(buffer_bytes, size_bytes - offset),
                          offset_src=offset)
            syscalls += 1
            if n == 0:
                raise RuntimeError("source file shorter than size_bytes")
            offset += n
            more = os.SPLICE_F_MORE if offset < size_bytes else 0
            while n:
                n -= os.splice(pipe_r, out_fd, n, flags=more)
                syscalls += 1
    finally:
        os.close(pipe_r)
        os.close(pipe_w)
    return syscalls, None


def _send_writev_sendfile(sock: socket.socket, src_fd: int, size_bytes: int,
                          buffer_bytes: int) -> tuple[int, bool | None]:
    """The web server's response, as the model's program: a header from user memory by
    send(MSG_MORE) (corked: net/ipv4/tcp.c:tcp_sendmsg_locked holds it in the unsent tail),
    then sendfile() of the rest, each call asking for all of it. The header is the file's
    first ``HEADER_BYTES``, so the receiver gets exactly the file's bytes; the pread that
    fills it stands for building the header and is not counted (the model's is ready)."""
    head = min(HEADER_BYTES, size_bytes)
    header = os.pread(src_fd, head, 0)
    syscalls = 0
    if len(header) != head:
        raise RuntimeError("source file shorter than size_bytes")
    more = socket.MSG_MORE if head < size_bytes else 0  # nothing would push a lone header
    view = memoryview(header)
    sent = 0
    while sent < head:
        sent += sock.send(view[sent:], more)
        syscalls += 1
    return syscalls + _sendfile_rest(sock, src_fd, head, size_bytes), None


def _start_ktls(sock: socket.socket) -> None:
    """Make ``sock`` a kTLS sender (net/tls/tls_main.c:do_tls_setsockopt_conf): the "tls"
    upper-layer protocol, then TLS 1.2 AES-GCM-128 keys for TLS_TX; a kernel without the
    tls module refuses the first step and the run is skipped."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, TCP_ULP, b"tls")
    except OSError as exc:
        ulps = " ".join(_sysctl_words("/proc/sys/net/ipv4/tcp_available_ulp")) or "none"
        raise _Skip(f"setsockopt(TCP_ULP, 'tls') refused: {exc.strerror or exc} "
                    f"(tcp_available_ulp: {ulps})") from None
    info = _TLS12_AES_GCM_128.pack(0x0303, 51, bytes(8), TLS_TEST_KEY, bytes(4), bytes(8))
    try:
        sock.setsockopt(SOL_TLS, TLS_TX, info)
    except OSError as exc:
        raise _Skip(f"setsockopt(SOL_TLS, TLS_TX) refused: {exc.strerror or exc}") from None


def _send_ktls_sendfile(sock: socket.socket, src_fd: int, size_bytes: int,
                        buffer_bytes: int) -> tuple[int, bool | None]:
    """sendfile() into a kTLS socket: the kernel encrypts each record (the receiver drains
    ciphertext: the file's bytes plus each record's header, nonce and tag)."""
    _start_ktls(sock)
    return _send_sendfile(sock, src_fd, size_bytes, buffer_bytes)


@dataclass
class Completions:
    """MSG_ZEROCOPY bookkeeping of one socket: ids handed out, completions reaped."""

    sends: int = 0  # MSG_ZEROCOPY sends accepted by the kernel (each gets the next id)
    completed: int = 0
    done: set[int] = field(default_factory=set)  # completed ids whose buffer is not reused yet
    copied: bool = False


def _reap_zerocopy(sock: socket.socket, state: Completions, deadline: float | None) -> int:
    """Read completions off the error queue; with a deadline, first wait for one.

    Returns the syscalls made. A MSG_ERRQUEUE read never blocks: an empty queue is EAGAIN.
    """
    calls = 0
    if deadline is not None:
        remaining_s = deadline - time.monotonic()
        if remaining_s <= 0:
            raise TimeoutError(f"MSG_ZEROCOPY: {state.sends - state.completed} completions "
                               f"missing after {IO_TIMEOUT_S:g} s")
        poller = select.poll()
        poller.register(sock, select.POLLERR)  # a non-empty error queue raises POLLERR
        poller.poll(remaining_s * 1000)
        calls += 1
    while True:
        try:
            _, ancdata, _, _ = sock.recvmsg(0, _ERRQUEUE_ANC_BYTES, MSG_ERRQUEUE)
        except BlockingIOError:
            return calls + 1
        calls += 1
        for level, kind, data in ancdata:
            if (level, kind) not in ((socket.SOL_IP, IP_RECVERR),
                                     (socket.IPPROTO_IPV6, IPV6_RECVERR)):
                continue
            ee_errno, origin, _, code, _, lo, hi = _SOCK_EXTENDED_ERR.unpack_from(data)
            if origin != SO_EE_ORIGIN_ZEROCOPY:
                raise OSError(ee_errno, f"unexpected error-queue entry (origin {origin})")
            state.completed += (hi - lo + 1) & 0xFFFFFFFF
            state.done.update(range(lo, hi + 1))
            state.copied |= bool(code & SO_EE_CODE_ZEROCOPY_COPIED)


def retire_zerocopy(sock: socket.socket, state: Completions, ids: list[int]) -> int:
    """Wait until every send in ``ids`` has completed, so that their buffer may be reused.

    Returns the syscalls made.
    """
    calls = 0
    deadline = time.monotonic() + IO_TIMEOUT_S
    while not state.done.issuperset(ids):
        calls += _reap_zerocopy(sock, state, deadline)
    state.done.difference_update(ids)
    ids.clear()
    return calls


def _send_msg_zerocopy(sock: socket.socket, src_fd: int, size_bytes: int, buffer_bytes: int
                       ) -> tuple[int, bool | None]:
    """The model's program: read() into a ring of ``ZC_BUFFERS`` buffers, send each with
    MSG_ZEROCOPY, and before reusing a buffer reap the completions of its sends."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ZEROCOPY, 1)
    except OSError as exc:
        raise _Skip(f"setsockopt(SO_ZEROCOPY) refused: {exc.strerror or exc}") from None
    state = Completions()
    ring = [memoryview(bytearray(buffer_bytes)) for _ in range(ZC_BUFFERS)]
    in_flight: list[list[int]] = [[] for _ in ring]  # ids of the sends still using a buffer
    syscalls, offset, turn = 0, 0, 0
    with open(src_fd, "rb", buffering=0, closefd=False) as src:  # readinto: one read(2)
        while offset < size_bytes:
            slot = turn % ZC_BUFFERS
            turn += 1
            syscalls += retire_zerocopy(sock, state, in_flight[slot])
            view = ring[slot]
            n = src.readinto(view[:min(buffer_bytes, size_bytes - offset)])
            syscalls += 1
            if not n:
                raise RuntimeError("source file shorter than size_bytes")
            sent = 0
            while sent < n:
                try:
                    sent += sock.send(view[sent:n], MSG_ZEROCOPY)
                except OSError as exc:
                    syscalls += 1
                    if exc.errno != errno.ENOBUFS:
                        raise
                    # optmem_max is full of pending notifications: wait for completions.
                    syscalls += _reap_zerocopy(sock, state, time.monotonic() + IO_TIMEOUT_S)
                    continue
                syscalls += 1
                in_flight[slot].append(state.sends)
                state.sends += 1
            offset += n
        for ids in in_flight:  # the pages stay pinned until every send is reported complete
            syscalls += retire_zerocopy(sock, state, ids)
    return syscalls, (state.copied if state.completed else None)


class Iovec(ctypes.Structure):
    """struct iovec, for libc calls that take one."""

    _fields_ = (("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t))


def libc_vmsplice() -> Callable | None:
    """libc's ``vmsplice(fd, iov, nr_segs, flags)``, or None where it has none."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).vmsplice
    except (AttributeError, OSError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.POINTER(Iovec), ctypes.c_ulong, ctypes.c_uint)
    fn.restype = ctypes.c_ssize_t
    return fn


def _send_vmsplice_splice(sock: socket.socket, src_fd: int, size_bytes: int,
                          buffer_bytes: int, progress: mmap.mmap) -> tuple[int, bool | None]:
    """The model's program with ``reuse = "consumed"``: read() into a ring of ``ZC_BUFFERS``
    page-aligned buffers, vmsplice(SPLICE_F_GIFT) each into a pipe, splice the pipe to the
    socket; before refilling a buffer poll ioctl(SIOCOUTQ) until its bytes are ACKed and
    then wait until the receiver has read them (its count in ``progress``): on loopback the
    ACK comes while the receive queue's skbs still reference the pages, and refilling then
    corrupts the stream. Each wait spins with sched_yield, counted, where the model sleeps."""
    vmsplice = libc_vmsplice()
    out_fd = sock.fileno()
    pipe_r, pipe_w = os.pipe()
    ring = [mmap.mmap(-1, buffer_bytes) for _ in range(ZC_BUFFERS)]
    cells = [(ctypes.c_char * buffer_bytes).from_buffer(m) for m in ring]
    held = [0] * ZC_BUFFERS  # stream offset that must be ACKed and read before a refill
    outq = bytearray(4)
    syscalls = offset = turn = 0
    try:
        while offset < size_bytes:
            slot = turn % ZC_BUFFERS
            turn += 1
            while held[slot]:
                fcntl.ioctl(out_fd, SIOCOUTQ, outq)
                syscalls += 1
                if offset - struct.unpack("<i", outq)[0] >= held[slot]:
                    break
                os.sched_yield()
                syscalls += 1
            while held[slot] and _COUNT.unpack_from(progress)[0] < held[slot]:
                os.sched_yield()  # let a receiver on this CPU run
                syscalls += 1
            n = os.readv(src_fd, [memoryview(ring[slot])[:min(buffer_bytes,
                                                               size_bytes - offset)]])
            syscalls += 1
            if not n:
                raise RuntimeError("source file shorter than size_bytes")
            done = 0
            while done < n:  # a buffer larger than the pipe takes several rounds
                iov = Iovec(ctypes.addressof(cells[slot]) + done, n - done)
                moved = vmsplice(pipe_w, ctypes.byref(iov), 1, SPLICE_F_GIFT)
                syscalls += 1
                if moved < 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"vmsplice: {os.strerror(err)}")
                done += moved
                while moved:
                    moved -= os.splice(pipe_r, out_fd, moved)
                    syscalls += 1
            offset += n
            held[slot] = offset
    finally:
        del cells  # the exported buffers, before the mappings close
        for m in ring:
            m.close()
        os.close(pipe_r)
        os.close(pipe_w)
    return syscalls, None


SENDERS: dict[str, Sender] = {
    "read_write": _send_read_write,
    "mmap_write": _send_mmap_write,
    "sendfile": _send_sendfile,
    "splice": _send_splice,
    "msg_zerocopy": _send_msg_zerocopy,
    "writev_sendfile": _send_writev_sendfile,
    "ktls_sendfile": _send_ktls_sendfile,
    "vmsplice_splice": _send_vmsplice_splice,
}
# Methods whose wire carries more than the file (kTLS record framing): the receiver must get
# at least the file's bytes, and its CRC-32 is of ciphertext, so it is not compared.
FRAMED = frozenset({"ktls_sendfile"})
# Methods that wait for the receiver's read: their child keeps a running count to share.
READS_BACK = frozenset({"vmsplice_splice"})


def unavailable_reason(path: str) -> str | None:
    """Why ``path`` cannot run on this Python/OS at all, or None."""
    if path in ("sendfile", "writev_sendfile", "ktls_sendfile") and not hasattr(os, "sendfile"):
        return "os.sendfile is not available on this platform"
    if path == "splice" and not hasattr(os, "splice"):
        return "os.splice is not available (Linux and Python >= 3.10 only)"
    if path == "msg_zerocopy" and not hasattr(socket, "CMSG_SPACE"):
        return "socket.recvmsg ancillary data is not available on this platform"
    if path == "vmsplice_splice" and (libc_vmsplice() is None or not hasattr(os, "splice")):
        return "vmsplice (libc) or os.splice is not available on this platform"
    return None


def _file_crc32(path: str, size_bytes: int) -> int:
    crc = 0
    with open(path, "rb") as fh:
        left = size_bytes
        while left:
            chunk = fh.read(min(left, 1 << 20))
            if not chunk:
                break
            crc = zlib.crc32(chunk, crc)
            left -= len(chunk)
    return crc


def _rusage_now() -> resource.struct_rusage:
    """The sender thread's rusage up to this moment. A running task's CPU time is folded
    into the kernel's account only at ticks and switches; reading the thread's CPU clock
    first brings it up to date (otherwise a run without a switch reads as no CPU at all)."""
    time.thread_time_ns()
    return resource.getrusage(RUSAGE_SENDER)


def _one_run(path: str, source: str, size_bytes: int, buffer_bytes: int,
             expected_crc: int | None, cpu: int | None, receiver_cpu: int | None,
             congestion: str | None) -> RealRun:
    sender = SENDERS[path]
    cpus = {c for c in (cpu, receiver_cpu) if c is not None}
    softirq = softirq_clock(cpu) if cpu is not None else (lambda: 0.0)
    other_cpu = receiver_cpu if receiver_cpu not in (None, cpu) else None
    receiver_softirq = softirq_clock(other_cpu) if other_cpu is not None else (lambda: 0.0)
    reads_back = path in READS_BACK
    with (loopback_peer("drain", verify=expected_crc is not None, cpu=receiver_cpu,
                        progress=reads_back) as peer,
          pinned(cpu)):
        if congestion is not None:
            try:
                set_congestion(peer.sock, congestion)
            except OSError as exc:
                raise _Skip(f"setsockopt(TCP_CONGESTION, {congestion!r}) refused: "
                            f"{exc.strerror or exc}") from None
        used = congestion_of(peer.sock)
        fd = os.open(source, os.O_RDONLY)
        try:
            # every CPU: a task on another one still shares the cache and the memory bus
            everywhere = set(range(os.cpu_count() or 1))
            bystanders = Bystanders(everywhere, {peer.pid} | ksoftirqd_pids(cpus or everywhere))
            softirq_before, receiver_softirq_before = softirq(), receiver_softirq()
            segments_before = data_segments_out(peer.sock)
            counters_before = receive_counters()
            before = _rusage_now()
            start_ns = time.monotonic_ns()
            try:
                syscalls, copied = (
                    sender(peer.sock, fd, size_bytes, buffer_bytes, peer.progress)
                    if reads_back else sender(peer.sock, fd, size_bytes, buffer_bytes))
            except BlockingIOError:
                raise TimeoutError(f"{path}: loopback socket idle for {IO_TIMEOUT_S:g} s"
                                   ) from None
            after = _rusage_now()  # the sender's work, not the handshake
            report = peer.finish()
            segments_after = data_segments_out(peer.sock)  # all sent: the receiver has it
            counters_after = receive_counters()
            softirq_s = softirq() - softirq_before
            receiver_softirq_s = receiver_softirq() - receiver_softirq_before
            # the transfer ends when the receiver holds the last byte (not at its report)
            wall_s = (report.last_data_ns - start_ns) / 1e9
            others_s, steal_s = bystanders.measure(wall_s)
        finally:
            os.close(fd)
    framed = path in FRAMED
    if report.received_bytes < size_bytes or (report.received_bytes > size_bytes
                                              and not framed):
        raise RuntimeError(f"{path}: receiver got {report.received_bytes} bytes, "
                           f"sent {size_bytes}")
    if expected_crc is not None and not framed and report.crc32 != expected_crc:
        raise RuntimeError(f"{path}: received data differs from the file (CRC-32 mismatch)")
    return RealRun(
        path=path, size_bytes=size_bytes, buffer_bytes=buffer_bytes, repeats=1, wall_s=wall_s,
        throughput_bytes_per_s=size_bytes / wall_s,
        user_cpu_s=after.ru_utime - before.ru_utime, sys_cpu_s=after.ru_stime - before.ru_stime,
        receiver_cpu_s=report.cpu_s, softirq_cpu_s=softirq_s, syscalls=syscalls,
        voluntary_context_switches=after.ru_nvcsw - before.ru_nvcsw,
        involuntary_context_switches=after.ru_nivcsw - before.ru_nivcsw,
        minor_faults=after.ru_minflt - before.ru_minflt, zerocopy_copied=copied,
        sender_cpu=cpu, receiver_cpu=receiver_cpu, congestion=used,
        receiver_softirq_cpu_s=receiver_softirq_s, others_cpu_s=others_s, steal_s=steal_s,
        receiver_wakeups=report.voluntary_context_switches,
        first_data_s=max(0, report.first_data_ns - start_ns) / 1e9,
        data_segments=(None if segments_before is None or segments_after is None
                       else segments_after - segments_before),
        receive=counters_delta(counters_before, counters_after))


def median_run(runs: list[RealRun]) -> RealRun:
    """Each figure is the median over the runs (of one path and size), field by field."""
    def med(name: str) -> float:
        return statistics.median(getattr(r, name) for r in runs)

    def med_int(name: str) -> int:
        return statistics.median_low(getattr(r, name) for r in runs)

    wall_s = med("wall_s")
    copied = [r.zerocopy_copied for r in runs if r.zerocopy_copied is not None]
    segments = [r.data_segments for r in runs if r.data_segments is not None]
    return replace(
        runs[0], repeats=len(runs), wall_s=wall_s,
        throughput_bytes_per_s=runs[0].size_bytes / wall_s,
        user_cpu_s=med("user_cpu_s"), sys_cpu_s=med("sys_cpu_s"),
        receiver_cpu_s=med("receiver_cpu_s"), softirq_cpu_s=med("softirq_cpu_s"),
        receiver_softirq_cpu_s=med("receiver_softirq_cpu_s"), others_cpu_s=med("others_cpu_s"),
        steal_s=med("steal_s"), receiver_wakeups=med_int("receiver_wakeups"),
        first_data_s=med("first_data_s"), syscalls=med_int("syscalls"),
        voluntary_context_switches=med_int("voluntary_context_switches"),
        involuntary_context_switches=med_int("involuntary_context_switches"),
        minor_faults=med_int("minor_faults"), zerocopy_copied=any(copied) if copied else None,
        data_segments=statistics.median_low(segments) if segments else None,
        receive=_median_counters([r.receive for r in runs]))


def _median_counters(readings: list[dict[str, int] | None]) -> dict[str, int] | None:
    """The median (low) of each counter over the runs that could read them."""
    known = [r for r in readings if r is not None]
    if not known:
        return None
    return {key: statistics.median_low(r[key] for r in known) for key in known[0]}


def run_real(path: str, size_bytes: int, buffer_bytes: int = 65536, repeats: int = 3, *,
             source: str | None = None, verify: bool = False, cpu: int | None = None,
             receiver_cpu: int | None = None, congestion: str | None = None) -> RealRun:
    """Send ``size_bytes`` of a cached file over loopback TCP with method ``path``.

    ``buffer_bytes`` is the per-call amount (read size, send size, splice count; sendfile
    always asks for the rest of the file). ``source`` reuses a file from ``source_file``;
    otherwise a temporary one is made. ``verify`` checks the receiver's CRC-32 (costs receiver
    CPU, not sender's). ``cpu`` pins the sender and its receiver to that one CPU, so that
    where the scheduler puts them cannot change from run to run; ``receiver_cpu`` puts the
    receiver on another. ``congestion`` sets the sending socket's congestion controller
    (the host's default otherwise); one the kernel refuses makes the run a skip.
    """
    if path not in SENDERS:
        raise ValueError(f"unknown path {path!r}; expected one of {', '.join(PATHS)}")
    _check_size(size_bytes)
    if not 0 < buffer_bytes <= MAX_BUFFER_BYTES:
        raise ValueError(f"buffer_bytes must be in 1..{MAX_BUFFER_BYTES}, got {buffer_bytes}")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    if receiver_cpu is None:
        receiver_cpu = cpu
    for which in (cpu, receiver_cpu):
        if which is not None and which not in os.sched_getaffinity(0):
            raise ValueError(f"cpu {which} is not one this process may run on "
                             f"({sorted(os.sched_getaffinity(0))})")
    reason = unavailable_reason(path)
    if reason is not None:
        return RealRun(path, size_bytes, buffer_bytes, repeats, skipped=reason)
    with contextlib.ExitStack() as stack:
        if source is None:
            source = stack.enter_context(source_file(size_bytes))
        elif Path(source).stat().st_size < size_bytes:
            raise ValueError(f"{source} is shorter than {size_bytes} bytes")
        expected_crc = _file_crc32(source, size_bytes) if verify else None
        runs = []
        for _ in range(repeats):
            try:
                runs.append(_one_run(path, source, size_bytes, buffer_bytes, expected_crc,
                                     cpu, receiver_cpu, congestion))
            except _Skip as exc:
                return RealRun(path, size_bytes, buffer_bytes, repeats, skipped=str(exc))
        return median_run(runs)


def run_all(size_bytes: int, buffer_bytes: int = 65536, repeats: int = 3,
            paths: tuple[str, ...] = PATHS, verify: bool = False, cpu: int | None = None,
            receiver_cpu: int | None = None, congestion: str | None = None) -> list[RealRun]:
    """Every method on one shared cached source file."""
    with source_file(size_bytes) as source:
        return [run_real(p, size_bytes, buffer_bytes, repeats, source=source, verify=verify,
                         cpu=cpu, receiver_cpu=receiver_cpu, congestion=congestion)
                for p in paths]
