"""sendfile(): no user buffer; with SG the skb frags reference the page-cache pages."""

from __future__ import annotations

from iosim.kernel import syscalls


def program(m, sc):
    """``while off < size: off += sendfile(sock, fd, &off, size - off)``."""
    pos, end = sc.offset_bytes, sc.offset_bytes + sc.size_bytes
    while pos < end:
        pos += yield from syscalls.sendfile(m.task, m.cache, m.file, pos, m.socket, end - pos)
