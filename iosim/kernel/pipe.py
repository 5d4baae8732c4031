"""A pipe: a ring of ``pipe_buffer {page, offset, len}`` slots holding page references.

Splicing a file page into a pipe takes a reference on the page instead of copying it;
F_SETPIPE_SZ changes the number of slots (16 one-page slots by default).
"""

from __future__ import annotations

from collections import deque

from iosim.kernel.skbuff import Frag

# One slot: a page reference, the byte range of it that holds data and the page's content
# version when the data entered the pipe. The same {page, offset, len} piece as an skb frag
# (fs/splice.c:splice_to_socket hands the pipe's bio_vecs to tcp_sendmsg as they are), so
# splice passes its buffers on without a new object per page.
PipeBuffer = Frag


class Pipe:
    """Bounded FIFO of pipe buffers."""

    def __init__(self, size_bytes: int, page_bytes: int) -> None:
        self.slots = size_bytes // page_bytes
        self.buffers: deque[PipeBuffer] = deque()

    @property
    def free_slots(self) -> int:
        """Slots that can take another page."""
        return self.slots - len(self.buffers)
