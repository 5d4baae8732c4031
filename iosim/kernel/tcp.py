"""TCP's sender state machine: the congestion window, transmission, loss recovery, timers.

The socket (``iosim.kernel.socket``) builds skbs and hands each to ``TcpSender.queue``;
from there TCP decides when its bytes go out and when an ACK releases it.

Congestion control as Linux starts a connection: an initial window of 10 segments (IW10),
slow start (the window grows by the bytes each ACK covers) up to ``ssthresh``, then
congestion avoidance (one MSS per window of ACKed data). A newly found loss multiplies the
window by CUBIC's beta, 0.7, once per recovery episode (no growth until the data in flight
at the loss is ACKed); a retransmission timeout sets it to one segment. Pushed skbs wait on
the write queue while the bytes in flight (sent, not yet ACKed or SACKed) fill the window;
an skb larger than the room left is cut at a multiple of the MSS (tso_fragment) and the rest
goes when ACKs open the window. Retransmissions are not held back by the window.

Loss recovery follows Linux's RACK-TLP: a hole with SACKed data above it (sent later, so
delivered after it should have been) is retransmitted at once; when the tail of the data is
lost and nothing comes back, a tail loss probe resends the last segment after two RTTs;
if even that brings nothing, the retransmission timer (at least 200 ms) resends the first
hole and backs off. A retransmission is a clone of the queued skb: zero-copy data goes out
as the pages hold it *now*, copied data as the private copy made at send time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from iosim import events
from iosim.kernel.skbuff import SkBuff

TCP_RTO_MIN_S = 0.2  # Linux TCP_RTO_MIN: 200 ms
TCP_RTO_MAX_S = 120.0
TCP_TIMEOUT_MIN_S = 0.002  # the probe timeout is at least 2 jiffies (HZ=1000)
TCP_INIT_CWND = 10  # segments (RFC 6928, Linux since 2.6.39)
CUBIC_BETA = 0.7  # CUBIC's multiplicative decrease (beta_cubic = 717/1024)


class TcpSender:
    """The send half of one TCP connection's state: what is in flight, and the window."""

    def __init__(self, env, nic, acct, release: Callable[[SkBuff], None], rtt_s: float = 0.0
                 ) -> None:
        self.env = env
        self.nic = nic
        self.acct = acct
        self.release = release  # the socket frees an skb the ACKs covered
        self.mss_bytes = nic.mss_bytes
        self.next_segment = 1
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
        self.rtx: deque[SkBuff] = deque()  # pushed skbs not yet ACKed (tcp_rtx_queue)
        self.snd_una = 0
        self.snd_nxt = 0  # the highest byte sent (+1)
        self.cwnd_bytes = TCP_INIT_CWND * self.mss_bytes
        self.ssthresh = float("inf")
        self._sacked_bytes = 0  # bytes the last SACK covers: delivered, not in flight
        self._high_seq = 0  # snd_nxt when loss recovery began: it ends once this is ACKed
        self._in_recovery = False  # a fast recovery: the window does not grow
        self.unsent: deque[SkBuff] = deque()  # pushed skbs (or their tails) not yet sent
        self._held_since = 0.0  # when data last began to wait for the window

    def queue(self, skb: SkBuff) -> None:
        """tcp_push: a new skb joins the queue; send what the window allows of it."""
        self.rtx.append(skb)
        skb.first_segment = self.next_segment
        self.next_segment += -(-skb.len // self.mss_bytes)
        if self.unsent or not self._xmit(skb):
            if not self.unsent:
                self._held_since = self.env.now
            self.unsent.append(skb)

    def start_timer(self) -> None:
        """Arm the probe/retransmission timer for data just pushed, if none is armed."""
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

    def on_ack(self, ack_seq: int, sack: list[list[int]], xmit_id: int = 0) -> None:
        """Cumulative ACK (+ SACK) answering transmission ``xmit_id``: release every skb it
        covers (tcp_clean_rtx_queue), grow the window, recover holes, send what waited."""
        rtx = self.rtx
        while rtx and rtx[0].seq + rtx[0].len <= ack_seq:
            self.release(rtx.popleft())
        if ack_seq > self.snd_una:
            acked = ack_seq - self.snd_una
            self.snd_una = ack_seq
            if self._in_recovery and ack_seq >= self._high_seq:
                self._in_recovery = False
            if not self._in_recovery:
                self._grow(acked)
            if self.loss_possible:
                self.rto_s = self._rto_base_s()
                self._probed = False
                self._arm_rto()
        self._sack = sack
        if sack:
            self._sacked_bytes = sum(b - a for a, b in sack)
            self._recover(sack, xmit_id)
        else:
            self._sacked_bytes = 0
        self._ack_done()

    def _grow(self, acked: int) -> None:
        """Open the window for ``acked`` newly ACKed bytes (outside loss recovery)."""
        if self.cwnd_bytes < self.ssthresh:  # slow start
            self.cwnd_bytes += acked
        else:  # congestion avoidance: one MSS per window ACKed
            self.cwnd_bytes += self.mss_bytes * acked / self.cwnd_bytes

    def _rto_base_s(self) -> float:
        """The retransmission timeout before any backoff."""
        return TCP_RTO_MIN_S

    def _ack_done(self) -> None:
        """After an ACK: send what the window held back."""
        if self.unsent:
            self._send_queued()

    # --- loss recovery ---------------------------------------------------------------
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
        self._resend(lo, min(hi, self.snd_nxt))  # never data not yet sent: the window sends that

    def _resend(self, lo: int, hi: int) -> None:
        """Hand the NIC clones of the rtx queue's bytes ``lo .. hi-1``."""
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
            self._clone_out(view)

    def _clone_out(self, clone: SkBuff) -> None:
        """A retransmission's clone goes to the driver now."""
        self.nic.xmit(clone, self.env.now)

    def _arm_rto(self) -> None:
        """(Re)start the probe or retransmission timer; one pending event at a time."""
        wait_s = self.rto_s if self._probed else self._pto_s()
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
        if not self._probed:
            self._probed = True
            self._probe()
            self._arm_rto()
            return
        self._timeout()

    def _probe(self) -> None:
        """Tail loss probe: resend the last segment to draw a SACK."""
        end = self.snd_nxt  # the last segment sent
        last = next(s for s in reversed(self.rtx) if s.seq < end)
        self._retransmit(max(last.seq, end - self.mss_bytes), end)

    def _pto_s(self) -> float:
        """The tail loss probe timeout."""
        return self.pto_s

    def _timeout(self) -> None:
        """The retransmission timer expired: resend the first hole and back off."""
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

