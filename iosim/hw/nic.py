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
from iosim.config import size_share, skb_fixed_share
from iosim.hw.lanes import Lanes
from iosim.timers import after

AT_DMA = object()  # the wire carries what the pages hold when the DMA reads them
COPY_UBUFS_PAGE_BYTES = 4096  # skb_copy_ubufs: order-0 pages (PAGE_SIZE) for a 64 KiB skb


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


def borrowed(skb) -> bool:
    """Whether ``skb``'s frags are the sender's own user pages that a local receiver's queue
    keeps by reference (vmsplice'd pages). MSG_ZEROCOPY's are copied at delivery instead
    (``skb_orphan_frags_rx``); page-cache frags are left to the timing the model has."""
    return bool(skb.frags) and skb.zc_id is None and skb.frag_src == events.USER_BUFFER


class LoopbackSplit:
    """A loopback host whose receiver runs on another core than the sender: the two cores'
    views and what each does per skb (``cpu.split_*``: copied data, page frags)."""

    __slots__ = ("fixed", "receiver_cpu", "rx_paged_s", "rx_s", "sender_cpu", "tx_paged_s",
                 "tx_s", "wakeup_s")

    def __init__(self, cpu, cpu_spec) -> None:
        self.sender_cpu = cpu.pinned(0)
        self.receiver_cpu = cpu.pinned(1)
        self.tx_s = cpu_spec.split_tx_skb_s
        self.rx_s = cpu_spec.split_rx_skb_s
        self.tx_paged_s = cpu_spec.split_tx_paged_skb_s
        self.rx_paged_s = cpu_spec.split_rx_paged_skb_s
        self.wakeup_s = cpu_spec.wakeup_remote_s
        # what an skb pays whatever its size (cpu.split_tail_skb): the rest by its bytes
        self.fixed = skb_fixed_share(cpu_spec, split=True)



SCHED_BASE_SLICE_S = 0.75e-3  # kernel/sched/fair.c:sysctl_sched_base_slice (0.75 ms)


