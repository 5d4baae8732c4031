"""io_uring as one program uses it: a submission queue, a completion queue, registered
buffers, and the operations READ_FIXED, SEND_ZC and SEND.

The program queues SQEs (memory writes, no syscall) and hands them to the kernel with
``io_uring_enter`` (``io_uring/io_uring.c:io_submit_sqes``), or, with IORING_SETUP_SQPOLL,
a kernel thread picks them up (``io_uring/sqpoll.c:io_sq_thread``) and the program makes no
syscall at all. Each operation costs the kernel's fixed per-call work (``cpu.syscall``)
without the mode switches, and posts one CQE. Registered buffers
(``io_uring/rsrc.c:io_sqe_buffers_register``) are pinned once (``io_pin_pages``, FOLL_LONGTERM)
and accounted to RLIMIT_MEMLOCK at registration, not per send. SEND_ZC
(``io_uring/net.c:io_send_zc``) attaches the buffer's pages to skbs and carries its own
notification (``io_uring/notif.c``): the result CQE comes when the send returns
(IORING_CQE_F_MORE), the notification CQE (IORING_CQE_F_NOTIF) when every skb holding the
pages is freed, i.e. after the ACK.

Simplified: operations run in order when submitted, on the submitting task's clock (the
SQ thread's or io-wq's work is booked as the sender's); a read that misses the page cache
is waited for inline (io_uring would punt it to io-wq or retry it from task_work and let
the task go on).
"""

from __future__ import annotations

from dataclasses import dataclass

from iosim.kernel.pagecache import File, PageCache
from iosim.kernel.process import Task, UserBuffer
from iosim.kernel.socket import TcpSocket
from iosim.kernel.syscalls import read_into

READ_FIXED, SEND_ZC, SEND = "IORING_OP_READ_FIXED", "IORING_OP_SEND_ZC", "IORING_OP_SEND"
CQE_WAIT = "io_uring completion"  # the reason the program sleeps on the completion queue


@dataclass(slots=True)
class Sqe:
    """One submission: an operation on registered buffer ``buf_index``."""

    op: str
    buf_index: int
    pos: int  # file offset (READ_FIXED)
    nbytes: int


class IoUring:
    """One ring and its registered buffers: what a program sets up once
    (``io_uring/io_uring.c:io_uring_setup`` -> ``io_uring_create``, then
    ``io_uring_register``), and serves transfers with, each a ``Session`` on its own group
    of the registered buffers. A server's worker keeps one ring for all its connections
    (one ring per thread, as real servers use)."""

    def __init__(self, task: Task, sqpoll: bool) -> None:
        self.task = task
        self.sqpoll = sqpoll
        self.free: list[list[UserBuffer]] = []  # registered buffer groups no session holds
        self.groups: list[list[UserBuffer]] = []  # every registered group
        self._pinned: list = []
        t0 = task.syscall("io_uring_setup")  # the rings, mmap'd by the program
        task.leave("io_uring_setup", t0, note="IORING_SETUP_SQPOLL" if sqpoll else "",
                   flags="IORING_SETUP_SQPOLL" if sqpoll else "")

    def register_buffers(self, buffers: list[UserBuffer]):
        """io_uring_register(IORING_REGISTER_BUFFERS): fault in and pin every page once
        (``io_uring/register.c:__io_uring_register`` -> ``io_uring/rsrc.c:
        io_sqe_buffers_register`` -> ``io_sqe_buffer_register`` -> ``io_pin_pages``); a
        later group is added to the table (IORING_REGISTER_BUFFERS_UPDATE,
        ``io_register_rsrc_update``), pinned the same way."""
        task = self.task
        op = "IORING_REGISTER_BUFFERS_UPDATE" if self.groups else "IORING_REGISTER_BUFFERS"
        t0 = task.syscall("io_uring_register")
        pages = []
        for buf in buffers:
            buf.touch(0, buf.size_bytes)
            pages += [p for p in buf.pages if p is not None]
        task.pages.get(pages, "io_uring")
        task.acct.pages_pinned += len(pages)
        task.charge(len(pages) * task.spec.page_pin_s, "pin")
        self.groups.append(buffers)
        self.free.append(buffers)
        self._pinned += pages
        yield from task.sync()  # the pages are pinned before the call returns
        task.leave("io_uring_register", t0, note=op, op=op, buffers=len(buffers),
                   pages=len(pages))

    def session(self, sock: TcpSocket, cache: PageCache, file: File) -> Session:
        """One transfer on this ring: SQEs naming ``sock`` and ``file`` (their fds), on a
        registered group no other session holds (``Session.end`` gives it back)."""
        return Session(self, sock, cache, file, self.free.pop())

    def close(self) -> None:
        """close(ring): io_ring_ctx_free unpins the registered buffers."""
        self.task.pages.put(self._pinned, "io_uring")
        self._pinned = []


