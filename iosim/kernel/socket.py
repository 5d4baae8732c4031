"""A TCP socket's send side: the send buffer, sk_buff building, and MSG_ZEROCOPY
completion notifications; TCP's own state (window, loss recovery) is ``iosim.kernel.tcp``.

Two kernels (``kernel.model``). ``TcpSocket`` is the textbook's: copied data goes into an
skb's linear area; page data becomes frags that hold page references, but only when the NIC
can gather (``sg``, which the 2.6-era kernel dropped without checksum offload); otherwise even
sendfile and splice copy here; each syscall closes its skb. ``Linux6Socket`` (below) is Linux
6.x's: the socket always gathers, write() data goes into page-frag pages, calls append to the
unsent tail, the send buffer autotunes, MSG_ZEROCOPY sends share notification records. In
both an skb stays on the retransmit queue, holding its references, until it is ACKed; each
transmission is a clone sharing its data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from iosim import events
from iosim.config import SKB_COST_BYTES
from iosim.kernel.page import ANON, Pages
from iosim.kernel.process import Task
from iosim.kernel.skbuff import Frag, Runs, SkBuff, add_run, slice_runs, whole_pages
from iosim.kernel.tcp import (
    MAX_TCP_HEADER_BYTES,
    NAGLE_CORK,
    NAGLE_OFF,
    NAGLE_PUSH,
    SKB_TRUESIZE_BYTES,
    Linux6Tcp,
    TcpSender,
    bound_to_half_wnd,
    gso_max_bytes,
)

SNDBUF_FULL = "send buffer full"  # the reason a writer sleeps in sk_stream_wait_memory


def take_pieces(todo: list[Frag], i: int, room: int, slots: int
                ) -> tuple[list[Frag], int, int]:
    """The next (page, offset, len, version) pieces from ``todo[i]`` that fit ``room`` bytes
    and ``slots`` frags: whole pieces in one batch (the same objects: a frag is never
    changed once made), or the first one split at ``room``.
    Returns (batch, its bytes, the next index); an empty batch when nothing fits."""
    j = i
    end = min(len(todo), i + slots)
    nbytes = 0
    while j < end:
        n = nbytes + todo[j].len
        if n > room:
            break
        nbytes = n
        j += 1
    if j > i:
        return todo[i:j], nbytes, j
    if slots and room:  # only part of the next piece fits: split it
        piece = todo[i]
        page, offset, version = piece.page, piece.offset, piece.version
        todo[i] = Frag(page, offset + room, piece.len - room, version)
        return [Frag(page, offset, room, version)], room, i
    return [], 0, i


class Alignment:
    """The frags a misaligned source costs: per contiguous range of data handed to the
    socket (a file range over every sendfile round, one user buffer per send), the pages it
    spans beyond what its bytes would span page-aligned (``Result.unaligned_extra_frags``)."""

    def __init__(self, page_bytes: int) -> None:
        self.page_bytes = page_bytes
        self.start = 0  # in-page offset where the current range began
        self.nbytes = 0
        self.last: Frag | None = None  # its last piece

    def _extra(self) -> int:
        pb = self.page_bytes
        return -(-(self.start + self.nbytes) // pb) - -(-self.nbytes // pb)

    def add(self, todo: list[Frag]) -> int:
        """Take the next pieces; return how many extra frags that makes."""
        if not todo:
            return 0
        page, offset = todo[0].page, todo[0].offset
        last = self.last
        continues = last is not None and (
            (page is last.page and offset == last.offset + last.len)
            or (offset == 0 and last.offset + last.len == self.page_bytes
                and page.file is last.page.file and page.index == last.page.index + 1))
        before = self._extra() if continues else 0
        if not continues:
            self.start, self.nbytes = offset, 0
        nbytes = self.nbytes
        for piece in todo:
            nbytes += piece.len
        self.nbytes = nbytes
        self.last = todo[-1]
        return self._extra() - before


def user_pieces(buffer, start: int, nbytes: int) -> list[Frag]:
    """The (page, offset, len, version) pieces of a user buffer's byte range: whole pages,
    except that the first and the last may be partial."""
    pb = buffer.page_bytes
    pos = buffer.offset_bytes + start
    span = buffer.page_span(start, nbytes)
    todo = whole_pages(buffer.pages[span.start:span.stop], pb)
    if todo:
        first = todo[0]
        first.offset = pos - span.start * pb
        first.len = pb - first.offset
        last = todo[-1]
        last.len = pos + nbytes - (span.stop - 1) * pb - last.offset
    return todo


def pipe_origin(buffers) -> tuple[str, int | None]:
    """Where pipe buffers' pages come from and that data's size: the page cache (splice
    from a file: the file), a user buffer (vmsplice: user_page_pipe_buf_ops) or the
    kernel's own pages (kTLS's encrypted records)."""
    for b in buffers:
        file = b.page.file
        if file is not None:
            return events.PAGE_CACHE, file.size_bytes
    if not buffers:
        return events.PAGE_CACHE, None
    if buffers[0].page.kind == ANON:
        return events.USER_BUFFER, sum(b.len for b in buffers)
    return events.SOCKET_BUFFER, sum(b.len for b in buffers)


def pipe_source(buffers) -> Runs:
    """The pipe buffers' bytes as a copy source (their pages' content versions)."""
    runs: list[list[int]] = []
    for buf in buffers:
        add_run(runs, buf.page.version, buf.len)
    return Runs(runs, *pipe_origin(buffers))


class TcpSocket:
    """The sender's end of one TCP connection."""

    def __init__(self, env, kernel_spec, nic_spec, cpu_spec, cpu, nic, pages: Pages, acct,
                 rtt_s: float = 0.0) -> None:
        self.env = env
        self.cpu = cpu
        self.nic = nic
        self.pages = pages
        self.acct = acct
        self.cpu_spec = cpu_spec
        # a receiver on another core of a loopback host: the NIC books each skb's TCP work
        # on the sender's core by what the skb holds (cpu.split_tx_*), output and input
        self.per_skb_s = 0.0 if nic_spec.loopback_split else cpu_spec.per_skb_s
        # netdev_fix_features: "Dropping NETIF_F_SG since no checksum feature"
        self.sg = nic_spec.sg and nic_spec.csum_offload
        self.loopback = nic_spec.loopback
        self.size_goal = nic_spec.tso_max_bytes
        self.max_frags = kernel_spec.max_skb_frags
        self.sndbuf = kernel_spec.sndbuf_bytes
        self.page_bytes = kernel_spec.page_size_bytes
        self.alignment = Alignment(self.page_bytes)
        acct.sndbuf_max_bytes = self.sndbuf
        self.tcp = self._make_tcp(kernel_spec, rtt_s)
        self.on_push: list[Callable[[SkBuff], None]] = []
        self.queued = 0  # sk_wmem_queued: bytes in skbs not yet ACKed
        self.write_seq = 0
        self.tail: SkBuff | None = None
        self._space = None  # event the blocked writer waits on
        self.zc_next_id = 0
        self.zc_pending: dict[int, int] = {}  # notification id -> skbs still holding it
        self.errqueue: list[list[int]] = []  # coalesced [lo, hi] ranges of completed ids
        self._errqueue_event = None
        self._acked = None  # event a task waits on for the next ACK (``acked_event``)

    def _make_tcp(self, kernel_spec, rtt_s: float) -> TcpSender:
        return TcpSender(self.env, self.nic, self.acct, self._release, rtt_s)

    # --- the writer side -------------------------------------------------------------
    def wait_space(self, task: Task):
        """sk_stream_wait_memory: sleep until the send buffer has room; what to
        ``yield from`` (nothing, no generator, while there is room)."""
        if self.queued < self.sndbuf:
            return ()
        return self._wait_space(task)

    def _wait_space(self, task: Task):
        yield from self.push(task)  # tcp_sendmsg pushes what it has before it sleeps
        while self.queued >= self.sndbuf:
            self._space = self.env.event()
            yield from task.block(self._space, SNDBUF_FULL)

    def _skb(self) -> SkBuff:
        if self.tail is None:
            self.tail = SkBuff(seq=self.write_seq, sk=self)
        return self.tail

    def _room(self, skb: SkBuff) -> int:
        return min(self.size_goal - skb.len, self.sndbuf - self.queued)

    def setsockopt(self, task: Task, option: str, value: int) -> None:
        """Socket options the textbook kernel has no use for (TCP_CORK, TCP_NODELAY)."""

    def send_copy(self, task: Task, source, start: int, nbytes: int, more: bool = False):
        """tcp_sendmsg: copy ``nbytes`` of user memory (``source.runs``) into skbs
        (``more``, MSG_MORE, is Linux 6's)."""
        done = 0
        while done < nbytes:
            yield from self.wait_space(task)
            skb = self._skb()
            n = min(nbytes - done, self._room(skb))
            runs = yield from source.copy_runs(start + done, n)
            task.copy(n, source.label, events.SOCKET_BUFFER, source.working_set_bytes)
            skb.add_linear(runs, n)
            self._queue(n)
            done += n
            if skb.len >= self.size_goal:
                yield from self.push(task)
        yield from self.push(task)

    def send_pages(self, task: Task, buffers, more: bool = False):
        """The 2.6-era do_tcp_sendpages for pipe buffers: frags with SG, a copy without
        (``more``, MSG_MORE, is Linux 6's, which has no ->sendpage: splice_to_socket hands
        the pages to tcp_sendmsg with MSG_SPLICE_PAGES)."""
        if not self.sg:
            # sock_no_sendpage -> kernel_sendmsg: the page data is copied like write()'s
            yield from self.send_copy(task, pipe_source(buffers), 0, sum(b.len for b in buffers))
            return
        yield from self._attach(task, list(buffers), "skb", *pipe_origin(buffers))

    def send_zerocopy(self, task: Task, buffer, start: int, nbytes: int, fixed: bool = False):
        """send(MSG_ZEROCOPY): pin the user pages and attach them as frags; True (the
        textbook never refuses). ``fixed``: io_uring SEND_ZC from a registered buffer,
        pinned once at registration, so nothing is pinned here.

        Without SG (or on loopback) the kernel copies instead and flags the completion as
        COPIED. Either way one notification id is consumed, completed when every skb
        carrying it is freed.
        """
        zc_id = self.zc_next_id
        self.zc_next_id += 1
        self.zc_pending[zc_id] = 1  # the call's own reference, dropped when it returns
        if not self.sg or self.loopback:
            self.acct.zerocopy_copied_sends += 1
        if self.sg and not fixed:  # get_user_pages: pin the whole range up front
            self._get_user_pages(task, buffer, start, nbytes)
        yield from self._attach(task, user_pieces(buffer, start, nbytes), "pin",
                                events.USER_BUFFER, buffer.working_set_bytes, zc_id)
        self._zc_put(zc_id)
        return True

    def _get_user_pages(self, task: Task, buffer, start: int, nbytes: int) -> None:
        """get_user_pages over the range: its cost, one reference per page."""
        refs = len(buffer.page_span(start, nbytes))
        task.charge(refs * self.cpu_spec.page_pin_s, "pin")
        self.acct.pages_pinned += refs

    def _attach(self, task: Task, todo: list[Frag], holder: str, src: str,
                working_set_bytes: int | None, zc_id: int | None = None):
        """Put (page, offset, len, version) pieces of ``src`` (the page cache or a user
        buffer, whose data is ``working_set_bytes`` in all) into skbs: as frags holding a
        page reference each with SG, else copied into the linear area. Whole pieces that
        fit go in one batch; a piece that does not fit is split at the skb's size goal."""
        if self.sg:
            self.acct.unaligned_extra_frags += self.alignment.add(todo)
        i = 0
        while i < len(todo):
            if self.queued >= self.sndbuf:  # else wait_space returns at once
                yield from self.wait_space(task)
            skb = self._skb()
            if zc_id is not None and skb.zc_id not in (None, zc_id):
                yield from self.push(task)  # one notification id per skb
                continue
            room = self._room(skb)
            slots = self.max_frags - len(skb.frags) if self.sg else len(todo)
            batch, nbytes, i = take_pieces(todo, i, room, slots)
            if batch:
                if self.sg:
                    self.pages.get_frags(batch, holder)
                    skb.frags += batch
                    skb.len += nbytes
                    skb.frag_src = src
                    skb.frag_working_set_bytes = working_set_bytes
                else:
                    task.copy(nbytes, src, events.SOCKET_BUFFER, working_set_bytes,
                              note="MSG_ZEROCOPY fallback")
                    runs: list[list[int]] = []
                    for b in batch:
                        add_run(runs, b.page.version, b.len)
                    skb.add_linear(runs, nbytes)
                if zc_id is not None and skb.zc_id is None:
                    skb.zc_id = zc_id
                    self.zc_pending[zc_id] += 1
                self._queue(nbytes)
            if skb.len >= self.size_goal or len(skb.frags) >= self.max_frags or not batch:
                yield from self.push(task)
        yield from self.push(task)

    def _queue(self, nbytes: int) -> None:
        self.queued += nbytes
        self.write_seq += nbytes

    def push(self, task: Task):
        """tcp_push: close the tail skb and hand a clone of it to the NIC; what to
        ``yield from`` (nothing, no generator, when there is no tail to push)."""
        skb = self.tail
        if skb is None or skb.len == 0:
            return ()
        return self._push_tail(task, skb)

    def _push_tail(self, task: Task, skb: SkBuff):
        self.tail = None
        self.acct.skbs += 1
        if skb.frags:
            self.acct.frags += len(skb.frags)
        task.charge(self.per_skb_s, "net")
        yield from task.sync()  # the skb exists once the copies into it are done
        if self.acct.trace is not None:
            self.acct.trace.add(events.queued(self.env.now, self.queued))
        self.tcp.queue(skb)
        for hook in self.on_push:
            hook(skb)
        self.tcp.start_timer()

    @property
    def rtx(self):
        """The skbs pushed and not yet ACKed (TCP's retransmit queue)."""
        return self.tcp.rtx

    # --- completions -----------------------------------------------------------------
    def tx_complete(self, skb: SkBuff) -> None:
        """The NIC's TX completion freed the clone (a retransmission's shares its parent)."""
        self._unref(skb.parent if skb.parent is not None else skb)

    def on_ack(self, ack_seq: int, sack: list[list[int]], xmit_id: int = 0) -> None:
        """An ACK (+ SACK) for transmission ``xmit_id``: TCP releases what it covers and
        sends what waited; a writer waiting for room wakes (sk_stream_write_space)."""
        self.tcp.on_ack(ack_seq, sack, xmit_id)
        self._wake_acked()
        if self.acct.trace is not None:
            self.acct.trace.add(events.queued(self.env.now, self.queued))
        # sk_stream_write_space: wake when free space >= half of what is queued
        if self._space is not None and self.sndbuf - self.queued >= self.queued // 2:
            self._space.succeed()
            self._space = None

    def _release(self, skb: SkBuff) -> None:
        """The ACK covered ``skb``: its bytes leave the send buffer, its data is freed."""
        self.queued -= skb.len
        self._unref(skb)

    def _unref(self, skb: SkBuff) -> None:
        skb.dataref -= 1
        if skb.dataref:
            return
        if skb.frags:
            self.pages.put_frags(skb.frags, "skb")
        if skb.zc_id is not None:
            self._zc_put(skb.zc_id)

    def _zc_put(self, zc_id: int) -> None:
        """Drop one reference on a notification; the last one queues the completion."""
        self.zc_pending[zc_id] -= 1
        if self.zc_pending[zc_id]:
            return
        del self.zc_pending[zc_id]
        self._notify(zc_id, zc_id)

    def _notify(self, lo: int, hi: int) -> bool:
        """Queue the completion of sends ``lo .. hi`` on the error queue: coalesced with the
        previous one if the task has not read it yet (True then). Wakes a poll."""
        self.cpu.run(self.env.now, self.cpu_spec.notification_s, "notification")
        self.acct.zerocopy_notifications += 1
        q = self.errqueue
        coalesced = bool(q) and q[-1][1] == lo - 1
        if coalesced:
            q[-1][1] = hi
        else:
            q.append([lo, hi])
        if self._errqueue_event is not None:
            self._errqueue_event.succeed()
            self._errqueue_event = None
        return coalesced

    def read_errqueue(self) -> list[int]:
        """recvmsg(MSG_ERRQUEUE): the oldest completion range [lo, hi]."""
        return self.errqueue.pop(0)

    def acked_event(self):
        """An event that fires when the next ACK has been processed: a program that polls
        SIOCOUTQ (``tcp_ioctl``: bytes written and not yet ACKed) sleeps until then."""
        if self._acked is None:
            self._acked = self.env.event()
        return self._acked

    def _wake_acked(self) -> None:
        if self._acked is not None:
            event, self._acked = self._acked, None
            event.succeed()

    def errqueue_ready(self):
        """An event that fires when a completion is queued (poll(POLLERR))."""
        if self.errqueue:
            ev = self.env.event()
            ev.succeed()
            return ev
        if self._errqueue_event is None:
            self._errqueue_event = self.env.event()
        return self._errqueue_event


