"""sendfile(): no user buffer; with SG the skb frags reference the page-cache pages."""

from __future__ import annotations

from iosim.kernel import syscalls
from iosim.paths.registry import PAGE_CACHE, PathSpec, register


def program(m, sc):
    """``while off < size: off += sendfile(sock, fd, &off, size - off)``."""
    pos, end = sc.offset_bytes, sc.offset_bytes + sc.size_bytes
    while pos < end:
        pos += yield from syscalls.sendfile(m.task, m.cache, m.file, pos, m.socket, end - pos)


SPEC = register(PathSpec(
    "sendfile", program,
    "sendfile() on a NIC without scatter-gather: the CPU copies the pages (at the syscall on "
    "the textbook kernel, at each transmission on Linux 6)",
    textbook_copies=(1, 2), color="#CC79A7", references=PAGE_CACHE,
    real_note="sendfile() without scatter-gather: the loopback device always has SG "
              "(NETIF_F_SG), so the kernel never copies into the skb here; the real "
              "sendfile is compared with sendfile_sg",
    overrides={"nic.sg": False}))
SG_SPEC = register(PathSpec(
    "sendfile_sg", program,
    "sendfile() with scatter-gather DMA: skb frags reference page-cache pages",
    textbook_copies=(0, 2), color="#0072B2", references=PAGE_CACHE,
    real_method="sendfile"))  # the loopback device has scatter-gather
