"""The receive window of a local receiver (linux-6 on lo): hand-derived from Linux 6.18.

lo's MTU is 65536: the kernel's advmss is 65535 - 40 = 65495 (IPV4_MAX_PMTU caps it), less
the 12 B timestamp option: MSS 65483; the model's MSS is 65536 - 52 = 65484. A new socket's
buffer is tcp_rmem[1] = 131072 B and its window half of that (scaling_ratio 128/256) until
the first full-sized skb measures len / truesize: 65484 / (65484 + 960) -> 252/256.
"""

from __future__ import annotations

import pytest

import iosim
from iosim.events import HOLD_RWND, Kind
from iosim.hw.nic import Nic, SharedCore
from iosim.hw.wire import Wire
from iosim.kernel import tcp
from iosim.kernel.rcvwnd import ReceiveWindow, initial_window
from iosim.trace import Tracer

MSS = 65483  # lo: the largest IPv4 packet, 65535 B, less 40 B of headers and 12 of timestamps
TRUESIZE = MSS + 960  # an skb of one MSS: SKB_TRUESIZE of its head + its bytes
MIB = 1 << 20
LO = {"kernel.model": "linux-6", "nic.loopback": True, "nic.mtu": "64KiB"}
SPLIT = {**LO, "cpu.cores": 2, "nic.loopback_split": True}


@pytest.mark.parametrize(("mss", "rmem_max", "window", "wscale"), [
    (65483, 32 * MIB, 65483, 10),  # the kernel's lo: one MSS; ilog2(32 MiB) - 15 = 10
    (MSS, 6 * MIB, MSS, 7),  # ilog2(6 MiB) = 22
    (1448, 32 * MIB, 45 * 1448, 10),  # Ethernet: 65536 rounded down to 45 MSS = 65160
])
def test_the_syn_ack_offers_half_the_default_buffer_rounded_down_to_the_mss(
        mss, rmem_max, window, wscale):
    """net/ipv4/tcp_output.c:tcp_select_initial_window with tcp_full_space = 131072 x
    128/256 = 65536: rounddown(65536, mss), at most 65535 (the SYN-ACK's window is not
    scaled); the scale makes tcp_rmem[2] representable. (Since Linux 5.4 there is no
    TCP_DEFAULT_INIT_RCVWND cap of 10 segments, 14600 / mss for a large MSS.)"""
    rcv_wnd, clamp, scale = initial_window(65536, mss, rmem_max)
    assert (rcv_wnd, scale) == (window, wscale)
    assert clamp == 65535 << wscale


def test_the_buffer_space_clamps_the_window_and_rcv_ssthresh():
    """net/ipv4/tcp_input.c:tcp_init_buffer_space: on lo the clamp is the full space, 64 KiB
    (not more than 4 MSS, no reservation: 64 KiB < 2 MSS), rcv_ssthresh the SYN-ACK's
    window; with Ethernet's 1448 B MSS one segment is reserved: 65536 - 1448 = 64088."""
    lo = ReceiveWindow(MSS, 131072, 32 * MIB)
    assert (lo.rcv_wnd, lo.window_clamp, lo.rcv_ssthresh, lo.rcvq_space) == (
        MSS, 65536, MSS, MSS)
    assert lo.rcv_mss == 536  # tcp_initialize_rcv_mss: at most TCP_MSS_DEFAULT
    eth = ReceiveWindow(1448, 131072, 32 * MIB)
    assert (eth.rcv_wnd, eth.window_clamp, eth.rcv_ssthresh) == (65160, 64088, 64088)