# --- Linux 6.x ---------------------------------------------------------------------------

PFRAG_BYTES = 32768  # SKB_FRAG_PAGE_ORDER = get_order(32768): the socket's page-frag pages
PFRAG_MIN_BYTES = 32  # sk_page_frag_refill: a page with less room left is replaced
TCP_WMEM_DEFAULT_BYTES = 16384  # tcp_wmem[1]: sk_sndbuf at tcp_init_sock
SKB_FLUSH_BACKLOG = 16  # tcp_sendmsg_locked: sk_flush_backlog every 16 new skbs
ZC_RECORD_LIMIT_BYTES = 1 << 19  # msg_zerocopy_realloc: byte_limit of one record
OPTMEM_RECORD_BYTES = 960  # a notification skb, sock_omalloc(sk, 0): its truesize ...
OPTMEM_CHECK_BYTES = 576  # ... and SKB_TRUESIZE(0), what sock_omalloc checks against
ZC_HOLDER = "zerocopy"  # get_user_pages (FOLL_GET) references, charged as locked memory


def pfrag_capacity(offset: int, slots: int, coalesce: bool) -> int:
    """Bytes ``slots`` more page-frag chunks can hold from ``offset`` in the socket's
    current 32 KiB page (``coalesce``: the first bytes extend the skb's last chunk)."""
    if offset + PFRAG_MIN_BYTES > PFRAG_BYTES:  # sk_page_frag_refill: a fresh page
        offset, coalesce = 0, False
    if coalesce:
        return PFRAG_BYTES - offset + slots * PFRAG_BYTES
    return PFRAG_BYTES - offset + (slots - 1) * PFRAG_BYTES if slots > 0 else 0


