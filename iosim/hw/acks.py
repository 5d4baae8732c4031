"""When a local receiver's TCP ACKs what it was given (``net/ipv4/tcp_input.c``).

The far end of a real wire is modelled as ACKing every skb; a loopback receiver is the
same host's TCP, and when it ACKs decides how a sender cuts its stream: a 64 KiB
``send()`` on lo is a 65,483-byte skb and a 53-byte tail, and Minshall's check
(``tcp_output.c:tcp_minshall_check``) lets that tail go alone only if the previous small
segment is ACKed. The receiver ACKs

- at once in quick-ACK mode: ``tcp_event_data_recv`` -> ``tcp_incr_quickack`` on the
  first data, ``min(rcv_wnd / (2 x rcv_mss), TCP_MAX_QUICKACKS)`` ACKs, 16 for any
  window of 17 KiB or more at the initial receive MSS of 536 B; each ACK sent spends one
  (``tcp_dec_quickack_mode``);
- at once when more than one full segment is unACKed (``__tcp_ack_snd_check``), full as
  the receive MSS says, which follows the segments seen (``tcp_measure_rcv_mss``: the
  largest up to ``advmss``, from ``TCP_MSS_DEFAULT``);
- else after the reader's copy, if it emptied the receive queue (``tcp.c:tcp_cleanup_rbuf``
  with ICSK_ACK_PUSHED, which a sub-MSS segment sets and validate's reader asks for with
  TCP_QUICKACK before each read), or more than a full segment is unACKed by then;
- else when the delayed-ACK timer fires, ``TCP_ATO_MIN`` (40 ms) after the data.

Not modelled: the window test of ``__tcp_ack_snd_check`` (the receive window is taken to
advance) and pingpong mode (the receiver sends no data).
"""

from __future__ import annotations

TCP_MSS_DEFAULT = 536  # include/net/tcp.h: the receive MSS before any segment is seen
TCP_MAX_QUICKACKS = 16  # include/net/tcp.h: quick ACKs at the start of the data
TCP_ATO_MIN_S = 0.04  # include/net/tcp.h: HZ / 25, the first delayed-ACK timeout


class LocalAcks:
    """The ACK state of one local receiver's socket: what its last ACK covered
    (``rcv_wup``), its receive MSS and quick ACKs left."""

    __slots__ = ("advmss", "quick", "rcv_mss", "rcv_wup", "started")

    def __init__(self, advmss_bytes: int) -> None:
        self.advmss = advmss_bytes
        self.rcv_mss = TCP_MSS_DEFAULT
        self.quick = 0
        self.rcv_wup = 0
        self.started = False

    def on_data(self, nbytes: int, rcv_nxt: int) -> bool:
        """A data skb of ``nbytes`` (one segment) is on the receive queue and the stream is
        in up to ``rcv_nxt``: whether the receiver ACKs now."""
        if not self.started:  # the first data: the delayed-ACK engine starts quick
            self.started = True
            self.quick = TCP_MAX_QUICKACKS
        if nbytes >= self.rcv_mss:
            self.rcv_mss = min(nbytes, self.advmss)
        return self.quick > 0 or rcv_nxt - self.rcv_wup > self.rcv_mss

    def after_read(self, rcv_nxt: int, queue_empty: bool) -> bool:
        """The reader copied some out: whether the ACK still owed goes now."""
        unacked = rcv_nxt - self.rcv_wup
        return unacked > self.rcv_mss or (unacked > 0 and queue_empty)

    def owed(self, rcv_nxt: int) -> bool:
        return rcv_nxt > self.rcv_wup

    def sent(self, rcv_nxt: int) -> None:
        """An ACK for ``rcv_nxt`` left."""
        if self.quick:
            self.quick -= 1
        self.rcv_wup = rcv_nxt
