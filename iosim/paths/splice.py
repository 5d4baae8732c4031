"""splice() through a pipe: file -> pipe -> socket, moving page references, not bytes."""

from __future__ import annotations

from iosim.kernel import syscalls
from iosim.paths.registry import PAGE_CACHE, PathSpec, register


def program(m, sc):
    """``pipe(p); while off < size: n = splice(fd, p[1]); splice(p[0], sock, n)``."""
    pipe = syscalls.pipe(m.task, m.profile.kernel.pipe_size_bytes, m.page_bytes)
    pos, end = sc.offset_bytes, sc.offset_bytes + sc.size_bytes
    while pos < end:
        pos += yield from syscalls.splice_in(m.task, m.cache, m.file, pos, pipe, end - pos)
        yield from syscalls.splice_out(m.task, m.socket, pipe)


SPEC = register(PathSpec(
    "splice", program, "splice() file -> pipe -> socket: page references only",
    textbook_copies=(0, 2), color="#009E73", references=PAGE_CACHE, real_method="splice"))
