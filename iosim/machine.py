"""Builds one run's machine: a host (hardware and the shared kernel) and its connections.

The environment carries the run's seeded RNG (``env.rng``), so no component reaches for
global randomness; the wiring of callbacks (NIC -> socket, wire -> socket) happens here and
nowhere else.
"""

from __future__ import annotations

import random

import simpy

from iosim.accounting import Accounting
from iosim.config import Profile, Scenario, receive_window, skb_fixed_share
from iosim.hw.cpu import Cpu
from iosim.hw.disk import Disk
from iosim.hw.membus import MemBus
from iosim.hw.nic import Linux6Nic, LoopbackSplit, Nic
from iosim.hw.wire import Receiver, Wire
from iosim.kernel.page import Pages
from iosim.kernel.pagecache import File, PageCache
from iosim.kernel.process import Task
from iosim.kernel.rcvwnd import LoopbackWindow, ReceiveWindow
from iosim.kernel.socket import Linux6Socket, TcpSocket
from iosim.paths.registry import SetUp

DATA_FILE = "data.bin"  # the name of the file a run sends (its pages' owner in the trace)


class Host:
    """What every connection of a run shares: disk, memory bus, CPU cores, the NIC and its
    link; the pages and the one page cache.

    The NIC hands each transmission and TX completion back to the socket that owns the skb
    (``skb->sk``), so any number of connections can share it.
    """

    def __init__(self, profile: Profile, seed: int) -> None:
        self.profile = profile
        self.env = env = simpy.Environment()
        env.rng = random.Random(seed)
        self.acct = acct = Accounting()
        p = profile
        self.page_bytes = p.kernel.page_size_bytes
        self.membus = MemBus(env, p.membus.bandwidth_bytes_per_s, acct)
        self.cpu = Cpu(p.cpu, self.membus, acct)
        self.disk = Disk(p.disk, p.dma.descriptor_s, self.membus, acct)
        # the kernel the mechanisms follow: the textbook's classes, or Linux 6.x's subclasses
        self.linux6 = linux6 = p.kernel.model == "linux-6"
        nic_extra = {"packet_tap": p.kernel.packet_tap} if linux6 else {}
        if p.nic.loopback_split:  # the receiver on core 1; the sender, pinned, on core 0
            nic_extra["split"] = LoopbackSplit(self.cpu, p.cpu)
        # on loopback the receiver's stack (one skb) and its recv() syscall run on this host
        self.nic = (Linux6Nic if linux6 else Nic)(
            env, p.nic, p.dma, self.membus, self.cpu, p.cpu.irq_s, acct, p.cpu.rx_skb_s,
            p.cpu.rx_frag_s, p.cpu.orphan_page_s, **nic_extra)
        # loopback: the receiver's softirq ACKs as it delivers; there is no wire to cross
        self.rtt_s = 0.0 if p.nic.loopback else p.wire.rtt_s
        self.pages = Pages(env, acct)
        self.cache = PageCache(env, p.kernel, self.pages, self.disk, self.cpu, p.cpu.irq_s, acct)
        self.wires: dict[object, Wire] = {}  # socket -> the wire to its receiver
        self._late: dict[object, Wire] = {}  # loopback: skb -> its wire, until read
        self.nic.on_wire = self._on_wire
        self.nic.on_local = self._on_local
        self.nic.on_tx_complete = _tx_complete

    def _on_wire(self, skb, snapshot, end_s: float) -> None:
        self.wires[skb.sk].carry(skb, snapshot, end_s)

    def _on_local(self, skb, stage: str) -> None:
        """A loopback skb the receiver reads later: its wire is remembered from its queueing,
        since the connection may close (a server's) before the receiver has read it."""
        if stage == "input":  # no later stage needs its wire remembered
            wire = self.wires[skb.sk]
        elif stage == "queued" or stage == "arrived":
            wire = self._late[skb] = self.wires[skb.sk]
        elif stage == "copied":
            wire = self._late.pop(skb)
        else:
            wire = self._late[skb]
        wire.local(skb, stage)

    def new_task(self) -> Task:
        """A new single-threaded task (a process, a worker thread) on this host's cores."""
        split = self.nic.split
        cpu = self.cpu if split is None else split.sender_cpu
        return Task(self.env, cpu, self.profile.cpu, self.pages, self.acct)


def loopback_one_core(profile: Profile) -> bool:
    """A loopback host whose receiver shares the sender's only core."""
    return profile.nic.loopback and profile.cpu.cores == 1 and not profile.nic.loopback_split


def _tx_complete(skb) -> None:
    skb.sk.tx_complete(skb)


