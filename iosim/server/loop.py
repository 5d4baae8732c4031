"""Server threads: event-loop workers over non-blocking sockets, or one blocking thread per
connection, and what a path program sees of the shared host while it sends one response.

A worker runs one connection's handler at a time; the others wait on its ready list, as
``epoll_wait`` returns them (``fs/eventpoll.c:ep_poll``: one call returns every ready
socket, and sleeps only when none is). On a non-blocking socket a send that finds the send
buffer full returns what it queued, the path's partial-write loop calls again and gets
``EAGAIN`` (``net/core/stream.c:sk_stream_wait_memory`` with a zero timeout), and the worker
goes back to ``epoll_wait`` until ``sk_stream_write_space`` makes the socket writable
(EPOLLOUT); then the loop sends the rest with a new call. Every other sleep (a disk read
after a page-cache miss, a MSG_ZEROCOPY completion wait) blocks the worker's whole loop.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from iosim import events
from iosim.kernel.pagecache import DISK_WAITS
from iosim.kernel.process import Task, UserBuffer
from iosim.kernel.socket import SNDBUF_FULL
from iosim.paths.registry import CONNECTION, SetUp

EPOLL_SLEEP = "epoll_wait: no socket ready"
FILE_SOURCES = (events.PAGE_CACHE, events.MAPPING)  # copies that read page-cache pages
ZC_WAIT = "MSG_ZEROCOPY completion"  # syscalls.recv_errqueue's poll(POLLERR) sleep


def close(set_ups: dict[str, tuple[SetUp, Any]]) -> None:
    """Close a worker's or a connection's set-ups, the last made first."""
    for step, handle in reversed(set_ups.values()):
        if step.close is not None:
            step.close(handle)
    set_ups.clear()


class HeapPages:
    """The host's ``Pages`` as a server thread's heap sees them: a user buffer it frees goes
    back to the heap, still mapped, so the next malloc of it takes no page faults (glibc:
    allocations below the dynamic mmap threshold, up to 32 MiB once a larger one was freed,
    come from the heap)."""

    def __init__(self, pages, task: ServerTask) -> None:
        self.pages = pages
        self.task = task
        self.new = pages.new
        self.get = pages.get

    def put(self, pages, holder: str) -> None:
        if holder == "free":
            pages = list(pages)
            self.task.heap_free_pages += len(pages)
        self.pages.put(pages, holder)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pages, name)


class ServerTask(Task):
    """A server thread's task: blocking (``threads``) or on non-blocking sockets (``loop``)."""

    def __init__(self, *args: Any, worker: Worker, nonblocking: bool) -> None:
        super().__init__(*args)
        self.worker = worker
        self.nonblocking = nonblocking
        self.hot_set_bytes = 0  # the file data the server streams through its caches
        self.heap_free_pages = 0  # heap pages freed and still mapped: reused without faults
        self.pages = HeapPages(self.pages, self)

    def fault(self) -> None:
        """``Task.fault``, unless the page comes from the thread's heap, mapped already."""
        if self.heap_free_pages:
            self.heap_free_pages -= 1
            return
        super().fault()

    def copy(self, nbytes: int, src: str, dst: str, working_set_bytes: int | None = None,
             note: str = "", **args) -> None:
        """``Task.copy``; a page-cache source was last read when its file was last served,
        and the server has streamed its whole hot set since: it is in the last-level cache
        only if that set fits (one file alone always would)."""
        if src in FILE_SOURCES and working_set_bytes is not None:
            working_set_bytes = max(working_set_bytes, self.hot_set_bytes)
        super().copy(nbytes, src, dst, working_set_bytes, note, **args)

    def block(self, event, reason: str):
        """``Task.block``, except on a non-blocking socket: a full send buffer is EAGAIN,
        back to epoll_wait and a new send call once the socket is writable; a MSG_ZEROCOPY
        completion wait (poll(POLLERR)) returns to the loop until the error queue fills."""
        worker = self.worker
        if reason == ZC_WAIT and self.nonblocking:
            # the error queue is in the epoll set (EPOLLERR): back to the loop until it fires;
            # the program's poll() counted stands for that epoll_wait
            yield from self.sync()
            worker.release()
            value = yield event
            yield from worker.acquire(poll_counted=True)
            return value
        if reason != SNDBUF_FULL or not self.nonblocking:
            before = self.env.now
            value = yield from super().block(event, reason)
            if reason in DISK_WAITS:
                worker.disk_blocked_s += self.env.now - before
            return value
        worker.eagain += 1
        t0 = self.syscall("send")  # the partial-write loop's next call: EAGAIN
        self.leave("send", t0, 0, note="EAGAIN", error="EAGAIN")
        yield from self.sync()
        worker.release()
        value = yield event  # EPOLLOUT: sk_stream_write_space
        yield from worker.acquire()
        t0 = self.syscall("send")  # the loop sends the rest
        self.leave("send", t0, note="after EPOLLOUT")
        return value


