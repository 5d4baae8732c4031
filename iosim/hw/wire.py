"""The wire and the receiver: TSO segments, loss, in-order reassembly, SACK, integrity.

The NIC cuts an skb into MSS segments; the wire drops the ones the scenario says (by
probability or by number) and carries the rest half an RTT; the receiver keeps every byte
once, in sequence order, and answers with a cumulative ACK plus SACK blocks half an RTT
later. Per segment it checks which content versions the bytes carry against the versions
the sender captured, to report stale, changed and mixed-version data.
"""

from __future__ import annotations

from collections.abc import Callable

from iosim import events
from iosim.hw.nic import changed_pieces

LATE = object()  # _arrive: the reader checks the bytes when it copies them out, not now


def cut_pieces(pieces: list[tuple[int, int, int]], start: int, nbytes: int
               ) -> list[tuple[int, int, int]]:
    """The (reference, sent, bytes) pieces covering bytes ``start .. start+nbytes-1``."""
    out = []
    pos = 0
    end = start + nbytes
    for ref, sent, n in pieces:
        lo, hi = max(pos, start), min(pos + n, end)
        if lo < hi:
            out.append((ref, sent, hi - lo))
        pos += n
        if pos >= end:
            break
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
        self.lost: Callable[[int | None], bool] | None = None  # set by faults: drop or not
        self.on_ack: Callable[[int, list[list[int]], int], None] = lambda ack, sack, xid: None
        self._copied = None  # the event a program waiting for copied_seq sleeps on
        self._fresh: dict = {}  # loopback: skb -> its segments new to the receiver

    def carry(self, skb, snapshot, sent_s: float) -> None:
        """The skb's last bit leaves at ``sent_s``; its segments land half an RTT later and
        the ACK is back a full RTT later."""
        ev = self.env.timeout(sent_s + self.rtt_s - self.env.now)
        ev.callbacks.append(lambda _ev: self._arrive(skb, snapshot, sent_s + self.rtt_s / 2))

    def local(self, skb, stage: str) -> None:
        """Loopback, frags the sender's user pages: the skb is on the receive queue and
        ACKed (``queued``), the receiver's copy out reads its pages (``read``:
        ``tcp_recvmsg_locked`` -> ``skb_copy_datagram_msg``, what they hold *then*), the
        copy is done and the skb freed (``copied``): the bytes are the program's."""
        rx = self.receiver
        if stage == "queued":
            self._fresh[skb] = fresh = []  # (offset, bytes) of its segments new to rx
            self._arrive(skb, LATE, self.env.now, fresh)
            return
        if stage == "read":
            pieces = changed_pieces(skb)
            if pieces is not None:
                for off, n in self._fresh[skb]:
                    rx.check(cut_pieces(pieces, off, n))
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
        if self._copied is not None:
            event, self._copied = self._copied, None
            event.succeed()

    def copied_event(self):
        """An event that fires when the receiver has copied out more of the stream."""
        if self._copied is None:
            self._copied = self.env.event()
        return self._copied

    def _arrive(self, skb, snapshot, delivered_s: float, fresh=None) -> None:
        rx = self.receiver
        mss = self.mss_bytes
        got = skb.len  # bytes that made it across (duplicates included)
        dropped = None if self.acct.trace is None else []  # [start, end) of lost segments
        if snapshot is LATE and not rx.unread:  # what came before was read at arrival
            rx.read_seq = max(rx.read_seq, min(skb.seq, rx.rcv_nxt))
        if self.lost is None and snapshot is None:
            rx.accept(skb.seq, skb.len, delivered_s)
        else:
            number = None if skb.retransmit else skb.first_segment
            for off in range(0, skb.len, mss):
                n = min(mss, skb.len - off)
                if self.lost is not None and self.lost(number):
                    self.acct.lost_segments += 1
                    got -= n
                    if dropped is not None:
                        dropped.append([skb.seq + off, skb.seq + off + n])
                elif rx.accept(skb.seq + off, n, delivered_s):
                    if snapshot is LATE:
                        fresh.append((off, n))
                    elif snapshot is not None:
                        rx.check(cut_pieces(snapshot, off, n))
                if number is not None:
                    number += 1
        if snapshot is LATE and got:
            rx.unread.append(skb.seq + skb.len)
        if got == 0:  # every segment lost: nothing arrives, so nothing is ACKed
            if self.acct.trace is not None:
                self.acct.trace.add(events.lost(skb.seq, delivered_s, skb.len))
            return
        if self.rtt_s > 0:  # an ACK from the network raises an interrupt; loopback's does not
            self.acct.irqs += 1
            self.cpu.run(self.env.now, self.irq_s, "irq")
        if self.acct.trace is not None:
            if dropped:
                self.acct.trace.add(events.drop(skb.seq, delivered_s, skb.len - got, dropped))
            if snapshot is not LATE:  # a late one is the program's at its copy out
                self.acct.trace.add(events.deliver(skb.seq, delivered_s, got, rx.rcv_nxt))
            self.acct.trace.add(events.irq(events.IRQ_ACK, self.env.now, ack=rx.rcv_nxt))
        self.on_ack(rx.rcv_nxt, [list(b) for b in rx.ooo], skb.xmit_id)
