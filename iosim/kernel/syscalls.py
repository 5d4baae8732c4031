"""The syscalls the paths are made of, each as the kernel carries it out.

Every syscall costs two mode switches and its fixed cost; blocking inside one (disk, full
send buffer, no completion yet) is a context switch. sendfile() is built on splice, as in
Linux since 2.6.23: a per-task internal pipe of 16 buffers limits each round.
"""

from __future__ import annotations

from iosim import events
from iosim.kernel.pagecache import DISK_READ, File, PageCache
from iosim.kernel.pipe import Pipe
from iosim.kernel.process import Mapping, Task, UserBuffer
from iosim.kernel.skbuff import add_run, whole_pages
from iosim.kernel.socket import TcpSocket, user_pieces

PIPE_DEF_BUFFERS = 16  # the internal pipe of sendfile (do_splice_direct)
MAX_RW_COUNT = 0x7FFFF000  # one read/write/sendfile call moves at most this many bytes


def _file_runs(file: File, pages, pos: int, nbytes: int) -> list[list[int]]:
    """Content-version runs of file bytes ``pos .. pos+nbytes-1`` held by ``pages``."""
    version = pages[0].version
    for p in pages:
        if p.version != version:
            break
    else:  # the common case: one run
        return [[version, nbytes]]
    pb = file.page_bytes
    out: list[list[int]] = []
    first = pages[0].index
    end = pos + nbytes
    while pos < end:
        page = pages[pos // pb - first]
        n = min(end, (page.index + 1) * pb) - pos
        add_run(out, page.version, n)
        pos += n
    return out


def _lookup(cache: PageCache, file: File, pos: int, nbytes: int):
    """textbook filemap_get_pages, first try: (the pages under a file range, None when all
    are uptodate, else the event to wait for: then ``_cached`` waits)."""
    pb = file.page_bytes
    first = pos // pb
    return cache.read_pages(file, first, (pos + nbytes - 1) // pb - first + 1)


def _cached(task: Task, cache: PageCache, file: File, pos: int, nbytes: int, pages, wait):
    """textbook filemap_get_pages after ``_lookup`` gave ``pages`` and a ``wait``: the
    uptodate pages under the range, waiting for the disk.

    While it waits the reader holds a reference on each page, so reclaim cannot take them;
    a truncate can still detach them, and then the lookup starts over.
    """
    while wait is not None:
        task.pages.get(pages, "read")
        yield from task.block(wait, DISK_READ)
        task.pages.put(pages, "read")
        if all(p.in_cache for p in pages):
            break
        pages, wait = _lookup(cache, file, pos, nbytes)
    return pages


def _batch(cache: PageCache, file: File, pos: int, count: int):
    """linux-6 mm/filemap.c:filemap_get_pages for ``count`` bytes asked at ``pos``: (the
    next batch of uptodate pages, its references held for the caller as "read", None), or
    ([], the event to wait for before asking again)."""
    pb = file.page_bytes
    return cache.get_batch(file, pos // pb, -(-(pos + count) // pb), "read")


def _read_linux6(task: Task, cache: PageCache, file: File, pos: int, buf: UserBuffer,
                 count: int):
    """mm/filemap.c:filemap_read: batch by batch, each copied while its references are
    held (1 -> 2 -> copy -> 1, review K19); read-ahead sized from the bytes asked."""
    end = min(pos + count, file.size_bytes)
    done = 0
    while pos + done < end:
        at = pos + done
        batch, wait = _batch(cache, file, at, count - done)
        if wait is not None:
            yield from task.block(wait, DISK_READ)
            continue
        n = min(end, (batch[-1].index + 1) * file.page_bytes) - at
        buf.touch(done, n)  # copy_to_user faults in buffer pages never touched
        where = {"buffer_offset": done} if done else {}  # a later batch of the same read
        task.copy(n, events.PAGE_CACHE, events.USER_BUFFER, file.size_bytes, file_offset=at,
                  buffer=buf.number, **where)
        buf.fill(done, _file_runs(file, batch, at, n))
        task.pages.put(batch, "read")
        done += n
    cache.ra_state(file).prev_pos = pos + done
    return done


def read(task: Task, cache: PageCache, file: File, pos: int, buf: UserBuffer, nbytes: int):
    """read(fd, buf, n): page cache -> user buffer, one CPU copy (copy_to_user)."""
    t0 = task.syscall("read")
    if min(nbytes, MAX_RW_COUNT, file.size_bytes - pos) <= 0:
        return 0
    nbytes = yield from read_into(task, cache, file, pos, buf, nbytes)
    task.leave("read", t0, nbytes, events.PAGE_CACHE, events.USER_BUFFER)
    return nbytes


def read_into(task: Task, cache: PageCache, file: File, pos: int, buf: UserBuffer,
              nbytes: int):
    """The work of read() inside the kernel (``vfs_read`` -> ``filemap_read``), for
    read() and for io_uring's IORING_OP_READ_FIXED: bytes copied into ``buf``."""
    count = min(nbytes, MAX_RW_COUNT)
    nbytes = min(count, file.size_bytes - pos)
    if nbytes <= 0:
        return 0
    if cache.linux6:
        return (yield from _read_linux6(task, cache, file, pos, buf, count))
    pages, wait = _lookup(cache, file, pos, nbytes)
    if wait is not None:
        pages = yield from _cached(task, cache, file, pos, nbytes, pages, wait)
    buf.touch(0, nbytes)  # copy_to_user faults in buffer pages never touched
    task.copy(nbytes, events.PAGE_CACHE, events.USER_BUFFER, file.size_bytes, file_offset=pos,
              buffer=buf.number)
    buf.fill(0, _file_runs(file, pages, pos, nbytes))
    # no need to let time catch up here: the next push or sleep does (one event less)
    return nbytes


def write(task: Task, sock: TcpSocket, source, start: int, nbytes: int, more: bool = False):
    """write(sock, buf, n) on a blocking socket: copies all n bytes into skbs; ``more`` makes
    it send(..., MSG_MORE): the last partial segment waits for more (linux-6)."""
    t0 = task.syscall("send" if more else "write")
    yield from sock.send_copy(task, source, start, nbytes, more)  # copy_from_user faults
    yield from task.sync()
    if more:
        task.leave("send", t0, nbytes, source.label, events.SOCKET, "MSG_MORE",
                   flags="MSG_MORE")
    else:
        task.leave("write", t0, nbytes, source.label, events.SOCKET)
    return nbytes


class IoVec:
    """A ``struct iovec`` array as one copy source: writev() copies its segments in order
    (``lib/iov_iter.c``: one iov_iter over every segment, one tcp_sendmsg call)."""

    def __init__(self, segments: list[tuple[UserBuffer, int, int]]) -> None:
        self.segments = segments  # (buffer, start, bytes)
        self.label = events.USER_BUFFER
        self.working_set_bytes = sum(n for _, _, n in segments)

    def copy_runs(self, start: int, nbytes: int):
        """copy_from_user over the segments under bytes ``start .. start+nbytes-1``."""
        out: list[list[int]] = []
        pos = 0
        for buf, first, n in self.segments:
            lo, hi = max(pos, start), min(pos + n, start + nbytes)
            if lo < hi:
                for version, k in (yield from buf.copy_runs(first + lo - pos, hi - lo)):
                    add_run(out, version, k)
            pos += n
        return out


def writev(task: Task, sock: TcpSocket, iov: IoVec):
    """writev(sock, iov, n): one syscall, one tcp_sendmsg over every segment
    (``fs/read_write.c:do_writev`` -> ``sock_write_iter``): the header and the body share
    skbs as if they were one buffer."""
    t0 = task.syscall("writev")
    nbytes = iov.working_set_bytes
    yield from sock.send_copy(task, iov, 0, nbytes)
    yield from task.sync()
    task.leave("writev", t0, nbytes, iov.label, events.SOCKET, f"{len(iov.segments)} iovecs",
               iovecs=len(iov.segments))
    return nbytes


def mmap(task: Task, cache: PageCache, file: File, fault_around_bytes: int) -> Mapping:
    """mmap(PROT_READ, MAP_SHARED): sets up the VMA; pages come later, by faults."""
    task.leave("mmap", task.syscall("mmap"))
    return Mapping(task, cache, file, max(1, fault_around_bytes // file.page_bytes))


def munmap(task: Task, mapping: Mapping) -> None:
    """munmap(): tear down the mapping, dropping its page references."""
    t0 = task.syscall("munmap")
    mapping.unmap()
    task.leave("munmap", t0)


def pipe(task: Task, size_bytes: int, page_bytes: int) -> Pipe:
    """pipe() (+ F_SETPIPE_SZ when the size is not the default)."""
    task.leave("pipe", task.syscall("pipe"))
    return Pipe(size_bytes, page_bytes)


def splice_to_pipe(task: Task, cache: PageCache, file: File, pos: int, nbytes: int,
                    pipe: Pipe):
    """filemap_splice_read: reference page-cache pages into pipe buffers; no copy."""
    t0 = max(task.env.now, task.clock_s)
    pb = file.page_bytes
    room = pipe.free_slots * pb - pos % pb
    if cache.linux6:
        n = yield from _splice_read_linux6(task, cache, file, pos,
                                           min(nbytes, pipe.free_slots * pb), pipe)
        if n:
            _trace_pipe(task, events.PAGE_CACHE, events.PIPE, t0, -(-(pos % pb + n) // pb), n)
        return n
    nbytes = min(nbytes, room, file.size_bytes - pos)
    if nbytes <= 0:
        return 0
    pages, wait = _lookup(cache, file, pos, nbytes)
    if wait is not None:
        pages = yield from _cached(task, cache, file, pos, nbytes, pages, wait)
    task.pages.get(pages, "pipe")
    task.charge(len(pages) * task.spec.pipe_op_s, "pipe")
    # whole pages in between; only the first and last may be partial
    _fill_pipe(pipe, pages, pos % pb, (pos + nbytes) - pages[-1].index * pb, pb)
    _trace_pipe(task, events.PAGE_CACHE, events.PIPE, t0, len(pages), nbytes)
    return nbytes


def _fill_pipe(pipe: Pipe, pages, head: int, tail: int, page_bytes: int) -> None:
    """One pipe buffer per page of a contiguous run: whole pages, except that the first
    starts ``head`` bytes in and the last ends ``tail`` bytes in."""
    buffers = whole_pages(pages, page_bytes)
    first = buffers[0]
    first.offset = head
    first.len = page_bytes - head
    last = buffers[-1]
    last.len = tail - last.offset
    pipe.buffers.extend(buffers)


def _splice_read_linux6(task: Task, cache: PageCache, file: File, pos: int, count: int,
                        pipe: Pipe):
    """linux-6 mm/filemap.c:filemap_splice_read for ``count`` bytes (at most the free
    slots' worth): per batch, splice_folio_into_pipe takes the pipe's reference before
    folio_batch_release drops the batch's (1 -> 2 -> 3 -> 2, review K19)."""
    pb = file.page_bytes
    end = min(pos + count, file.size_bytes)
    done = 0
    while pos + done < end and pipe.free_slots:
        at = pos + done
        batch, wait = _batch(cache, file, at, count - done)
        if wait is not None:
            yield from task.block(wait, DISK_READ)
            continue
        spliced = batch[:pipe.free_slots]
        task.pages.get(spliced, "pipe")
        # contiguous pages: only the first and the last may be partial
        last_start = spliced[-1].index * pb
        tail = min(end, last_start + pb) - last_start
        _fill_pipe(pipe, spliced, at % pb, tail, pb)
        done += last_start + tail - at
        task.charge(len(spliced) * task.spec.pipe_op_s, "pipe")
        task.pages.put(batch, "read")
    cache.ra_state(file).prev_pos = pos + done
    return done


def _splice_from_pipe(task: Task, sock: TcpSocket, pipe: Pipe, more: bool = False):
    """splice_to_socket: hand every pipe buffer to the socket (MSG_MORE if ``more``), then
    release it."""
    t0 = max(task.env.now, task.clock_s)
    buffers = list(pipe.buffers)
    pipe.buffers.clear()
    yield from sock.send_pages(task, buffers, more)
    task.charge(len(buffers) * task.spec.pipe_op_s, "pipe")
    task.pages.put_frags(buffers, "pipe")
    nbytes = 0
    for b in buffers:
        nbytes += b.len
    _trace_pipe(task, events.PIPE, events.SOCKET, t0, len(buffers), nbytes)
    return nbytes


def _trace_pipe(task: Task, src: str, dst: str, start_s: float, buffers: int, nbytes: int
                ) -> None:
    """Trace one pass of pipe buffers (page references, not bytes): sendfile's internal
    rounds are otherwise invisible inside its one syscall."""
    if task.acct.trace is not None:
        task.acct.trace.add(events.pipe(src, dst, start_s, max(task.env.now, task.clock_s),
                                        buffers, nbytes))


def vmsplice(task: Task, buf: UserBuffer, start: int, nbytes: int, pipe: Pipe,
             gift: bool = False):
    """vmsplice(pipe, {buf + start, nbytes}, 1, gift ? SPLICE_F_GIFT : 0): the user pages
    into the pipe by reference, as many as it has free slots (``fs/splice.c:
    vmsplice_to_pipe`` -> ``iter_to_pipe``: ``iov_iter_get_pages2`` takes a reference on
    each page, ``user_page_pipe_buf_ops``). SPLICE_F_GIFT only sets PIPE_BUF_FLAG_GIFT,
    which lets a later splice *to a file* steal the page (``user_page_pipe_buf_try_steal``);
    spliced to a socket the page is referenced either way and the flag changes nothing."""
    t0 = task.syscall("vmsplice")
    todo = user_pieces(buf, start, nbytes)[:pipe.free_slots]
    pages = [b.page for b in todo]
    task.pages.get(pages, "pipe")
    task.acct.pages_pinned += len(pages)  # get_user_pages references
    task.charge(len(pages) * (task.spec.page_pin_s + task.spec.pipe_op_s), "pipe")
    pipe.buffers.extend(todo)
    n = sum(b.len for b in todo)
    _trace_pipe(task, events.USER_BUFFER, events.PIPE, t0, len(todo), n)
    yield from task.sync()
    flags = "SPLICE_F_GIFT" if gift else ""
    task.leave("vmsplice", t0, n, events.USER_BUFFER, events.PIPE, flags, flags=flags,
               pages=len(todo))
    return n


def ioctl_outq(task: Task, sock: TcpSocket) -> int:
    """ioctl(sock, SIOCOUTQ): bytes written and not yet ACKed (``net/ipv4/tcp.c:tcp_ioctl``:
    ``tp->write_seq - tp->snd_una``)."""
    t0 = task.syscall("ioctl")
    left = sock.write_seq - sock.tcp.snd_una
    task.leave("ioctl", t0, note="SIOCOUTQ", request="SIOCOUTQ", unacked=left)
    return left


def splice_in(task: Task, cache: PageCache, file: File, pos: int, pipe: Pipe, nbytes: int):
    """splice(file -> pipe): as many bytes as the pipe has room for."""
    t0 = task.syscall("splice")
    n = yield from splice_to_pipe(task, cache, file, pos, nbytes, pipe)
    yield from task.sync()
    task.leave("splice", t0, n, events.FILE, events.PIPE, direction="file -> pipe")
    return n


def splice_out(task: Task, sock: TcpSocket, pipe: Pipe, more: bool = False):
    """splice(pipe -> socket): everything in the pipe. ``more`` is SPLICE_F_MORE, which
    ``fs/splice.c:splice_to_socket`` passes on as MSG_MORE: on Linux 6 the last partial
    segment waits in the unsent tail for the next call's pages."""
    t0 = task.syscall("splice")
    n = yield from _splice_from_pipe(task, sock, pipe, more)
    yield from task.sync()
    flags = "SPLICE_F_MORE" if more else ""
    task.leave("splice", t0, n, events.PIPE, events.SOCKET, flags, direction="pipe -> socket",
               flags=flags)
    return n


def sendfile(task: Task, cache: PageCache, file: File, pos: int, sock: TcpSocket,
             nbytes: int):
    """sendfile(): splice rounds through the task's internal 16-buffer pipe, in one call;
    every round but the last carries MSG_MORE (``fs/splice.c:splice_direct_to_actor`` sets
    SPLICE_F_MORE until the request is read), so round tails wait to be filled."""
    t0 = task.syscall("sendfile")
    nbytes = min(nbytes, MAX_RW_COUNT, file.size_bytes - pos)
    internal = Pipe(PIPE_DEF_BUFFERS * file.page_bytes, file.page_bytes)
    done = 0
    while done < nbytes:
        n = yield from splice_to_pipe(task, cache, file, pos + done, nbytes - done, internal)
        yield from _splice_from_pipe(task, sock, internal, done + n < nbytes)
        done += n
    yield from task.sync()
    task.leave("sendfile", t0, done, events.FILE, events.SOCKET)
    return done


def send_zerocopy(task: Task, sock: TcpSocket, buf: UserBuffer, nbytes: int):
    """send(sock, buf, n, MSG_ZEROCOPY): references the buffer pages instead of copying
    them; returns n, or -1 when the kernel refuses it with ENOBUFS (linux-6: optmem or
    locked-memory limit) and nothing was queued."""
    t0 = task.syscall("send")
    ok = yield from sock.send_zerocopy(task, buf, 0, nbytes)
    yield from task.sync()
    if not ok:
        task.leave("send", t0, 0, events.USER_BUFFER, events.SOCKET, "MSG_ZEROCOPY: ENOBUFS",
                   flags="MSG_ZEROCOPY", error="ENOBUFS")
        return -1
    task.leave("send", t0, nbytes, events.USER_BUFFER, events.SOCKET, "MSG_ZEROCOPY",
               flags="MSG_ZEROCOPY")
    return nbytes


def setsockopt(task: Task, sock: TcpSocket | None = None, option: str = "SO_ZEROCOPY",
               value: int = 1) -> None:
    """setsockopt(option, value): SO_ZEROCOPY, or TCP_CORK / TCP_NODELAY on ``sock``
    (linux-6: ``TcpSocket.setsockopt``); one plain syscall."""
    t0 = task.syscall("setsockopt")
    if sock is not None:
        sock.setsockopt(task, option, value)
    note = option if value == 1 else f"{option}={value}"
    task.leave("setsockopt", t0, note=note, option=option)


def recv_errqueue(task: Task, sock: TcpSocket):
    """poll(POLLERR) if nothing is queued, then recvmsg(MSG_ERRQUEUE): one completion range.

    Returns [lo, hi]: every send with an id in that range has completed.
    """
    if not sock.errqueue:
        t0 = task.syscall("poll")  # sleeps until a completion is queued
        yield from task.block(sock.errqueue_ready(), "MSG_ZEROCOPY completion")
        task.leave("poll", t0, note="POLLERR", events="POLLERR")
    t0 = task.syscall("recvmsg")  # time catches up at the next push or sleep
    lo, hi = sock.read_errqueue()
    task.leave("recvmsg", t0, note="MSG_ERRQUEUE", flags="MSG_ERRQUEUE",
               completed=f"{lo}..{hi}")
    return [lo, hi]