def pfrag_advance(offset: int, nbytes: int) -> int:
    """The page-frag offset after copying ``nbytes`` from ``offset``."""
    while nbytes:
        if offset + PFRAG_MIN_BYTES > PFRAG_BYTES:
            offset = 0
        n = PFRAG_BYTES - offset
        if nbytes < n:
            n = nbytes
        offset += n
        nbytes -= n
    return offset


def sndbuf_per_mss_bytes(mtu_bytes: int) -> int:
    """tcp_sndbuf_expand's per_mss: roundup_pow_of_two(mss_clamp + MAX_TCP_HEADER +
    sizeof(skb_shared_info)) + sizeof(sk_buff); 4352 B at MTU 1500 (the peer's MSS option
    is the MTU less 40 B of IPv4 and TCP headers)."""
    need = mtu_bytes - 40 + MAX_TCP_HEADER_BYTES + 320
    return (1 << (need - 1).bit_length()) + 256


@dataclass(slots=True, eq=False)
class ZcRecord:
    """One MSG_ZEROCOPY notification (ubuf_info_msgzc): sends ``id .. id+count-1``."""

    id: int
    count: int
    bytes: int
    refs: int  # skbs holding it, plus a send still running
    copied: bool  # completes with SO_EE_CODE_ZEROCOPY_COPIED
    locked_pages: int = 0
    uring: bool = False  # an io_uring notification: no optmem, completes as a CQE


