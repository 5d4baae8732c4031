"""A TCP socket's send side: the send buffer, sk_buff building, and MSG_ZEROCOPY
completion notifications; TCP's own state (window, loss recovery) is ``iosim.kernel.tcp``.

Copied data goes into an skb's linear area; page data becomes frags that hold page
references, but only when the NIC can gather (``sg``, which the kernel drops without checksum
offload); otherwise even sendfile and splice copy here. An skb stays on the retransmit queue,
holding its references, until it is ACKed; each transmission is a clone sharing its data.
"""

from __future__ import annotations

from collections.abc import Callable

from iosim import events
from iosim.kernel.page import Pages
from iosim.kernel.process import Task
from iosim.kernel.skbuff import Frag, Runs, SkBuff, add_run
from iosim.kernel.tcp import TcpSender

SNDBUF_FULL = "send buffer full"  # the reason a writer sleeps in sk_stream_wait_memory


def take_pieces(todo: list[tuple], i: int, room: int, slots: int
                ) -> tuple[list[tuple], int, int]:
    """The next (page, offset, len, version) pieces from ``todo[i]`` that fit ``room`` bytes
    and ``slots`` frags: whole pieces in one batch, or the first one split at ``room``.
    Returns (batch, its bytes, the next index); an empty batch when nothing fits."""
    take = 0
    nbytes = 0
    while i + take < len(todo) and take < slots and nbytes + todo[i + take][2] <= room:
        nbytes += todo[i + take][2]
        take += 1
    if take:
        return todo[i:i + take], nbytes, i + take
    if slots and room:  # only part of the next piece fits: split it
        page, offset, length, version = todo[i]
        todo[i] = (page, offset + room, length - room, version)
        return [(page, offset, room, version)], room, i
    return [], 0, i


def user_pieces(buffer, start: int, nbytes: int) -> list[tuple]:
    """The (page, offset, len, version) pieces of a user buffer's byte range."""
    pb = buffer.page_bytes
    pos = buffer.offset_bytes + start
    end = pos + nbytes
    todo = []
    for i in buffer.page_span(start, nbytes):
        page = buffer.pages[i]
        n = min(end, (i + 1) * pb) - pos
        todo.append((page, pos - i * pb, n, page.version))
        pos += n
    return todo


def pipe_source(buffers) -> Runs:
    """The pipe buffers' bytes as a copy source (their page-cache content versions)."""
    runs: list[list[int]] = []
    for buf in buffers:
        add_run(runs, buf.page.version, buf.len)
    file = buffers[0].page.file if buffers else None
    return Runs(runs, events.PAGE_CACHE, file.size_bytes if file is not None else None)


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
        # netdev_fix_features: "Dropping NETIF_F_SG since no checksum feature"
        self.sg = nic_spec.sg and nic_spec.csum_offload
        self.loopback = nic_spec.loopback
        self.size_goal = nic_spec.tso_max_bytes
        self.max_frags = kernel_spec.max_skb_frags
        self.sndbuf = kernel_spec.sndbuf_bytes
        self.page_bytes = kernel_spec.page_size_bytes
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

    def _make_tcp(self, kernel_spec, rtt_s: float) -> TcpSender:
        return TcpSender(self.env, self.nic, self.acct, self._release, rtt_s)

    # --- the writer side -------------------------------------------------------------
    def wait_space(self, task: Task):
        """sk_stream_wait_memory: sleep until the send buffer has room."""
        if self.queued < self.sndbuf:
            return
        yield from self.push(task)  # tcp_sendmsg pushes what it has before it sleeps
        while self.queued >= self.sndbuf:
            self._space = self.env.event()
            yield from task.block(self._space, SNDBUF_FULL)

    def _skb(self) -> SkBuff:
        if self.tail is None:
            self.tail = SkBuff(seq=self.write_seq)
        return self.tail

    def _room(self, skb: SkBuff) -> int:
        return min(self.size_goal - skb.len, self.sndbuf - self.queued)

    def send_copy(self, task: Task, source, start: int, nbytes: int):
        """tcp_sendmsg: copy ``nbytes`` of user memory (``source.runs``) into skbs."""
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
        """do_tcp_sendpages for pipe buffers: frags with SG, a copy without (``more``,
        MSG_MORE, is Linux 6's)."""
        if not self.sg:
            # sock_no_sendpage -> kernel_sendmsg: the page data is copied like write()'s
            yield from self.send_copy(task, pipe_source(buffers), 0, sum(b.len for b in buffers))
            return
        file = buffers[0].page.file if buffers else None
        yield from self._attach(task, [(b.page, b.offset, b.len, b.version) for b in buffers],
                                "skb", events.PAGE_CACHE,
                                file.size_bytes if file is not None else None)

    def send_zerocopy(self, task: Task, buffer, start: int, nbytes: int):
        """send(MSG_ZEROCOPY): pin the user pages and attach them as frags; True (the
        textbook never refuses).

        Without SG (or on loopback) the kernel copies instead and flags the completion as
        COPIED. Either way one notification id is consumed, completed when every skb
        carrying it is freed.
        """
        zc_id = self.zc_next_id
        self.zc_next_id += 1
        self.zc_pending[zc_id] = 1  # the call's own reference, dropped when it returns
        if not self.sg or self.loopback:
            self.acct.zerocopy_copied_sends += 1
        if self.sg:  # get_user_pages: pin the whole range up front
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

    def _attach(self, task: Task, todo: list[tuple], holder: str, src: str,
                working_set_bytes: int | None, zc_id: int | None = None):
        """Put (page, offset, len, version) pieces of ``src`` (the page cache or a user
        buffer, whose data is ``working_set_bytes`` in all) into skbs: as frags holding a
        page reference each with SG, else copied into the linear area. Whole pieces that
        fit go in one batch; a piece that does not fit is split at the skb's size goal."""
        i = 0
        while i < len(todo):
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
                    self.pages.get([b[0] for b in batch], holder)
                    skb.frags.extend(Frag(*b) for b in batch)
                    skb.len += nbytes
                    skb.frag_src = src
                    skb.frag_working_set_bytes = working_set_bytes
                else:
                    task.copy(nbytes, src, events.SOCKET_BUFFER, working_set_bytes,
                              note="MSG_ZEROCOPY fallback")
                    runs: list[list[int]] = []
                    for b in batch:
                        add_run(runs, b[0].version, b[2])
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
        """tcp_push: close the tail skb and hand a clone of it to the NIC."""
        skb = self.tail
        if skb is None or skb.len == 0:
            return
        self.tail = None
        self.acct.skbs += 1
        if skb.frags:
            self.acct.frags += len(skb.frags)
            self.acct.frag_bytes += skb.len - skb.linear_len
        task.charge(self.cpu_spec.per_skb_s, "net")
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
            self.pages.put([f.page for f in skb.frags], "skb")
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

    def errqueue_ready(self):
        """An event that fires when a completion is queued (poll(POLLERR))."""
        if self.errqueue:
            ev = self.env.event()
            ev.succeed()
            return ev
        if self._errqueue_event is None:
            self._errqueue_event = self.env.event()
        return self._errqueue_event

