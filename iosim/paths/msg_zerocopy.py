"""send(MSG_ZEROCOPY): the NIC DMAs straight from the user pages (pinned, says the textbook;
Linux takes page references and charges them as locked memory).

A buffer may not be reused until the kernel reports its send complete, which happens after
the data is ACKed, not when it is transmitted; so the program cycles through a ring of
buffers and reaps completions from the socket's error queue before reusing one. On Linux 6
a send the kernel refuses with ENOBUFS (too many records outstanding, or the locked-memory
limit) is retried after the next completion, as a careful program does, or made a plain
send() when none is outstanding (one send alone exceeds RLIMIT_MEMLOCK).
"""

from __future__ import annotations

from iosim.kernel import syscalls
from iosim.kernel.process import UserBuffer
from iosim.paths.registry import USER_BUFFER, PathSpec, register


def program(m, sc):
    """Ring of ``zc_buffers`` buffers: read into one, send it zero-copy, reap before reuse."""
    task, sock = m.task, m.socket
    syscalls.setsockopt(task)  # SO_ZEROCOPY
    ring = [UserBuffer(task, sc.buffer_bytes, m.page_bytes, sc.buffer_offset_bytes)
            for _ in range(sc.zc_buffers)]
    in_flight: list[int | None] = [None] * len(ring)  # notification id using each buffer
    done: set[int] = set()
    # the kernel numbers the socket's accepted MSG_ZEROCOPY sends from 0; on a keep-alive
    # connection (iosim serve) earlier responses used the first ids
    next_id = sock.zc_next_id
    sends = 0

    def reap(until_id):
        while until_id not in done:
            lo, hi = yield from syscalls.recv_errqueue(task, sock)
            done.update(range(lo, hi + 1))

    pos, end = sc.offset_bytes, sc.offset_bytes + sc.size_bytes
    while pos < end:
        slot = sends % len(ring)
        if in_flight[slot] is not None:
            yield from reap(in_flight[slot])
            done.discard(in_flight[slot])
        buf = ring[slot]
        n = yield from syscalls.read(task, m.cache, m.file, pos, buf, sc.buffer_bytes)
        sent = yield from syscalls.send_zerocopy(task, sock, buf, n)
        while sent < 0 and any(i is not None and i not in done for i in in_flight):
            # ENOBUFS (linux-6: optmem or locked memory): wait for a completion, send again
            lo, hi = yield from syscalls.recv_errqueue(task, sock)
            done.update(range(lo, hi + 1))
            sent = yield from syscalls.send_zerocopy(task, sock, buf, n)
        if sent < 0:  # refused with nothing left to complete: a plain send() copies it
            yield from syscalls.write(task, sock, buf, 0, n)
            in_flight[slot] = None
        else:
            in_flight[slot] = next_id
            next_id += 1
        sends += 1
        pos += n
    for zc_id in in_flight:
        if zc_id is not None:
            yield from reap(zc_id)
    for buf in ring:
        buf.free()


SPEC = register(PathSpec(
    "msg_zerocopy", program,
    "read() into user buffers, send(MSG_ZEROCOPY): pinned pages, async completion",
    textbook_copies=(1, 2), color="#56B4E9", references=USER_BUFFER,
    real_method="msg_zerocopy"))
