"""mmap() + write(): the user buffer *is* the page cache, so one CPU copy is saved."""

from __future__ import annotations

from iosim.kernel import syscalls
from iosim.paths.registry import PathSpec, register


def program(m, sc):
    """``p = mmap(file); while off < size: write(sock, p + off, chunk); munmap(p)``."""
    mapping = syscalls.mmap(m.task, m.cache, m.file, m.profile.kernel.fault_around_bytes)
    pos, end = sc.offset_bytes, sc.offset_bytes + sc.size_bytes
    while pos < end:
        n = min(sc.buffer_bytes, end - pos)
        yield from syscalls.write(m.task, m.socket, mapping, pos, n)
        pos += n
    syscalls.munmap(m.task, mapping)


SPEC = register(PathSpec(
    "mmap_write", program, "mmap() the file, write() from the mapping to the socket",
    textbook_copies=(1, 2), color="#E69F00", real_method="mmap_write"))
