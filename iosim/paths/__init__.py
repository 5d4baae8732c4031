"""The file->socket paths: each is a user program made of syscalls, as a SimPy process.

``PATHS`` maps a name to its ``PathSpec``. A path may adjust the NIC it runs on (``sendfile``
is sendfile() with scatter-gather switched off, the pre-SG picture of the textbooks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from iosim.paths import mmap_write, msg_zerocopy, read_write, sendfile, splice


@dataclass(frozen=True)
class PathSpec:
    """A path: its program, a one-line description and any profile overrides it implies."""

    name: str
    program: Callable
    summary: str
    overrides: dict[str, object] = field(default_factory=dict)


PATHS: dict[str, PathSpec] = {p.name: p for p in (
    PathSpec("read_write", read_write.program,
             "read() into a user buffer, write() it to the socket"),
    PathSpec("mmap_write", mmap_write.program,
             "mmap() the file, write() from the mapping to the socket"),
    PathSpec("sendfile", sendfile.program,
             "sendfile() on a NIC without scatter-gather: page cache -> skb by CPU copy",
             {"nic.sg": False}),
    PathSpec("sendfile_sg", sendfile.program,
             "sendfile() with scatter-gather DMA: skb frags reference page-cache pages"),
    PathSpec("splice", splice.program,
             "splice() file -> pipe -> socket: page references only"),
    PathSpec("msg_zerocopy", msg_zerocopy.program,
             "read() into user buffers, send(MSG_ZEROCOPY): pinned pages, async completion"),
)}
