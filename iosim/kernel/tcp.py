"""TCP's sender state machine: the congestion window, transmission, loss recovery, timers.

The socket (``iosim.kernel.socket``) builds skbs and hands each to ``TcpSender.queue``;
from there TCP decides when its bytes go out and when an ACK releases it. ``TcpSender`` is
the textbook kernel's, described here; ``Linux6Tcp`` (below) follows Linux 6.x's
``tcp_write_xmit`` and overrides what differs.

Congestion control as Linux starts a connection: an initial window of 10 segments (IW10),
slow start (the window grows by the bytes each ACK covers) up to ``ssthresh``, then
congestion avoidance (one MSS per window of ACKed data). A newly found loss multiplies the
window by CUBIC's beta, 0.7, once per recovery episode (no growth until the data in flight
at the loss is ACKed); a retransmission timeout sets it to one segment. Pushed skbs wait on
the write queue while the bytes in flight (sent, not yet ACKed or SACKed) fill the window;
an skb larger than the room left is cut at a multiple of the MSS (tso_fragment) and the rest
goes when ACKs open the window; once a loss has cut the window, such a piece waits (outside
fast recovery) until a third of the window is free, as tcp_tso_should_defer does, so the
stream re-coalesces. Retransmissions are not held back by the window.

Loss recovery follows Linux's RACK-TLP: a hole with SACKed data above it (sent later, so
delivered after it should have been) is retransmitted at once; when the tail of the data is
lost and nothing comes back, a tail loss probe resends the last segment after two RTTs;
if even that brings nothing, the retransmission timer (at least 200 ms) resends the first
hole and backs off. A retransmission is a clone of the queued skb: zero-copy data goes out
as the pages hold it *now*, copied data as the private copy made at send time.
"""

from __future__ import annotations

import math
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
        self.cwnd_restarts = 0  # idle restarts of the window (linux-6 only)
        self._sent: deque[tuple[int, float]] = deque()  # (end seq, when) of new data unACKed

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
            if self._should_defer(room):
                return False
            n = int(room) // self.mss_bytes * self.mss_bytes
            if n <= 0:
                return False
        skb.dataref += 1  # the clone handed to the driver shares the data
        if n == skb.len:
            piece = skb
        else:
            piece = skb.view(a, n)
            piece.first_segment = skb.first_segment + (a - skb.seq) // self.mss_bytes
        now = self.env.now
        if waited and self.acct.trace is not None:
            self.acct.trace.add(events.cwnd_send(a, now, n, int(self.cwnd_bytes)))
        self.snd_nxt = a + n
        self._sent.append((a + n, now))
        self._xmits += 1
        piece.xmit_id = self._xmits
        self.nic.xmit(piece, now)
        return a + n == end

    def _should_defer(self, room: float) -> bool:
        """tcp_tso_should_defer, once a loss has cut the window (before it, the textbook
        sends whatever the window allows): outside fast recovery, a piece that would be
        shorter than a third of the window (``tcp_tso_win_divisor`` = 3) and than a full
        TSO skb waits for more ACKs, if the oldest unACKed data's ACK is due within
        min(RTT/2, 1 ms). Without it, each ACK after a window cut releases a piece of the
        size it ACKed and the stream never re-coalesces (1-3 MSS pieces)."""
        if (self.ssthresh == math.inf or self._in_recovery
                or room >= self.cwnd_bytes / TCP_TSO_WIN_DIVISOR
                or room >= self.nic.spec.tso_max_bytes):
            return False
        head_sent_s = self._sent[0][1]  # room < cwnd: something is in flight
        return head_sent_s + self.rtt_s - self.env.now <= min(self.rtt_s / 2, 1e-3)

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
        sent = self._sent
        while sent and sent[0][0] <= ack_seq:
            sent.popleft()
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
            sacked = 0
            for a, b in sack:
                sacked += b - a
            self._sacked_bytes = sacked
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


# --- Linux 6.x ---------------------------------------------------------------------------

