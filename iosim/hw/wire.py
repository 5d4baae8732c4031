"""The wire and the receiver: propagation delay, in-order delivery, cumulative ACKs.

The receiver records every byte once, in sequence order, with the content versions it
carried; its ACK travels back half an RTT later.
"""

from __future__ import annotations

from collections.abc import Callable


class Receiver:
    """The far end: reassembles the byte stream and checks each byte arrives once."""

    def __init__(self) -> None:
        self.rcv_nxt = 0
        self.last_delivery_s = 0.0
        self.duplicate_bytes = 0
        self.changed: list[tuple[int, list]] = []  # (seq, [(ref, sent, bytes)]) non-exact

    def deliver(self, seq: int, nbytes: int, snapshot, at_s: float) -> int:
        """Accept a segment; return the cumulative ACK."""
        if seq + nbytes <= self.rcv_nxt:
            self.duplicate_bytes += nbytes
        elif seq <= self.rcv_nxt:
            self.duplicate_bytes += self.rcv_nxt - seq
            self.rcv_nxt = seq + nbytes
            self.last_delivery_s = at_s
            if snapshot is not None:
                self.changed.append((seq, snapshot))
        return self.rcv_nxt


class Wire:
    """Carries skbs to the receiver and ACKs back, ``rtt_s`` round trip."""

    def __init__(self, env, rtt_s: float, receiver: Receiver, irq_s: float, cpu, acct) -> None:
        self.env = env
        self.rtt_s = rtt_s
        self.receiver = receiver
        self.irq_s = irq_s
        self.cpu = cpu
        self.acct = acct
        self.on_ack: Callable[[int], None] = lambda ack: None

    def carry(self, skb, snapshot, sent_s: float) -> None:
        """The skb's last bit leaves at ``sent_s``; it lands half an RTT later, its ACK a
        full RTT later."""
        ev = self.env.timeout(sent_s + self.rtt_s - self.env.now)
        ev.callbacks.append(lambda _ev: self._arrive(skb, snapshot, sent_s + self.rtt_s / 2))

    def _arrive(self, skb, snapshot, delivered_s: float) -> None:
        ack = self.receiver.deliver(skb.seq, skb.len, snapshot, delivered_s)
        if self.rtt_s > 0:  # an ACK from the network raises an interrupt; loopback's does not
            self.acct.irqs += 1
            self.cpu.run(self.env.now, self.irq_s, "irq")
        if self.acct.trace is not None:
            self.acct.trace.instant("receiver", f"delivered seq {skb.seq}", delivered_s,
                                    bytes=skb.len)
            self.acct.trace.instant("cpu", f"IRQ: ACK {ack}", self.env.now)
        self.on_ack(ack)
