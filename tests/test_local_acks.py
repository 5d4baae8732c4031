"""When a local receiver's TCP ACKs (iosim/hw/acks.py), derived from net/ipv4/tcp_input.c."""

from iosim.hw.acks import TCP_MAX_QUICKACKS, TCP_MSS_DEFAULT, LocalAcks

MSS = 65483  # lo: the largest IPv4 packet (65535 B) - 20 IP - 20 TCP - 12 timestamps


def _feed(acks: LocalAcks, sizes: list[int]) -> list[bool]:
    """Each skb in order; the ACK the receiver sends when it says so."""
    out, rcv_nxt = [], acks.rcv_wup
    for n in sizes:
        rcv_nxt += n
        now = acks.on_data(n, rcv_nxt)
        if now:
            acks.sent(rcv_nxt)
        out.append(now)
    return out


def test_the_first_sixteen_acks_are_quick():
    """tcp_event_data_recv -> tcp_incr_quickack on the first data: every skb is ACKed at
    once until 16 ACKs have gone (tcp_dec_quickack_mode spends one per ACK)."""
    acks = LocalAcks(MSS)
    assert acks.rcv_mss == TCP_MSS_DEFAULT
    assert _feed(acks, [MSS] * TCP_MAX_QUICKACKS) == [True] * TCP_MAX_QUICKACKS
    assert acks.quick == 0 and acks.rcv_mss == MSS  # tcp_measure_rcv_mss: the largest seen


def test_past_the_quick_acks_every_second_full_segment_or_a_write_s_tail():
    """__tcp_ack_snd_check: more than one full segment unACKed. 64 KiB writes on lo are a
    65,483 B skb and a 53 B tail: the tail's arrival makes 65,536 B > 65,483, so one ACK per
    write, at its tail; full skbs alone (sendfile) are ACKed every second one."""
    acks = LocalAcks(MSS)
    _feed(acks, [MSS] * TCP_MAX_QUICKACKS)
    assert _feed(acks, [MSS, 53] * 3) == [False, True] * 3
    assert _feed(acks, [MSS] * 4) == [False, True] * 2


def test_a_read_that_empties_the_queue_sends_what_is_owed():
    """tcp_cleanup_rbuf: after a read, an ACK goes if the queue is empty (ICSK_ACK_PUSHED,
    which validate's TCP_QUICKACK before each read asks for) or more than a segment is
    unACKed; a read that leaves data queued with less than that owes it on."""
    acks = LocalAcks(MSS)
    _feed(acks, [MSS] * TCP_MAX_QUICKACKS)
    base = acks.rcv_wup
    assert not acks.on_data(52, base + 52)
    assert acks.owed(base + 52)
    assert not acks.after_read(base + 52, queue_empty=False)
    assert acks.after_read(base + 52, queue_empty=True)
    acks.sent(base + 52)
    assert not acks.owed(base + 52) and not acks.after_read(base + 52, queue_empty=True)
    assert acks.after_read(base + 52 + MSS + 1, queue_empty=False)


def test_a_smaller_stream_lowers_the_full_segment_only_from_the_default():
    """tcp_measure_rcv_mss takes a segment at least as large as the current receive MSS:
    10 kB sends make it 10 kB (from 536), so their ACKs come every second one."""
    acks = LocalAcks(MSS)
    _feed(acks, [10_000] * TCP_MAX_QUICKACKS)
    assert acks.rcv_mss == 10_000
    assert _feed(acks, [10_000] * 4) == [False, True] * 2


class _Skb:
    """What the wire reads of an skb that reaches a local receiver."""

    def __init__(self, seq: int, nbytes: int) -> None:
        self.seq, self.len = seq, nbytes
        self.retransmit, self.first_segment, self.xmit_id, self.frags = False, 1, 1, []


def test_the_delayed_ack_timer_counts_from_the_data_an_ack_left_unanswered():
    """tcp_delack_timer: data left unACKed is ACKed TCP_ATO_MIN (40 ms) later; an ACK sent
    meanwhile clears the timer (tcp_event_ack_sent), and the next unACKed data arms it
    anew, so it fires 40 ms after that data, not at the first arming."""
    import simpy

    from iosim.accounting import Accounting
    from iosim.hw.acks import TCP_ATO_MIN_S
    from iosim.hw.wire import Receiver, Wire

    env = simpy.Environment()
    wire = Wire(env, 0.0, MSS, Receiver(), 0.0, None, Accounting())
    acked: list[tuple[float, int]] = []
    wire.on_ack = lambda ack, sack, xid: acked.append((round(env.now, 9), ack))
    seq = 0

    def arrive(nbytes: int) -> None:
        nonlocal seq
        skb = _Skb(seq, nbytes)
        seq += nbytes
        wire.local(skb, "arrived")

    def at(t_s: float, nbytes: int) -> None:
        env.timeout(t_s).callbacks.append(lambda _ev: arrive(nbytes))

    for _ in range(TCP_MAX_QUICKACKS):  # quick-ACK mode: each ACKed at once
        arrive(MSS)
    quick = len(acked)
    at(0.000, MSS)  # one full segment: owed, the timer armed for 40 ms
    at(0.010, 52)  # past one segment unACKed: ACKed at once, the timer cleared
    at(0.020, MSS)  # owed again: due at 60 ms, not at the first arming's 40 ms
    env.run(until=0.1)
    assert quick == TCP_MAX_QUICKACKS
    assert acked[quick:] == [(0.010, 16 * MSS + MSS + 52),
                             (round(0.020 + TCP_ATO_MIN_S, 9), seq)]
