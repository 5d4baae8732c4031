"""The TCP receive window a local (loopback) receiver advertises, as Linux 6.x sizes it.

The receiver's socket starts with ``sk_rcvbuf`` = ``tcp_rmem[1]`` (128 KiB) and converts
buffer bytes to window bytes with ``scaling_ratio`` / 256 (``include/net/tcp.h:
tcp_win_from_space``; 50 % until the first full-sized segment measures len / truesize,
``net/ipv4/tcp_input.c:tcp_measure_rcv_mss``). So the SYN-ACK offers one 64 KiB buffer's
window rounded down to the MSS (``net/ipv4/tcp_output.c:tcp_select_initial_window``; on
lo, one 65 KB MSS) and ``tcp_init_buffer_space`` clamps the window to 64 KiB. The sender's
MSS is at most half the largest window offered (``include/net/tcp.h:tcp_bound_to_half_wnd``),
so its first skbs are half an MSS, two to the window. While a full MSS of skbs waits for
the reader, the free space is below an MSS: the advertised window is zero
(``__tcp_select_window``) and ``rcv_ssthresh`` cannot grow (``tcp_grow_window``: no room);
it grows while the queue is short. Receive-buffer autotuning (DRS, ``tcp_rcv_space_adjust``
-> ``tcp_rcvbuf_grow``), once per receive RTT (``tcp_rcv_rtt_measure``: the time to
receive one window), raises ``sk_rcvbuf`` to twice what the reader copied in the last RTT,
more by how much that grew since the RTT before (slow start), up to ``tcp_rmem[2]``, and the
window clamp follows.

Units are bytes and seconds; the kernel's jiffies and the 8x fixed-point RTT are not kept.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable

from iosim.kernel.tcp import SKB_TRUESIZE_BYTES

TCP_RMEM_TO_WIN_SCALE = 8  # include/net/tcp.h: scaling_ratio is a fraction of 256
TCP_DEFAULT_SCALING_RATIO = 1 << (TCP_RMEM_TO_WIN_SCALE - 1)  # 50 % until measured
TCP_MAX_WSCALE = 14  # RFC 7323
U16_MAX = 65535
TCP_MSS_DEFAULT = 536  # tcp_initialize_rcv_mss: the first rcv_mss guess
TCP_MIN_MSS = 88
TCP_INIT_CWND = 10
TCP_APP_WIN = 31  # sysctl_tcp_app_win
SMALL_SEGMENT_BYTES = 128  # tcp_event_data_recv grows the window for skbs >= 128 B


def ms(t_s: float) -> int:
    """The TCP timestamp clock (tcp_clock_ms): whole milliseconds, here since the run began."""
    return math.floor(t_s * 1e3)


def win_from_space(ratio: int, space_bytes: int) -> int:
    """include/net/tcp.h:__tcp_win_from_space: buffer bytes -> window bytes."""
    return space_bytes * ratio >> TCP_RMEM_TO_WIN_SCALE


def space_from_win(ratio: int, win_bytes: int) -> int:
    """include/net/tcp.h:__tcp_space_from_win: window bytes -> buffer bytes."""
    return (win_bytes << TCP_RMEM_TO_WIN_SCALE) // ratio


def initial_window(space_bytes: int, mss_bytes: int, rmem_max_bytes: int
                   ) -> tuple[int, int, int]:
    """net/ipv4/tcp_output.c:tcp_select_initial_window (no route window, no BPF init_rwnd):
    (rcv_wnd, window_clamp, rcv_wscale) for ``space_bytes`` = tcp_full_space. The window is
    the space rounded down to a multiple of the MSS and at most 64 KiB - 1 (it goes in the
    SYN-ACK unscaled); the scale is the one that makes tcp_rmem[2] representable."""
    clamp = U16_MAX << TCP_MAX_WSCALE
    space = min(clamp, space_bytes)
    if space > mss_bytes:
        space = space // mss_bytes * mss_bytes
    rcv_wnd = min(space, U16_MAX)
    top = min(max(space, rmem_max_bytes), clamp)
    wscale = min(max(top.bit_length() - 1 - 15, 0), TCP_MAX_WSCALE)
    return rcv_wnd, min(U16_MAX << wscale, clamp), wscale


class ReceiveWindow:
    """One connection's receive side: buffer, window clamp, rcv_ssthresh, DRS state.

    ``data`` is ``tcp_event_data_recv`` for an in-order skb, ``copied`` is the reader's
    ``tcp_recvmsg`` -> ``tcp_rcv_space_adjust``, and ``select`` the window an ACK carries
    (``tcp_select_window``). ``queued_truesize`` arguments are ``sk_rmem_alloc``: the
    truesize of the skbs on the receive queue, not yet copied out.
    """

    def __init__(self, mss_bytes: int, rmem_default_bytes: int, rmem_max_bytes: int,
                 now_s: float = 0.0) -> None:
        self.advmss = mss_bytes
        self.rmem_max = rmem_max_bytes  # tcp_rmem[2]: DRS grows sk_rcvbuf no further
        self.rcvbuf = rmem_default_bytes  # sk_rcvbuf = tcp_rmem[1] (tcp_init_sock)
        self.ratio = TCP_DEFAULT_SCALING_RATIO  # tp->scaling_ratio
        full = win_from_space(self.ratio, self.rcvbuf)  # tcp_full_space
        self.rcv_wnd, clamp, self.wscale = initial_window(full, mss_bytes, rmem_max_bytes)
        self.window_clamp = self._init_clamp(clamp, full)
        self.rcv_ssthresh = min(self.rcv_wnd, self.window_clamp)
        self.rcvq_space = min(self.rcv_ssthresh, self.rcv_wnd, TCP_INIT_CWND * mss_bytes)
        self.rcvq_seq = 0  # rcvq_space.seq: copied_seq when this measure began
        self.rcvq_time_s = now_s  # rcvq_space.time: the connection's establishment
        # tcp_initialize_rcv_mss: min(advmss, mss, rcv_wnd / 2, 536), at least 88
        self.rcv_mss = max(min(mss_bytes, self.rcv_wnd // 2, TCP_MSS_DEFAULT), TCP_MIN_MSS)
        self.rtt_s = 0.0  # rcv_rtt_est.rtt_us: none yet
        self.rtt_seq = 0  # rcv_rtt_est.seq
        self.rtt_time_s: float | None = None  # rcv_rtt_est.time
        self.last_tsecr_ms = 0  # rcv_rtt_last_tsecr: the SYN-ACK's TSval, at 0 ms
        self.rcv_wup = 0  # rcv_nxt when the last window was advertised
        self.grows = 0  # sk_rcvbuf increases (DRS)

    def _init_clamp(self, clamp: int, maxwin: int) -> int:
        """net/ipv4/tcp_input.c:tcp_init_buffer_space: the clamp is at most the full space
        (less 1/2^tcp_app_win of it), keeping one segment's reservation."""
        mss = self.advmss
        if clamp >= maxwin:
            clamp = maxwin
            if maxwin > 4 * mss:
                clamp = max(maxwin - (maxwin >> TCP_APP_WIN), 4 * mss)
        if clamp > 2 * mss and clamp + mss > maxwin:
            clamp = max(2 * mss, maxwin - mss)
        return clamp

    def space(self, queued_truesize: int) -> int:
        """include/net/tcp.h:tcp_space: the window the free part of the buffer is worth."""
        return win_from_space(self.ratio, self.rcvbuf - queued_truesize)

    def data(self, rcv_nxt: int, nbytes: int, truesize: int, queued_truesize: int,
             now_s: float) -> None:
        """net/ipv4/tcp_input.c:tcp_event_data_recv for an skb of ``nbytes`` (``truesize``)
        that took the stream to ``rcv_nxt``; ``queued_truesize`` counts it."""
        self._measure_rcv_mss(nbytes, truesize)
        self._rtt_measure(rcv_nxt, now_s)
        if nbytes >= SMALL_SEGMENT_BYTES:
            self._grow_window(nbytes, truesize, queued_truesize)

    def _measure_rcv_mss(self, nbytes: int, truesize: int) -> None:
        """tcp_measure_rcv_mss: a segment longer than the rcv_mss estimate re-measures
        scaling_ratio = len / truesize (in 256ths), and the clamp follows the buffer."""
        if nbytes < self.rcv_mss:
            return
        if nbytes != self.rcv_mss:
            ratio = (nbytes << TCP_RMEM_TO_WIN_SCALE) // truesize or 1
            if ratio != self.ratio:
                self.ratio = ratio
                self.window_clamp = win_from_space(ratio, self.rcvbuf)
                self.rcvq_space = min(self.rcvq_space, self.window_clamp)
        self.rcv_mss = min(nbytes, self.advmss)

    def ts_sample(self, nbytes: int, tsecr_ms: int, now_ms: int) -> None:
        """net/ipv4/tcp_input.c:tcp_rcv_rtt_measure_ts: an MSS-sized skb echoing a new
        TSval (``tsecr_ms``, of the ACK the sender last had) gives now - tsecr in whole
        milliseconds (RFC 7323 timestamps tick once per ms); zero gives no sample (since
        Linux 6.16, "tcp: remove zero TCP TS samples for autotuning"), else it is smoothed
        in by 1/8 (tcp_rcv_rtt_update, win_dep = 0). On lo that is one 1 ms sample per
        tick crossed, which lifts a sub-ms estimate toward 1 ms until a smaller window
        sample replaces it."""
        if tsecr_ms == self.last_tsecr_ms:
            return
        self.last_tsecr_ms = tsecr_ms
        if nbytes < self.rcv_mss or now_ms <= tsecr_ms:
            return
        sample_s = (now_ms - tsecr_ms) * 1e-3
        self.rtt_s = sample_s if not self.rtt_s else self.rtt_s + (sample_s - self.rtt_s) / 8

    def _rtt_measure(self, rcv_nxt: int, now_s: float) -> None:
        """tcp_rcv_rtt_measure: the receive RTT is the time the sender takes to fill one
        window (from rcv_nxt + rcv_wnd at the last sample), a smaller one replacing the
        estimate (tcp_rcv_rtt_update, win_dep = 1)."""
        if self.rtt_time_s is not None:
            if rcv_nxt < self.rtt_seq:
                return
            sample_s = max(now_s - self.rtt_time_s, 1e-6)  # at least 1 us
            if not self.rtt_s or sample_s < self.rtt_s:
                self.rtt_s = sample_s
        self.rtt_seq = rcv_nxt + self.rcv_wnd
        self.rtt_time_s = now_s

    def _grow_window(self, nbytes: int, truesize: int, queued_truesize: int) -> None:
        """tcp_grow_window: rcv_ssthresh grows by 2 MSS (at least twice the skb) per skb
        whose truesize, as window, still covers its length, while there is room below
        min(window_clamp, tcp_space); else by __tcp_grow_window's halving test."""
        room = min(self.window_clamp, self.space(queued_truesize)) - self.rcv_ssthresh
        if room <= 0:
            return
        if win_from_space(self.ratio, truesize) <= nbytes:
            incr = 2 * self.advmss
        else:
            incr = self._grow_incr(nbytes, truesize)
        if incr:
            self.rcv_ssthresh += min(room, max(incr, 2 * nbytes))

    def _grow_incr(self, nbytes: int, truesize: int) -> int:
        """__tcp_grow_window: an skb with more overhead grows the window only while
        rcv_ssthresh is below a fraction of the buffer that halves as the overhead does."""
        truesize = win_from_space(self.ratio, truesize)
        window = win_from_space(self.ratio, self.rcvbuf) >> 1
        while self.rcv_ssthresh <= window:
            if truesize <= nbytes:
                return 2 * self.rcv_mss
            truesize >>= 1
            window >>= 1
        return 0

    def copied(self, copied_seq: int, rcv_nxt: int, now_s: float) -> None:
        """net/ipv4/tcp_input.c:tcp_rcv_space_adjust, after the reader copied up to
        ``copied_seq``: once per receive RTT, if it read more than in the last one, DRS
        grows the buffer (tcp_rcvbuf_grow)."""
        if not self.rtt_s or now_s - self.rcvq_time_s < self.rtt_s:
            return
        copied = copied_seq - self.rcvq_seq - (rcv_nxt - copied_seq)
        if copied > self.rcvq_space:
            self._rcvbuf_grow(copied)
        self.rcvq_seq = copied_seq
        self.rcvq_time_s = now_s

    def _rcvbuf_grow(self, newval: int) -> None:
        """tcp_rcvbuf_grow (Linux 6.18.y): the window DRS wants is twice what was read in
        the last RTT ("DRS is always one RTT late"), plus twice that window scaled by how
        much the reads grew since the last measure ("slow start: allow the sender to double
        its rate": rcvwin x (newval - oldval) / oldval, from "tcp: fix too slow
        tcp_rcvbuf_grow() action", in 6.19 and the 6.18 stable kernels); the buffer to hold
        it, at most tcp_rmem[2], and the clamp follows. (6.19 scales the second term by
        rtt / tcp_rcvbuf_low_rtt below that RTT, which 6.18 has not.)"""
        oldval = self.rcvq_space
        self.rcvq_space = newval
        rcvwin = newval << 1
        rcvwin += (rcvwin * (newval - oldval) // oldval) << 1
        rcvbuf = min(space_from_win(self.ratio, rcvwin), self.rmem_max)
        if rcvbuf > self.rcvbuf:
            self.rcvbuf = rcvbuf
            self.window_clamp = win_from_space(self.ratio, rcvbuf)
            self.grows += 1

    def select(self, rcv_nxt: int, queued_truesize: int) -> int:
        """net/ipv4/tcp_output.c:tcp_select_window: the window (bytes from ``rcv_nxt``) an
        ACK sent now advertises: __tcp_select_window's, never less than what was offered
        before (the offered window does not shrink), scaled by 2^rcv_wscale."""
        offered = self.rcv_wup + self.rcv_wnd - rcv_nxt  # tcp_receive_window
        if offered < 0:
            offered = 0
        new = self._select(queued_truesize)
        unit = 1 << self.wscale
        if new < offered:
            new = -(-offered // unit) * unit  # ALIGN(cur_win, 1 << rcv_wscale)
        self.rcv_wnd = new
        self.rcv_wup = rcv_nxt
        return min(new, U16_MAX << self.wscale) >> self.wscale << self.wscale

    def _select(self, queued_truesize: int) -> int:
        """__tcp_select_window: the free space, capped at rcv_ssthresh; zero when it is
        below half the full space and below an MSS (or 1/16 of the buffer)."""
        mss = self.rcv_mss
        free = self.space(queued_truesize)
        allowed = win_from_space(self.ratio, self.rcvbuf)  # tcp_full_space
        full = min(self.window_clamp, allowed)
        if mss > full:
            mss = full
            if mss <= 0:
                return 0
        unit = 1 << self.wscale
        if free < full >> 1:
            free = free // unit * unit  # round_down(free_space, 1 << rcv_wscale)
            if free < allowed >> 4 or free < mss:
                return 0
        if free > self.rcv_ssthresh:
            free = self.rcv_ssthresh
        if self.wscale:
            return -(-free // unit) * unit  # ALIGN(window, 1 << rcv_wscale)
        window = self.rcv_wnd
        if window <= free - mss or window > free:  # keep the window a multiple of the MSS
            window = free // mss * mss
        elif mss == full and free > window + (full >> 1):
            window = free
        return window

    def update_due(self, rcv_nxt: int, queued_truesize: int) -> bool:
        """net/ipv4/tcp.c:tcp_cleanup_rbuf, after a read: a window update ACK goes out if the
        window could now at least double what was last offered."""
        now_win = max(self.rcv_wup + self.rcv_wnd - rcv_nxt, 0)
        if 2 * now_win > self.window_clamp:
            return False
        new = self._select(queued_truesize)
        return bool(new) and new >= 2 * now_win


class LoopbackWindow:
    """The local receiver's window on lo, in the kernel's order: each skb reaches the
    receive queue as the sender's softirq hands it over (``loopback_xmit``: the same skb,
    its truesize charged to ``sk_rmem_alloc``), where ``tcp_event_data_recv`` runs and the
    ACK leaves at once (validate's receiver asks for quick ACKs) with ``tcp_select_window``'s
    window; the reader's copy then runs DRS (``tcp_rcv_space_adjust``) and sends a window
    update if the window doubles (``tcp_cleanup_rbuf``). The sender (``tcp``, a
    ``Linux6Tcp``) takes each window as it is advertised (``window_update``); the model's
    cumulative ACK, which frees the skb, still comes after the copy.

    ``at_queue``: the skb joins the receive queue when the caller says (``arrive``), not
    at the handoff. An skb that comes while the reader owns its socket (on its own core, or
    running on the sender's one) waits in the backlog (``net/ipv4/tcp_ipv4.c:tcp_v4_rcv`` ->
    ``tcp_add_backlog``) and reaches ``rcv_nxt`` only when ``release_sock`` replays it, so
    the bytes DRS counts as still queued (``tcp_rcv_space_adjust``: copied less
    ``rcv_nxt - copied_seq``) are the receive queue's alone (counted from the handoff, a
    reader one skb behind saw next to nothing copied per RTT and the buffer stopped after
    its first step).
    """

    def __init__(self, env, tcp, window: ReceiveWindow,
                 copied_seq: Callable[[], int], at_queue: bool = False) -> None:
        self.env = env
        self.tcp = tcp
        self.window = window
        self.copied_seq = copied_seq  # how far the reader has copied (tp->copied_seq)
        self.rcv_nxt = 0  # the receive queue's end (tp->rcv_nxt)
        self.truesize_per_byte = 1.0  # of the last skb: converts queued bytes to truesize
        self.acks_s: list[float] = [env.now]  # when recent ACKs left (the SYN-ACK first)
        if not at_queue:
            tcp.on_sent = self.sent
        tcp.window_update(window.rcv_wnd, window.rcv_wnd)  # the SYN-ACK's window (unscaled)

    def _queued_truesize(self, copied_seq: int) -> int:
        return int((self.rcv_nxt - copied_seq) * self.truesize_per_byte)

    def sent(self, skb, ready_s: float) -> None:
        """The sender handed ``skb`` to lo; it is queued once its bytes are there."""
        now = self.env.now
        if ready_s > now:
            ev = self.env.timeout(ready_s - now)
            ev.callbacks.append(lambda _ev: self.arrive(skb))
        else:
            self.arrive(skb)

    def arrive(self, skb) -> None:
        """tcp_rcv_established -> tcp_data_queue (the skb joins the receive queue) ->
        tcp_event_data_recv, then __tcp_ack_snd_check: the ACK and its window."""
        w = self.window
        now = self.env.now
        end = skb.seq + skb.len
        if end <= self.rcv_nxt:
            return
        self.rcv_nxt = end
        truesize = skb.truesize or skb.len + SKB_TRUESIZE_BYTES
        self.truesize_per_byte = truesize / skb.len
        w.ts_sample(skb.len, ms(self._last_ack_before(skb.sent_s)), ms(now))
        queued = self._queued_truesize(self.copied_seq())
        w.data(end, skb.len, truesize, queued, now)
        self._advertise(queued)

    def _advertise(self, queued_truesize: int, send: bool = False) -> None:
        """An ACK leaves with tcp_select_window's window; ``send``: a window update after a
        read, which lets the sender transmit at once (tcp_data_snd_check)."""
        wnd = self.window.select(self.rcv_nxt, queued_truesize)
        self.acks_s.append(self.env.now)
        self.tcp.window_update(self.rcv_nxt + wnd, wnd, send)

    def _last_ack_before(self, t_s: float) -> float:
        """When the last ACK the sender could have had at ``t_s`` left (the TSval the skb
        it sent then echoes); older ACKs are forgotten."""
        acks = self.acks_s
        i = bisect.bisect_right(acks, t_s)
        if i > 1:
            del acks[:i - 1]
            i = 1
        return acks[i - 1] if i else acks[0]

    def ack(self, skb, rcv_nxt: int, copied_seq: int) -> None:
        """The model's ACK of ``skb``, after the reader's copy up to ``copied_seq``."""
        self.read(rcv_nxt, copied_seq)

    def read(self, rcv_nxt: int, copied_seq: int) -> None:
        """The reader copied up to ``copied_seq``: tcp_rcv_space_adjust, then
        tcp_cleanup_rbuf's window update if the window would at least double."""
        w = self.window
        w.copied(copied_seq, self.rcv_nxt, self.env.now)
        queued = self._queued_truesize(copied_seq)
        if w.update_due(self.rcv_nxt, queued):
            self._advertise(queued, send=True)
