"""read() + write(): the textbook's four copies (two DMA, two CPU) when the cache is cold."""

from __future__ import annotations

from iosim.kernel import syscalls
from iosim.kernel.process import UserBuffer
from iosim.paths.registry import PathSpec, register


def program(m, sc):
    """``while off < size: n = read(fd, buf, bufsize); write(sock, buf, n)``."""
    buf = UserBuffer(m.task, sc.buffer_bytes, m.page_bytes, sc.buffer_offset_bytes)
    pos, end = sc.offset_bytes, sc.offset_bytes + sc.size_bytes
    while pos < end:
        n = yield from syscalls.read(m.task, m.cache, m.file, pos, buf, sc.buffer_bytes)
        yield from syscalls.write(m.task, m.socket, buf, 0, n)
        pos += n
    buf.free()


SPEC = register(PathSpec(
    "read_write", program, "read() into a user buffer, write() it to the socket",
    textbook_copies=(2, 2), color="#D55E00", real_method="read_write"))
