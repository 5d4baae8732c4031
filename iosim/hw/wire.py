"""The wire and the receiver: TSO segments, loss, in-order reassembly, SACK, integrity.

The NIC cuts an skb into MSS segments; the wire drops the ones the scenario says (by
probability or by number) and carries the rest half an RTT; the receiver keeps every byte
once, in sequence order, and answers with a cumulative ACK plus SACK blocks half an RTT
later. Per segment it checks which content versions the bytes carry against the versions
the sender captured, to report stale, changed and mixed-version data.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from iosim import events
from iosim.hw.acks import TCP_ATO_MIN_S, LocalAcks
from iosim.hw.nic import changed_pieces
from iosim.timers import after

LATE = object()  # _arrive: the reader checks the bytes when it copies them out, not now


class PieceCursor:
    """Cuts an skb's (reference, sent, bytes) pieces into its segments in byte order: each
    ``cut`` starts where the previous one left off instead of rescanning from the first
    piece (a writer's skb has a piece per frag and 45 segments)."""

    __slots__ = ("i", "pieces", "pos")

    def __init__(self, pieces: list[tuple[int, int, int]]) -> None:
        self.pieces = pieces
        self.i = 0  # the first piece that may still overlap a later segment
        self.pos = 0  # the byte where it begins

    def cut(self, start: int, nbytes: int) -> list[tuple[int, int, int]]:
        """The pieces covering bytes ``start .. start+nbytes-1`` (``start`` never below the
        previous call's)."""
        pieces = self.pieces
        count = len(pieces)
        i, pos = self.i, self.pos
        while i < count and pos + pieces[i][2] <= start:  # wholly before this segment
            pos += pieces[i][2]
            i += 1
        self.i, self.pos = i, pos
        out = []
        end = start + nbytes
        while i < count and pos < end:
            ref, sent, n = pieces[i]
            top = pos + n
            lo = pos if pos > start else start
            hi = top if top < end else end
            if lo < hi:
                out.append((ref, sent, hi - lo))
            pos = top
            i += 1
        return out


def changed_segments(pieces: list[tuple[int, int, int]], mss: int) -> list[int]:
    """Indexes of the ``mss``-byte segments that hold bytes of a piece whose sent version
    is not its reference one."""
    out: list[int] = []
    pos = 0
    for ref, sent, n in pieces:
        if sent != ref and n > 0:
            out.extend(range(pos // mss, (pos + n - 1) // mss + 1))
        pos += n
    return out


class SegmentLoss:
    """Which segments the wire drops: those whose original number is in ``drop`` (1 = the
    first segment sent; a retransmission has none), and each segment with probability
    ``p``: a Bernoulli process over every segment that crosses the wire, drawn as the
    geometric gap to the next loss (one random number per loss, not per segment)."""

    def __init__(self, rng, p: float, drop) -> None:
        self.rng = rng
        self.drop = set(drop)
        self._log_keep = math.log1p(-p) if p > 0 else 0.0  # ln(1 - p)
        self._gap = self._draw()  # segments that pass before the next random loss

    def _draw(self) -> float:
        """P(gap = k) = (1 - p)^k p: floor(ln U / ln(1 - p)), U uniform on (0, 1]."""
        if not self._log_keep:
            return math.inf
        return int(math.log(1.0 - self.rng.random()) / self._log_keep)

    def lost(self, number: int | None, count: int) -> list[int]:
        """The offsets (0 .. count-1, ascending) of the lost segments among ``count``
        consecutive ones, the first numbered ``number`` (None: retransmitted)."""
        out = []
        at = self._gap
        while at < count:
            out.append(at)
            at += 1 + self._draw()
        self._gap = at - count
        if self.drop and number is not None:
            named = [n - number for n in self.drop if number <= n < number + count]
            if named:
                out = sorted(set(out).union(named))
        return out


class Receiver:
    """The far end: reassembles the byte stream and checks each byte arrives once."""

    def __init__(self) -> None:
        self.rcv_nxt = 0
        self.ooo: list[list[int]] = []  # sorted, disjoint [start, end) above rcv_nxt
        self.last_delivery_s = 0.0
        self.duplicate_bytes = 0
        self.stale_bytes = 0
        self.changed_bytes = 0
        self.mixed_segments = 0
        self.unread: list[int] = []  # loopback: end seqs of queued skbs not yet copied out
        self.read_seq = 0  # loopback: how far the reader has copied them out

    @property
    def copied_seq(self) -> int:
        """``tp->copied_seq``: the stream bytes the receiving program has read. A remote
        receiver's (and a local one's of copied data) are counted at arrival."""
        return self.read_seq if self.unread else self.rcv_nxt

    def accept(self, seq: int, nbytes: int, at_s: float) -> int:
        """Take bytes ``seq .. seq+nbytes-1``; return how many of them are new."""
        end = seq + nbytes
        new = self._new_bytes(seq, end)
        self.duplicate_bytes += nbytes - new
        if new == 0:
            return 0
        if at_s > self.last_delivery_s:
            self.last_delivery_s = at_s
        if seq <= self.rcv_nxt:
            if end > self.rcv_nxt:
                self.rcv_nxt = end
            while self.ooo and self.ooo[0][0] <= self.rcv_nxt:
                self.rcv_nxt = max(self.rcv_nxt, self.ooo.pop(0)[1])
        else:
            self._insert(seq, end)
        return new

    def _new_bytes(self, seq: int, end: int) -> int:
        lo = seq if seq > self.rcv_nxt else self.rcv_nxt
        if lo >= end:
            return 0
        new = end - lo
        for a, b in self.ooo:
            new -= max(0, min(b, end) - max(a, lo))
        return new

    def _insert(self, seq: int, end: int) -> None:
        merged = [seq, end]
        keep = []
        for block in self.ooo:
            if block[1] < merged[0] or block[0] > merged[1]:
                keep.append(block)
            else:
                merged = [min(merged[0], block[0]), max(merged[1], block[1])]
        keep.append(merged)
        keep.sort()
        self.ooo = keep

    def check(self, pieces: list[tuple[int, int, int]]) -> None:
        """Integrity of one newly received segment from its (ref, sent, bytes) pieces.

        ``sent == ref``: as the sender captured it; ``sent < ref``: stale (older file data);
        otherwise changed (a writer's newer data). Two kinds in one segment: mixed.
        """
        states = set()
        for ref, sent, n in pieces:
            if sent == ref:
                states.add(None)
            elif 0 <= sent < ref:
                self.stale_bytes += n
                states.add(("stale", sent))
            else:
                self.changed_bytes += n
                states.add(("changed", sent))
        if len(states) > 1:
            self.mixed_segments += 1


class Wire:
    """Carries TSO segments to the receiver and ACKs back, ``rtt_s`` round trip."""

    def __init__(self, env, rtt_s: float, mss_bytes: int, receiver: Receiver, irq_s: float,
                 cpu, acct) -> None:
        self.env = env
        self.rtt_s = rtt_s
        self.mss_bytes = mss_bytes
        self.receiver = receiver
        self.irq_s = irq_s
        self.cpu = cpu
        self.acct = acct
        # set by faults: lost(first segment's number or None, segments) -> offsets dropped
        self.loss: SegmentLoss | None = None
        self.on_ack: Callable[[int, list[list[int]], int], None] = lambda ack, sack, xid: None
        self._copied = None  # the event a program waiting for copied_seq sleeps on
        # linux-6 on lo: the receiver's window, set by each ACK (skb, rcv_nxt, copied_seq)
        # before the sender sees it, and updated after a later read (rcv_nxt, copied_seq)
        self.on_window: Callable[[object, int, int], None] | None = None
        self.on_read: Callable[[int, int], None] | None = None
        # lo: an skb reaches the receive queue (``arrived`` on two cores, ``input`` on one:
        # from the softirq, or from the backlog at release_sock), where its window sees it
        self.on_queued: Callable[[object], None] | None = None
        self._fresh: dict = {}  # loopback: skb -> its segments new to the receiver
        self.acks = LocalAcks(mss_bytes)  # loopback, ``arrived`` skbs: when the ACK goes
        self._last_xmit_id = 0  # the transmission the next ACK answers (its rate sample)
        self._delack_at: float | None = None  # when the delayed ACK owed is due

    def carry(self, skb, snapshot, sent_s: float) -> None:
        """The skb's last bit leaves at ``sent_s``; its segments land half an RTT later and
        the ACK is back a full RTT later."""
        env = self.env
        rtt_s = self.rtt_s
        after(env, sent_s + rtt_s - env.now,
              lambda _ev: self._arrive(skb, snapshot, sent_s + rtt_s / 2))

    def local(self, skb, stage: str) -> None:
        """Loopback, an skb the receiver copies out later: it is on the receive queue and
        ACKed (``queued``), or on the receive queue and ACKed when the receiver's TCP
        decides (``arrived``: ``iosim.hw.acks``); the receiver's copy out reads its pages
        (``read``: ``tcp_recvmsg_locked`` -> ``skb_copy_datagram_msg``, what they hold
        *then*); the copy is done and the skb freed (``copied``): the bytes are the
        program's, and an ACK still owed may go (``tcp_cleanup_rbuf``)."""
        rx = self.receiver
        if (stage == "input" or stage == "arrived") and self.on_queued is not None:
            self.on_queued(skb)  # on the receive queue: its window sees it
        if stage == "input":
            return
        if stage == "queued" or stage == "arrived":
            self._fresh[skb] = fresh = []  # (offset, bytes) of its segments new to rx
            self._arrive(skb, LATE, self.env.now, fresh, stage == "queued" or None)
            return
        if stage == "read":
            pieces = changed_pieces(skb)
            if pieces is not None:
                cursor = PieceCursor(pieces)
                for off, n in self._fresh[skb]:  # in byte order
                    rx.check(cursor.cut(off, n))
            return
        fresh = self._fresh.pop(skb)
        if fresh and self.acct.trace is not None:
            self.acct.trace.add(events.deliver(skb.seq, self.env.now,
                                               sum(n for _, n in fresh), rx.rcv_nxt))
        end_seq = skb.seq + skb.len
        if end_seq in rx.unread:
            rx.unread.remove(end_seq)
        rx.read_seq = max(rx.read_seq, min(end_seq, rx.rcv_nxt))
        rx.last_delivery_s = max(rx.last_delivery_s, self.env.now)
        if self.on_read is not None:
            self.on_read(rx.rcv_nxt, rx.copied_seq)
        if self.acks.owed(rx.rcv_nxt):  # after the backlog release_sock replays now
            self.env.timeout(0).callbacks.append(self._after_read)
        if self._copied is not None:
            event, self._copied = self._copied, None
            event.succeed()

    def _after_read(self, _ev) -> None:
        rx = self.receiver
        if self.acks.after_read(rx.rcv_nxt, not rx.unread):
            self._ack()

    def _delack_fired(self, _ev) -> None:
        """The delayed-ACK timer (``tcp_delack_timer``): armed when data is left unACKed,
        cleared by any ACK sent meanwhile (``tcp_event_ack_sent``), re-armed from then."""
        due = self._delack_at
        if due is None:
            return  # an ACK went meanwhile
        if self.env.now < due:  # cleared and armed again since: wait for the new time
            self.env.timeout(due - self.env.now).callbacks.append(self._delack_fired)
            return
        self._delack_at = None
        if self.acks.owed(self.receiver.rcv_nxt):
            self._ack()

    def copied_event(self):
        """An event that fires when the receiver has copied out more of the stream."""
        if self._copied is None:
            self._copied = self.env.event()
        return self._copied

    def _arrive(self, skb, snapshot, delivered_s: float, fresh=None,
                ack: bool | None = True) -> None:
        """The skb's segments reach the receiver, which ACKs them at once (``ack``), or as
        a local receiver's TCP decides (None)."""
        rx = self.receiver
        mss = self.mss_bytes
        acct = self.acct
        trace = acct.trace
        seq, nbytes = skb.seq, skb.len
        got = nbytes  # bytes that made it across (duplicates included)
        dropped = None if trace is None else []  # [start, end) of lost segments
        if snapshot is LATE and not rx.unread:  # what came before was read at arrival
            rx.read_seq = max(rx.read_seq, min(seq, rx.rcv_nxt))
        loss = self.loss
        lost = () if loss is None else loss.lost(None if skb.retransmit else skb.first_segment,
                                                 -(-nbytes // mss))
        if snapshot is LATE:  # each segment bringing new bytes is the reader's to copy out
            gone = set(lost)
            for i, off in enumerate(range(0, nbytes, mss)):
                n = nbytes - off if nbytes - off < mss else mss
                if i in gone:
                    acct.lost_segments += 1
                    got -= n
                    if dropped is not None:
                        dropped.append([seq + off, seq + off + n])
                elif rx.accept(seq + off, n, delivered_s):
                    fresh.append((off, n))
            if got:
                rx.unread.append(seq + nbytes)
        else:
            # segments on their own: the lost ones and, with a snapshot, those holding
            # changed bytes (integrity is checked per segment; one of unchanged bytes has
            # nothing to count); the segments between them reassemble as one range
            special = sorted(set(lost).union(changed_segments(snapshot, mss))) if snapshot \
                else lost
            gone = set(lost) if snapshot else None
            cursor = PieceCursor(snapshot) if snapshot else None
            pos = 0
            for i in special:
                off = i * mss
                if off > pos:
                    rx.accept(seq + pos, off - pos, delivered_s)
                n = nbytes - off if nbytes - off < mss else mss
                if gone is None or i in gone:
                    acct.lost_segments += 1
                    got -= n
                    if dropped is not None:
                        dropped.append([seq + off, seq + off + n])
                elif rx.accept(seq + off, n, delivered_s):
                    rx.check(cursor.cut(off, n))
                pos = off + n
            if pos < nbytes:
                rx.accept(seq + pos, nbytes - pos, delivered_s)
        if got == 0:  # every segment lost: nothing arrives, so nothing is ACKed
            if trace is not None:
                trace.add(events.lost(skb.seq, delivered_s, skb.len))
            return
        now = self.env.now
        if self.rtt_s > 0:  # an ACK from the network raises an interrupt; loopback's does not
            acct.irqs += 1
            self.cpu.run(now, self.irq_s, "irq")
        if trace is not None:
            if dropped:
                trace.add(events.drop(skb.seq, delivered_s, skb.len - got, dropped))
            if snapshot is not LATE:  # a late one is the program's at its copy out
                trace.add(events.deliver(skb.seq, delivered_s, got, rx.rcv_nxt))
        self._last_xmit_id = skb.xmit_id
        if self.on_window is not None:
            self.on_window(skb, rx.rcv_nxt, rx.copied_seq)
        if ack is None:
            ack = self.acks.on_data(min(nbytes, mss), rx.rcv_nxt)
            if not ack and self._delack_at is None:
                self._delack_at = self.env.now + TCP_ATO_MIN_S
                self.env.timeout(TCP_ATO_MIN_S).callbacks.append(self._delack_fired)
        if ack:
            self._ack()

    def _ack(self) -> None:
        """The receiver's cumulative ACK (+ SACK) of what it has, answering the last
        transmission that reached it."""
        rx = self.receiver
        if self.acct.trace is not None:
            self.acct.trace.add(events.irq(events.IRQ_ACK, self.env.now, ack=rx.rcv_nxt))
        self.acks.sent(rx.rcv_nxt)
        self._delack_at = None
        self.on_ack(rx.rcv_nxt, [list(b) for b in rx.ooo] if rx.ooo else [],
                    self._last_xmit_id)
