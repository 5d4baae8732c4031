"""splice() through a pipe: file -> pipe -> socket, moving page references, not bytes."""

from __future__ import annotations

from iosim.kernel import syscalls
from iosim.paths.registry import PAGE_CACHE, PathSpec, register


def program(m, sc):
    """``pipe(p); while off < size: n = splice(fd, p[1]);
    splice(p[0], sock, n, cork && off < size ? SPLICE_F_MORE : 0)``.

    With ``cork`` (the default, as ``iosim validate``'s real twin does) every splice to the
    socket but the last says more is coming, so on Linux 6 a call's sub-MSS tail waits to be
    filled by the next call's pages instead of going out as its own skb."""
    pipe = syscalls.pipe(m.task, m.profile.kernel.pipe_size_bytes, m.page_bytes)
    pos, end = sc.offset_bytes, sc.offset_bytes + sc.size_bytes
    while pos < end:
        pos += yield from syscalls.splice_in(m.task, m.cache, m.file, pos, pipe, end - pos)
        yield from syscalls.splice_out(m.task, m.socket, pipe, more=sc.cork and pos < end)


SPEC = register(PathSpec(
    "splice", program, "splice() file -> pipe -> socket: page references only",
    textbook_copies=(0, 2), color="#009E73", references=PAGE_CACHE, real_method="splice",
    notes=("kernel (linux-6): SPLICE_F_MORE (--cork on, the default) becomes MSG_MORE "
           "(fs/splice.c:splice_to_socket), so each call's sub-MSS tail waits in the unsent "
           "skb for the next call's pages; --cork off pushes it as its own skb",)))
