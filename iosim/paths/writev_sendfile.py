"""The web server's response: a header from user memory, then the file by sendfile().

The header (``Scenario.header_bytes``, part of ``size_bytes``) is copied into the socket by
write(); with ``cork`` it goes as send(MSG_MORE) (``net/ipv4/tcp.c:tcp_sendmsg_locked``
passes MSG_MORE to ``tcp_push`` as TCP_NAGLE_CORK, the same hold as TCP_CORK), so on Linux 6
the sub-MSS header waits in the unsent tail skb and sendfile's page frags are appended to
that skb (``tcp_sendmsg_locked`` appends to ``tcp_write_queue_tail`` while it is below the
size goal): header and body share the first segment. Uncorked, ``tcp_push`` sends the header
at once as its own small segment, and Nagle (``tcp_nagle_check``) may hold the next
sub-MSS piece until it is ACKed. The textbook kernel closes an skb per call, so the header
is always its own segment. ``body = "user"`` is the scatter-gather pattern instead:
read() the file into a buffer and writev() header + buffer in one call
(``fs/read_write.c:do_writev``), so the body is copied like read_write's.
"""

from __future__ import annotations

from iosim.kernel import syscalls
from iosim.kernel.process import UserBuffer
from iosim.paths.registry import PAGE_CACHE, PathSpec, register


def program(m, sc):
    """``send(sock, hdr, h, cork ? MSG_MORE : 0); sendfile(sock, fd, &off, size - h)``"""
    task, sock = m.task, m.socket
    head = min(sc.header_bytes, sc.size_bytes)
    m.stream_prefix_bytes = head  # the stream's first bytes are the header, not the file
    hdr = UserBuffer(task, head, m.page_bytes) if head else None
    pos, end = sc.offset_bytes, sc.offset_bytes + sc.size_bytes - head
    if sc.body == "user":
        buf = UserBuffer(task, sc.buffer_bytes, m.page_bytes, sc.buffer_offset_bytes)
        first = True
        while pos < end or (first and hdr is not None):
            n = 0
            if pos < end:
                n = yield from syscalls.read(task, m.cache, m.file, pos, buf,
                                             min(sc.buffer_bytes, end - pos))
            if first and hdr is not None:
                iov = [(hdr, 0, head)] + ([(buf, 0, n)] if n else [])
                yield from syscalls.writev(task, sock, syscalls.IoVec(iov))
            else:
                yield from syscalls.write(task, sock, buf, 0, n)
            first = False
            pos += n
        buf.free()
    else:
        if hdr is not None:
            # MSG_MORE only when a body follows: nothing would push a lone corked header
            yield from syscalls.write(task, sock, hdr, 0, head, more=sc.cork and pos < end)
        while pos < end:
            pos += yield from syscalls.sendfile(task, m.cache, m.file, pos, sock, end - pos)
    if hdr is not None:
        hdr.free()


SPEC = register(PathSpec(
    "writev_sendfile", program,
    "a header by send(MSG_MORE) + the file by sendfile(); --body user: writev()",
    textbook_copies=(0, 2), color="#882255", references=PAGE_CACHE, sends_header=True,
    real_method="writev_sendfile",  # send(header, MSG_MORE) + sendfile, the default body
    notes=("textbook: 0 CPU copies for the body, the header (--header, 256 B) copied once; "
           "each call closes its skb, so the header is its own segment corked or not",
           "kernel (linux-6): send(MSG_MORE) = TCP_NAGLE_CORK holds the header in the unsent "
           "tail and sendfile's frags join that skb (net/ipv4/tcp.c:tcp_sendmsg_locked); "
           "--cork off sends it alone, then Nagle (tcp_nagle_check) may hold a small piece",
           "--body user: read() + writev(header, buffer), copied like read_write "
           "(fs/read_write.c:do_writev)")))