class SharedCore:
    """The local receiver and the sender on one core, as EEVDF shares it (Linux 6.6+).

    Two tasks of equal weight, each entitled to half the core while both are runnable
    (``kernel/sched/fair.c``: vruntime, lag, ``pick_eevdf``). An skb that finds the
    receiver asleep in ``sk_wait_data`` wakes it (``sock_def_readable`` ->
    ``try_to_wake_up``); the woken receiver preempts the sender
    (``check_preempt_wakeup_fair``) only while it has had less of the core than the sender,
    else it waits, runnable, for the sender to sleep (a full send buffer, a completion) or
    to fall a slice behind. A running receiver takes skb after skb until it has caught up,
    or until it is a slice (``SCHED_BASE_SLICE_S``) ahead of a runnable sender, which then
    gets the core back. So a receiver lighter than its sender (read+write, MSG_ZEROCOPY)
    runs at each skb and sleeps between them; a heavier one (sendfile, splice: 16 cold
    frags per skb) never catches up and runs when the sender sleeps, its ACKs coming in
    bursts, not between the sender's calls. Each wake-up that preempts costs the switch.
    """

    __slots__ = ("asleep", "booked", "input_s", "nic", "queue", "softirq_charged", "switch_s",
                 "task", "woken")

    def __init__(self, nic, task, switch_s: float, input_s: float,
                 softirq_charged: bool) -> None:
        self.nic = nic
        self.task = task
        self.switch_s = switch_s
        # without CONFIG_IRQ_TIME_ACCOUNTING the softirq's time is the interrupted task's
        # (kernel/sched/fair.c:update_curr on rq_clock_task): the sender's share grows by it
        self.softirq_charged = softirq_charged
        self.input_s = min(input_s, nic.rx_skb_s)  # the TCP input part of rx_skb
        self.queue: deque = deque()  # (skb, ready at, input done): not yet taken
        self.booked = 0  # skbs whose receive work is booked and not yet done: it runs
        self.asleep = True  # in sk_wait_data, nothing to read
        self.woken = False  # woken since it last ran: it pays the switch when it does
        task.on_sleep.append(self.sender_sleeps)

    def _due(self, slice_s: float) -> bool:
        """Whether the receiver may have the core: the sender sleeps, or the receiver has
        had less of it than the sender (plus ``slice_s``, for one already running)."""
        task = self.task
        return task.sleeping or self.nic.acct.cpu_time_s["receive"] < task.busy_s + slice_s

    def arrive(self, skb, ready_s: float) -> None:
        """An skb reaches the receiver's socket (the sender's softirq) once its data is
        there (``ready_s``): it wakes a receiver that slept; a running receiver takes it
        next, a woken or waiting one if it is due."""
        now = self.nic.env.now
        if ready_s > now:  # the sender's copies into it are booked, not yet done
            after(self.nic.env, ready_s - now, lambda _ev: self.arrive(skb, ready_s))
            return
        nic = self.nic
        task = self.task
        if skb.zc_id is not None and skb.frags:  # before the socket lookup: always the softirq
            copy_s = nic.acct.cpu_time_s["copy"]
            nic.orphan_copy(skb, now, "copy", "cpu")
            if self.softirq_charged:
                task.busy_s += nic.acct.cpu_time_s["copy"] - copy_s
        if borrowed(skb):  # on the receive queue and ACKed now, its pages read at the copy
            nic.on_local(skb, "queued")
        if self.booked:  # it runs, owning its socket: the skb waits in the backlog
            self.queue.append((skb, ready_s, False))
        else:  # not owned: tcp_v4_rcv runs to the receive queue in the sender's softirq
            input_s = self._input_s(skb)
            nic.cpu.run(now, input_s, "net")
            if self.softirq_charged:
                task.busy_s += input_s
            self.queue.append((skb, ready_s, True))
            nic.on_local(skb, "input")
        if self.asleep:
            self.asleep = False
            self.woken = True
        if self._due(SCHED_BASE_SLICE_S if self.booked else 0.0):
            self._take()

    def _input_s(self, skb) -> float:
        """The TCP input part of ``skb``'s receive work: at most all of it."""
        rx_s = self.nic.rx_cost_s(skb)
        return self.input_s if self.input_s < rx_s else rx_s

    def sender_sleeps(self) -> None:
        """The sender blocked (or finished): the core is the receiver's."""
        while self.queue:
            self._take()

    def _take(self) -> None:
        nic = self.nic
        skb, ready_s, input_done = self.queue.popleft()
        if not input_done:  # from the backlog: the receiver's TCP queues it now
            nic.on_local(skb, "input")
        self.booked += 1
        now = nic.env.now
        end = nic._receive(skb, ready_s if ready_s > now else now, self.woken,
                           self._input_s(skb) if input_done else 0.0)
        self.woken = False
        after(nic.env, end - now, lambda _ev: self._done(skb))

    def _done(self, skb) -> None:
        self.booked -= 1
        if not borrowed(skb):  # (a borrowed skb goes at its copy's end: ``_stages``)
            self.nic.on_tx_complete(skb)  # delivered: the clone is freed
        if self.booked:
            return
        if not self.queue:
            self.asleep = True  # caught up: the receiver sleeps in sk_wait_data
            return
        if self._due(SCHED_BASE_SLICE_S):
            while self.queue:
                self._take()
        # else: the sender, runnable and a slice behind, has the core; the receiver waits


