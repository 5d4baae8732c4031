"""Linux 6.x congestion control for ``iosim.kernel.tcp.Linux6Tcp``: CUBIC and BBR (v1).

A controller owns the window's growth and reduction, the pacing rate the socket computes
after every ACK, and how much send buffer ``tcp_sndbuf_expand`` grants per segment of window.
The textbook kernel keeps its own inline rules (``TcpSender._grow``, ``_reduce``).

- ``Cubic`` (``net/ipv4/tcp_cubic.c``): slow start up to ``ssthresh``, then one MSS per
  window ACKed (CUBIC's cubic curve and HyStart are not modelled); growth only while the
  sender is cwnd-limited (``cubictcp_cong_avoid`` → ``tcp_is_cwnd_limited``); a loss cuts the
  window to beta = 717/1024 of itself. Its pacing rate (``tcp_update_pacing_rate``) is always
  computed, because TSQ and TSO autosizing read it, but it only paces under the ``fq`` qdisc.
- ``Bbr`` (``net/ipv4/tcp_bbr.c``), compact: STARTUP (gain 2.885) until the bandwidth stops
  growing by 25 % for three rounds, DRAIN (pacing gain 0.35) until what is in flight fits the
  BDP, then PROBE_BW's eight-phase gain cycle [5/4, 3/4, 1 x 6], one min_rtt per phase. The
  bandwidth is the maximum delivery rate over the last ten rounds, each sample the bytes
  delivered between a transmission and its ACK over that interval. It always paces (internal
  pacing, ``tcp_needs_internal_pacing``); PROBE_RTT (after 10 s) is not modelled.
"""

from __future__ import annotations

import math
from collections import deque

CUBIC_BETA = 717 / 1024  # net/ipv4/tcp_cubic.c: beta = 717 (of BICTCP_BETA_SCALE 1024)
PACING_SS_RATIO = 2.0  # tcp_pacing_ss_ratio = 200 %: while cwnd < ssthresh / 2
PACING_CA_RATIO = 1.2  # tcp_pacing_ca_ratio = 120 %
BBR_HIGH_GAIN = 2885 / 1000  # bbr_high_gain = BBR_UNIT * 2885 / 1000 + 1 (2/ln 2)
BBR_DRAIN_GAIN = 1000 / 2885  # bbr_drain_gain
BBR_CWND_GAIN = 2.0  # bbr_cwnd_gain in PROBE_BW
BBR_PACING_GAINS = (5 / 4, 3 / 4, 1, 1, 1, 1, 1, 1)  # bbr_pacing_gain[], CYCLE_LEN = 8
BBR_CYCLE_RAND = 7  # bbr_cycle_rand: the first phase is drawn from 1 .. 7 (never 3/4 first)
BBR_BW_RTTS = 10  # bbr_bw_rtts: the bandwidth max filter spans ten rounds
BBR_FULL_BW_THRESH = 5 / 4  # bbr_full_bw_thresh: growth below 25 % ...
BBR_FULL_BW_CNT = 3  # ... for three rounds ends STARTUP
BBR_PACING_MARGIN = 0.99  # bbr_pacing_margin_percent = 1
BBR_MIN_CWND_SEGMENTS = 4  # bbr_cwnd_min_target
GSO_LEGACY_MAX_SIZE_BYTES = 65536
MAX_TCP_HEADER_BYTES = 320  # L1_CACHE_ALIGN(128 + MAX_HEADER 176): include/net/tcp.h