class Session:
    """One transfer's use of a ring: its SQEs, its buffers, the notifications it waits for.

    Sessions of one ring run side by side (a server's worker serving a second connection
    while the first waits for EPOLLOUT), each on its own registered buffers."""

    def __init__(self, ring: IoUring, sock: TcpSocket, cache: PageCache, file: File,
                 buffers: list[UserBuffer]) -> None:
        self.ring = ring
        self.task = ring.task
        self.sqpoll = ring.sqpoll
        self.sock = sock
        self.cache = cache
        self.file = file
        self.buffers = buffers
        self.sq: list[Sqe] = []
        self.notif_of: dict[int, int] = {}  # zc notification id -> the buffer it holds
        self.busy: set[int] = set()  # buffers whose notification CQE has not come

    def prep(self, op: str, buf_index: int, nbytes: int, pos: int = 0) -> None:
        """io_uring_prep_*: one SQE written into the ring (no syscall)."""
        self.sq.append(Sqe(op, buf_index, pos, nbytes))
        self.task.acct.uring_sqes += 1

    def enter(self, wait_for: set[int] = frozenset()):
        """io_uring_enter(to_submit, min_complete, GETEVENTS): run the queued SQEs, reap
        their CQEs, then sleep until the notification CQEs of buffers ``wait_for`` came
        (with SQPOLL: the thread submits, and the program spins on the CQ ring, no
        syscall)."""
        task = self.task
        t0 = None if self.sqpoll else task.syscall("io_uring_enter")
        ops = len(self.sq)
        zc_bytes = sum(s.nbytes for s in self.sq if s.op == SEND_ZC)
        while self.sq:
            yield from self._issue(self.sq.pop(0))
        self.reap()
        while wait_for & self.busy:
            yield from task.block(self.sock.errqueue_ready(), CQE_WAIT)
            self.reap()
        if t0 is not None:
            task.leave("io_uring_enter", t0, note=f"{ops} SQEs" + (
                f", wait {len(wait_for)}" if wait_for else ""), submitted=ops,
                waited=len(wait_for), zerocopy_bytes=zc_bytes)

    def _issue(self, sqe: Sqe):
        """io_issue_sqe: one operation, its fixed cost, its result CQE."""
        task, sock = self.task, self.sock
        if self.sqpoll:  # the SQ thread's work, on another core
            task.cpu.run(max(task.env.now, task.clock_s), task.spec.syscall_s, "syscall")
        else:
            task.charge(task.spec.syscall_s, "syscall")
        buf = self.buffers[sqe.buf_index]
        if sqe.op == READ_FIXED:  # io_read -> the file's read_iter into the fixed buffer
            yield from read_into(task, self.cache, self.file, sqe.pos, buf, sqe.nbytes)
        elif sqe.op == SEND_ZC:
            notif = sock.zc_next_id
            yield from sock.send_zerocopy(task, buf, 0, sqe.nbytes, fixed=True)
            self.notif_of[notif] = sqe.buf_index
            self.busy.add(sqe.buf_index)
        else:  # IORING_OP_SEND: copied like send()
            yield from sock.send_copy(task, buf, 0, sqe.nbytes)
        task.acct.uring_cqes += 1  # the result CQE (SEND_ZC: with IORING_CQE_F_MORE)

    def reap(self) -> None:
        """Read the CQ ring (memory, no syscall): notification CQEs free their buffers."""
        q = self.sock.errqueue
        while q:
            lo, hi = q.pop(0)
            for notif in range(lo, hi + 1):
                self.busy.discard(self.notif_of.pop(notif))
                self.task.acct.uring_cqes += 1  # IORING_CQE_F_NOTIF

    def end(self) -> None:
        """The transfer is done (every notification came): its buffers go back to the
        ring."""
        self.ring.free.append(self.buffers)