class Nic:
    """Transmit side of one network interface."""

    def __init__(self, env, spec, dma_spec, membus, cpu, irq_s: float, acct,
                 rx_skb_s: float = 0.0, rx_frag_s: float = 0.0, orphan_page_s: float = 0.0,
                 split: LoopbackSplit | None = None) -> None:
        self.env = env
        self.spec = spec
        self.dma_spec = dma_spec
        self.membus = membus
        self.cpu = cpu
        self.irq_s = irq_s
        self.acct = acct
        self.mss_bytes = net.mss_bytes(spec.mtu_bytes)
        self.link = Lanes("link")
        self.tx_ring = spec.tx_ring
        self.loopback = spec.loopback
        self.rate_bytes_per_s = spec.rate_bytes_per_s
        self.descriptor_s = dma_spec.descriptor_s
        self.alignment_bytes = dma_spec.alignment_bytes
        self.max_sg_entries = dma_spec.max_sg_entries
        self.queue: deque = deque()  # qdisc: skbs waiting for a ring slot
        self.in_ring = 0
        self.dma_busy = False
        self.rx_skb_s = rx_skb_s  # loopback: the local receiver's work per skb and per frag
        self.rx_fixed = 1.0  # the share of rx_skb an skb pays whatever its size (one core)
        self.rx_frag_s = rx_frag_s
        self.orphan_page_s = orphan_page_s  # skb_copy_ubufs: a new page per 4 KiB copied
        self.split = split  # loopback: the receiver on another core
        self.core: SharedCore | None = None  # loopback: the receiver on the sender's core
        self.on_tx_complete: Callable = lambda skb: None
        self.on_wire: Callable = lambda skb, snapshot, end_s: None
        # loopback: the receiver's stages of an skb ("input": its TCP put it on the receive
        # queue, one core; borrowed frags: "queued": on its receive queue, ACKed; "arrived":
        # on it, ACKed as its TCP decides, two cores; "read": its copy reads the pages;
        # "copied": done, the skb freed)
        self.on_local: Callable = lambda skb, stage: None
        self.unread: deque = deque()  # loopback: borrowed skbs queued, not yet read
        self.reading = False
        self.rx_owned_from_s = 0.0  # split: the woken receiver owns its socket from then

    def xmit(self, skb, ready_s: float) -> None:
        """ndo_start_xmit: queue an skb whose data is ready at ``ready_s``."""
        self.queue.append((skb, ready_s))
        if not self.dma_busy:
            self._next()

    def _next(self) -> None:
        queue = self.queue
        if not queue or self.in_ring >= self.tx_ring:
            return
        skb, ready_s = queue.popleft()
        if self.loopback:
            if self.split is not None:
                self._loopback_split(skb, ready_s)
            elif borrowed(skb) and self.core is None:
                self._loopback_queue(skb, ready_s)
            else:
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
        dma_end = start + entries * self.descriptor_s
        if bus_end > dma_end:
            dma_end = bus_end
        if acct.trace is not None:
            dma = events.copy("dma", events.DMA, self._dma_src(skb, snapshot), events.NIC,
                              start, dma_end, nbytes, sg_entries=entries)
            dma.seq = skb.seq
            acct.trace.add(dma)
        after(env, dma_end - now, lambda _ev: self._dma_done(skb, snapshot, completions))

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
        align = self.alignment_bytes
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
        if entries > self.max_sg_entries:
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
        begin, end = self.link.reserve(now, wire_bytes / self.rate_bytes_per_s)
        if acct.trace is not None:
            acct.trace.add(events.wire(skb.seq, begin, end, nbytes, segments))
        self.on_wire(skb, snapshot, end)
        after(env, end - now, lambda _ev: self._tx_done(skb, completions))
        self.dma_busy = False
        if self.queue:
            self._next()

    def _loopback(self, skb, ready_s: float) -> None:
        """lo: no DMA, no wire. The local receiver's stack (per skb and per page-cache frag)
        and its copy out of the skb move the data; the skb is freed once it is delivered.
        On one core shared with a sender (``share_core``) the scheduler decides when."""
        if self.core is not None:
            self.core.arrive(skb, ready_s)
            return
        self.dma_busy = True
        now = self.env.now
        end = self._receive(skb, max(now, ready_s))
        after(self.env, end - now, lambda _ev: self._loopback_done(skb))

    def _receive(self, skb, ready_s: float, woken: bool | None = None,
                 input_done_s: float = 0.0) -> float:
        """Book the local receiver's work for one skb from ``ready_s``; its end.

        The copy reads the linear area from the cache (the sender wrote it moments before)
        and each frag where its page lives: a page of a file larger than the cache, in DRAM.
        ``woken``: whether the skb woke the receiver (None: it did if the receiver had
        caught up); a woken receiver on a shared core pays the switch to it.
        ``input_done_s``: the part of its per-skb work the sender's softirq did already.
        The ACK waits for the copy: a timing simplification (the profiles' ``rx_skb`` are
        measured so), except where the order decides the bytes (``_loopback_queue``).
        """
        lane, start = self.link.acquire(ready_s)  # the receiver handles one skb
        if woken is None:
            woken = self.link.free_at_s[lane] < start  # caught up, asleep in sk_wait_data
        elif woken:  # switched to from the sender, on their one core
            start = self.cpu.run(start, self.core.switch_s, "receive")
        if woken:
            self.acct.receiver_wakeups += 1
        file_frags = len(skb.frags) if skb.frag_src == events.PAGE_CACHE else 0
        work_end = self.cpu.run(start, self.rx_cost_s(skb) - input_done_s
                                + file_frags * self.rx_frag_s, "receive")
        frag_bytes = skb.len - skb.linear_len
        frag_working_set = skb.frag_working_set_bytes if file_frags else skb.len
        if skb.zc_id is not None and skb.frags:
            if self.core is None:  # (on a shared core the softirq did it at arrival)
                work_end = self.orphan_copy(skb, work_end, "receive", "receiver")
            frag_working_set = skb.len  # the receiver reads the fresh copy
        end = work_end
        for nbytes, working_set in ((skb.linear_len, skb.len), (frag_bytes, frag_working_set)):
            if nbytes:
                end = self.cpu.copy(end, nbytes, "receive", working_set_bytes=working_set)
        self.link.occupy(lane, start, end)
        self._trace_rx(skb, work_end, end)
        if borrowed(skb) and self.core is not None:  # ACKed at arrival; pages read now
            self._stages(skb, self.env.now, work_end, end)
        else:
            self.on_wire(skb, None, end)
        return end

    def _trace_rx(self, skb, start_s: float, end_s: float) -> None:
        """The receiver's copy of ``skb`` out of the socket, for the trace."""
        if self.acct.trace is not None:
            rx = events.copy("receiver", events.CPU, events.SOCKET_BUFFER,
                             events.RECEIVER_BUFFER, start_s, end_s, skb.len)
            rx.seq = skb.seq
            self.acct.trace.add(rx)

    def orphan_copy(self, skb, start_s: float, category: str, track: str,
                    cpu=None) -> float:
        """skb_orphan_frags_rx: user pages may not reach a local socket, so the kernel
        copies them into pages of its own first (``net/core/skbuff.c:skb_copy_ubufs``: one
        order-0 page per 4 KiB, ``orphan_page_s`` each, then the copy; the completion says
        COPIED), on ``cpu`` (default: any core); its end."""
        frag_bytes = skb.len - skb.linear_len
        core = cpu or self.cpu
        start_s = core.run(start_s, self.page_runs(frag_bytes) * self.orphan_page_s, category)
        end = core.copy(start_s, frag_bytes, category, working_set_bytes=skb.len)
        if self.acct.trace is not None:
            orphan = events.copy(track, events.CPU, events.USER_BUFFER, events.SOCKET_BUFFER,
                                 start_s, end, frag_bytes, "skb_orphan_frags_rx: pinned pages "
                                 "copied for a local receiver")
            orphan.seq = skb.seq
            self.acct.trace.add(orphan)
        return end

    @staticmethod
    def page_runs(nbytes: int) -> int:
        """The order-0 pages ``skb_copy_ubufs`` allocates for ``nbytes`` of frags (a 64 KiB
        skb's fit in MAX_SKB_FRAGS = 17 of them, so it never takes a larger order)."""
        return -(-nbytes // COPY_UBUFS_PAGE_BYTES)

    def rx_cost_s(self, skb) -> float:
        """The local receiver's per-skb work for ``skb`` (``rx_skb``, or by its size)."""
        if self.rx_fixed >= 1.0:
            return self.rx_skb_s
        return self.rx_skb_s * size_share(self.rx_fixed, skb.len)

    def share_core(self, task, switch_s: float, input_s: float,
                   softirq_charged: bool, fixed: float = 1.0) -> None:
        """The local receiver shares its one core with ``task``, the sender: from now on
        the scheduler (``SharedCore``) decides when it takes the skbs; ``input_s`` of each
        skb's receive work is the sender's softirq's when the receiver does not own its
        socket. An skb's receive work is ``fixed`` of ``rx_skb`` whatever its size and the
        rest by its bytes (a 64 KiB call's worth pays it all: ``cpu.tail_skb``)."""
        self.core = SharedCore(self, task, switch_s, input_s, softirq_charged)
        self.rx_fixed = fixed

    def _loopback_queue(self, skb, ready_s: float) -> None:
        """lo, an skb whose frags are the sender's user pages (``borrowed``: vmsplice), in
        the kernel's order, which decides the bytes here: ``loopback_xmit`` ->
        ``netif_rx`` and the softirq on this CPU put it on the receive queue and ACK it at
        once (``net/ipv4/tcp_input.c:tcp_rcv_established`` -> ``tcp_queue_rcv``, then
        ``__tcp_ack_snd_check``: at once in quick-ACK mode, which validate's receiver asks
        for before every read; a delayed ACK could wait for ``tcp_cleanup_rbuf`` after the
        read); its frags keep referencing the pages until the reader copies them out
        (``net/ipv4/tcp.c:tcp_recvmsg_locked`` -> ``skb_copy_datagram_msg``) and frees it
        (``tcp_eat_recv_skb`` -> ``skb_attempt_defer_free`` or ``__kfree_skb`` ->
        ``net/core/skbuff.c:skb_release_data`` drops the page references). The reader takes
        one skb after the other and books its work when it runs (booked ahead, a lagging
        reader would hold every core); its per-skb cost (``rx_skb``) includes the softirq's.
        """
        self.dma_busy = True
        after(self.env, max(0.0, ready_s - self.env.now), lambda _ev: self._queued(skb))

    def _queued(self, skb) -> None:
        self.on_local(skb, "queued")
        self.unread.append(skb)
        if not self.reading:  # caught up, asleep in sk_wait_data: this skb wakes it
            self.acct.receiver_wakeups += 1
            self._read_next()
        self.dma_busy = False
        self._next()

    def _read_next(self) -> None:
        """The reader's recv(): the next queued skb's work (``rx_skb``), then its copy."""
        if not self.unread:
            self.reading = False
            return
        self.reading = True
        skb = self.unread.popleft()
        now = self.env.now
        work_end = self.cpu.run(now, self.rx_skb_s, "receive")
        after(self.env, work_end - now, lambda _ev: self._copy_out(skb, now))

    def _copy_out(self, skb, start: float) -> None:
        """skb_copy_datagram_msg: booked when it starts, so it reads the pages as they are
        now and a lagging reader never holds cores ahead of the sender's work."""
        now = self.env.now
        self.on_local(skb, "read")
        end = self.cpu.copy(now, skb.len, "receive", working_set_bytes=skb.len)
        lane, _ = self.link.acquire(start)
        self.link.occupy(lane, start, end)
        self._trace_rx(skb, now, end)
        after(self.env, end - now, lambda _ev: self._read_done(skb))

    def _read_done(self, skb) -> None:
        self._copied(skb)
        self._read_next()

    def _stages(self, skb, now: float, read_s: float, end: float) -> None:
        """The reader's copy of a borrowed skb reads its pages at ``read_s`` and is done
        at ``end``, when the skb (and its page references) goes."""
        after(self.env, read_s - now, lambda _ev: self.on_local(skb, "read"))
        after(self.env, end - now, lambda _ev: self._copied(skb))

    def _copied(self, skb) -> None:
        self.on_local(skb, "copied")
        self.on_tx_complete(skb)

    def _loopback_split(self, skb, ready_s: float) -> None:
        """lo with the receiver on another core. The skb's TCP work runs on the sender's
        core: its output, and its input too, because ``loopback_xmit`` -> ``__netif_rx``
        queues it on the transmitting CPU's backlog (``net/core/dev.c:enqueue_to_backlog``
        with ``smp_processor_id()``) and the NET_RX softirq runs there when the sender's
        ``local_bh_enable`` returns; ``skb_orphan_frags_rx`` (in
        ``__netif_receive_skb_core``) copies MSG_ZEROCOPY pages in that softirq too. The
        receiver's ``recv()`` work and its copy out run on its own core, behind the skbs
        before (one reader). The next skb's softirq need not wait for the receiver's copy.
        An skb that finds the receiver caught up wakes it (``sock_def_readable`` ->
        ``try_to_wake_up``, an IPI to its idle core), and it starts ``wakeup_s`` later.
        The skb is on the receive queue at the softirq's end unless the receiver owns its
        socket (``net/ipv4/tcp_ipv4.c:tcp_v4_rcv``; it does from when it runs, woken, until
        its copy in progress ends, ``release_sock``: then from the backlog), and the
        receiver's TCP ACKs it as ``iosim.hw.acks`` says (the wire's ``arrived`` stage).
        """
        split = self.split
        now = self.env.now
        paged = bool(skb.frags)  # page references (file, user pages), not copied data
        share = size_share(split.fixed, skb.len)
        tx_s = split.tx_paged_s if paged else split.tx_s
        tx_end = split.sender_cpu.run(max(now, ready_s), tx_s * share if share < 1.0 else tx_s,
                                      "net")
        frag_bytes = skb.len - skb.linear_len
        from_cache = skb.frag_src == events.PAGE_CACHE
        frag_working_set = skb.frag_working_set_bytes if from_cache else skb.len
        if skb.zc_id is not None and skb.frags:
            tx_end = self.orphan_copy(skb, tx_end, "copy", "cpu", split.sender_cpu)
            frag_working_set = skb.len
        lane, start = self.link.acquire(tx_end)
        # on the receive queue from the softirq, unless the receiver owns its socket (it
        # runs, woken, in recv()): then from the backlog when its copy in progress ends
        arrived_s = tx_end if tx_end < self.rx_owned_from_s else start
        if self.link.free_at_s[lane] < tx_end:  # caught up, asleep in sk_wait_data
            self.acct.receiver_wakeups += 1  # sk_data_ready: an IPI to its idle core
            start += split.wakeup_s
            self.rx_owned_from_s = start
        rx_s = split.rx_paged_s if paged else split.rx_s
        work_end = split.receiver_cpu.run(start, rx_s * share if share < 1.0 else rx_s,
                                          "receive")
        read_s = end = work_end
        if skb.linear_len:
            read_s = end = split.receiver_cpu.copy(end, skb.linear_len, "receive",
                                                   working_set_bytes=skb.len)
        if frag_bytes:
            end = split.receiver_cpu.copy(end, frag_bytes, "receive",
                                          working_set_bytes=frag_working_set)
        self.link.occupy(lane, start, end)
        self._trace_rx(skb, work_end, end)
        self.dma_busy = True
        # on the receive queue, ACKed as the receiver's TCP decides
        after(self.env, arrived_s - now, lambda _ev: self.on_local(skb, "arrived"))
        after(self.env, tx_end - now, self._softirq_done)
        self._stages(skb, now, read_s, end)

    def _softirq_done(self, _ev) -> None:
        self.dma_busy = False
        self._next()

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
        self.offload = self.spec.sg and self.spec.csum_offload  # TSO as the textbook draws it

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
            start = self.cpu.run(start, self.page_runs(self._frag_bytes(skb))
                                 * self.orphan_page_s, "copy")
            start = self._copy(skb, start, 0, self._frag_bytes(skb),
                               "packet tap: skb_copy_ubufs of the MSG_ZEROCOPY pages",
                               events.SOCKET_BUFFER)
        if self.offload:
            return Nic._prepare(self, skb, start)
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
        after(self.env, t_s - now, lambda _ev: setattr(later, "pieces", changed_pieces(skb)))
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
