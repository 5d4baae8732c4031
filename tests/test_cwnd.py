"""The congestion window: IW10, slow start, CUBIC's reduction on loss (teaching profile).

Teaching profile: MSS = 1500 - 52 = 1448 bytes, RTT 100 us, 10 Gbit/s, 64 KiB skbs.
"""

import math

import pytest

from iosim import simulate
from iosim.events import Kind
from iosim.trace import Tracer

MSS = 1448
IW = 10 * MSS
RTT_S = 100e-6


def _wire(path, size, **kw):
    tracer = Tracer()
    r = simulate(path, size, tracer=tracer, **kw)
    return r, [e for e in tracer.events if e.kind is Kind.WIRE]


def test_the_first_flight_is_ten_segments():
    r, wire = _wire("sendfile_sg", "1MiB", cache="warm")
    assert wire[0].nbytes == IW and wire[0].args["segments"] == 10
    assert r.invariant_violations == []


def test_slow_start_takes_log2_round_trips():
    size = 1 << 20
    r = simulate("sendfile_sg", size, cache="warm")
    # the window doubles each round trip from 14480 bytes: at least log2(size / IW) RTTs
    assert r.sim_time_s >= math.floor(math.log2(size / IW)) * RTT_S
    assert r.cpu_copy_bytes == 0 and r.bytes_delivered == size
    assert r.cwnd_limited_s > 0.5 * r.sim_time_s  # mostly waiting for ACKs to open it
    assert r.bottleneck == "latency"


def test_a_window_that_fits_sends_in_one_go():
    r, wire = _wire("sendfile_sg", IW, cache="warm")
    assert len(wire) == 1 and r.cwnd_limited_s == 0
    assert r.sim_time_s < RTT_S  # no round trip waited for


def test_pieces_keep_their_original_segment_numbers():
    # segment 15 is in the second flight (segments 11-30, sent when the first ACK returns);
    # the piece cut from the first skb carries numbers 11.. so the drop list still works
    r = simulate("sendfile_sg", "1MiB", cache="warm", drop=[15])
    assert r.lost_segments == 1
    assert r.retransmits == 1 and r.retransmit_bytes == MSS
    assert r.bytes_delivered == 1 << 20 and r.invariant_violations == []


def test_goodput_falls_as_loss_rises():
    goodput = [simulate("sendfile_sg", "8MiB", cache="warm", loss=p, seed=1).goodput_bps
               for p in (0.0, 0.01, 0.05)]
    assert goodput[0] > goodput[1] > goodput[2]


def test_a_loss_cuts_the_window_and_the_rest_waits_for_it():
    clean = simulate("sendfile_sg", "8MiB", cache="warm")
    lossy = simulate("sendfile_sg", "8MiB", cache="warm", drop=[40])
    assert lossy.retransmits == 1 and lossy.rto_timeouts == 0
    assert lossy.cwnd_limited_s > clean.cwnd_limited_s
    assert lossy.sim_time_s > clean.sim_time_s + RTT_S  # the repair plus a smaller window


@pytest.mark.parametrize("path", ("read_write", "sendfile_sg", "msg_zerocopy"))
def test_loopback_still_delivers(path):
    r = simulate(path, "4MiB", cache="warm", overrides={"nic.loopback": True})
    assert r.bytes_delivered == 4 << 20 and r.invariant_violations == []


def _sender(cwnd_segs: int, in_flight_segs: int, head_sent_s: float, now_s: float,
            ssthresh: float = 7 * MSS, in_recovery: bool = False):
    """A textbook sender with ``in_flight_segs`` of ``cwnd_segs`` out, its oldest unACKed
    data sent at ``head_sent_s``, looked at ``now_s`` (teaching: RTT 100 us, 64 KiB TSO)."""
    import simpy

    from iosim.accounting import Accounting
    from iosim.kernel.tcp import TcpSender

    class Nic:
        mss_bytes = MSS

        class spec:
            tso_max_bytes = 65536

    env = simpy.Environment()
    env.run(until=now_s)
    tcp = TcpSender(env, Nic, Accounting(), lambda skb: None, RTT_S)
    tcp.cwnd_bytes, tcp.ssthresh, tcp._in_recovery = cwnd_segs * MSS, ssthresh, in_recovery
    tcp.snd_nxt = in_flight_segs * MSS
    tcp._sent.append((tcp.snd_nxt, head_sent_s))
    return tcp


def test_tso_deferral_after_a_loss_waits_for_a_third_of_the_window():
    """tcp_tso_should_defer (tcp_tso_win_divisor = 3), textbook, once a loss has set
    ssthresh: cwnd 30 MSS, 25 in flight leaves 5 MSS (< 10 = a third): defer while the
    oldest data's ACK is due within RTT/2 = 50 us (sent 60 us ago: due in 40 us); send at
    once when it is due later (sent 40 us ago: 60 us), with 10 MSS free (a third), in fast
    recovery, or before any loss (ssthresh infinite: the textbook's slow start)."""
    room = 5 * MSS
    assert _sender(30, 25, head_sent_s=0.0, now_s=60e-6)._should_defer(room)
    assert not _sender(30, 25, head_sent_s=20e-6, now_s=60e-6)._should_defer(room)
    assert not _sender(30, 20, head_sent_s=0.0, now_s=60e-6)._should_defer(10 * MSS)
    assert not _sender(30, 25, 0.0, 60e-6, in_recovery=True)._should_defer(room)
    assert not _sender(30, 25, 0.0, 60e-6, ssthresh=math.inf)._should_defer(room)


def test_after_a_loss_the_stream_recoalesces():
    """With deferral, ACKs that each free a little are collected: at 0.1 % loss (16 MiB),
    transmissions of 1-3 MSS are a small share, not most of them (3088 of 3933 without)."""
    tracer = Tracer()
    r = simulate("sendfile_sg", "16MiB", cache="warm", loss=0.001, seed=1, tracer=tracer)
    wire = [e for e in tracer.events if e.kind is Kind.WIRE]
    small = sum(1 for e in wire if e.nbytes <= 3 * MSS)
    assert r.lost_segments > 0 and len(wire) == r.tx_completions
    assert small * 5 < len(wire)