class Cubic:
    """CUBIC as the model runs it (Reno-like growth between losses)."""

    name = "cubic"
    sndbuf_factor = 2  # tcp_sndbuf_expand: "Cubic needs 1.7 factor, rounded to 2"
    internal_pacing = False  # paces only under sch_fq (SK_PACING_FQ)

    def __init__(self, tcp) -> None:
        self.tcp = tcp

    def grow(self, acked: int) -> None:
        """cubictcp_cong_avoid: only while cwnd-limited; slow start (``tcp_slow_start``, up to
        ssthresh) then one MSS per window ACKed."""
        tcp = self.tcp
        cwnd = tcp.cwnd_bytes
        if cwnd < tcp.ssthresh:  # tcp_is_cwnd_limited in slow start: cwnd < 2 x max out
            if max(1, int(cwnd // tcp.mss_bytes)) < 2 * tcp.max_packets_out:
                tcp.cwnd_bytes = min(cwnd + acked, tcp.ssthresh)
        elif tcp.cwnd_was_limited:
            tcp.cwnd_bytes = cwnd + tcp.mss_bytes * acked / cwnd

    def on_loss(self, cwnd_bytes: float) -> None:
        """cubictcp_recalc_ssthresh: ssthresh = beta x cwnd (at least two segments)."""
        tcp = self.tcp
        tcp.ssthresh = max(CUBIC_BETA * tcp.cwnd_bytes, 2 * tcp.mss_bytes)
        tcp.cwnd_bytes = min(cwnd_bytes, tcp.ssthresh)

    def on_ack(self, delivered_bytes: int, sample: tuple[int, float] | None) -> None:
        """The controller's view of one ACK (CUBIC needs none beyond ``grow``)."""

    def pacing_rate_bytes_per_s(self) -> float:
        """tcp_update_pacing_rate: ratio x max(cwnd, packets out) x MSS / SRTT."""
        tcp = self.tcp
        ratio = PACING_SS_RATIO if tcp.cwnd_bytes < tcp.ssthresh / 2 else PACING_CA_RATIO
        return ratio * max(tcp.cwnd_bytes, tcp.packets_out() * tcp.mss_bytes) / tcp.srtt_s

    def min_tso_segs(self) -> int:
        """sysctl_tcp_min_tso_segs."""
        return 2


class Bbr:
    """BBR v1, STARTUP / DRAIN / PROBE_BW (no PROBE_RTT, no ACK-aggregation allowance)."""

    name = "bbr"
    sndbuf_factor = 3  # bbr_sndbuf_expand
    internal_pacing = True  # bbr_init: sk_pacing_status = SK_PACING_NEEDED

    def __init__(self, tcp, rng) -> None:
        self.tcp = tcp
        self.rng = rng
        self.mode = "startup"
        self.bw_samples: deque[tuple[int, float]] = deque()  # (round, bytes/s)
        self.round = 0
        self.next_round_delivered = 0
        self.full_bw = 0.0
        self.full_bw_count = 0
        self.cycle = 0
        self.cycle_start_s = 0.0
        self.rate = BBR_HIGH_GAIN * tcp.cwnd_bytes / tcp.srtt_s * BBR_PACING_MARGIN

    @property
    def bw(self) -> float:
        """bbr_max_bw: the largest delivery rate of the last ten rounds (bytes/s)."""
        return max((bw for _, bw in self.bw_samples), default=0.0)

    def gains(self) -> tuple[float, float]:
        """(pacing gain, cwnd gain) of the current mode (bbr_update_gains)."""
        if self.mode == "startup":
            return BBR_HIGH_GAIN, BBR_HIGH_GAIN
        if self.mode == "drain":
            return BBR_DRAIN_GAIN, BBR_HIGH_GAIN
        return BBR_PACING_GAINS[self.cycle], BBR_CWND_GAIN

    def grow(self, acked: int) -> None:
        """bbr_set_cwnd: towards gain x BDP plus three TSO skbs, not gated on cwnd-limited."""
        tcp = self.tcp
        target = self._inflight_bytes(self.gains()[1]) if self.bw else math.inf
        if self.mode != "startup":
            tcp.cwnd_bytes = min(tcp.cwnd_bytes + acked, target)
        elif tcp.cwnd_bytes < target:
            tcp.cwnd_bytes += acked
        tcp.cwnd_bytes = max(tcp.cwnd_bytes, BBR_MIN_CWND_SEGMENTS * tcp.mss_bytes)

    def on_loss(self, cwnd_bytes: float) -> None:
        """BBR keeps no ssthresh (bbr_ssthresh); only a timeout's one segment applies."""
        tcp = self.tcp
        if cwnd_bytes <= tcp.mss_bytes:
            tcp.cwnd_bytes = cwnd_bytes

    def _inflight_bytes(self, gain: float) -> float:
        """bbr_inflight: ceil(gain x bw x min_rtt) segments, plus bbr_quantization_budget."""
        tcp = self.tcp
        mss = tcp.mss_bytes
        segs = math.ceil(self.bw * tcp.srtt_s * gain / mss) + 3 * self._tso_segs_goal()
        segs += segs % 2  # rounded up to even (delayed ACKs)
        if self.mode == "probe_bw" and self.cycle == 0:
            segs += 2
        return segs * mss

    def _tso_segs_goal(self) -> int:
        """bbr_tso_segs_goal: about 1 ms of pacing rate, 2 to 127 segments."""
        limit = GSO_LEGACY_MAX_SIZE_BYTES - 1 - MAX_TCP_HEADER_BYTES
        segs = int(min(self.rate / 1024, limit) // self.tcp.mss_bytes)
        return min(max(segs, self.min_tso_segs()), 0x7F)

    def on_ack(self, delivered_bytes: int, sample: tuple[int, float] | None) -> None:
        """bbr_main: take the ACK's delivery-rate sample ``(delivered at its send, when)``,
        advance the round and the mode, then set the pacing rate."""
        tcp = self.tcp
        now = tcp.env.now
        if sample is not None:
            sent_delivered, sent_s = sample
            if now > sent_s:
                self.bw_samples.append((self.round, (delivered_bytes - sent_delivered)
                                        / (now - sent_s)))
            if sent_delivered >= self.next_round_delivered:  # a round trip completed
                self.next_round_delivered = delivered_bytes
                self.round += 1
                while self.bw_samples and self.bw_samples[0][0] <= self.round - BBR_BW_RTTS:
                    self.bw_samples.popleft()
                self._round_done()
        if self.mode == "drain" and tcp.in_flight_bytes() <= self._inflight_bytes(1.0):
            self._enter_probe_bw(now)
        if self.mode == "probe_bw" and now - self.cycle_start_s > tcp.srtt_s:
            self.cycle = (self.cycle + 1) % len(BBR_PACING_GAINS)
            self.cycle_start_s = now
        if self.bw:
            rate = self.gains()[0] * self.bw * BBR_PACING_MARGIN
            if self.mode != "startup" or rate > self.rate:  # raised only until the pipe is full
                self.rate = rate

    def _round_done(self) -> None:
        """bbr_check_full_bw_reached: STARTUP ends after three rounds without 25 % growth."""
        if self.mode != "startup" or not self.bw:
            return
        if self.bw >= self.full_bw * BBR_FULL_BW_THRESH:
            self.full_bw = self.bw
            self.full_bw_count = 0
            return
        self.full_bw_count += 1
        if self.full_bw_count >= BBR_FULL_BW_CNT:
            self.mode = "drain"

    def _enter_probe_bw(self, now_s: float) -> None:
        """bbr_reset_probe_bw_mode: a random first phase, never the 3/4 one."""
        self.mode = "probe_bw"
        self.cycle = len(BBR_PACING_GAINS) - 1 - self.rng.randrange(BBR_CYCLE_RAND)
        self.cycle_start_s = now_s

    def pacing_rate_bytes_per_s(self) -> float:
        """bbr_set_pacing_rate: gain x bw x 99 %; before a sample, 2.885 x cwnd / SRTT."""
        return self.rate

    def min_tso_segs(self) -> int:
        """bbr_min_tso_segs: 1 below 1.2 Mbit/s of pacing rate, else 2."""
        return 1 if self.rate < 1_200_000 / 8 else 2


def make(name: str, tcp, rng) -> Cubic | Bbr:
    """The controller ``kernel.tcp_congestion`` names."""
    return Bbr(tcp, rng) if name == "bbr" else Cubic(tcp)
