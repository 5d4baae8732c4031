"""vmsplice() + splice(): the user's own pages go through a pipe into the socket.

read() copies the file into a user buffer (one CPU copy), vmsplice() puts references to
the buffer's pages into a pipe (``fs/splice.c:vmsplice_to_pipe``), splice() hands them to
the socket (``fs/splice.c:splice_to_socket``; linux-6 ``tcp_sendmsg_locked`` with
MSG_SPLICE_PAGES, the textbook ``do_tcp_sendpages``): the skb frags reference the **user's**
pages until the data is ACKed, so a store into the buffer before then changes what is
sent or resent (``writer = "userbuf"``: integrity ``changed``). Nothing tells the program
when the kernel is done with the pages (unlike MSG_ZEROCOPY's completions), and
SPLICE_F_GIFT is only a promise not to touch them again, not enforced; so this program
cycles through ``zc_buffers`` buffers and, before reusing one, polls ``ioctl(SIOCOUTQ)``
until the bytes it held are ACKed.

An ACK frees the pages only if the receiver is remote. On loopback the receiving softirq
ACKs the skb as it queues it (``net/ipv4/tcp_input.c:tcp_rcv_established`` ->
``__tcp_ack_snd_check``) while its frags still reference these pages, until the reader
copies them out (``net/ipv4/tcp.c:tcp_recvmsg_locked`` -> ``skb_copy_datagram_msg``): a
refill in between is what the receiver gets (``changed_bytes``; ``hw/nic.py:
Nic._loopback_queue``). ``reuse = "consumed"`` also waits until the receiver has read the
buffer's bytes (``tp->copied_seq``), which only a receiver on the same host can tell.
"""

from __future__ import annotations

from iosim.kernel import syscalls
from iosim.kernel.process import UserBuffer
from iosim.paths.registry import USER_BUFFER, PathSpec, register

IN_FLIGHT = "vmsplice buffer in flight"  # the reason the program sleeps before reusing one
UNREAD = "vmsplice buffer not yet read"  # reuse = consumed: ACKed, the receiver still behind


def _until_acked(task, sock, seq: int):
    """Poll SIOCOUTQ until stream byte ``seq - 1`` is ACKed, sleeping to the next ACK."""
    while True:
        syscalls.ioctl_outq(task, sock)
        if sock.tcp.snd_una >= seq:
            return
        yield from task.block(sock.acked_event(), IN_FLIGHT)


def _until_consumed(task, wire, seq: int):
    """Wait until the receiver has read stream byte ``seq - 1`` (``tp->copied_seq``). Only a
    receiver on this host can say so: here the receiving thread's own count of what its
    recv() returned, read from shared memory (no syscall; a sleep is a context switch). A
    remote receiver's read is not the sender's business: its NIC copied the bytes into its
    own memory before the ACK, so the count is already there."""
    while wire.receiver.copied_seq < seq:
        yield from task.block(wire.copied_event(), UNREAD)


def program(m, sc):
    """``pipe(p); read(fd, buf); vmsplice(p[1], buf, GIFT); splice(p[0], sock)`` per buffer"""
    task, sock = m.task, m.socket
    pipe = syscalls.pipe(task, m.profile.kernel.pipe_size_bytes, m.page_bytes)
    ring = [UserBuffer(task, sc.buffer_bytes, m.page_bytes, sc.buffer_offset_bytes)
            for _ in range(sc.zc_buffers)]
    held_until = [0] * len(ring)  # stream offset the ACK must reach before reuse
    consumed = sc.reuse == "consumed"
    wire = m.wires[sock]  # the connection to its receiver
    stream = 0
    rounds = 0
    pos, end = sc.offset_bytes, sc.offset_bytes + sc.size_bytes
    while pos < end:
        slot = rounds % len(ring)
        buf = ring[slot]
        if held_until[slot]:
            yield from _until_acked(task, sock, held_until[slot])
            if consumed:
                yield from _until_consumed(task, wire, held_until[slot])
        n = yield from syscalls.read(task, m.cache, m.file, pos, buf, sc.buffer_bytes)
        done = 0
        while done < n:  # a buffer larger than the pipe takes several rounds
            done += yield from syscalls.vmsplice(task, buf, done, n - done, pipe, gift=True)
            yield from syscalls.splice_out(task, sock, pipe)
        stream += n
        held_until[slot] = stream
        pos += n
        rounds += 1
    for buf in ring:
        buf.free()  # the skbs keep their own references until the ACK


SPEC = register(PathSpec(
    "vmsplice_splice", program,
    "read() into user buffers, vmsplice() them into a pipe, splice() to the socket; "
    "--reuse consumed: wait for the reader",
    textbook_copies=(1, 2), color="#44AA99", references=USER_BUFFER,
    # the real twin waits for the reader (reuse = consumed), validate simulates the default:
    # where the model's reader keeps up, as at the profiles' costs, the two are the same run
    real_method="vmsplice_splice",
    notes=("textbook: vmsplice moves the user's pages into a pipe, 'zero-copy' / kernel: only "
           "page references (fs/splice.c:vmsplice_to_pipe -> iter_to_pipe); the read() copy "
           "remains, so 1 CPU copy",
           "SPLICE_F_GIFT changes nothing on the way to a socket (PIPE_BUF_FLAG_GIFT only lets "
           "splice to a file steal the page); the buffer stays the wire's until the ACK, so "
           "the program polls ioctl(SIOCOUTQ) before reusing one",
           "kernels: textbook splice_to_socket -> do_tcp_sendpages closes an skb per call; "
           "linux-6 tcp_sendmsg(MSG_SPLICE_PAGES) appends to the unsent tail",
           "loopback: the ACK leaves when the skb is queued (__tcp_ack_snd_check), the pages "
           "are read when the receiver copies it out (tcp_recvmsg_locked); a buffer reused "
           "in between sends its new bytes; --reuse consumed waits for the copy "
           "(tp->copied_seq), which only a local receiver can report")))
