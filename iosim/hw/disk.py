"""The disk: per-request latency, a media rate shared by all requests, DMA into memory.

Up to ``queue_depth`` requests overlap their latency; their data transfers share the media
bandwidth; the DMA into page-cache pages also crosses the memory bus, once per byte.
"""

from __future__ import annotations

from iosim import events
from iosim.accounting import Accounting
from iosim.hw.lanes import Lanes
from iosim.hw.membus import MemBus


class Disk:
    """Serves read requests; ``read`` returns the time the data is in memory."""

    def __init__(self, spec, descriptor_s: float, membus: MemBus, acct: Accounting) -> None:
        self.spec = spec
        self.descriptor_s = descriptor_s
        self.queue = Lanes("disk.queue", spec.queue_depth)
        self.media = Lanes("disk")
        self.membus = membus
        self.acct = acct

    def read(self, now_s: float, nbytes: int, pages: int, first_page: int | None = None,
             file: str = "") -> float:
        """Book a read of ``nbytes`` scattered into ``pages`` pages (of ``file``, from
        ``first_page``, for the trace); return its completion."""
        self.acct.disk_requests += 1
        self.acct.disk_dma_bytes += nbytes
        self.acct.dma_copy_bytes += nbytes
        slot, start = self.queue.acquire(now_s)
        media_s = nbytes / self.spec.bandwidth_bytes_per_s
        media_start, media_end = self.media.reserve(start + self.spec.latency_s, media_s)
        bus_end = self.membus.transfer(media_start, nbytes)  # DMA crosses the bus once
        # one scatter-gather descriptor per destination page
        done = max(media_end, bus_end) + pages * self.descriptor_s
        self.queue.occupy(slot, start, done)
        if self.acct.trace is not None:
            read = events.disk_read(media_start, media_end, nbytes, pages, start)
            dma = events.copy("dma", events.DMA, events.DISK, events.PAGE_CACHE, media_start,
                              done, nbytes, file=file)
            read.first_page = dma.first_page = first_page
            dma.pages = pages
            self.acct.trace.add(read)
            self.acct.trace.add(dma)
        return done