def test_one_unread_skb_closes_the_window_and_the_read_reopens_it():
    """The first MSS-sized skb measures scaling_ratio = 65483 x 256 // 66443 = 252
    (tcp_measure_rcv_mss), so the clamp becomes 131072 x 252 / 256 = 129024. While it waits
    for the reader, tcp_space = (131072 - 66443) x 252 / 256 = 63619: rcv_ssthresh cannot
    grow (tcp_grow_window: room < 0) and the free space, below half the full space and
    below an MSS, advertises zero (__tcp_select_window). Once it is read, the whole buffer
    is free: the window is rcv_ssthresh aligned to the 1024 B scale unit, 65536, and
    tcp_cleanup_rbuf sends it (it more than doubles the zero offered)."""
    w = ReceiveWindow(MSS, 131072, 32 * MIB)
    w.data(MSS, MSS, TRUESIZE, TRUESIZE, 10e-6)
    assert (w.ratio, w.window_clamp, w.rcv_ssthresh, w.rcv_mss) == (252, 129024, MSS, MSS)
    assert w.space(TRUESIZE) == 63619
    assert w.select(MSS, TRUESIZE) == 0
    assert w.update_due(MSS, 0)
    assert w.select(MSS, 0) == 65536
    assert not w.update_due(MSS, 0)  # offered now: nothing more to announce


def test_drs_grows_the_buffer_once_per_receive_rtt():
    """The receive RTT is the time to receive one window (tcp_rcv_rtt_measure): skb 1 at
    10 us marks rcv_nxt + rcv_wnd = 2 MSS, skb 2 reaching it at 40 us gives 30 us. The read
    at 40 us is an RTT after the connection began and copied 130966 B > rcvq_space (65483):
    tcp_rcvbuf_grow (6.18.y) wants twice that, 261932 B of window, plus twice that window
    times the reads' growth, 2 x 261932 x (130966 - 65483) / 65483 = 523864 (slow start):
    785796 B, a buffer of 785796 x 256 // 252 = 798268 B, and the clamp follows
    (798268 x 252 / 256 = 785795). The next skb finds room: rcv_ssthresh grows by 2 MSS
    (its truesize x 252/256 < its length): 65483 + 130966 = 196449."""
    w = ReceiveWindow(MSS, 131072, 32 * MIB)
    w.data(MSS, MSS, TRUESIZE, TRUESIZE, 10e-6)
    w.copied(MSS, MSS, 10e-6)  # no RTT sample yet: nothing to adjust
    w.select(MSS, 0)
    w.data(2 * MSS, MSS, TRUESIZE, TRUESIZE, 40e-6)
    assert w.rtt_s == pytest.approx(30e-6)
    w.copied(2 * MSS, 2 * MSS, 40e-6)
    assert (w.rcvbuf, w.window_clamp, w.rcvq_space, w.grows) == (798268, 785795, 2 * MSS, 1)
    w.data(3 * MSS, MSS, TRUESIZE, TRUESIZE, 70e-6)
    assert w.rcv_ssthresh == 196449


def test_drs_stops_at_tcp_rmem_max():
    """tcp_rcvbuf_grow caps sk_rcvbuf at tcp_rmem[2]."""
    w = ReceiveWindow(MSS, 131072, 200000)
    w.data(MSS, MSS, TRUESIZE, TRUESIZE, 10e-6)
    w.data(2 * MSS, MSS, TRUESIZE, TRUESIZE, 40e-6)
    w.copied(2 * MSS, 2 * MSS, 40e-6)
    assert w.rcvbuf == 200000 and w.window_clamp == 200000 * 252 >> 8