class Worker:
    """One server thread and the connections it serves; ``acquire``/``release`` bracket the
    time one connection's handler runs on it."""

    def __init__(self, host, number: int, epoll: bool) -> None:
        self.env = host.env
        self.number = number
        self.epoll = epoll
        cpu = host.cpu.pinned(number % host.profile.cpu.cores)
        self.task = ServerTask(host.env, cpu, host.profile.cpu, host.pages, host.acct,
                               worker=self, nonblocking=epoll)
        self.cs_s = host.profile.cpu.context_switch_s
        self.busy = False
        self.ready: deque = deque()  # handlers whose socket is ready (epoll's ready list)
        self.batch = 0  # ready handlers the last epoll_wait returned and not yet run
        self.idle_since_s = 0.0
        self.held_since_s = 0.0
        self.held_s = 0.0
        self.disk_blocked_s = 0.0
        self.eagain = 0
        self.header: UserBuffer | None = None
        self.set_ups: dict[str, tuple[SetUp, Any]] = {}  # the thread's (its ring), by name

    def header_buffer(self, nbytes: int, page_bytes: int) -> UserBuffer:
        """The thread's buffer the response headers are formatted into (reused)."""
        if self.header is None:
            self.header = UserBuffer(self.task, nbytes, page_bytes)
        return self.header

    def acquire(self, poll_counted: bool = False):
        """Wait until the worker runs this connection's handler (generator);
        ``poll_counted``: the caller already counted the call the worker slept in."""
        if self.busy:
            ev = self.env.event()
            self.ready.append(ev)
            yield ev
        else:
            self.busy = True
            self._wake(poll_counted)
        self.held_since_s = self.env.now

    def _wake(self, poll_counted: bool = False) -> None:
        """The thread slept in epoll_wait (or, a blocking thread, in recv) and a request
        woke it: a context switch if time passed, and epoll_wait returns."""
        task = self.task
        acct = task.acct
        slept = self.env.now - self.idle_since_s
        if slept > 0:
            acct.context_switches += 1
            acct.blocked_s[EPOLL_SLEEP] = acct.blocked_s.get(EPOLL_SLEEP, 0.0) + slept
            task.charge(self.cs_s, "context_switch")
        if self.epoll:
            self.batch = 0
            if not poll_counted:
                task.leave("epoll_wait", task.syscall("epoll_wait"), note="1 ready")

    def release(self) -> None:
        """The handler is done for now: run the next ready connection, or sleep."""
        now = self.env.now
        self.held_s += now - self.held_since_s
        if self.ready:
            if self.batch == 0:  # one epoll_wait returns every socket ready now
                task = self.task
                self.batch = len(self.ready)
                task.leave("epoll_wait", task.syscall("epoll_wait"),
                           note=f"{self.batch} ready")
            self.batch -= 1
            self.ready.popleft().succeed()
        else:
            self.busy = False
            self.idle_since_s = now


class CacheView:
    """The shared page cache as one response's program sees it: a mapping (mmap) that sets
    ``on_unmap`` joins the host's reverse map instead of replacing every other mapping's."""

    __slots__ = ("_cache", "_mine", "_rmap")

    def __init__(self, cache, rmap: set) -> None:
        object.__setattr__(self, "_cache", cache)
        object.__setattr__(self, "_rmap", rmap)
        object.__setattr__(self, "_mine", None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cache, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "on_unmap":
            setattr(self._cache, name, value)
            return
        if self._mine is not None:
            self._rmap.discard(self._mine)
        object.__setattr__(self, "_mine", value)
        if value is not None:
            self._rmap.add(value)


class Request:
    """What a path program reads from its machine for one response: the worker's task, the
    connection's socket, the requested file, the shared cache view; the rest is the host's.
    A program that frames its stream (a header ahead of the file, kTLS records) says so in
    ``stream_prefix_bytes``/``stream_extra_bytes``, per response. Its set-ups (``SetUp``)
    are the worker's or the connection's: the first response that asks makes one, the
    later ones reuse it, and it is closed when the worker or the connection goes."""

    __slots__ = ("cache", "connection_set_ups", "file", "host", "socket",
                 "stream_extra_bytes", "stream_prefix_bytes", "task", "worker")

    def __init__(self, host, worker: Worker, socket, file, cache,
                 connection_set_ups: dict[str, tuple[SetUp, Any]]) -> None:
        self.host = host
        self.worker = worker
        self.task = worker.task
        self.socket = socket
        self.file = file
        self.cache = cache
        self.connection_set_ups = connection_set_ups
        self.stream_prefix_bytes = 0
        self.stream_extra_bytes = 0

    def set_up(self, step: SetUp, sc):
        """The set-up ``step`` where a server keeps it: with the connection (kTLS) or the
        worker (its ring); made now if this is the first response to ask. Generator."""
        kept = self.connection_set_ups if step.scope == CONNECTION else self.worker.set_ups
        if step.name not in kept:
            kept[step.name] = step, (yield from step.open(self, sc))
        return kept[step.name][1]

    def release(self, step: SetUp, handle) -> None:
        """The response is done with ``handle``; its worker or connection keeps it."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self.host, name)
