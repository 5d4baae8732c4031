"""io_uring: IORING_OP_READ_FIXED into registered buffers, then IORING_OP_SEND_ZC.

The buffers are registered once (``io_uring/rsrc.c:io_sqe_buffers_register``: pinned and
accounted at registration, not per send as MSG_ZEROCOPY does); each 64 KiB chunk is two
SQEs, a read into one buffer and a zero-copy send of it (``io_uring/net.c:io_send_zc``,
IORING_RECVSEND_FIXED_BUF). The send's result CQE comes at once; its notification CQE
(IORING_CQE_F_NOTIF, ``io_uring/notif.c:io_tx_ubuf_complete``) only when the skbs holding
the pages are freed after the ACK, and only then may the buffer be read into again.
``sq_batch`` SQEs go per ``io_uring_enter``, which also waits (``min_complete``) for the
notifications the next batch's buffers need, as ``io_uring_submit_and_wait`` does; with
``sqpoll`` a kernel thread submits and the program spins on the completion ring: no
syscall after setup. ``zc = false`` sends with plain IORING_OP_SEND (copied), for the
comparison.
"""

from __future__ import annotations

from iosim.kernel.io_uring import READ_FIXED, SEND, SEND_ZC, IoUring
from iosim.kernel.process import UserBuffer
from iosim.paths.registry import USER_BUFFER, WORKER, PathSpec, SetUp, register


def buffers(m, sc) -> list[UserBuffer]:
    """The ``zc_buffers`` buffers of ``buffer_bytes`` one transfer cycles through."""
    return [UserBuffer(m.task, sc.buffer_bytes, m.page_bytes, sc.buffer_offset_bytes)
            for _ in range(sc.zc_buffers)]


def open_ring(m, sc):
    """``io_uring_setup`` (``io_uring/io_uring.c:io_uring_setup``: the rings) and
    ``io_uring_register(IORING_REGISTER_BUFFERS)`` (``io_uring/rsrc.c:
    io_sqe_buffers_register``: the buffers faulted in and pinned); a thread's resource,
    so a server makes it once per worker."""
    ring = IoUring(m.task, sc.sqpoll)
    yield from ring.register_buffers(buffers(m, sc))
    return ring


def close_ring(ring: IoUring) -> None:
    """close(ring) unpins the registered buffers (``io_ring_ctx_free``); then free them."""
    ring.close()
    for group in ring.groups:
        for buf in group:
            buf.free()


RING = SetUp("ring", WORKER, open_ring, close_ring)


def program(m, sc):
    """``register(bufs); (prep_read_fixed; prep_send_zc) x chunks, enter per sq_batch``"""
    ring = yield from m.set_up(RING, sc)
    if not ring.free:  # a server's worker: its other connections' transfers hold them all
        yield from ring.register_buffers(buffers(m, sc))
    s = ring.session(m.socket, m.cache, m.file)
    bufs = s.buffers
    pos, end = sc.offset_bytes, sc.offset_bytes + sc.size_bytes
    chunks = -(-sc.size_bytes // sc.buffer_bytes)
    send_op = SEND_ZC if sc.zc else SEND
    ops = 0  # SQEs queued so far; chunk c is ops 2c (read) and 2c + 1 (send)
    for chunk in range(chunks):
        slot = chunk % len(bufs)
        if slot in s.busy:  # only when the batch did not wait for it (zc_buffers small)
            yield from s.enter({slot})
        n = min(sc.buffer_bytes, end - pos)
        for op in (READ_FIXED, send_op):
            s.prep(op, slot, n, pos)
            ops += 1
            if len(s.sq) >= sc.sq_batch:
                # wait for the buffers the next batch reads into; after the last, for all
                nxt = ({(o // 2) % len(bufs) for o in range(ops, ops + sc.sq_batch)
                        if o % 2 == 0} if ops < 2 * chunks else set(range(len(bufs))))
                yield from s.enter(nxt)
        pos += n
    if s.sq or s.busy:
        yield from s.enter(set(range(len(bufs))))  # the rest, and every notification
    s.end()
    m.release(RING, ring)


SPEC = register(PathSpec(
    "io_uring_send_zc", program,
    "io_uring: READ_FIXED into registered buffers, SEND_ZC, notification CQE after the ACK",
    textbook_copies=(1, 2), color="#999933", references=USER_BUFFER, setup=(RING,),
    real_note="no io_uring method: the standard library has no io_uring, and driving "
              "its rings (io_uring_setup, mmap of SQ/CQ, io_uring_enter) by ctypes "
              "without liburing is a program of its own",
    notes=("textbook: io_uring is not in the textbook; the model runs the same SQEs on both "
           "kernels, the socket below differs (linux-6: records, autocork, size goal)",
           "kernel: registered buffers are pinned once (io_uring/rsrc.c:"
           "io_sqe_buffers_register); SEND_ZC posts its result CQE, then a notification CQE "
           "(IORING_CQE_F_NOTIF) when the skbs are freed after the ACK (io_uring/notif.c)",
           "--sq-batch N: one io_uring_enter per N SQEs; --sqpoll: no syscalls, the SQ "
           "thread's per-SQE work on another core; --no-zc: IORING_OP_SEND copies")))