def test_the_sender_never_sends_past_the_advertised_window(monkeypatch):
    """net/ipv4/tcp_output.c:tcp_write_xmit: tcp_snd_wnd_test holds an skb whose first
    segment is past snd_una + snd_wnd, and tcp_mss_split_point cuts a larger one at the
    window: every transmission ends within it. The first window is one MSS, and the MSS
    half of it (tcp_bound_to_half_wnd, from tcp_ack_update_window -> tcp_sync_mss): the
    first skb is 32741 B (the MSS is odd: two of them leave 1 B of the window), and what
    does not fit waits (HOLD "receive window")."""
    sent = []
    original = tcp.Linux6Tcp._send

    def checked(self, skb, ready_s, waited):
        sent.append((skb.seq + skb.len, self.snd_wnd_end))
        original(self, skb, ready_s, waited)

    monkeypatch.setattr(tcp.Linux6Tcp, "_send", checked)
    tracer = Tracer()
    r = iosim.simulate("sendfile_sg", "4MiB", overrides=SPLIT, tracer=tracer)
    assert r.bytes_delivered == r.bytes_requested and r.invariant_violations == []
    assert all(end <= edge for end, edge in sent)
    assert sent[:2] == [(MSS // 2, MSS), (2 * (MSS // 2), MSS)]  # two half-MSS skbs
    held = [e for e in tracer.sorted_events() if e.kind is Kind.HOLD and e.what == HOLD_RWND]
    assert held and held[0].seq == 2 * (MSS // 2)  # the third finds 1 B of window


@pytest.mark.parametrize(("size", "max_window", "bounded"), [
    (MSS, MSS, MSS // 2),  # the SYN-ACK's window: 32741
    (MSS, 95232, 47616),
    (MSS, 2 * MSS, MSS),  # from two MSS on, the full MSS
    (1448, 400, 400),  # a window below 536 B bounds to all of it
    (1448, 20, 36),  # but never below 68 B less the 32 B header
])
def test_the_mss_is_at_most_half_the_largest_window(size, max_window, bounded):
    """include/net/tcp.h:tcp_bound_to_half_wnd."""
    assert tcp.bound_to_half_wnd(size, max_window) == bounded


def test_textbook_and_remote_receivers_keep_an_unbounded_window():
    """Only a linux-6 loopback host models its receiver's window (a remote receiver's
    buffer depends on its driver and GRO): no HOLD "receive window" elsewhere."""
    for overrides in ({**LO, "kernel.model": "textbook"}, {"kernel.model": "linux-6"}):
        tracer = Tracer()
        iosim.simulate("sendfile_sg", "1MiB", overrides=overrides, tracer=tracer)
        assert not [e for e in tracer.sorted_events()
                    if e.kind is Kind.HOLD and e.what == HOLD_RWND]


def test_a_buffer_smaller_than_two_mss_shrinks_the_mss():
    """With tcp_rmem[1] = 64 KiB the first window is 32768 B (below the MSS, so not rounded
    down to it) and the sender's MSS half of that, 16384 B (tcp_bound_to_half_wnd): the
    first skb is 16384 B, and the transfer completes as the window grows."""
    sent = []
    original = tcp.Linux6Tcp._send

    def record(self, skb, ready_s, waited):
        sent.append(skb.len)
        original(self, skb, ready_s, waited)

    w = ReceiveWindow(MSS, 65536, 32 * MIB)
    assert (w.rcv_wnd, w.window_clamp) == (32768, 32768)
    tcp.Linux6Tcp._send = record
    try:
        r = iosim.simulate("read_write", "1MiB",
                           overrides={**SPLIT, "kernel.rmem_default": "64KiB"})
    finally:
        tcp.Linux6Tcp._send = original
    assert r.bytes_delivered == r.bytes_requested and r.invariant_violations == []
    assert sent[0] == 16384


def record_window(monkeypatch, stage_name: str) -> tuple[list, list]:
    """Record every window sample (rcv_nxt, time) and every ``stage_name`` stage of the
    wire (the skb's end, time) of the next run."""
    samples, staged = [], []
    data, local = ReceiveWindow.data, Wire.local

    def sample(self, rcv_nxt, nbytes, truesize, queued_truesize, now_s):
        samples.append((rcv_nxt, now_s))
        data(self, rcv_nxt, nbytes, truesize, queued_truesize, now_s)

    def stage(self, skb, name):
        if name == stage_name:
            staged.append((skb.seq + skb.len, self.env.now))
        local(self, skb, name)

    monkeypatch.setattr(ReceiveWindow, "data", sample)
    monkeypatch.setattr(Wire, "local", stage)
    return samples, staged


def test_on_two_cpus_the_window_sees_an_skb_when_it_reaches_the_receive_queue(monkeypatch):
    """net/ipv4/tcp_ipv4.c:tcp_v4_rcv: an skb that comes while the reader owns its socket
    goes to the backlog (tcp_add_backlog) and reaches rcv_nxt, where tcp_event_data_recv
    and DRS see it, when release_sock replays it. So on two CPUs every window sample is
    taken at the skb's ``arrived`` stage (the softirq's end, or the backlog's replay), in
    stream order, and some come after the softirq handed the skb over (the backlog)."""
    samples, arrived = record_window(monkeypatch, "arrived")
    handed = []
    softirq_done = Nic._softirq_done

    def softirq(self, _ev):
        handed.append(self.env.now)
        softirq_done(self, _ev)

    monkeypatch.setattr(Nic, "_softirq_done", softirq)
    r = iosim.simulate("read_write", "4MiB", overrides=SPLIT)
    assert r.bytes_delivered == r.bytes_requested and r.invariant_violations == []
    assert samples == arrived and len(samples) == r.skbs
    assert [end for end, _ in samples] == sorted(end for end, _ in samples)
    assert sum(t > h for (_, t), h in zip(arrived, handed, strict=True)) > 0  # from the backlog


def test_on_two_cpus_drs_opens_the_window_to_full_mss_skbs_within_the_first_mebibyte():
    """What the kernel does on this host's lo (Linux 6.18.44, 64 KiB send() calls, the
    reader on the other CPU, TCP_INFO after each call): tcpi_snd_mss 47616 while the window
    is 95232 B, then 65483 and a window of 1.9-3.9 MB within the first 4 MiB, after one DRS
    step (tcp_rcvbuf_grow with its slow-start term: rcv_space 65495 -> 270848, rcv_ssthresh
    growing 2 advmss per skb up to 3.9 MB). The model, from the first MiB on, sends each
    64 KiB write() as one full-MSS skb and its 53 B tail (lo's MSS 65483: 65536 - 65483),
    two skbs per call as the kernel does (tcpi_data_segs_out 7606 for 4096 calls)."""
    sent = []
    original = tcp.Linux6Tcp._send

    def record(self, skb, ready_s, waited):
        if skb.seq >= MIB:
            sent.append(skb.len)
        original(self, skb, ready_s, waited)

    tcp.Linux6Tcp._send = record
    try:
        r = iosim.simulate("read_write", "16MiB", overrides=SPLIT)
    finally:
        tcp.Linux6Tcp._send = original
    assert r.bytes_delivered == r.bytes_requested
    assert set(sent) == {MSS, 65536 - MSS}
    assert sent.count(MSS) == sent.count(65536 - MSS) == 15 * MIB // 65536


def test_on_one_cpu_the_window_sees_an_skb_when_the_receivers_tcp_queues_it(monkeypatch):
    """One core (EEVDF shares it, ``iosim.hw.nic.SharedCore``): an skb that finds the reader
    asleep goes to the receive queue in the sender's softirq, one that comes while the
    reader runs, owning its socket, waits in the backlog until the reader takes it
    (tcp_v4_rcv -> tcp_add_backlog). Every window sample is taken at that ``input`` stage,
    in stream order; 16 MiB of sendfile has some from the backlog, later than they came."""
    samples, queued = record_window(monkeypatch, "input")
    came = {}
    arrive = SharedCore.arrive

    def arrived(self, skb, ready_s):
        if ready_s <= self.nic.env.now:  # (else it comes back when its data is there)
            came.setdefault(skb.seq + skb.len, self.nic.env.now)
        arrive(self, skb, ready_s)

    monkeypatch.setattr(SharedCore, "arrive", arrived)
    r = iosim.simulate("sendfile_sg", "16MiB", profile="nvme-100g-2024",
                       overrides={**LO, "cpu.cores": 1})
    assert r.bytes_delivered == r.bytes_requested and r.invariant_violations == []
    assert samples == queued and len(samples) == r.skbs
    assert [end for end, _ in samples] == sorted(end for end, _ in samples)
    assert sum(t > came[end] for end, t in queued) > 0  # from the backlog