class Linux6Socket(TcpSocket):
    """The send side as Linux 6.x builds it (``net/ipv4/tcp.c:tcp_sendmsg_locked``).

    - TCP always has scatter-gather (``net/core/sock.c:sk_setup_caps``: GSO since 4.17)
      unless the route forbids GSO (``kernel.gso = false``: TCP-MD5/AO, IPsec without
      offload), so sendfile, splice and MSG_ZEROCOPY attach page references whatever the
      NIC offers; the NIC's features act at transmit (``iosim.hw.nic.Linux6Nic``).
    - write() data is copied into the socket's 32 KiB page-frag pages (``sk_page_frag``,
      ``skb_copy_to_page_nocache``), never the linear area: one SG entry per chunk.
    - New skbs go on the write queue as they are allocated, and each call appends to the
      unsent tail up to the size goal (45 x MSS, ``tcp_xmit_size_goal``); ``tcp_push``
      at the end of a call decides what leaves: autocork (``tcp_should_autocork``), then
      Nagle/Minshall, MSG_MORE and TCP_CORK (``Linux6Tcp.write_xmit``).
    - A send call owns the socket (``lock_sock``): ACKs, TX-completion work and timers wait
      in the backlog until ``release_sock``, every 16 new skbs (``sk_flush_backlog``) and
      while the writer sleeps (``sk_stream_wait_memory``).
    - The send buffer starts at tcp_wmem[1] = 16 KiB, grows with cwnd
      (``net/ipv4/tcp_input.c:tcp_sndbuf_expand``: 2 x max(10, cwnd) x 4352 B, 3 x for BBR)
      up to ``kernel.sndbuf`` (tcp_wmem[2]) and counts truesize (960 B per skb + payload);
      the writer sleeps only when it needs a new skb and wakes at queued <= 2/3 sndbuf.
    - MSG_ZEROCOPY sends join the unsent tail's notification record while it is contiguous
      and at most 512 KiB (``net/core/skbuff.c:msg_zerocopy_realloc``), one record per skb;
      a send is refused with ENOBUFS past ``optmem_max`` (960 B per record) or
      RLIMIT_MEMLOCK ((size / 4 KiB) + 2 pages per send); COPIED only on loopback, with a
      packet tap or on a route without SG, where the record completes at send() return.
    """

    def __init__(self, env, kernel_spec, nic_spec, cpu_spec, cpu, nic, pages: Pages, acct,
                 rtt_s: float = 0.0) -> None:
        self.kernel_spec = kernel_spec
        super().__init__(env, kernel_spec, nic_spec, cpu_spec, cpu, nic, pages, acct, rtt_s)
        self.sg = kernel_spec.gso or nic_spec.sg  # sk_route_caps & NETIF_F_SG
        mss = nic.mss_bytes
        self.size_goal = max(gso_max_bytes(nic_spec.tso_max_bytes) // mss * mss, mss)
        self.tcp.on_mss = self._size_goal_follows
        self.wmem_max = kernel_spec.sndbuf_bytes  # tcp_wmem[2]
        self.sndbuf = min(TCP_WMEM_DEFAULT_BYTES, self.wmem_max)
        self.per_mss = sndbuf_per_mss_bytes(nic_spec.mtu_bytes)
        self._expand_sndbuf()  # tcp_init_transfer → tcp_init_buffer_space, at connect
        self.pfrag_offset = PFRAG_BYTES  # the first copy takes a fresh page
        self._pfrag_skb: SkBuff | None = None  # whose last chunk ends at pfrag_offset
        self._new_skbs = 0  # since the socket was locked or the backlog flushed
        self.zc_copied = nic_spec.loopback or kernel_spec.packet_tap or not self.sg
        self.zc_pending: dict[int, ZcRecord] = {}  # type: ignore[assignment]
        self.optmem = 0  # sk_omem_alloc
        self.locked_pages = 0  # user->locked_vm charged by this socket's sends
        self.memlock_pages = kernel_spec.memlock_bytes // self.page_bytes
        self._skb_fixed_s = self.per_skb_s  # charged per new skb, whatever it will hold
        self._skb_byte_s = 0.0  # and per byte it takes (``share_skb_costs``)

    def share_skb_costs(self, fixed: float) -> None:
        """An skb pays ``fixed`` of ``per_skb`` whatever its size and the rest by its bytes
        (a 64 KiB call's worth pays it all): a write()'s 53 B tail costs little, as on a
        loopback host's one core the kernel's does (``cpu.tail_skb``)."""
        self._skb_fixed_s = self.per_skb_s * fixed
        self._skb_byte_s = self.per_skb_s * (1.0 - fixed) / SKB_COST_BYTES

    def _size_goal_follows(self, max_window: int) -> None:
        """tcp_xmit_size_goal once the MSS changed (a local receiver's window, below two
        MSS at first): whole current MSSes within half the peer's largest window."""
        mss = self.tcp.mss_now
        goal = bound_to_half_wnd(gso_max_bytes(self.nic.spec.tso_max_bytes), max_window)
        self.size_goal = max(goal // mss * mss, mss)

    def _make_tcp(self, kernel_spec, rtt_s: float) -> Linux6Tcp:
        return Linux6Tcp(self.env, self.nic, self.acct, self._release, self._split, rtt_s,
                         kernel_spec.tcp_congestion, kernel_spec.qdisc == "fq",
                         kernel_spec.slow_start_after_idle)

    # --- the socket lock -------------------------------------------------------------
    def _lock(self) -> None:
        self.tcp.owned = True
        self._new_skbs = 0

    def _release_sock(self, task: Task):
        """release_sock: replay the backlog once the call's work is done, then unlock; what
        to ``yield from`` (nothing, no generator, when the backlog is empty)."""
        if self.tcp.backlog:
            return self._replay_backlog(task)
        self.tcp.owned = False
        return ()

    def _replay_backlog(self, task: Task):
        yield from task.sync()
        self.tcp.process_backlog()
        self.tcp.owned = False

    def _finish(self, task: Task, more: bool):
        """The end of tcp_sendmsg_locked (its copies done): tcp_push, then release_sock."""
        yield from task.sync()
        self._push(task, more)
        yield from self._release_sock(task)

    # --- the send buffer -------------------------------------------------------------
    def _expand_sndbuf(self) -> None:
        """tcp_sndbuf_expand: factor x max(10, cwnd) segments x per_mss, up to tcp_wmem[2];
        it only grows."""
        tcp = self.tcp
        sndmem = tcp.cc.sndbuf_factor * max(10, tcp.cwnd_segs(), 4) * self.per_mss
        if self.sndbuf < sndmem:
            self.sndbuf = min(sndmem, self.wmem_max)
            self.acct.sndbuf_max_bytes = max(self.acct.sndbuf_max_bytes, self.sndbuf)

    def _wait_memory(self, task: Task, copied: bool):
        """sk_stream_wait_memory: push what there is (TCP_NAGLE_PUSH), release the socket
        and sleep until the send buffer has room; then own it again."""
        yield from task.sync()
        if copied:
            self._push(task, False, NAGLE_PUSH)
        yield from self._release_sock(task)
        while self.queued >= self.sndbuf:
            self._space = self.env.event()
            yield from task.block(self._space, SNDBUF_FULL)
        self._lock()

    def _room_for_skb(self, task: Task, copied: bool):
        """Before a new skb: sk_stream_memory_free, else wait; every 16 skbs, the backlog.
        True when the caller may allocate now (False: it waited, look at the tail again)."""
        if self.queued >= self.sndbuf:
            yield from self._wait_memory(task, copied)
            return False
        if self._new_skbs >= SKB_FLUSH_BACKLOG:
            self._new_skbs = 0
            yield from task.sync()
            self.tcp.process_backlog()  # sk_flush_backlog
        return True

    def _new_skb(self, task: Task) -> SkBuff:
        """tcp_stream_alloc_skb + tcp_skb_entail: an empty skb (960 B) on the write queue."""
        self._new_skbs += 1
        skb = SkBuff(seq=self.write_seq, truesize=SKB_TRUESIZE_BYTES, sk=self)
        self.queued += SKB_TRUESIZE_BYTES
        self.acct.skbs += 1
        task.charge(self._skb_fixed_s, "net")
        self.tcp.entail(skb)
        return skb

    def _added(self, skb: SkBuff, nbytes: int, truesize: int) -> None:
        """``nbytes`` joined ``skb``; ``truesize`` of them charged to the send buffer."""
        skb.truesize += truesize
        self.queued += truesize
        self.write_seq += nbytes
        for hook in self.on_push:
            hook(skb)

    def _tail(self, copy: bool, rec: ZcRecord | None = None) -> SkBuff | None:
        """tcp_write_queue_tail, if the next bytes may join it: below the size goal, and
        for page frags with a free frag slot and no other notification record (-EEXIST);
        copied bytes only join an skb without page frags (the model keeps copied bytes
        before frags)."""
        unsent = self.tcp.unsent
        if not unsent:
            return None
        skb = unsent[-1]
        if skb.len >= self.size_goal:
            return None
        if copy:
            return None if skb.frags else skb
        if len(skb.frags) >= self.max_frags:
            return None
        if rec is not None and skb.zc_id not in (None, rec.id):
            return None
        return skb

    def _push_one(self, task: Task, skb: SkBuff, ready_s: float | None = None) -> None:
        """tcp_push_one: a full skb at the send head goes now (no TSO deferral), once its
        bytes are in (``ready_s``; else when the task's booked work ends)."""
        tcp = self.tcp
        if tcp.unsent and tcp.unsent[0] is skb:
            tcp.write_xmit(tcp.nonagle, push_one=True,
                           ready_s=task.clock_s if ready_s is None else ready_s)

    def _push(self, task: Task, more: bool, nonagle: int | None = None) -> None:
        """tcp_push: the tail waits if autocorked (an earlier clone is still in the host:
        its TX completion sends it), else tcp_write_xmit with MSG_MORE as TCP_NAGLE_CORK."""
        tcp = self.tcp
        if not tcp.unsent:
            return
        skb = tcp.unsent[-1]
        if tcp.should_autocork(skb, self.size_goal):
            tcp.throttled = True
            if self.acct.trace is not None:
                tcp.trace_hold(skb, events.HOLD_AUTOCORK)
            return
        mode = NAGLE_CORK if more else (tcp.nonagle if nonagle is None else nonagle)
        tcp.write_xmit(mode, ready_s=task.clock_s)

    def _split(self, skb: SkBuff, nbytes: int) -> SkBuff:
        """tso_fragment: the rest is a new skb (960 B more in the send buffer; truesize
        moves with the bytes); a frag cut in two takes one more page reference."""
        rest, cut = skb.split(nbytes)
        if cut is not None:  # one more frag, on the rest: skb_split's skb_frag_ref
            self.pages.get((cut,), "skb")
            self.acct.frags += 1
        rest.truesize = SKB_TRUESIZE_BYTES + rest.len
        skb.truesize -= rest.len
        self.queued += SKB_TRUESIZE_BYTES
        self.acct.tso_fragments += 1  # tso_fragment allocates the rest (tcp_stream_alloc_skb)
        if rest.zc_id is not None:
            self.zc_pending[rest.zc_id].refs += 1
        return rest

    def _release(self, skb: SkBuff) -> None:
        """The ACK covered ``skb``: its truesize leaves the send buffer."""
        self.queued -= skb.truesize
        self._unref(skb)

    def setsockopt(self, task: Task, option: str, value: int) -> None:
        """TCP_CORK (``__tcp_sock_set_cork``): set, sub-MSS tails are held; cleared, what
        waits is pushed. TCP_NODELAY (``__tcp_sock_set_nodelay``): Nagle off, and a push.
        SO_MAX_PACING_RATE (bytes/s, ``net/core/sock.c:sk_setsockopt``): caps the pacing
        rate and makes TCP pace itself (SK_PACING_NEEDED) unless sch_fq does."""
        tcp = self.tcp
        if option == "SO_MAX_PACING_RATE":
            tcp.max_pacing_rate = value
            tcp._pacing_rate = None
            tcp.internal_pacing = tcp.internal_pacing or not tcp.fq
            return
        if option == "TCP_CORK":
            if value:
                tcp.nonagle |= NAGLE_CORK
                return
            tcp.nonagle &= ~NAGLE_CORK
            if tcp.nonagle & NAGLE_OFF:
                tcp.nonagle |= NAGLE_PUSH
        elif option == "TCP_NODELAY":
            if not value:
                tcp.nonagle &= ~NAGLE_OFF
                return
            tcp.nonagle |= NAGLE_OFF | NAGLE_PUSH
        else:
            return
        tcp.write_xmit(tcp.nonagle, ready_s=task.clock_s)  # tcp_push_pending_frames

    # --- write(): copies into the socket's page frags --------------------------------
    def send_copy(self, task: Task, source, start: int, nbytes: int, more: bool = False):
        """tcp_sendmsg (zc == 0): copy ``nbytes`` of user memory into page-frag chunks."""
        self._lock()
        yield from self._copy_in(task, source, start, nbytes)
        yield from self._finish(task, more)

    def _copy_in(self, task: Task, source, start: int, nbytes: int):
        """The copy loop of tcp_sendmsg_locked: fill the unsent tail up to the size goal,
        then a new skb (``sk_stream_memory_free`` first), the bytes going into the socket's
        page-frag pages; a full skb at the send head goes at once (``tcp_push_one``). The
        bytes that surely go without a sleep or a backlog flush are copied in one booking,
        and each skb's share is ready when the copy has reached it."""
        done = 0
        while done < nbytes:
            goal = self.size_goal  # tcp_send_mss again after a wait: the MSS may have grown
            total = self._bookable(nbytes - done)
            if not total:  # a new skb is due, but the buffer is full or the backlog waits
                yield from self._room_for_skb(task, done > 0)
                continue
            runs = yield from source.copy_runs(start + done, total)  # may fault: owned
            now = self.env.now
            t0 = now if now > task.clock_s else task.clock_s
            task.copy(total, source.label, events.SOCKET_BUFFER, source.working_set_bytes)
            copy_s = task.clock_s - t0
            pos = 0
            while pos < total:
                skb = self._tail(True)
                room = self._copy_room(skb) if skb is not None else 0
                if room <= 0:
                    skb = self._new_skb(task)
                    room = self._copy_room(skb)
                n = total - pos
                if room < n:
                    n = room
                skb.add_linear(runs if n == total else slice_runs(runs, pos, n), n)
                self._pfrag_fill(skb, n)
                self._added(skb, n, n)
                if self._skb_byte_s:
                    task.charge(self._skb_byte_s * n, "net")
                pos += n
                if skb.len >= goal:
                    self._push_one(task, skb, t0 + copy_s * pos / total)
            done += total

    def _copy_room(self, skb: SkBuff) -> int:
        """Bytes ``skb`` can still take: the size goal, and MAX_SKB_FRAGS page-frag chunks."""
        room = self.size_goal - skb.len
        chunks = skb.chunks
        pages = pfrag_capacity(self.pfrag_offset,
                               self.max_frags - (len(chunks) if chunks else 0),
                               self._pfrag_skb is skb)
        return room if room < pages else pages

    def _bookable(self, left: int) -> int:
        """How many of ``left`` bytes go before the writer could have to sleep or flush the
        backlog: the tail's room, then whole skbs while the send buffer (counting a
        tso_fragment's 960 B for every skb sent on the way) stays below sndbuf, at most
        16 new skbs."""
        tail = self._tail(True)
        total = min(left, self._copy_room(tail)) if tail is not None else 0
        if total == left:  # it all fits in the tail (small writes)
            return total
        left -= total
        queued = self.queued + total
        new = self._new_skbs
        offset = pfrag_advance(self.pfrag_offset, total)
        while left and queued < self.sndbuf and new < SKB_FLUSH_BACKLOG:
            n = min(left, self.size_goal, pfrag_capacity(offset, self.max_frags, False))
            total += n
            left -= n
            offset = pfrag_advance(offset, n)
            queued += 2 * SKB_TRUESIZE_BYTES + n
            new += 1
        return total

    def _pfrag_fill(self, skb: SkBuff, nbytes: int) -> None:
        """skb_copy_to_page_nocache into sk_page_frag: a chunk per 32 KiB page crossed,
        coalesced with the skb's last chunk when contiguous (skb_can_coalesce); a page
        with under 32 B left is replaced (sk_page_frag_refill)."""
        chunks = skb.chunks
        if chunks is None:
            chunks = skb.chunks = []
        coalesce = self._pfrag_skb is skb
        while nbytes:
            if self.pfrag_offset + PFRAG_MIN_BYTES > PFRAG_BYTES:
                self.pfrag_offset = 0
                coalesce = False
            n = PFRAG_BYTES - self.pfrag_offset
            if nbytes < n:
                n = nbytes
            if coalesce:
                chunks[-1] += n
            else:
                chunks.append(n)
            self.pfrag_offset += n
            nbytes -= n
            coalesce = True
        self._pfrag_skb = skb

    # --- sendfile/splice and MSG_ZEROCOPY: page references ---------------------------
    def send_pages(self, task: Task, buffers, more: bool = False):
        """splice_to_socket → tcp_sendmsg(MSG_SPLICE_PAGES): frags referencing the pipe's
        pages; on a route without SG, copied like write()."""
        if not self.sg:
            yield from self.send_copy(task, pipe_source(buffers), 0,
                                      sum(b.len for b in buffers), more)
            return
        self._lock()
        yield from self._attach(task, list(buffers), "skb", *pipe_origin(buffers))
        yield from self._finish(task, more)

    def send_zerocopy(self, task: Task, buffer, start: int, nbytes: int, fixed: bool = False):
        """send(MSG_ZEROCOPY): references on the user pages as frags, in a notification
        record (``_zc_realloc``); False when refused with ENOBUFS (nothing queued).

        ``fixed``: io_uring SEND_ZC from a registered buffer (``io_uring/net.c:io_send_zc``):
        the request brings its own notification (``io_uring/notif.c:io_alloc_notif``, one
        per request, never extended, no optmem nor RLIMIT_MEMLOCK charge per send: the
        buffer was pinned and accounted once at registration)."""
        self._lock()
        if fixed:
            rec = ZcRecord(self.zc_next_id, 1, nbytes, 1, self.zc_copied, uring=True)
            self.zc_next_id += 1
            self.zc_pending[rec.id] = rec
        else:
            rec = self._zc_realloc(nbytes)
        if rec is None:
            self.acct.zerocopy_enobufs += 1
            yield from self._release_sock(task)
            return False
        if self.sg:
            if not fixed:
                self._get_user_pages(task, buffer, start, nbytes)
            yield from self._attach(task, user_pieces(buffer, start, nbytes), ZC_HOLDER,
                                    events.USER_BUFFER, buffer.working_set_bytes, rec)
        else:  # zc = 0: copied like write(); no skb holds the record
            yield from self._copy_in(task, buffer, start, nbytes)
        yield from task.sync()
        self._push(task, False)
        self._zc_put(rec.id)  # out_nopush: net_zcopy_put drops the call's reference
        yield from self._release_sock(task)
        return True

    def _attach(self, task: Task, todo: list[Frag], holder: str, src: str,
                working_set_bytes: int | None, rec: ZcRecord | None = None):
        """skb_append_pagefrags / zerocopy_fill_skb_from_iter: (page, offset, len, version)
        pieces as frags, appended to the unsent tail while it has room, a new skb after."""
        self.acct.unaligned_extra_frags += self.alignment.add(todo)
        i = 0
        page_bytes = self.page_bytes
        acct = self.acct
        get = self.pages.get_frags
        while i < len(todo):
            goal = self.size_goal  # tcp_send_mss again after a wait: the MSS may have grown
            skb = self._tail(copy=False, rec=rec)
            if skb is None:
                if ((self.queued >= self.sndbuf or self._new_skbs >= SKB_FLUSH_BACKLOG)
                        and not (yield from self._room_for_skb(task, i > 0))):
                    continue
                skb = self._new_skb(task)
            batch, nbytes, i = take_pieces(todo, i, goal - skb.len,
                                           self.max_frags - len(skb.frags))
            get(batch, holder)
            skb.frags += batch
            skb.len += nbytes
            skb.frag_src = src
            skb.frag_working_set_bytes = working_set_bytes
            acct.frags += len(batch)
            truesize = nbytes
            if rec is not None:
                if skb.zc_id is None:
                    skb.zc_id = rec.id
                    rec.refs += 1  # skb_zcopy_set
                if not skb.linear_len:  # a pure zerocopy skb: PAGE_ALIGN(copied + start)
                    truesize = -(-(batch[0].offset + nbytes) // page_bytes) * page_bytes
            self._added(skb, nbytes, truesize)
            if self._skb_byte_s:
                task.charge(self._skb_byte_s * nbytes, "net")
            if skb.len >= goal:
                self._push_one(task, skb)

    # --- MSG_ZEROCOPY records and completions ----------------------------------------
    def _zc_realloc(self, nbytes: int) -> ZcRecord | None:
        """msg_zerocopy_realloc: extend the unsent tail's record if it is contiguous and
        stays within 512 KiB, else a new one (sock_omalloc against optmem_max); each send
        charges (size >> PAGE_SHIFT) + 2 pages of RLIMIT_MEMLOCK. None: ENOBUFS."""
        unsent = self.tcp.unsent
        tail = unsent[-1] if unsent else None
        rec = self.zc_pending.get(tail.zc_id) if tail is not None and tail.zc_id is not None \
            else None
        charge = nbytes // self.page_bytes + 2
        if (rec is not None and rec.bytes + nbytes <= ZC_RECORD_LIMIT_BYTES
                and rec.id + rec.count == self.zc_next_id):
            if not self._charge_locked(rec, charge):
                return None
            rec.count += 1
            rec.bytes += nbytes
            rec.refs += 1  # net_zcopy_get: the call's own reference
            self.zc_next_id += 1
            self.acct.zerocopy_extended_sends += 1
            return rec
        if self.optmem + OPTMEM_CHECK_BYTES > self.kernel_spec.optmem_max_bytes:
            return None
        rec = ZcRecord(self.zc_next_id, 1, nbytes, 1, self.zc_copied)
        if not self._charge_locked(rec, charge):
            return None
        self.optmem += OPTMEM_RECORD_BYTES
        self.zc_next_id += 1
        self.zc_pending[rec.id] = rec
        return rec

    def _charge_locked(self, rec: ZcRecord, pages: int) -> bool:
        """mm_account_pinned_pages: refuse past RLIMIT_MEMLOCK."""
        if self.locked_pages + pages > self.memlock_pages:
            return False
        self.locked_pages += pages
        rec.locked_pages += pages
        self.acct.locked_vm_peak_pages = max(self.acct.locked_vm_peak_pages, self.locked_pages)
        return True

    def _zc_put(self, zc_id: int) -> None:
        """net_zcopy_put: the last reference runs __msg_zerocopy_callback: the locked pages
        are uncharged and the range [id, id + count - 1] is queued, or extends the unread
        notification before it (whose skb is then freed at once)."""
        rec = self.zc_pending[zc_id]
        rec.refs -= 1
        if rec.refs:
            return
        del self.zc_pending[zc_id]
        self.locked_pages -= rec.locked_pages
        if rec.copied:
            self.acct.zerocopy_copied_sends += 1
        if self._notify(rec.id, rec.id + rec.count - 1) and not rec.uring:
            self.optmem -= OPTMEM_RECORD_BYTES  # skb_zerocopy_notify_extend

    def read_errqueue(self) -> list[int]:
        """recvmsg(MSG_ERRQUEUE): the notification skb is consumed, its optmem freed."""
        self.optmem -= OPTMEM_RECORD_BYTES
        return self.errqueue.pop(0)

    # --- completions -----------------------------------------------------------------
    def tx_complete(self, skb: SkBuff) -> None:
        """TX completion: the clone's data reference, then tcp_wfree's TSQ work."""
        self._unref(skb.parent if skb.parent is not None else skb)
        self.tcp.tx_done(skb)

    def on_ack(self, ack_seq: int, sack: list[list[int]], xmit_id: int = 0) -> None:
        """tcp_v4_rcv: backlogged while a send call owns the socket; else tcp_ack, then
        tcp_check_space: a sleeping writer may grow the send buffer (if the window is not
        full) and wakes at queued <= 2/3 sndbuf (sk_stream_write_space)."""
        tcp = self.tcp
        if tcp.owned:
            tcp.backlog.append((self.on_ack, (ack_seq, sack, xmit_id)))
            return
        tcp.on_ack(ack_seq, sack, xmit_id)
        self._wake_acked()
        if self.acct.trace is not None:
            self.acct.trace.add(events.queued(self.env.now, self.queued))
        if self._space is not None:
            if tcp.in_flight_segs() < tcp.cwnd_segs():
                self._expand_sndbuf()
            if self.sndbuf - self.queued >= self.queued // 2:
                self._space.succeed()
                self._space = None