class Connection:
    """One TCP connection of a host: its socket (send buffer, TCP state), the wire to its
    receiver and the receiver; built from the same kernel classes for one run or a server."""

    def __init__(self, host: Host) -> None:
        p = host.profile
        self.receiver = Receiver()
        self.wire = Wire(host.env, host.rtt_s, host.nic.mss_bytes, self.receiver, p.cpu.irq_s,
                         host.cpu, host.acct)
        self.socket = (Linux6Socket if host.linux6 else TcpSocket)(
            host.env, p.kernel, p.nic, p.cpu, host.cpu, host.nic, host.pages, host.acct,
            host.rtt_s)
        self.wire.on_ack = self.socket.on_ack
        host.wires[self.socket] = self.wire
        if receive_window(p):  # the local receiver's window limits the sender
            # the NIC says when an skb reaches the receive queue (stages "arrived", "input")
            at_queue = host.nic.split is not None or loopback_one_core(p)
            receiver = self.receiver
            window = LoopbackWindow(host.env, self.socket.tcp, ReceiveWindow(
                host.nic.mss_bytes, p.kernel.rmem_default_bytes, p.kernel.rmem_max_bytes,
                host.env.now), lambda: receiver.copied_seq, at_queue=at_queue)
            if at_queue:
                self.wire.on_queued = window.arrive
            self.wire.on_window = window.ack
            self.wire.on_read = window.read

    def close(self, host: Host) -> None:
        """Forget the connection's wire (its socket sends nothing more)."""
        del host.wires[self.socket]


class Machine(Host):
    """One run of ``simulate()``: the host, one task, one connection, one file."""

    def __init__(self, profile: Profile, scenario: Scenario, header_bytes: int = 0) -> None:
        """``header_bytes``: the stream's first bytes come from user memory, not the file
        (a path that sends its own header), so the file is that much shorter."""
        super().__init__(profile, scenario.seed)
        self.scenario = scenario
        self.conn = conn = Connection(self)
        self.receiver, self.wire, self.socket = conn.receiver, conn.wire, conn.socket
        self.task = self.new_task()
        if self.linux6 and loopback_one_core(profile):
            # EEVDF shares the one core between the sender and the local receiver
            fixed = skb_fixed_share(profile.cpu)  # what a write()'s tail skb costs
            self.nic.share_core(self.task, profile.cpu.context_switch_s,
                                profile.cpu.rx_input_s,
                                not profile.kernel.irq_time_accounting, fixed)
            if fixed < 1.0:
                self.socket.share_skb_costs(fixed)
        self.file = File(DATA_FILE, scenario.offset_bytes + scenario.size_bytes - header_bytes,
                         self.page_bytes)
        self.sender = None  # the path's SimPy process, set by simulate()
        self.stream_prefix_bytes = 0  # stream bytes before the file's (a path's header)
        self.stream_extra_bytes = 0  # stream bytes besides size_bytes (kTLS record framing)
        self.first_push = self.env.event()
        self.socket.on_push.append(self._first_push)
        if scenario.watch_page is not None:
            self.pages.watch.add((self.file.name,
                                  scenario.offset_bytes // self.page_bytes + scenario.watch_page))
        if scenario.cache == "warm":
            self.cache.prefill(self.file, self.file.npages)

    def set_up(self, step: SetUp, scenario: Scenario):
        """A path's one-time set-up, made here and now: the run is one program on one
        connection (a server keeps it per worker or connection instead). Generator."""
        return (yield from step.open(self, scenario))

    def release(self, step: SetUp, handle) -> None:
        """The program is done with ``handle``: close it at once."""
        if step.close is not None:
            step.close(handle)

    def _first_push(self, _skb) -> None:
        """The first skb is queued: ``first_push`` fires, and this hook leaves the socket's
        list (a new list, so a push iterating the old one still calls every hook)."""
        if not self.first_push.triggered:
            self.first_push.succeed()
        self.socket.on_push = [h for h in self.socket.on_push if h != self._first_push]

    @property
    def finished(self) -> bool:
        """Every byte delivered, or the sender gone with nothing left in flight."""
        if self.receiver.rcv_nxt >= self.scenario.size_bytes + self.stream_extra_bytes:
            return True
        return (self.sender is not None and not self.sender.is_alive
                and not self.socket.rtx)

    @property
    def delivered_bytes(self) -> int:
        """The application's bytes the receiver has in order: the stream less its framing
        (in proportion while the stream is incomplete)."""
        got, extra = self.receiver.rcv_nxt, self.stream_extra_bytes
        if not extra:
            return got
        size = self.scenario.size_bytes
        return size if got >= size + extra else got * size // (size + extra)

    def check_invariants(self) -> list[str]:
        """End-of-run checks: every byte delivered once, every reference released."""
        out = list(self.acct.violations)
        want = self.scenario.size_bytes + self.stream_extra_bytes
        got = self.receiver.rcv_nxt
        if got != want:
            out.append(f"receiver got {got} bytes in order, expected exactly {want}")
        if self.socket.rtx or self.socket.tail is not None:
            out.append(f"{len(self.socket.rtx)} sk_buffs never freed")
        if self.socket.zc_pending:
            out.append(f"{len(self.socket.zc_pending)} MSG_ZEROCOPY completions never sent")
        out.extend(self.cache.cached_refs_ok()[:10])
        if self.pages.live != len(self.cache.lru):
            out.append(f"{self.pages.live - len(self.cache.lru)} pages outside the page cache "
                       f"never freed")
        return out
