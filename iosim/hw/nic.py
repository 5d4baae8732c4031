"""The NIC: a TX ring, a gather-DMA engine that reads skb frags *at DMA time*, TSO, the link.

Per skb the DMA engine walks one descriptor per scatter-gather entry (header, linear area,
each frag) and moves the payload over the memory bus once; the link then serialises the TSO
segments with their header and framing overhead. An skb with more entries than the DMA
engine allows is linearised by the driver first: a CPU copy (skb_linearize). ``Nic`` is the
textbook kernel's transmit step; ``Linux6Nic`` adds what Linux 6.x does at each
transmission when the NIC lacks scatter-gather or checksum offload (validate_xmit_skb).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from iosim import events, net
from iosim.hw.lanes import Lanes

AT_DMA = object()  # the wire carries what the pages hold when the DMA reads them


class ReadLater:
    """The pieces a copy booked for later reads, taken when it starts (an event then)."""

    __slots__ = ("pieces",)

    def __init__(self) -> None:
        self.pieces: list[tuple[int, int, int]] | None = None


def changed_pieces(skb) -> list[tuple[int, int, int]] | None:
    """The skb's (reference, now, bytes) pieces if a frag's page changed since it was
    attached, else None (the common case, no list built)."""
    for frag in skb.frags:
        if frag.page.version != frag.version:
            return skb.pieces()
    return None


class Nic:
    """Transmit side of one network interface."""

    def __init__(self, env, spec, dma_spec, membus, cpu, irq_s: float, acct,
                 rx_skb_s: float = 0.0, rx_frag_s: float = 0.0) -> None:
        self.env = env
        self.spec = spec
        self.dma_spec = dma_spec
        self.membus = membus
        self.cpu = cpu
        self.irq_s = irq_s
        self.acct = acct
        self.mss_bytes = net.mss_bytes(spec.mtu_bytes)
        self.link = Lanes("link")
        self.queue: deque = deque()  # qdisc: skbs waiting for a ring slot
        self.in_ring = 0
        self.dma_busy = False
        self.rx_skb_s = rx_skb_s  # loopback: the local receiver's work per skb and per frag
        self.rx_frag_s = rx_frag_s
        self.on_tx_complete: Callable = lambda skb: None
        self.on_wire: Callable = lambda skb, snapshot, end_s: None

    def xmit(self, skb, ready_s: float) -> None:
        """ndo_start_xmit: queue an skb whose data is ready at ``ready_s``."""
        self.queue.append((skb, ready_s))
        if not self.dma_busy:
            self._next()

    def _next(self) -> None:
        queue = self.queue
        if not queue or self.in_ring >= self.spec.tx_ring:
            return
        skb, ready_s = queue.popleft()
        if self.spec.loopback:
            self._loopback(skb, ready_s)
            return
        self.in_ring += 1
        self.dma_busy = True
        env = self.env
        now = env.now
        start, entries, snapshot, completions = self._prepare(
            skb, ready_s if ready_s > now else now)
        acct = self.acct
        nbytes = skb.len
        acct.nic_dma_bytes += nbytes
        acct.dma_copy_bytes += nbytes
        bus_end = self.membus.transfer(start, nbytes)  # the DMA read crosses the bus once
        dma_end = start + entries * self.dma_spec.descriptor_s
        if bus_end > dma_end:
            dma_end = bus_end
        if acct.trace is not None:
            dma = events.copy("dma", events.DMA, self._dma_src(skb, snapshot), events.NIC,
                              start, dma_end, nbytes, sg_entries=entries)
            dma.seq = skb.seq
            acct.trace.add(dma)
        env.timeout(dma_end - now).callbacks.append(
            lambda _ev: self._dma_done(skb, snapshot, completions))

    def _sg_entries(self, skb) -> int:
        """Descriptors of one skb: the header, the linear area, each frag."""
        return 1 + (1 if skb.linear_len else 0) + len(skb.frags)

    def _dma_src(self, skb, snapshot) -> str:
        """What the DMA reads (for the trace)."""
        return events.FRAGS if skb.frags else events.LINEAR

    def _prepare(self, skb, start: float) -> tuple[float, int, object, int]:
        """What the driver does before the DMA: (when the DMA can start, descriptors, the
        content versions the wire carries or ``AT_DMA`` to read them then, TX completions)."""
        entries = self._sg_entries(skb)
        align = self.dma_spec.alignment_bytes
        if align > 1:
            # a frag whose start or length is not aligned is copied by the CPU to an aligned
            # bounce buffer before the device can read it: the DMA layer's swiotlb bounce
            # (drivers/iommu/dma-iommu.c:iommu_dma_map_phys for an untrusted device or an
            # unaligned IOVA; a confidential VM bounces every mapping), not the driver
            bounce = sum(f.len for f in skb.frags if f.offset % align or f.len % align)
            if bounce:
                self.acct.bounce_copy_bytes += bounce
                ready_s = start
                start = self.cpu.copy(start, bounce)
                if self.acct.trace is not None:
                    self.acct.trace.add(events.copy(
                        "cpu", events.CPU, skb.frag_src, events.SOCKET_BUFFER, ready_s, start,
                        bounce, "bounce buffer for DMA alignment"))
        if entries > self.dma_spec.max_sg_entries:
            # skb_linearize: the driver copies the frags into one buffer before DMA
            nbytes = self._paged_bytes(skb)
            self.acct.linearized_bytes += nbytes
            ready_s = start
            start = self.cpu.copy(start, nbytes)
            if self.acct.trace is not None:
                self.acct.trace.add(events.copy(
                    "cpu", events.CPU, skb.frag_src, events.SOCKET_BUFFER, ready_s, start,
                    nbytes, "skb_linearize"))
            entries = 2
        return start, entries, AT_DMA, 1

    def _paged_bytes(self, skb) -> int:
        """Bytes of ``skb`` held in page frags (what a linearize copies)."""
        return skb.len - skb.linear_len

    def _dma_done(self, skb, snapshot=None, completions: int = 1) -> None:
        """The DMA has read the skb: snapshot what the pages hold now and send it."""
        if snapshot is AT_DMA:
            snapshot = changed_pieces(skb)
        elif isinstance(snapshot, ReadLater):
            snapshot = snapshot.pieces
        nbytes = skb.len
        segments = -(-nbytes // self.mss_bytes)
        wire_bytes = nbytes + segments * net.SEGMENT_OVERHEAD_BYTES  # net.wire_bytes
        acct = self.acct
        acct.wire_bytes += wire_bytes
        env = self.env
        now = env.now
        begin, end = self.link.reserve(now, wire_bytes / self.spec.rate_bytes_per_s)
        if acct.trace is not None:
            acct.trace.add(events.wire(skb.seq, begin, end, nbytes, segments))
        self.on_wire(skb, snapshot, end)
        env.timeout(end - now).callbacks.append(lambda _ev: self._tx_done(skb, completions))
        self.dma_busy = False
        if self.queue:
            self._next()

    def _loopback(self, skb, ready_s: float) -> None:
        """lo: no DMA, no wire. The local receiver's stack (per skb and per page-cache frag)
        and its copy out of the skb move the data; the skb is freed once it is delivered.

        The copy reads the linear area from the cache (the sender wrote it moments before)
        and each frag where its page lives: a page of a file larger than the cache, in DRAM.
        """
        self.dma_busy = True
        now = self.env.now
        lane, start = self.link.acquire(max(now, ready_s))  # the receiver handles one skb
        file_frags = len(skb.frags) if skb.frag_src == events.PAGE_CACHE else 0
        work_end = self.cpu.run(start, self.rx_skb_s + file_frags * self.rx_frag_s, "receive")
        frag_bytes = skb.len - skb.linear_len
        frag_working_set = skb.frag_working_set_bytes if file_frags else skb.len
        if skb.zc_id is not None and skb.frags:
            # skb_orphan_frags_rx: user pages may not reach a local socket, so the kernel
            # copies them into its own pages first (the completion says COPIED)
            orphan_s = work_end
            work_end = self.cpu.copy(work_end, frag_bytes, "receive",
                                     working_set_bytes=frag_working_set)
            if self.acct.trace is not None:
                orphan = events.copy("receiver", events.CPU, events.USER_BUFFER,
                                     events.SOCKET_BUFFER, orphan_s, work_end, frag_bytes,
                                     "skb_orphan_frags_rx: pinned pages copied for a local "
                                     "receiver")
                orphan.seq = skb.seq
                self.acct.trace.add(orphan)
            frag_working_set = skb.len  # the receiver reads the fresh copy
        end = work_end
        for nbytes, working_set in ((skb.linear_len, skb.len), (frag_bytes, frag_working_set)):
            if nbytes:
                end = self.cpu.copy(end, nbytes, "receive", working_set_bytes=working_set)
        self.link.occupy(lane, start, end)
        if self.acct.trace is not None:
            rx = events.copy("receiver", events.CPU, events.SOCKET_BUFFER,
                             events.RECEIVER_BUFFER, work_end, end, skb.len)
            rx.seq = skb.seq
            self.acct.trace.add(rx)
        self.on_wire(skb, None, end)
        done = self.env.timeout(end - now)
        done.callbacks.append(lambda _ev: self._loopback_done(skb))

    def _loopback_done(self, skb) -> None:
        self.dma_busy = False
        self.on_tx_complete(skb)
        self._next()

    def _tx_done(self, skb, completions: int = 1) -> None:
        """TX completion event: the ring slot and the clone are released. One interrupt
        each; a real NIC moderates them and NAPI cleans many per poll (a software-segmented
        skb's segments here are one poll)."""
        acct = self.acct
        acct.irqs += 1
        acct.tx_completions += completions
        now = self.env.now
        self.cpu.run(now, self.irq_s, "irq")
        if acct.trace is not None:
            acct.trace.add(events.irq(events.IRQ_TX, now, skb.seq))
        self.in_ring -= 1
        self.on_tx_complete(skb)
        if not self.dma_busy and self.queue:
            self._next()


class Linux6Nic(Nic):
    """Transmit under Linux 6.x, where TCP always has scatter-gather (GSO since 4.17) and
    the NIC's features act at each transmission (``net/core/dev.c:validate_xmit_skb``):

    - SG and checksum offload: TSO as the textbook draws it;
    - no SG: ``skb_segment`` copies every segment into a linear skb (with the checksum in
      the same pass without offload; ``__skb_linearize`` for a one-segment skb), reading the
      pages as they are now, so an in-place writer reaches the wire: one descriptor and one
      TX completion per segment, no TSO, and again on every resend;
    - SG without checksum offload: segmented in software; a segment with frags others may
      change (page cache, MSG_ZEROCOPY pages: ``SKBFL_SHARED_FRAG``) is linearized first,
      one of the socket's own write() data only read for the checksum (``skb_checksum``).

    Copied data sits in the socket's page frags (32 KiB pages): one SG entry per chunk. A
    packet tap (``dev_queue_xmit_nit`` → ``skb_orphan_frags_rx``) copies MSG_ZEROCOPY frags.
    """

    def __init__(self, *args, packet_tap: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.packet_tap = packet_tap

    def _sg_entries(self, skb) -> int:
        own = len(skb.chunks) if skb.chunks is not None else (1 if skb.linear_len else 0)
        return 1 + own + len(skb.frags)

    def _paged_bytes(self, skb) -> int:
        return skb.len  # write() data is in page frags too

    def _dma_src(self, skb, snapshot) -> str:
        if snapshot is not AT_DMA:
            return events.SEGMENTS
        return events.FRAGS if skb.frags else events.SOCKET_FRAGS

    def _prepare(self, skb, start: float) -> tuple[float, int, object, int]:
        spec = self.spec
        if self.packet_tap and skb.zc_id is not None and skb.frags:
            start = self._copy(skb, start, 0, self._frag_bytes(skb),
                               "packet tap: skb_copy_ubufs of the MSG_ZEROCOPY pages",
                               events.SOCKET_BUFFER)
        if spec.sg and spec.csum_offload:
            return super()._prepare(skb, start)
        mss = self.mss_bytes
        segments = -(-skb.len // mss)
        if not spec.sg:
            note = ("software GSO: skb_segment copies each segment" if segments > 1
                    else "__skb_linearize")
            end = self._copy(skb, start, skb.linear_len, self._frag_bytes(skb), note)
            self.acct.gso_copy_bytes += skb.len
            return end, segments, self._read_at(skb, start), segments
        own = skb.linear_len // mss * mss if skb.frags else skb.linear_len
        own_segments = -(-own // mss)
        entries = segments
        if own:
            chunks = len(skb.chunks) if skb.chunks else 1
            entries += own_segments + chunks - 1  # a segment crosses at most one page edge
            t0 = start
            start = self.cpu.read(start, own, working_set_bytes=skb.len)
            self.acct.csum_read_bytes += own
            if self.acct.trace is not None:
                self.acct.trace.add(events.checksum(events.SOCKET_FRAGS, t0, start, own,
                                                    "skb_checksum"))
        rest = skb.len - own
        if not rest:
            return start, entries, AT_DMA, segments
        end = self._copy(skb, start, skb.linear_len - own, self._frag_bytes(skb),
                         "__skb_linearize: frags others may change, before the checksum")
        self.acct.linearized_bytes += rest
        return end, entries, self._read_at(skb, start), segments

    def _read_at(self, skb, t_s: float):
        """What a transmit-time copy starting at ``t_s`` reads of the frags' pages: their
        versions then, not at booking (the sender books its work ahead of the clock)."""
        now = self.env.now
        if t_s <= now or not skb.frags:
            return changed_pieces(skb)
        later = ReadLater()
        ev = self.env.timeout(t_s - now)
        ev.callbacks.append(lambda _ev: setattr(later, "pieces", changed_pieces(skb)))
        return later

    @staticmethod
    def _frag_bytes(skb) -> int:
        return skb.len - skb.linear_len

    def _copy(self, skb, start: float, own_bytes: int, frag_bytes: int, note: str,
              dst: str = events.SEGMENTS) -> float:
        """A CPU copy at transmit of ``own_bytes`` of the socket's page frags (in the cache,
        just written) and ``frag_bytes`` of referenced pages (where their data lives)."""
        end = start
        if own_bytes:
            end = self.cpu.copy(end, own_bytes, working_set_bytes=skb.len)
        if frag_bytes:
            end = self.cpu.copy(end, frag_bytes, working_set_bytes=skb.frag_working_set_bytes)
        if self.acct.trace is not None:
            src = skb.frag_src if frag_bytes else events.SOCKET_FRAGS
            copied = events.copy("cpu", events.CPU, src, dst, start, end,
                                 own_bytes + frag_bytes, note)
            copied.seq = skb.seq
            self.acct.trace.add(copied)
        return end
