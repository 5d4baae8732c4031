"""A TCP socket's send side: send buffer, sk_buff building, retransmit queue, ACKs, and
MSG_ZEROCOPY completion notifications.

Copied data goes into an skb's linear area; page data becomes frags that hold page
references, but only when the NIC can gather (``sg``, which the kernel drops without checksum
offload); otherwise even sendfile and splice copy here. An skb stays on the retransmit queue,
holding its references, until it is ACKed; each transmission is a clone sharing its data.

Loss recovery follows Linux's RACK-TLP: a hole with SACKed data above it (sent later, so
delivered after it should have been) is retransmitted at once; when the tail of the data is
lost and nothing comes back, a tail loss probe resends the last segment after two RTTs;
if even that brings nothing, the retransmission timer (at least 200 ms) resends the first
hole and backs off. A retransmission is a clone of the queued skb: zero-copy data goes out as the
pages hold it *now*, copied data as the private copy made at send time.

Congestion control as Linux starts a connection: an initial window of 10 segments (IW10),
slow start (the window grows by the bytes each ACK covers) up to ``ssthresh``, then
congestion avoidance (one MSS per window of ACKed data). A newly found loss multiplies the
window by CUBIC's beta, 0.7, once per recovery episode (no growth until the data in flight
at the loss is ACKed); a retransmission timeout sets it to one segment. Pushed skbs wait on
the write queue while the bytes in flight (sent, not yet ACKed or SACKed) fill the window;
an skb larger than the room left is cut at a multiple of the MSS (tso_fragment) and the rest
goes when ACKs open the window. Retransmissions are not held back by the window.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from iosim import events
from iosim.kernel.page import Pages
from iosim.kernel.process import Task
from iosim.kernel.skbuff import Frag, Runs, SkBuff, add_run

SNDBUF_FULL = "send buffer full"  # the reason a writer sleeps in sk_stream_wait_memory
TCP_RTO_MIN_S = 0.2  # Linux TCP_RTO_MIN: 200 ms
TCP_RTO_MAX_S = 120.0
TCP_TIMEOUT_MIN_S = 0.002  # the probe timeout is at least 2 jiffies (HZ=1000)
TCP_INIT_CWND = 10  # segments (RFC 6928, Linux since 2.6.39)
CUBIC_BETA = 0.7  # CUBIC's multiplicative decrease (beta_cubic = 717/1024)


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
        self.mss_bytes = nic.mss_bytes
        self.next_segment = 1
        self.on_push: list[Callable[[SkBuff], None]] = []
        self.loss_possible = False  # arm the retransmission timer only when needed
        self.rto_s = TCP_RTO_MIN_S
        self.rtt_s = rtt_s
        self.pto_s = max(2 * rtt_s, TCP_TIMEOUT_MIN_S)  # tail loss probe timeout
        self._probed = False  # a tail loss probe went out since the last progress
        self._rto_deadline: float | None = None
        self._rto_pending = False
        # hole start -> the id of the transmission that resent it: an ACK answering a later
        # transmission while the hole is still open means the resend was lost too
        self._retransmitted: dict[int, int] = {}
        self._xmits = 0  # transmissions so far (new data and retransmissions)
        self._sack: list[list[int]] = []  # the receiver's last SACK blocks
        self.queued = 0  # sk_wmem_queued: bytes in skbs not yet ACKed
        self.write_seq = 0
        self.tail: SkBuff | None = None
        self.rtx: deque[SkBuff] = deque()
        self.snd_una = 0
        self.snd_nxt = 0  # the highest byte sent (+1)
        self.cwnd_bytes = TCP_INIT_CWND * self.mss_bytes
        self.ssthresh = float("inf")
        self._sacked_bytes = 0  # bytes the last SACK covers: delivered, not in flight
        self._high_seq = 0  # snd_nxt when loss recovery began: it ends once this is ACKed
        self._in_recovery = False  # a fast recovery: the window does not grow
        self.unsent: deque[SkBuff] = deque()  # pushed skbs (or their tails) not yet sent
        self._held_since = 0.0  # when data last began to wait for the window
        self._space = None  # event the blocked writer waits on
        self.zc_next_id = 0
        self.zc_pending: dict[int, int] = {}  # notification id -> skbs still holding it
        self.errqueue: list[list[int]] = []  # coalesced [lo, hi] ranges of completed ids
        self._errqueue_event = None

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

    def send_pages(self, task: Task, buffers):
        """do_tcp_sendpages for pipe buffers: frags with SG, a copy without."""
        if not self.sg:
            # sock_no_sendpage -> kernel_sendmsg: the page data is copied like write()'s
            runs: list[list[int]] = []
            for buf in buffers:
                add_run(runs, buf.page.version, buf.len)
            file = buffers[0].page.file if buffers else None
            source = Runs(runs, events.PAGE_CACHE, file.size_bytes if file is not None else None)
            yield from self.send_copy(task, source, 0, sum(b.len for b in buffers))
            return
        file = buffers[0].page.file if buffers else None
        yield from self._attach(task, [(b.page, b.offset, b.len, b.version) for b in buffers],
                                "skb", events.PAGE_CACHE,
                                file.size_bytes if file is not None else None)

    def send_zerocopy(self, task: Task, buffer, start: int, nbytes: int):
        """send(MSG_ZEROCOPY): pin the user pages and attach them as frags.

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
            pinned = len(buffer.page_span(start, nbytes))
            task.charge(pinned * self.cpu_spec.page_pin_s, "pin")
            self.acct.pages_pinned += pinned
        pb = buffer.page_bytes
        pos = buffer.offset_bytes + start
        end = pos + nbytes
        todo = []
        for i in buffer.page_span(start, nbytes):
            page = buffer.pages[i]
            n = min(end, (i + 1) * pb) - pos
            todo.append((page, pos - i * pb, n, page.version))
            pos += n
        yield from self._attach(task, todo, "pin", events.USER_BUFFER, buffer.working_set_bytes,
                                zc_id)
        self._zc_put(zc_id)

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
            take = 0
            nbytes = 0
            while (i + take < len(todo) and take < slots
                   and nbytes + todo[i + take][2] <= room):
                nbytes += todo[i + take][2]
                take += 1
            if take:
                batch = todo[i:i + take]
                i += take
            elif slots and room:  # only part of the next piece fits: split it
                page, offset, length, version = todo[i]
                batch = [(page, offset, room, version)]
                todo[i] = (page, offset + room, length - room, version)
                nbytes = room
            else:
                batch = []
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
        self.rtx.append(skb)
        if self.acct.trace is not None:
            self.acct.trace.add(events.queued(self.env.now, self.queued))
        skb.first_segment = self.next_segment
        self.next_segment += -(-skb.len // self.mss_bytes)
        if self.unsent or not self._xmit(skb):
            if not self.unsent:
                self._held_since = self.env.now
            self.unsent.append(skb)
        for hook in self.on_push:
            hook(skb)
        if self.loss_possible and self._rto_deadline is None:
            self._arm_rto()

    def _xmit(self, skb: SkBuff, waited: bool = False) -> bool:
        """Send what the congestion window allows of ``skb`` from ``snd_nxt``; True when
        all of it is gone. A piece is a clone sharing the data, cut at a multiple of the MSS
        so that its segments are the ones the whole skb would have had."""
        room = self.cwnd_bytes - (self.snd_nxt - self.snd_una - self._sacked_bytes)
        a = self.snd_nxt
        end = skb.seq + skb.len
        if end - a <= room:
            n = end - a
        else:
            n = int(room) // self.mss_bytes * self.mss_bytes
            if n <= 0:
                return False
        skb.dataref += 1  # the clone handed to the driver shares the data
        if n == skb.len:
            piece = skb
        else:
            piece = skb.view(a, n)
            piece.first_segment = skb.first_segment + (a - skb.seq) // self.mss_bytes
        if self.acct.trace is not None and waited:
            self.acct.trace.add(events.cwnd_send(a, self.env.now, n, int(self.cwnd_bytes)))
        self.snd_nxt = a + n
        self._xmits += 1
        piece.xmit_id = self._xmits
        self.nic.xmit(piece, self.env.now)
        return a + n == end

    def _send_queued(self) -> None:
        """tcp_write_xmit: send waiting skbs while the window has room."""
        unsent = self.unsent
        while unsent and self._xmit(unsent[0], True):
            unsent.popleft()
        if not unsent:
            self.acct.cwnd_limited_s += self.env.now - self._held_since

    # --- completions -----------------------------------------------------------------
    def tx_complete(self, skb: SkBuff) -> None:
        """The NIC's TX completion freed the clone (a retransmission's shares its parent)."""
        self._unref(skb.parent if skb.parent is not None else skb)

    def on_ack(self, ack_seq: int, sack: list[list[int]], xmit_id: int = 0) -> None:
        """Cumulative ACK (+ SACK) answering transmission ``xmit_id``: free every skb it
        covers, recover holes, wake a writer."""
        rtx = self.rtx
        while rtx and rtx[0].seq + rtx[0].len <= ack_seq:
            skb = rtx.popleft()
            self.queued -= skb.len
            self._unref(skb)
        if ack_seq > self.snd_una:
            acked = ack_seq - self.snd_una
            self.snd_una = ack_seq
            if self._in_recovery and ack_seq >= self._high_seq:
                self._in_recovery = False
            if not self._in_recovery:
                if self.cwnd_bytes < self.ssthresh:  # slow start
                    self.cwnd_bytes += acked
                else:  # congestion avoidance: one MSS per window ACKed
                    self.cwnd_bytes += self.mss_bytes * acked / self.cwnd_bytes
            if self.loss_possible:
                self.rto_s = TCP_RTO_MIN_S
                self._probed = False
                self._arm_rto()
        self._sack = sack
        if sack:
            self._sacked_bytes = sum(b - a for a, b in sack)
            self._recover(sack, xmit_id)
        else:
            self._sacked_bytes = 0
        if self.unsent:
            self._send_queued()
        if self.acct.trace is not None:
            self.acct.trace.add(events.queued(self.env.now, self.queued))
        # sk_stream_write_space: wake when free space >= half of what is queued
        if self._space is not None and self.sndbuf - self.queued >= self.queued // 2:
            self._space.succeed()
            self._space = None

    # --- loss recovery -----------------------------------------------------------------
    def _recover(self, sack: list[list[int]], xmit_id: int) -> None:
        """RACK: a hole below SACKed data is lost, since that data was sent after it; so is
        a retransmission once an ACK answers a transmission sent after it (``xmit_id``)."""
        start = self.snd_una
        for a, b in sack:
            if a > start:
                resent_as = self._retransmitted.get(start)
                if resent_as is None or xmit_id > resent_as:
                    if self.snd_una >= self._high_seq:  # a new loss episode
                        self._reduce(self.cwnd_bytes)
                        self._in_recovery = True
                    self._retransmit(start, a)
            start = max(start, b)

    def _reduce(self, cwnd: float) -> None:
        """Loss: ssthresh = beta x cwnd (at least two segments); the window becomes
        ``cwnd`` capped at that, and this recovery lasts until what is in flight is ACKed."""
        self.ssthresh = max(CUBIC_BETA * self.cwnd_bytes, 2 * self.mss_bytes)
        self.cwnd_bytes = min(cwnd, self.ssthresh)
        self._high_seq = self.snd_nxt

    def _retransmit(self, lo: int, hi: int) -> None:
        """Send clones of the queued data ``lo .. hi-1``."""
        self._retransmitted = {k: v for k, v in self._retransmitted.items()
                               if k >= self.snd_una}
        self._retransmitted[lo] = self._xmits + 1  # the id the first clone below gets
        hi = min(hi, self.snd_nxt)  # never data not yet sent: the window sends that
        for skb in self.rtx:
            a, b = max(lo, skb.seq), min(hi, skb.seq + skb.len)
            if a >= b:
                continue
            view = skb.view(a, b - a)
            view.retransmit = True
            self._xmits += 1
            view.xmit_id = self._xmits
            skb.dataref += 1
            self.acct.retransmits += -(-view.len // self.mss_bytes)
            self.acct.retransmit_bytes += view.len
            if self.acct.trace is not None:
                self.acct.trace.add(events.retransmit(a, self.env.now, view.len))
            self.nic.xmit(view, self.env.now)

    def _arm_rto(self) -> None:
        """(Re)start the probe or retransmission timer; one pending event at a time."""
        wait_s = self.rto_s if self._probed else self.pto_s
        self._rto_deadline = self.env.now + wait_s
        if not self._rto_pending:
            self._rto_pending = True
            ev = self.env.timeout(wait_s)
            ev.callbacks.append(self._rto_check)

    def _rto_check(self, _ev) -> None:
        self._rto_pending = False
        if self.snd_nxt <= self.snd_una:  # nothing in flight
            self._rto_deadline = None
            return
        if self.env.now < self._rto_deadline:
            self._rto_pending = True
            ev = self.env.timeout(self._rto_deadline - self.env.now)
            ev.callbacks.append(self._rto_check)
            return
        if not self._probed:  # tail loss probe: resend the last segment to draw a SACK
            self._probed = True
            end = self.snd_nxt  # the last segment sent
            last = next(s for s in reversed(self.rtx) if s.seq < end)
            self._retransmit(max(last.seq, end - self.mss_bytes), end)
            self._arm_rto()
            return
        # timeout: resend the first hole and back off
        self.acct.rto_timeouts += 1
        head = self.rtx[0]
        hole_end = head.seq + head.len
        for a, _ in self._sack:
            if a > self.snd_una:
                hole_end = min(hole_end, a)
                break
        self._reduce(self.mss_bytes)  # the window restarts at one segment
        self._in_recovery = False  # and slow-starts again
        self._retransmit(self.snd_una, hole_end)
        self.rto_s = min(2 * self.rto_s, TCP_RTO_MAX_S)
        self._arm_rto()

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
        self.cpu.run(self.env.now, self.cpu_spec.notification_s, "notification")
        self.acct.zerocopy_notifications += 1
        # the completion is coalesced with the previous one if the task has not read it yet
        q = self.errqueue
        if q and q[-1][1] == zc_id - 1:
            q[-1][1] = zc_id
        else:
            q.append([zc_id, zc_id])
        if self._errqueue_event is not None:
            self._errqueue_event.succeed()
            self._errqueue_event = None

    def errqueue_ready(self):
        """An event that fires when a completion is queued (poll(POLLERR))."""
        if self.errqueue:
            ev = self.env.event()
            ev.succeed()
            return ev
        if self._errqueue_event is None:
            self._errqueue_event = self.env.event()
        return self._errqueue_event