NAGLE_OFF, NAGLE_CORK, NAGLE_PUSH = 1, 2, 4  # tp->nonagle bits (TCP_NAGLE_*)
MAX_TCP_HEADER_BYTES = 320  # include/net/tcp.h with IP tunnels configured (distro kernels)
SKB_TRUESIZE_BYTES = 960  # an empty TCP skb: SKB_TRUESIZE(704 - 320), __finalize_skb_around
TCP_LIMIT_OUTPUT_BYTES = 4 << 20  # sysctl_tcp_limit_output_bytes
TCP_TSO_WIN_DIVISOR = 3  # sysctl_tcp_tso_win_divisor
TCP_TSO_RTT_LOG = 9  # sysctl_tcp_tso_rtt_log: the RTT allowance halves every 512 us
SK_PACING_SHIFT = 10  # sk_pacing_shift: about 1 ms of data
FQ_UNPACED_SEGMENTS = 10  # tcp_update_skb_after_send: "sch_fq does not pace first 10 MSS"
TSO_DEFER_IDLE_S = 1e-3  # tcp_tso_should_defer: a write older than 1 ms is sent at once
TCP_TIMEOUT_INIT_S = 1.0  # the probe timeout without an RTT sample
TCP_MSS_DEFAULT_BYTES = 536
TCP_HEADER_TS_BYTES = 32  # tp->tcp_header_len: 20 B + the 12 B timestamp option


def restart_cwnd_segs(cwnd: int, init_cwnd: int, idle_s: float, rto_s: float) -> int:
    """net/ipv4/tcp_output.c:tcp_cwnd_restart: the window after ``idle_s`` without sending
    (called only when ``idle_s`` > ``rto_s``): halved ceil(idle / RTO) - 1 times (once past
    one RTO, twice past two ...), never below the initial window or the old window,
    whichever is smaller. The kernel counts both times in jiffies; the model in seconds."""
    restart = min(init_cwnd, cwnd)
    idle_s -= rto_s
    while idle_s > 0 and cwnd > restart:
        cwnd >>= 1
        idle_s -= rto_s
    return max(cwnd, restart)


def bound_to_half_wnd(size_bytes: int, max_window_bytes: int) -> int:
    """include/net/tcp.h:tcp_bound_to_half_wnd: a packet (the MSS, in tcp_sync_mss; the
    size goal, in tcp_xmit_size_goal) is at most half the largest window the peer has
    offered (the whole of it below 536 B), and at least 68 B less the TCP header (36 B)."""
    cutoff = max_window_bytes >> 1 if max_window_bytes > TCP_MSS_DEFAULT_BYTES else max_window_bytes
    if cutoff and size_bytes > cutoff:
        return max(cutoff, 68 - TCP_HEADER_TS_BYTES)
    return size_bytes


def gso_max_bytes(tso_max_bytes: int) -> int:
    """sk_dst_gso_max_size: the device's GSO limit less MAX_TCP_HEADER + 1."""
    return tso_max_bytes - (MAX_TCP_HEADER_BYTES + 1)


class Linux6Tcp(TcpSender):
    """The sender as Linux 6.x runs it (``net/ipv4/tcp_output.c:tcp_write_xmit``).

    Skbs are entailed on the write queue (``unsent``) as the socket allocates them, and the
    socket appends to the unsent tail; ``write_xmit`` decides what leaves, per send-head
    skb: the pacing check, a quota of min(max(cwnd/2, 1), cwnd - in flight) segments capped
    at ``tcp_tso_autosize`` (``tcp_cwnd_test``), Nagle/Minshall for a one-segment skb
    (``tcp_nagle_test``), TSO deferral for a larger one (``tcp_tso_should_defer``,
    ``tcp_tso_win_divisor`` = 3), the cut at the quota (``tcp_mss_split_point`` →
    ``tso_fragment``: the sent head and the unsent rest become two skbs) and TCP small
    queues (``tcp_small_queue_check``). Every transmission is one whole skb's clone; the
    window grows only while cwnd-limited (``tcp_is_cwnd_limited``); retransmissions wait for
    room in the window (``tcp_xmit_retransmit_queue``); the probe timeout is 2 SRTT + 2 ms
    (+200 ms with one segment out) and the RTO SRTT + 200 ms. While the socket is owned by a
    send call, ACKs, TX completions and timers wait in ``backlog`` (``tcp_add_backlog``,
    ``TCP_*_DEFERRED``) until the socket replays them (``release_sock``).
    """

    def __init__(self, env, nic, acct, release: Callable[[SkBuff], None],
                 split: Callable[[SkBuff, int], SkBuff], rtt_s: float, congestion: str,
                 fq: bool, slow_start_after_idle: bool = True) -> None:
        super().__init__(env, nic, acct, release, rtt_s)
        from iosim.kernel import congestion as cc

        self.split = split  # the socket's tso_fragment (it charges the new skb, takes refs)
        self.srtt_s = max(rtt_s, 1e-6)  # the model's path has one fixed round trip
        self.rto_s = self._rto_base_s()
        self.gso_max_bytes = gso_max_bytes(nic.spec.tso_max_bytes)
        self._rtt_shift = int(self.srtt_s * 1e6) >> TCP_TSO_RTT_LOG  # min_rtt_us >> 9
        self._full_tso_segs = max(self.gso_max_bytes // self.mss_bytes, 2)
        self.cc = cc.make(congestion, self, env.rng)
        self._pacing_rate: float | None = None  # sk_pacing_rate, None until read again
        self.max_pacing_rate = math.inf  # sk_max_pacing_rate (SO_MAX_PACING_RATE), bytes/s
        self.internal_pacing = self.cc.internal_pacing  # BBR: tcp_pacing_check + hrtimer
        self.bbr = self.cc.name == "bbr"
        self.fq = fq and not nic.spec.loopback  # sch_fq holds each skb until its EDT
        self.orphaned = nic.spec.loopback  # loopback_xmit: skb_orphan, so wmem freed at once
        self.nonagle = 0  # the socket's TCP_NODELAY / TCP_CORK state (tp->nonagle)
        self.owned = False  # a send call holds the socket lock (sock_owned_by_user)
        self.backlog: list[tuple[Callable, tuple]] = []
        self.host_bytes = 0  # sk_wmem_alloc - 1: truesize of clones in qdisc and driver
        self.throttled = False  # TSQ_THROTTLED: a TX completion runs tcp_write_xmit
        self.snd_sml = 0  # end of the last sub-MSS segment sent (Minshall)
        self.max_packets_out = 0
        self.cwnd_was_limited = False
        self._cwnd_usage_seq = 0
        self.wstamp_s = 0.0  # tcp_wstamp_ns: the next departure time (EDT)
        self.segs_out = 0  # data_segs_out
        self._pace_timer = False
        self.lost: list[list[int]] = []  # [lo, hi) marked lost, not yet retransmitted
        self._held = False
        self.delivered = 0  # bytes ACKed or SACKed so far (tp->delivered)
        self._samples: deque[tuple[int, int, float]] = deque()  # (xmit id, delivered, when)
        self._last_ack_xmit = 0
        self._prr_first = False
        self._probe0 = False  # the probe timer is armed
        self._last_hold: tuple = ()  # the last HOLD event traced (seq, len, reason)
        # net.ipv4.tcp_slow_start_after_idle; BBR sets cong_control, which the check skips
        self.restart_after_idle = slow_start_after_idle and not self.bbr
        self.lsndtime_s = env.now  # tp->lsndtime: set when the connection is established
        # the peer's receive window (snd_wnd) and its right edge (tcp_wnd_end = snd_una +
        # snd_wnd); unbounded unless a receiver model advertises one (``window_update``)
        self.snd_wnd: float = math.inf
        self.snd_wnd_end: float = math.inf
        self.max_window = 0  # tp->max_window: the largest window the peer offered
        self.mss_now = self.mss_bytes  # tp->mss_cache: at most half of max_window
        self.on_mss: Callable[[int], None] | None = None  # the socket's size goal follows
        self.on_sent: Callable[[SkBuff, float], None] | None = None  # a local receiver's

    # --- the socket lock -------------------------------------------------------------
    def defer(self, fn: Callable, *args) -> bool:
        """While a send call owns the socket, queue ``fn(*args)`` for ``release_sock``."""
        if self.owned:
            self.backlog.append((fn, args))
            return True
        return False

    def process_backlog(self) -> None:
        """__release_sock + tcp_release_cb: replay what waited, in arrival order."""
        owned = self.owned
        self.owned = False
        backlog, self.backlog = self.backlog, []
        for fn, args in backlog:
            fn(*args)
        self.owned = owned

    # --- the peer's receive window ---------------------------------------------------
    def window_update(self, wnd_end: int, wnd: int, send: bool = False) -> None:
        """net/ipv4/tcp_input.c:tcp_ack_update_window: an ACK advertised ``wnd`` bytes from
        its ack_seq, up to ``wnd_end``; backlogged, like the ACK, while a send call owns the
        socket. ``send``: a window update alone (``tcp_cleanup_rbuf``'s), after which
        tcp_data_snd_check sends what the window held back."""
        if self.defer(self.window_update, wnd_end, wnd, send):
            return
        self.snd_wnd = wnd
        self.snd_wnd_end = wnd_end
        if wnd > self.max_window:  # tcp_ack_update_window -> tcp_sync_mss
            self.max_window = wnd
            mss = bound_to_half_wnd(self.mss_bytes, wnd)
            if mss != self.mss_now:
                self.mss_now = mss
                if self.on_mss is not None:
                    self.on_mss(wnd)
        if send and self.unsent:
            self.write_xmit(self.nonagle, waited=self._held)

    # --- sizes, in segments as the kernel counts them -------------------------------
    def cwnd_segs(self) -> int:
        """tcp_snd_cwnd."""
        return max(1, int(self.cwnd_bytes // self.mss_bytes))

    def in_flight_bytes(self) -> int:
        """packets_out - (sacked_out + lost_out) + retrans_out, in bytes."""
        out = self.snd_nxt - self.snd_una - self._sacked_bytes
        for lo, hi in self.lost:
            out -= hi - lo
        return out

    def in_flight_segs(self) -> int:
        """tcp_packets_in_flight."""
        return -(-self.in_flight_bytes() // self.mss_bytes)

    def packets_out(self) -> int:
        """Segments sent and not cumulatively ACKed."""
        return -(-(self.snd_nxt - self.snd_una) // self.mss_bytes)

    def is_cwnd_limited(self) -> bool:
        """tcp_is_cwnd_limited: in slow start, below twice the most segments out this window;
        afterwards, whether the last window was cwnd-limited."""
        if self.cwnd_bytes < self.ssthresh:
            return self.cwnd_segs() < 2 * self.max_packets_out
        return self.cwnd_was_limited

    @property
    def pacing_rate(self) -> float:
        """sk_pacing_rate, as the congestion controller set it after the last ACK
        (tcp_update_pacing_rate, bbr_set_pacing_rate); computed when first read."""
        if self._pacing_rate is None:
            self._pacing_rate = min(self.cc.pacing_rate_bytes_per_s(), self.max_pacing_rate)
        return self._pacing_rate

    def pacing_rate_bytes_per_s(self) -> float:
        """``pacing_rate``, in bytes per second."""
        return self.pacing_rate

    def _sent_skbs(self) -> int:
        return len(self.rtx) - len(self.unsent)

    # --- the write queue -------------------------------------------------------------
    def entail(self, skb: SkBuff) -> None:
        """tcp_skb_entail: a new (empty) skb at the tail of the write queue; a pending
        TCP_NAGLE_PUSH is spent."""
        self.rtx.append(skb)
        self.unsent.append(skb)
        self.nonagle &= ~NAGLE_PUSH
        if self.restart_after_idle and self.snd_nxt <= self.snd_una:  # (its first test)
            self._slow_start_after_idle_check()

    def _slow_start_after_idle_check(self) -> None:
        """include/net/tcp.h:tcp_slow_start_after_idle_check (from tcp_skb_entail): with
        nothing out (packets_out == 0) and no data sent for longer than the RTO, restart the
        window (RFC 2861). ``lsndtime_s`` is when data last left (tcp_event_data_sent)."""
        if self.snd_nxt > self.snd_una:
            return
        idle_s = self.env.now - self.lsndtime_s
        if idle_s <= self.rto_s:
            return
        self.cwnd_restarts += 1
        cwnd = self.cwnd_segs()
        if not self._in_recovery:  # tcp_current_ssthresh: at least 3/4 of the old window
            self.ssthresh = max(self.ssthresh, ((cwnd >> 1) + (cwnd >> 2)) * self.mss_bytes)
        self.cwnd_bytes = restart_cwnd_segs(cwnd, TCP_INIT_CWND, idle_s, self.rto_s
                                            ) * self.mss_bytes

    def trace_hold(self, skb: SkBuff, why: str) -> None:
        """A HOLD event for ``skb``, once per skb and reason (write_xmit runs on every ACK)."""
        key = (skb.seq, skb.len, why)
        if key != self._last_hold:
            self._last_hold = key
            self.acct.trace.add(events.hold(skb.seq, self.env.now, skb.len, why))

    def should_autocork(self, skb: SkBuff, size_goal: int) -> bool:
        """tcp_should_autocork: hold a tail below the size goal while an earlier clone is
        still in the qdisc or driver (its TX completion will push it)."""
        return (skb.len < size_goal and self._sent_skbs() > 0
                and self.host_bytes + 1 > skb.truesize)

    def _tso_segs(self) -> int:
        """tcp_tso_segs → tcp_tso_autosize: about 1 ms of pacing rate plus an allowance that
        halves every 512 us of RTT, within the GSO limit, at least ``min_tso_segs``."""
        shift = self._rtt_shift
        if shift == 0:  # min_rtt < 512 us: the allowance alone is the whole GSO limit
            return self._full_tso_segs
        nbytes = self.pacing_rate / (1 << SK_PACING_SHIFT)
        if shift < 32:
            nbytes += self.gso_max_bytes >> shift
        nbytes = min(nbytes, self.gso_max_bytes)
        return max(int(nbytes // self.mss_bytes), self.cc.min_tso_segs())

    def _minshall(self) -> bool:
        """tcp_minshall_check: a sub-MSS segment sent is not yet ACKed."""
        return self.snd_una < self.snd_sml <= self.snd_nxt

    def _nagle_check(self, partial: bool, nonagle: int) -> bool:
        """tcp_nagle_check: True holds the partial segment."""
        return partial and bool(nonagle & NAGLE_CORK or (
            not nonagle and self.snd_nxt > self.snd_una and self._minshall()))

    def _mss_split_point(self, skb: SkBuff, quota: int, nonagle: int, last: bool) -> int:
        """tcp_mss_split_point: how much of ``skb`` goes now: ``quota`` segments, cut to the
        receive window (tcp_wnd_end - seq); a last skb's partial tail waits (Nagle)."""
        max_len = self.mss_now * quota
        window = self.snd_wnd_end - skb.seq
        if max_len <= window and not last:
            return max_len
        needed = skb.len if skb.len < window else int(window)
        if max_len <= needed:
            return max_len
        partial = needed % self.mss_now
        if self._nagle_check(partial != 0, nonagle):
            return needed - partial
        return needed

    def _tso_should_defer(self, skb: SkBuff, max_segs: int, last: bool, cwnd: int,
                          in_flight: int) -> tuple[bool, bool]:
        """tcp_tso_should_defer: wait for more ACKs so that a bigger skb can go, unless in
        recovery, idle for 1 ms, a full TSO skb or a third of the window fits, or the next
        ACK is more than min(SRTT/2, 1 ms) away. Returns (defer, cwnd-limited)."""
        now = self.env.now
        if self._in_recovery or now - self.wstamp_s > TSO_DEFER_IDLE_S:
            return False, False
        mss = self.mss_now
        cong_win = (cwnd - in_flight) * mss
        send_win = self.snd_wnd_end - skb.seq  # the receive window left from this skb
        limit = cong_win if cong_win < send_win else send_win
        if limit >= max_segs * mss or (not last and limit >= skb.len):
            return False, False
        chunk = cwnd * mss if cwnd * mss < self.snd_wnd else self.snd_wnd
        if limit >= chunk // TCP_TSO_WIN_DIVISOR:
            return False, False
        if not self._sent_skbs():
            return False, False
        head = self.rtx[0]
        if head.sent_s + self.srtt_s - now > min(self.srtt_s / 2, 1e-3):
            return False, False
        return True, cong_win < send_win and cong_win <= skb.len

    def _small_queue_check(self, truesize: int, factor: int) -> bool:
        """tcp_small_queue_check: at most max(2 truesize, ~1 ms of pacing rate) in the qdisc
        and driver (twice that for retransmissions), unless one skb at most is out."""
        wmem_alloc = self.host_bytes + 1
        if wmem_alloc <= 2 * truesize << factor:  # within the limit whatever the rate
            return False
        limit = max(2 * truesize, self.pacing_rate / (1 << SK_PACING_SHIFT))
        limit = min(limit, TCP_LIMIT_OUTPUT_BYTES) * (1 << factor)
        if wmem_alloc > limit and self._sent_skbs() > 1:
            self.throttled = True
            return True
        return False

    def _pacing_check(self) -> bool:
        """tcp_pacing_check: internal pacing (BBR) stops until the next departure time."""
        if not self.internal_pacing or self.wstamp_s <= self.env.now:
            return False
        if not self._pace_timer:
            self._pace_timer = True
            ev = self.env.timeout(self.wstamp_s - self.env.now)
            ev.callbacks.append(self._pace_kick)
        return True

    def _pace_kick(self, _ev) -> None:
        """The pacing hrtimer (tcp_pace_kick → tcp_tsq_handler)."""
        self._pace_timer = False
        self.tsq_handler()

    def write_xmit(self, nonagle: int, push_one: bool = False, ready_s: float = 0.0,
                   waited: bool = False) -> None:
        """tcp_write_xmit: send write-queue skbs while the checks allow. ``ready_s``: when
        the sending task's copies into them end (the data exists from then on)."""
        unsent = self.unsent
        if not unsent:
            return
        mss = self.mss_now
        max_segs = self._tso_segs() if self._rtt_shift else self._full_tso_segs
        sent = False
        cwnd_limited = False
        cwnd = int(self.cwnd_bytes // self.mss_bytes) or 1  # packets, whatever their size
        lost = self.lost
        why = ""
        while unsent:
            skb = unsent[0]
            if self.internal_pacing and self._pacing_check():
                why = events.HOLD_PACING
                break
            out = self.snd_nxt - self.snd_una - self._sacked_bytes
            if lost:
                for lo, hi in lost:
                    out -= hi - lo
            in_flight = -(-out // mss)
            if in_flight >= cwnd:  # tcp_cwnd_test
                cwnd_limited = True
                break
            quota = cwnd >> 1 or 1  # min(max(cwnd/2, 1), cwnd - in flight, max_segs)
            if cwnd - in_flight < quota:
                quota = cwnd - in_flight
            if max_segs < quota:
                quota = max_segs
            if skb.seq + (mss if skb.len > mss else skb.len) > self.snd_wnd_end:
                why = events.HOLD_RWND  # tcp_snd_wnd_test: its first segment is past the window
                break
            last = len(unsent) == 1
            if skb.len <= mss:  # one segment: tcp_nagle_test
                held = nonagle if last else NAGLE_PUSH
                if not held & NAGLE_PUSH and self._nagle_check(skb.len < mss, held):
                    why = events.HOLD_NAGLE
                    break
            else:
                if not push_one and not self._in_recovery:  # (its first test, inline)
                    defer, limited = self._tso_should_defer(skb, max_segs, last, cwnd,
                                                            in_flight)
                    if defer:
                        cwnd_limited |= limited
                        why = events.HOLD_DEFER
                        break
                limit = self._mss_split_point(skb, quota, nonagle, last)
                if skb.len > limit:
                    self._fragment(skb, limit)
            if skb.len == 0:
                break
            # (the first test of tcp_small_queue_check, inline: within 2 truesize)
            host = self.host_bytes
            if host and host >= 2 * skb.truesize and self._small_queue_check(skb.truesize, 0):
                why = events.HOLD_TSQ
                break
            unsent.popleft()
            self._send(skb, ready_s, waited)
            sent = True
            if push_one:
                break
        if why and self.acct.trace is not None:
            self.trace_hold(unsent[0], why)
        if cwnd_limited and unsent and not self._held:
            self._held = True
            self._held_since = self.env.now
        elif self._held and not unsent:
            self._held = False
            self.acct.cwnd_limited_s += self.env.now - self._held_since
        if sent:
            cwnd_limited |= -(-self.in_flight_bytes() // mss) >= cwnd
        if sent or cwnd_limited:
            self._cwnd_validate(cwnd_limited)
        if sent and self.loss_possible:
            self.start_timer()
        elif not sent and unsent and self.snd_nxt == self.snd_una and not self._probe0:
            # tcp_check_probe_timer: data held with nothing in flight (TCP_CORK, MSG_MORE)
            # goes when the zero-window probe timer fires, at the latest
            self._probe0 = True
            ev = self.env.timeout(max(self.rto_s, TCP_RTO_MIN_S))
            ev.callbacks.append(self._probe0_fire)

    def _probe0_fire(self, _ev) -> None:
        """tcp_probe_timer → tcp_write_wakeup: send what waits, cork or not."""
        if self.defer(self._probe0_fire, _ev):
            return
        self._probe0 = False
        if self.unsent and self.snd_nxt == self.snd_una:
            self.write_xmit(NAGLE_PUSH, waited=True)

    def _fragment(self, skb: SkBuff, nbytes: int) -> None:
        """tso_fragment: the rest of ``skb`` after ``nbytes`` becomes the next unsent skb."""
        rest = self.split(skb, nbytes)
        self.rtx.insert(len(self.rtx) - len(self.unsent) + 1, rest)
        self.unsent.insert(1, rest)

    def _cwnd_validate(self, cwnd_limited: bool) -> None:
        """tcp_cwnd_validate: remember, per window, whether it was cwnd-limited and the most
        segments that were out."""
        packets_out = -(-(self.snd_nxt - self.snd_una) // self.mss_bytes)  # packets_out()
        if (self.snd_una >= self._cwnd_usage_seq or cwnd_limited
                or (not self.cwnd_was_limited and packets_out > self.max_packets_out)):
            self.cwnd_was_limited = cwnd_limited
            self.max_packets_out = packets_out
            self._cwnd_usage_seq = self.snd_nxt

    def _send(self, skb: SkBuff, ready_s: float, waited: bool) -> None:
        """__tcp_transmit_skb + tcp_event_new_data_sent: the whole skb's clone leaves."""
        nbytes = skb.len
        mss = self.mss_bytes
        segments = -(-nbytes // mss)
        skb.first_segment = self.next_segment
        self.next_segment += segments
        skb.dataref += 1
        now = self.env.now
        if self.acct.trace is not None and waited:
            self.acct.trace.add(events.cwnd_send(skb.seq, now, nbytes, int(self.cwnd_bytes)))
        self._xmits += 1
        skb.xmit_id = self._xmits
        self.lsndtime_s = now  # tcp_event_data_sent
        self.snd_nxt = end = skb.seq + nbytes
        if nbytes < segments * mss:
            self.snd_sml = end  # tcp_minshall_update
        if self.on_sent is not None:  # lo: the receiver queues it as soon as it is there
            self.on_sent(skb, ready_s)
        if self.internal_pacing or self.fq or self.wstamp_s >= now:
            self._depart(skb, segments, ready_s)
            return
        self.wstamp_s = now  # unpaced: it leaves when the data is ready
        self.segs_out += segments
        skb.sent_s = ready_s if ready_s > now else now
        if not self.orphaned:
            skb.host_truesize = skb.truesize
            self.host_bytes += skb.truesize
        self.nic.xmit(skb, ready_s)

    def _depart(self, clone: SkBuff, segments: int, ready_s: float) -> None:
        """Stamp the clone's departure (EDT; paced after the first 10 segments), charge it
        to sk_wmem_alloc and hand it to the driver."""
        now = self.env.now
        if self.wstamp_s < now:
            prior = self.wstamp_s
            self.wstamp_s = now
        else:
            prior = self.wstamp_s
        if self.internal_pacing or self.fq:
            depart = self.wstamp_s if self.fq and self.wstamp_s > ready_s else ready_s
            if self.segs_out >= FQ_UNPACED_SEGMENTS:
                len_s = clone.len / self.pacing_rate
                self.wstamp_s += len_s - min(len_s / 2, self.wstamp_s - prior)
            if self.bbr:
                self._samples.append((clone.xmit_id, self.delivered, max(depart, now)))
        else:
            depart = ready_s
        self.segs_out += segments
        clone.sent_s = depart if depart > now else now
        if not self.orphaned:
            clone.host_truesize = clone.truesize or SKB_TRUESIZE_BYTES + clone.len
            self.host_bytes += clone.host_truesize
        self.nic.xmit(clone, depart)

    def _clone_out(self, clone: SkBuff) -> None:
        """A retransmission's clone (tcp_retransmit_skb) departs like new data."""
        self.lsndtime_s = self.env.now  # __tcp_transmit_skb → tcp_event_data_sent
        self._depart(clone, -(-clone.len // self.mss_bytes), self.env.now)

    def tx_done(self, clone: SkBuff) -> None:
        """tcp_wfree: the clone left the host; a throttled socket runs the TSQ handler."""
        self.host_bytes -= clone.host_truesize
        clone.host_truesize = 0
        if self.throttled:
            self.throttled = False
            self.tsq_handler()

    def tsq_handler(self) -> None:
        """tcp_tsq_handler → tcp_tsq_write: retransmissions first, then new data."""
        if self.defer(self.tsq_handler):
            return
        if self.lost:
            self._xmit_retransmit_queue()
        if self.unsent:
            self.write_xmit(self.nonagle, waited=self._held)

    # --- ACKs ------------------------------------------------------------------------
    def on_ack(self, ack_seq: int, sack: list[list[int]], xmit_id: int = 0) -> None:
        """tcp_ack: as the textbook sender, then the controller's rate sample, the
        retransmission queue and tcp_data_snd_check."""
        self._last_ack_xmit = xmit_id
        TcpSender.on_ack(self, ack_seq, sack, xmit_id)

    def _grow(self, acked: int) -> None:
        self.cc.grow(acked)

    def _reduce(self, cwnd: float) -> None:
        self.cc.on_loss(cwnd)
        self._high_seq = self.snd_nxt
        self._prr_first = True  # tcp_cwnd_reduction: PRR sends at least one segment first

    def _rto_base_s(self) -> float:
        """tcp_set_rto: SRTT + rttvar, and rttvar is at least tcp_rto_min (200 ms)."""
        return self.srtt_s + TCP_RTO_MIN_S

    def _pto_s(self) -> float:
        """tcp_schedule_loss_probe: 2 SRTT + 2 ms, or + 200 ms with one segment out (the
        allowance for a delayed ACK), never later than the RTO."""
        extra = TCP_RTO_MIN_S if self.packets_out() == 1 else TCP_TIMEOUT_MIN_S
        return min(2 * self.srtt_s + extra, self.rto_s)

    def _ack_done(self) -> None:
        if self.bbr:  # bbr_main: the rate sample of the transmission this ACK answers
            delivered = self.snd_una + self._sacked_bytes
            if delivered > self.delivered:
                self.delivered = delivered
            sample = None
            while self._samples and self._samples[0][0] <= self._last_ack_xmit:
                _, d, t = self._samples.popleft()
                sample = (d, t)
            self.cc.on_ack(self.delivered, sample)
        self._pacing_rate = None  # tcp_cong_control sets it anew
        if self.lost:
            self._trim_lost()
            self._xmit_retransmit_queue()
        if self.unsent:
            self.write_xmit(self.nonagle, waited=self._held)

    def _trim_lost(self) -> None:
        """Lost ranges the cumulative ACK or a SACK block now covers need no resend."""
        if not self.lost:
            return
        out = []
        for lo, hi in self.lost:
            lo = max(lo, self.snd_una)
            for a, b in self._sack:
                if a <= lo < b:
                    lo = b
                if a < hi <= b:
                    hi = a
            if lo < hi:
                out.append([lo, hi])
        self.lost = out

    # --- loss recovery ---------------------------------------------------------------
    def _retransmit(self, lo: int, hi: int, force: bool = False) -> None:
        """Mark ``lo .. hi-1`` lost; tcp_xmit_retransmit_queue resends it as the window
        allows (``force``: one segment regardless, as a probe does, and as PRR sends the
        first resend of a recovery at once)."""
        self._retransmitted = {k: v for k, v in self._retransmitted.items()
                               if k >= self.snd_una}
        self._mark_lost(lo, min(hi, self.snd_nxt))
        self._xmit_retransmit_queue(force or self._prr_first)
        self._prr_first = False

    def _mark_lost(self, lo: int, hi: int) -> None:
        """Add ``lo .. hi-1`` to the disjoint, sorted lost ranges."""
        if lo >= hi:
            return
        self._retransmitted[lo] = math.inf  # a resend is pending: not lost again yet
        merged = [lo, hi]
        keep = []
        for r in self.lost:
            if r[1] < merged[0] or r[0] > merged[1]:
                keep.append(r)
            else:
                merged = [min(merged[0], r[0]), max(merged[1], r[1])]
        keep.append(merged)
        keep.sort()
        self.lost = keep

    def _xmit_retransmit_queue(self, force: bool = False) -> None:
        """tcp_xmit_retransmit_queue: resend lost ranges while cwnd - in flight allows
        (``force``: at least one segment), at most a TSO skb at a time."""
        mss = self.mss_bytes
        max_segs = self._tso_segs()
        while self.lost:
            segs = self.cwnd_segs() - self.in_flight_segs()
            if segs <= 0:
                if not force:
                    break
                segs = 1
            force = False
            if self._small_queue_check(SKB_TRUESIZE_BYTES + mss, 1):
                break
            lo, hi = self.lost[0]
            n = min(hi - lo, min(segs, max_segs) * mss)
            if lo not in self._retransmitted or self._retransmitted[lo] == math.inf:
                self._retransmitted[lo] = self._xmits + 1
            if n == hi - lo:
                self.lost.pop(0)
            else:
                self.lost[0][0] = lo + n
            self._resend(lo, lo + n)

    def _rto_check(self, ev) -> None:
        if not self.defer(self._rto_check, ev):
            super()._rto_check(ev)

    def _probe(self) -> None:
        """tcp_send_loss_probe: one new segment if any waits, else the last one again."""
        if (self.unsent and self.unsent[0].len
                and self.unsent[0].seq + min(self.unsent[0].len, self.mss_bytes)
                <= self.snd_wnd_end):  # tcp_snd_wnd_test
            skb = self.unsent[0]
            if skb.len > self.mss_bytes:
                self._fragment(skb, self.mss_bytes)
            self.unsent.popleft()
            self._send(skb, self.env.now, True)
            return
        end = self.snd_nxt
        last = next(s for s in reversed(self.rtx) if s.seq < end)
        self._retransmit(max(last.seq, end - self.mss_bytes), end, force=True)

    def _timeout(self) -> None:
        """tcp_retransmit_timer → tcp_enter_loss: everything not SACKed is lost, the window
        is one segment, and the first segment goes again; the rest follows as ACKs open it."""
        self.acct.rto_timeouts += 1
        self._reduce(self.mss_bytes)
        self._in_recovery = False
        holes = []
        start = self.snd_una
        for a, b in self._sack:
            if a > start:
                holes.append([start, a])
            start = max(start, b)
        if start < self.snd_nxt:
            holes.append([start, self.snd_nxt])
        self.lost = []
        for lo, hi in holes:
            self._mark_lost(lo, hi)
        self._prr_first = False
        self._xmit_retransmit_queue(force=True)
        self.rto_s = min(2 * self.rto_s, TCP_RTO_MAX_S)
        self._arm_rto()
