"""The socket, TCP and NIC under ``kernel.model = "linux-6"``: hand-derived counts per mechanism.

Teaching profile unless said: MSS = 1500 - 52 = 1448 B, RTT 100 us, 10 Gbit/s, CPU copy
2 GB/s, CUBIC, pfifo_fast. A 16 KiB file is 11 x 1448 + 456 B: 12 segments. The size goal is
45 x 1448 = 65160 B (``tcp_xmit_size_goal``: (65536 - 321) // 1448 = 45). Each test names
the kernel function it follows (Linux 6.18, docs/model.md "textbook vs Linux 6.x").
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

import iosim
from iosim.events import Kind
from iosim.kernel import syscalls
from iosim.kernel.process import UserBuffer
from iosim.kernel.socket import sndbuf_per_mss_bytes
from iosim.machine import Machine
from iosim.simulate import prepare
from iosim.trace import Tracer
from tests import strategies as s

MSS = 1448
KIB = 1024
L6 = {"kernel.model": "linux-6"}


def run(path: str, size, trace: bool = False, overrides: dict | None = None, **scenario):
    """simulate() under linux-6; with ``trace``, also the events in time order."""
    tracer = Tracer() if trace else None
    r = iosim.simulate(path, size, overrides={**L6, **(overrides or {})}, tracer=tracer,
                       **scenario)
    assert r.invariant_violations == [] and r.bytes_delivered == r.bytes_requested
    return (r, tracer.sorted_events()) if trace else r


def machine(size="64KiB", path="read_write", overrides: dict | None = None, **scenario):
    """A linux-6 machine not yet running, to drive with a program of the test's own."""
    prof, sc = prepare(path, size, overrides={**L6, **(overrides or {})}, **scenario)
    return Machine(prof, sc)


def drive(m: Machine, program) -> Machine:
    m.sender = m.env.process(program(m))
    m.env.run()
    return m


def wires(events):
    return [e for e in events if e.kind is Kind.WIRE]


def nic_dmas(events):
    return [e for e in events if e.kind is Kind.COPY and e.who == "DMA" and e.dst == "NIC"]


# --- K1-K7: the socket always gathers; the NIC's features act at each transmission -----

@pytest.mark.parametrize(("path", "cpu_bytes", "copies"), [
    ("read_write", 3 * 16384, 5.0),  # filemap_read + skb_copy_to_page_nocache + skb_segment
    ("mmap_write", 2 * 16384, 4.0),  # tcp_sendmsg_locked from the mapping + skb_segment
    ("sendfile_sg", 16384, 3.0),  # skb_segment only: the skb referenced the pages
    ("msg_zerocopy", 2 * 16384, 4.0),  # filemap_read + skb_segment (not COPIED)
])
def test_without_nic_sg_the_copy_moves_to_transmit(path, cpu_bytes, copies):
    """net/core/sock.c:sk_setup_caps gives TCP SG whatever the NIC has, so page data is
    referenced; net/core/dev.c:validate_xmit_skb → skb_segment copies each segment."""
    r = run(path, "16KiB", overrides={"nic.sg": False})
    assert (r.cpu_copy_bytes, r.copies, r.gso_copy_bytes) == (cpu_bytes, copies, 16384)
    assert r.zerocopy_copied_sends == 0  # msg_zerocopy: SKBFL_DONT_ORPHAN, no COPIED


def test_no_sg_means_no_tso_one_descriptor_and_completion_per_segment():
    """skb_segment's !sg branch: 12 linear skbs, one descriptor and one TX completion each;
    with SG and TSO the same 16 KiB is 1 skb sent as 5 + 5 + 2 segments (tcp_cwnd_test),
    each a header and the pages it covers: bytes 0-7239 on pages 0-1, 7240-14479 on 1-3,
    the rest on page 3: 3 + 4 + 2 descriptors, 3 completions."""
    for sg, descriptors, completions in ((False, 12, 12), (True, 3 + 4 + 2, 3)):
        r, ev = run("sendfile_sg", "16KiB", trace=True, overrides={"nic.sg": sg})
        assert [e.args["segments"] for e in wires(ev)] == [5, 5, 2]
        assert sum(e.args["sg_entries"] for e in nic_dmas(ev)) == descriptors
        assert r.tx_completions == completions


def test_sendfile_without_sg_references_the_pages_until_the_ack():
    """tcp_sendmsg_locked(MSG_SPLICE_PAGES): the skb takes a page reference (get skb) and
    keeps it until tcp_clean_rtx_queue (put skb at the ACK); the copy happens later, at
    transmit."""
    r, ev = run("sendfile", "16KiB", trace=True, watch_page=0)
    log = [what for _, _, what in r.page_log]
    assert log.index("get skb") < log.index("put pipe") < log.index("put skb")
    copy = next(e for e in ev if e.kind is Kind.COPY and e.who == "CPU")
    get_skb = next(t for t, _, what in r.page_log if what == "get skb")
    put_skb = next(t for t, _, what in r.page_log if what == "put skb")
    first_ack = next(e.start_s for e in ev if e.kind is Kind.IRQ and e.what == "ACK")
    assert get_skb <= copy.start_s and put_skb >= first_ack
    assert r.cpu_copy_bytes == 16384 and r.copies == 3.0


def test_a_resend_without_sg_is_copied_again():
    """__tcp_retransmit_skb sends a 1-MSS clone: validate_xmit_skb → __skb_linearize copies
    it again: 3 x 262144 + 1448 = 787880 B for read_write, 16384 + 1448 for sendfile."""
    r = run("read_write", "256KiB", overrides={"nic.sg": False}, drop=[3])
    assert r.cpu_copy_bytes == 3 * 262144 + 1448 == 787880
    r = run("sendfile", "16KiB", drop=[3])
    assert (r.retransmit_bytes, r.gso_copy_bytes, r.cpu_copy_bytes) == (1448, 17832, 17832)


@pytest.mark.parametrize(("offset", "mixed"), [(5000, 2), (0, 1), (13000, 1)])
def test_an_in_place_writer_reaches_the_wire_without_sg(offset, mixed):
    """The GSO copy reads the page as it is at transmit, so a store before it is sent
    (K6): page 1 (bytes 4096-8191) shares segments 3 (2896-4343) and 6 (7240-8687) with
    pages 0 and 2; page 0 only segment 3; page 3 only segment 9."""
    r = run("sendfile", "16KiB", writer="write", writer_at=[offset])
    assert (r.changed_bytes, r.mixed_version_segments) == (4096, mixed)


def test_sg_without_checksum_offload_linearizes_only_shared_frags():
    """skb_segment → perform_csum_check: skb_has_shared_frag → __skb_linearize (page-cache
    frags, SKBFL_SHARED_FRAG); write() data in the socket's own page frags is only read by
    skb_checksum (1 byte of memory traffic per byte, not a copy)."""
    r = run("sendfile_sg", "16KiB", overrides={"nic.csum_offload": False})
    assert (r.linearized_bytes, r.cpu_copy_bytes, r.csum_read_bytes) == (16384, 16384, 0)
    r, ev = run("read_write", "16KiB", trace=True, overrides={"nic.csum_offload": False})
    assert (r.linearized_bytes, r.csum_read_bytes, r.cpu_copy_bytes) == (0, 16384, 32768)
    assert r.copies == 4.0
    assert r.membus_bytes == 2 * r.cpu_copy_bytes + r.dma_copy_bytes + r.csum_read_bytes
    # per segment: a header and the one 32 KiB page-frag chunk the 16 KiB sit in
    assert sum(e.args["sg_entries"] for e in nic_dmas(ev)) == 12 * 2


def test_write_data_sits_in_the_socket_page_frags():
    """tcp_sendmsg_locked (zc == 0) copies into sk_page_frag (32 KiB pages): 16 KiB is one
    frag, so a TSO transmission takes 1 header + 1 frag = 2 descriptors (K17)."""
    _, ev = run("read_write", "16KiB", trace=True)
    assert [e.args["sg_entries"] for e in nic_dmas(ev)] == [2, 2, 2]
    assert {e.src for e in nic_dmas(ev)} == {"socket's page frags"}


# --- K8, K22: MSG_ZEROCOPY notification records, ENOBUFS, COPIED -----------------------

def test_zerocopy_sends_share_notification_records():
    """net/core/skbuff.c:msg_zerocopy_realloc extends the unsent tail's record: 4 MiB in
    16 KiB sends draws far fewer notifications than sends (8 at best: 512 KiB each)."""
    r = run("msg_zerocopy", "4MiB", cache="warm", buffer_bytes="16KiB")
    assert 8 <= r.zerocopy_notifications < 256
    assert r.zerocopy_notifications + r.zerocopy_extended_sends == 256


def test_a_window_full_of_zerocopy_sends_makes_eight_records():
    """With every send landing in the unsent tail (a 100 Mbit/s link), a record holds
    524288 / 16384 = 32 sends: 8 records for 256 sends. Each record is 8 x 65160 + 3008 B:
    9 skbs, none shared with the next record (skb_zerocopy_iter_stream: -EEXIST); the first
    record needs one skb less, because its first skb leaves at once (IW10) and tso_fragment
    leaves its rest on the write queue to be filled: 71 skbs."""
    r = run("msg_zerocopy", "4MiB", cache="warm", buffer_bytes="16KiB", zc_buffers=256,
            overrides={"nic.rate": "100Mbit/s", "kernel.sndbuf": "64MiB"})
    assert (r.zerocopy_notifications, r.zerocopy_extended_sends, r.skbs) == (8, 248, 71)


def test_the_33rd_send_starts_a_new_record_and_a_new_skb():
    """msg_zerocopy_realloc: bytelen 33 x 16384 = 540672 > 1 << 19 → new_alloc; the new
    uarg cannot join the tail skb (-EEXIST), so a new skb starts."""
    m = machine("1MiB", overrides={"nic.rate": "100Mbit/s", "kernel.sndbuf": "64MiB"})
    seen = []

    def after_send(m):
        tail = m.socket.tcp.unsent[-1]
        seen.append((tail.zc_id, m.socket.zc_pending[tail.zc_id].count))

    drive(m, _zerocopy_sends(33, after_send))
    assert seen[31] == (0, 32) and seen[32] == (32, 1)


def _zerocopy_sends(count: int, after_send):
    """A program: SO_ZEROCOPY, then ``count`` 16 KiB MSG_ZEROCOPY sends from fresh
    buffers, calling ``after_send(m)`` as each returns."""
    def program(m):
        syscalls.setsockopt(m.task)
        for _ in range(count):
            buf = UserBuffer(m.task, 16 * KIB, m.page_bytes)
            buf.touch(0, 16 * KIB)
            yield from syscalls.send_zerocopy(m.task, m.socket, buf, 16 * KIB)
            after_send(m)
    return program


def _realloc_until_refused(overrides: dict, nbytes: int) -> int:
    """The number of the first send msg_zerocopy_realloc refuses, none completing."""
    sock = machine(overrides=overrides).socket
    for n in range(1, 10_000):
        if sock._zc_realloc(nbytes) is None:
            return n
    raise AssertionError("never refused")


def test_enobufs_limits():
    """sock_omalloc: a new record needs omem + SKB_TRUESIZE(0) (576 B) <= optmem_max and
    holds 960 B: (131072 - 576) // 960 + 1 = 136 records, the 137th is refused.
    mm_account_pinned_pages: (size >> 12) + 2 pages per send against 8 MiB = 2048 pages:
    16 KiB sends (6 pages) fail at send 342, 64 KiB sends (18 pages) at send 114."""
    assert _realloc_until_refused({}, 1024) == 137  # 3 pages each: optmem binds first
    assert _realloc_until_refused({"kernel.optmem_max": "64MiB"}, 16 * KIB) == 342
    assert _realloc_until_refused({"kernel.optmem_max": "64MiB"}, 64 * KIB) == 114


def test_the_program_retries_a_refused_send_after_a_completion():
    """ENOBUFS from RLIMIT_MEMLOCK (128 KiB = 32 pages: five 16 KiB sends of 6 pages): the
    program polls for a completion (poll + recvmsg(MSG_ERRQUEUE)), then sends again."""
    r, ev = run("msg_zerocopy", "1MiB", trace=True, cache="warm", buffer_bytes="16KiB",
                overrides={"kernel.memlock": "128KiB"})
    assert r.zerocopy_enobufs > 0 and r.locked_vm_peak_pages <= 32
    calls = [e for e in ev if e.kind is Kind.SYSCALL]
    i = next(i for i, e in enumerate(calls) if e.args.get("error") == "ENOBUFS")
    after = [e.what for e in calls[i + 1:i + 4]]
    assert after[-1] == "send" and "recvmsg" in after


def test_copied_only_on_a_route_without_sg_and_then_at_send_return():
    """tcp_sendmsg_locked: without route SG (kernel.gso = false and no NIC SG) zc = 0, the
    data is copied and no skb holds the record, so net_zcopy_put at out_nopush completes
    it, flagged COPIED, when send() returns: 4 sends, 4 records, before any ACK."""
    m = machine(overrides={"kernel.gso": False, "nic.sg": False})
    at_return = []
    drive(m, _zerocopy_sends(
        4, lambda m: at_return.append((m.env.now, list(map(list, m.socket.errqueue))))))
    assert at_return[-1][1] == [[0, 3]]  # coalesced on the error queue: unread
    assert at_return[-1][0] < 100e-6  # the first ACK is a round trip away
    assert (m.acct.zerocopy_notifications, m.acct.zerocopy_copied_sends) == (4, 4)


def test_loopback_and_a_packet_tap_complete_as_copied():
    """ip_local_deliver_finish / dev_queue_xmit_nit → skb_orphan_frags_rx → skb_copy_ubufs."""
    r = run("msg_zerocopy", "16KiB", overrides={"nic.loopback": True})
    assert (r.zerocopy_notifications, r.zerocopy_copied_sends) == (1, 1)
    r = run("msg_zerocopy", "16KiB", overrides={"kernel.packet_tap": True})
    assert r.zerocopy_copied_sends == 1 and r.cpu_copy_bytes == 2 * 16384


def test_zerocopy_completes_after_the_ack_and_charges_locked_memory():
    """__msg_zerocopy_callback runs when the last skb of the record is freed (the ACK);
    mm_account_pinned_pages charged 4 + 2 pages for the one 16 KiB send (K22)."""
    r, ev = run("msg_zerocopy", "16KiB", trace=True, buffer_bytes="16KiB")
    first_ack = next(e.start_s for e in ev if e.kind is Kind.IRQ and e.what == "ACK")
    recvmsg = next(e for e in ev if e.kind is Kind.SYSCALL and e.what == "recvmsg")
    assert recvmsg.start_s > first_ack and r.locked_vm_peak_pages == 6


# --- K11, K13, K14: building skbs, pushing them, the socket lock ------------------------

def test_the_size_goal_is_45_segments():
    """tcp_xmit_size_goal: 65160 B skbs; sendfile rounds carry MSG_MORE
    (splice_direct_to_actor), so their tails merge: 256 KiB = 4 x 45 + 2 segments, 1 MiB
    = 16 x 45 + 5 (6016 = 4 x 1448 + 224)."""
    for size, segments in (("256KiB", 182), ("1MiB", 725)):
        _, ev = run("sendfile_sg", size, trace=True, cache="warm")
        assert sum(e.args["segments"] for e in wires(ev)) == segments


def test_the_first_flight_is_two_bursts_of_five():
    """tcp_cwnd_test: min(max(cwnd / 2, 1), cwnd - in flight) = 5, then 5 more."""
    _, ev = run("sendfile_sg", "64KiB", trace=True, cache="warm")
    first = wires(ev)[:3]
    assert [e.args["segments"] for e in first[:2]] == [5, 5]
    assert first[1].start_s == first[0].end_s  # back to back
    assert first[2].start_s > first[0].start_s + 100e-6  # the rest waits for an ACK


def test_one_small_write_on_an_idle_connection():
    """tcp_push: nothing in flight, so no autocork and no Nagle hold; tcp_mss_split_point
    keeps the 1200 B runt (packets_out = 0): 1 skb, 3 segments."""
    r, ev = run("read_write", "4KiB", trace=True, cache="warm")
    assert r.skbs == 1 and [(e.nbytes, e.args["segments"]) for e in wires(ev)] == [(4096, 3)]


def test_small_writes_fill_size_goal_skbs():
    """tcp_sendmsg_locked appends to the unsent tail; tcp_should_autocork holds a partial
    tail while an earlier clone is in the driver: 4 MiB in 4 KiB writes builds about
    4 MiB / 65160 = 65 skbs (1024 in the textbook kernel)."""
    r = run("read_write", "4MiB", cache="warm", buffer_bytes="4KiB")
    textbook = iosim.simulate("read_write", "4MiB", cache="warm", buffer_bytes="4KiB")
    assert 65 <= r.skbs <= 100 and textbook.skbs == 1024


def _allocations(m: Machine) -> list[int]:
    """Record the stream offset of every skb the socket allocates (tcp_stream_alloc_skb)."""
    seqs: list[int] = []
    new_skb = m.socket._new_skb

    def recording(task):
        skb = new_skb(task)
        seqs.append(skb.seq)
        return skb

    m.socket._new_skb = recording
    return seqs


def _writes(sizes: list[int]):
    """A program: write() each size from one pre-faulted buffer, back to back."""
    def program(m):
        buf = UserBuffer(m.task, max(sizes), m.page_bytes)
        buf.touch(0, max(sizes))
        for n in sizes:
            yield from syscalls.write(m.task, m.socket, buf, 0, n)
        buf.free()
    return program


def test_the_trace_says_why_an_skb_waits():
    """HOLD events name what kept an unsent skb back: tcp_should_autocork (small writes
    while an earlier clone is in the driver), tcp_nagle_check (a sub-MSS runt with an
    earlier one unACKed), tcp_tso_should_defer."""
    _, ev = run("read_write", "1MiB", trace=True, cache="warm", buffer_bytes="4KiB")
    reasons = {e.what for e in ev if e.kind is Kind.HOLD}
    assert {"autocork", "nagle", "tso deferral"} <= reasons
    assert textbook_has_no_holds()


def textbook_has_no_holds() -> bool:
    tracer = Tracer()
    iosim.simulate("read_write", "1MiB", cache="warm", buffer_bytes="4KiB", tracer=tracer)
    return not any(e.kind is Kind.HOLD for e in tracer.events)


def test_writes_into_a_full_window_build_full_skbs():
    """write(14480) fills IW10; then nothing leaves before the ACK (a 1 ms round trip), so
    32 x write(4 KiB) = 131072 B append to the unsent tail: skbs of 65160, 65160 and
    752 B (tcp_sendmsg_locked: copy = size_goal - skb->len)."""
    m = machine(overrides={"wire.rtt": "1ms"})
    seqs = _allocations(m)
    drive(m, _writes([14480] + [4 * KIB] * 32))
    ends = [*seqs[1:], 14480 + 32 * 4 * KIB]
    assert [b - a for a, b in zip(seqs, ends, strict=True)] == [14480, 65160, 65160, 752]


def _header_and_body(cork: str | None):
    """A program: a 256 B header, then a 64 KiB body, with MSG_MORE or TCP_CORK on the
    header (``cork``), or neither."""
    def program(m):
        buf = UserBuffer(m.task, 64 * KIB, m.page_bytes)
        buf.touch(0, 64 * KIB)
        if cork == "TCP_CORK":
            syscalls.setsockopt(m.task, m.socket, "TCP_CORK", 1)
        yield from syscalls.write(m.task, m.socket, buf, 0, 256, more=cork == "MSG_MORE")
        yield from syscalls.write(m.task, m.socket, buf, 0, 64 * KIB)
        if cork == "TCP_CORK":
            syscalls.setsockopt(m.task, m.socket, "TCP_CORK", 0)
        buf.free()
    return program


@pytest.mark.parametrize(("cork", "segments"), [("MSG_MORE", 46), ("TCP_CORK", 46),
                                                (None, 47)])
def test_msg_more_and_tcp_cork_hold_a_header_for_its_body(cork, segments):
    """tcp_push with MSG_MORE (TCP_NAGLE_CORK for that push) or __tcp_sock_set_cork keeps
    the 256 B header in the unsent tail (tcp_nagle_check: partial and CORK), so the body
    joins it: 65792 B = 46 segments, the first 256 + 1192 B. Without either, an idle
    connection sends the header at once (nothing in flight for Nagle to wait on): 1 + 45
    + 1 = 47 segments."""
    m = machine(256 + 64 * KIB)
    m.acct.trace = tracer = Tracer()
    drive(m, _header_and_body(cork))
    assert sum(e.args["segments"] for e in wires(tracer.events)) == segments
    assert m.receiver.rcv_nxt == 256 + 64 * KIB and m.check_invariants() == []


def test_a_cork_left_on_is_lifted_by_the_probe_timer():
    """tcp_check_probe_timer: data held with nothing in flight goes when the probe timer
    fires (tcp_write_wakeup), after max(RTO, 200 ms)."""
    m = machine(256)
    m.acct.trace = tracer = Tracer()

    def program(m):
        buf = UserBuffer(m.task, 256, m.page_bytes)
        syscalls.setsockopt(m.task, m.socket, "TCP_CORK", 1)
        yield from syscalls.write(m.task, m.socket, buf, 0, 256)

    drive(m, program)
    (wire,) = wires(tracer.events)
    assert wire.start_s == pytest.approx(0.2001, abs=1e-5) and m.receiver.rcv_nxt == 256


def test_nodelay_sends_a_small_segment_while_another_is_in_flight():
    """tcp_nagle_check: with Nagle (TCP_NODELAY off) a sub-MSS segment waits while an
    earlier one is unACKed (Minshall); TCP_NODELAY sends it at once."""
    for nodelay, waits in ((0, True), (1, False)):
        m = machine(1024)
        m.acct.trace = tracer = Tracer()

        def program(m, nodelay=nodelay):
            buf = UserBuffer(m.task, 512, m.page_bytes)
            syscalls.setsockopt(m.task, m.socket, "TCP_NODELAY", nodelay)
            yield from syscalls.write(m.task, m.socket, buf, 0, 512)
            yield m.env.timeout(20e-6)  # the first one is out, not yet ACKed
            yield from syscalls.write(m.task, m.socket, buf, 0, 512)

        drive(m, program)
        first, second = wires(tracer.events)
        assert (second.start_s > first.start_s + 100e-6) == waits


def test_acks_wait_while_a_fault_holds_the_socket():
    """tcp_sendmsg holds lock_sock through the copy from the mapping; a fault that waits
    for the disk leaves the ACKs in the backlog (tcp_v4_rcv → tcp_add_backlog); they are
    processed at release_sock, when write() ends (K13)."""
    m = machine("2MiB", path="mmap_write")
    calls = []
    on_ack = m.socket.tcp.on_ack

    def recording(*args):
        calls.append(m.env.now)
        on_ack(*args)

    m.socket.tcp.on_ack = recording
    m.acct.trace = tracer = Tracer()
    drive(m, lambda m: iosim.PATHS["mmap_write"].program(m, m.scenario))
    ev = tracer.sorted_events()
    faults = [e for e in ev if e.kind is Kind.BLOCK and "mmap fault" in e.what]
    acks = [e.start_s for e in ev if e.kind is Kind.IRQ and e.what == "ACK"]
    assert any(f.start_s < t < f.end_s for f in faults for t in acks)  # ACKs do arrive
    assert not any(f.start_s < t < f.end_s for f in faults for t in calls)


# --- K12: the send buffer --------------------------------------------------------------

def test_the_send_buffer_starts_small_and_grows_with_the_window():
    """tcp_init_sock: tcp_wmem[1] = 16 KiB; at connect tcp_sndbuf_expand makes it
    2 x max(10, cwnd) x 4352 B (per_mss: roundup_pow_of_two(1460 + 320 + 320) + 256),
    3 x for BBR; later it grows with cwnd up to kernel.sndbuf (tcp_wmem[2])."""
    assert sndbuf_per_mss_bytes(1500) == 4352
    assert machine().socket.sndbuf == 87040
    assert machine(overrides={"kernel.tcp_congestion": "bbr"}).socket.sndbuf == 130560
    r = run("sendfile_sg", "8MiB", cache="warm")
    assert r.sndbuf_max_bytes == 1 << 20  # the teaching profile's tcp_wmem[2]


def test_the_writer_sleeps_only_for_a_new_skb():
    """sk_stream_memory_free is tested only before a new skb; appends never wait.
    Fresh CUBIC socket (87040 B), back-to-back 64 KiB writes, no ACK yet: write 1 fills
    skb 1 (65160: its first 5 + 5 segments leave, and tso_fragment makes two skbs of
    960 B more) and 376 B of the rest; write 2 fills it and starts skb 2 (51432 B); write 3
    appends 13728 B, then needs skb 3 with 4 x 960 + 144800 = 148640 B of truesize queued
    (>= 87040): it sleeps, and wakes once queued <= 2/3 of the send buffer."""
    m = machine("192KiB")
    at_sleep = []
    wait = m.socket._wait_memory

    def recording(task, copied):
        at_sleep.append((m.socket.write_seq, m.socket.queued, m.env.now))
        return wait(task, copied)

    m.socket._wait_memory = recording
    m.acct.trace = tracer = Tracer()
    drive(m, _writes([64 * KIB] * 3))
    assert at_sleep[0][:2] == (2 * 65536 + 13728, 4 * 960 + 144800)
    first_ack = next(e.start_s for e in tracer.events if e.kind is Kind.IRQ and e.what == "ACK")
    assert at_sleep[0][2] < first_ack
    block = next(e for e in tracer.events if e.kind is Kind.BLOCK)
    assert block.what == "send buffer full" and m.acct.context_switches == 1


# --- K14-K16: TCP ------------------------------------------------------------------------

def test_probe_and_retransmission_timeouts():
    """tcp_schedule_loss_probe: 2 SRTT + 2 ms with more than one segment out (2.2 ms),
    + 200 ms with one out, capped at the RTO; tcp_set_rto: SRTT + rttvar >= 200 ms."""
    tcp = machine().socket.tcp
    assert tcp._rto_base_s() == pytest.approx(0.2001) and tcp._pto_s() == pytest.approx(0.0022)
    for drop, pto_s in (([11, 12], 2.2e-3), ([12], 200.1e-3)):
        r, ev = run("sendfile_sg", "16KiB", trace=True, cache="warm", drop=drop)
        acks = [e.start_s for e in ev if e.kind is Kind.IRQ and e.what == "ACK"]
        last_ack = acks[len(acks) - 3] if len(drop) > 1 else acks[2]
        probe = next(e.start_s for e in ev if e.kind is Kind.RETRANSMIT)
        assert probe - last_ack == pytest.approx(pto_s) and r.rto_timeouts == 0


def test_the_window_grows_only_while_cwnd_limited():
    """tcp_is_cwnd_limited: in slow start only while cwnd < 2 x max_packets_out, so a
    disk-bound sender's window stays near twice what it keeps in flight."""
    m = machine("8MiB", overrides={"disk.bandwidth": "200MB/s"})
    tcp = m.socket.tcp
    seen = []
    on_ack = tcp.on_ack

    def recording(*args):
        on_ack(*args)
        seen.append((tcp.cwnd_segs(), tcp.max_packets_out))

    tcp.on_ack = recording
    drive(m, lambda m: iosim.PATHS["read_write"].program(m, m.scenario))
    most_out = max(out for _, out in seen)
    assert max(cwnd for cwnd, _ in seen) <= 2 * most_out + 45  # one ACK's growth past it
    textbook = Machine(*prepare("read_write", "8MiB", overrides={"disk.bandwidth": "200MB/s"}))
    drive(textbook, lambda m: iosim.PATHS["read_write"].program(m, m.scenario))
    assert textbook.socket.tcp.cwnd_bytes > 4 * max(cwnd for cwnd, _ in seen) * MSS


def test_retransmissions_wait_for_room_in_the_window():
    """tcp_xmit_retransmit_queue: segs = cwnd - packets_in_flight, stop at 0 (after PRR's
    first resend): resent segments never push what is in flight past the window by more
    than that one."""
    m = machine("4MiB", path="sendfile_sg", cache="warm", loss=0.02, seed=2)
    tcp = m.socket.tcp
    calls = []
    queue = tcp._xmit_retransmit_queue

    def recording(force=False):
        before = tcp.in_flight_segs()
        queue(force)
        calls.append((before, tcp.in_flight_segs(), tcp.cwnd_segs(), force))

    tcp._xmit_retransmit_queue = recording
    iosim.faults.install(m, m.scenario)
    drive(m, lambda m: iosim.PATHS["sendfile_sg"].program(m, m.scenario))
    assert any(after > before for before, after, _, _ in calls)
    for before, after, cwnd, force in calls:
        assert after <= max(cwnd, before + force)
    assert m.check_invariants() == []


def test_tso_deferral_keeps_a_lossy_stream_in_large_pieces():
    """tcp_tso_should_defer (tcp_tso_win_divisor = 3): once recovery ends, ACKs that open
    the window a little are collected until a third of it is free, instead of sending
    1-3 MSS pieces (docs: performance review section 2)."""
    l6, trace = run("sendfile_sg", "16MiB", trace=True, cache="warm", loss=0.001, seed=1)
    wire = [e for e in trace if e.kind is Kind.WIRE]
    small = sum(1 for e in wire if e.nbytes <= 3 * MSS)
    assert l6.lost_segments > 0 and len(wire) == l6.tx_completions
    assert small * 5 < len(wire)  # without deferral most of them would be (review, 2)


# --- section 7: TSQ, pacing, BBR ---------------------------------------------------------

def test_cubic_is_not_paced_without_fq():
    """tcp_update_pacing_rate always computes the rate (2 x 10 x 1448 B / 100 us = 289.6
    MB/s at IW10, so the TSQ limit max(2 x truesize, rate >> 10) is 282812 B), but only
    sch_fq paces CUBIC: with pfifo_fast every skb leaves when its data is ready."""
    tcp = machine().socket.tcp
    assert tcp.pacing_rate_bytes_per_s() == pytest.approx(289.6e6)
    assert int(tcp.pacing_rate_bytes_per_s()) >> 10 == 282812
    assert not tcp.fq and not tcp.internal_pacing
    assert machine(overrides={"kernel.qdisc": "fq"}).socket.tcp.fq


def test_bbr_paces_from_the_start():
    """bbr_init_pacing_rate_from_rtt: 2.885 x 10 x 1448 B / 100 us x 0.99 = 413.8 MB/s;
    tcp_update_skb_after_send spaces skbs after the first 10 segments by len / rate (less
    up to half as credit for lateness)."""
    m = machine("4MiB", path="sendfile_sg", overrides={"kernel.tcp_congestion": "bbr"},
                cache="warm")
    tcp = m.socket.tcp
    assert tcp.pacing_rate_bytes_per_s() == pytest.approx(413.8e6, rel=1e-3)
    departures = []
    xmit = m.nic.xmit

    def recording(skb, ready_s):
        departures.append((max(ready_s, m.env.now), skb.len, tcp.pacing_rate_bytes_per_s()))
        xmit(skb, ready_s)

    m.nic.xmit = recording
    drive(m, lambda m: iosim.PATHS["sendfile_sg"].program(m, m.scenario))
    paced = departures[2:]  # the first 10 segments go unpaced
    gaps = [(b[0] - a[0]) * a[2] / a[1] for a, b in itertools.pairwise(paced)]
    assert min(gaps) >= 0.5 - 1e-9 and m.check_invariants() == []
    assert tcp.cc.mode == "probe_bw"


def _paced(path: str, rate_bytes_per_s: float | None):
    """``path``'s program after setsockopt(SO_MAX_PACING_RATE, rate) (None: unpaced)."""
    def program(m):
        if rate_bytes_per_s is not None:
            syscalls.setsockopt(m.task, m.socket, "SO_MAX_PACING_RATE", rate_bytes_per_s)
        yield from iosim.PATHS[path].program(m, m.scenario)
    return program


@pytest.mark.parametrize("cc", ["cubic", "bbr"])
def test_pacing_can_take_away_the_zero_copy_advantage(cc):
    """A paced flow sends at its pacing rate (tcp_pacing_check, tcp_update_skb_after_send;
    SO_MAX_PACING_RATE caps sk_pacing_rate). read_write is copy-bound at about 0.87 GB/s
    (two 2 GB/s copies per byte and its syscalls), sendfile_sg link-bound at about
    1.12 GB/s. Paced at 500 MB/s, below the copy-bound rate, both send at the pacing rate:
    zero-copy's saving shows only in CPU time. Paced at 1 GB/s, above it, sendfile_sg is
    faster again. The condition: pacing rate < copy bandwidth / CPU copies per byte."""
    def goodput(path, rate):
        m = machine("8MiB", path=path, cache="warm",
                    overrides={"kernel.tcp_congestion": cc})
        drive(m, _paced(path, rate))
        assert m.check_invariants() == []
        return (8 << 20) / m.receiver.last_delivery_s, m.acct.cpu_time_s["copy"]

    (rw, rw_cpu), (sf, sf_cpu) = goodput("read_write", 500e6), goodput("sendfile_sg", 500e6)
    assert rw == pytest.approx(500e6, rel=0.05) and sf == pytest.approx(500e6, rel=0.05)
    assert sf_cpu < 0.1 * rw_cpu
    (rw, _), (sf, _) = goodput("read_write", 1e9), goodput("sendfile_sg", 1e9)
    assert sf == pytest.approx(1e9, rel=0.06) and rw < 0.9e9


# --- properties --------------------------------------------------------------------------

@given(path=s.paths, size=s.sizes, buffer=s.buffer_sizes, cache=s.caches,
       overrides=s.overrides, extra=s.linux6_overrides, seed=st.integers(0, 3),
       loss=s.losses, writer=st.sampled_from([None, "shared", "userbuf"]),
       pressure=s.pressures)
def test_linux6_delivers_every_byte_once(path, size, buffer, cache, overrides, extra, seed,
                                         loss, writer, pressure):
    """Every byte delivered once, no invariant broken, every reference released, across
    paths, sizes, buffers, failure modes and the linux-6 switches."""
    scenario = {"writer": writer, "writer_rate": 2e4} if writer else {}
    r = iosim.simulate(path, size, cache=cache, buffer_bytes=buffer, seed=seed, loss=loss,
                       overrides={**overrides, **extra}, **scenario, **pressure)
    assert r.invariant_violations == []
    assert r.bytes_delivered == size
    assert r.membus_bytes == 2 * r.cpu_copy_bytes + r.dma_copy_bytes + r.csum_read_bytes
    assert r.mode_switches == 2 * r.syscalls
    if not loss and not extra.get("nic.loopback"):  # loopback does no DMA
        # kTLS: each 16 KiB record adds 22 B of framing to the stream
        framing = 22 * -(-size // 16384) if path == "ktls_sendfile" else 0
        assert r.nic_dma_bytes == size + framing


def _two_writes(gap_s: float):
    """A program: write(64 KiB), ``gap_s`` of idle, write(64 KiB), from one buffer."""
    def program(m):
        buf = UserBuffer(m.task, 64 * KIB, m.page_bytes)
        buf.touch(0, 64 * KIB)
        yield from syscalls.write(m.task, m.socket, buf, 0, 64 * KIB)
        if gap_s:
            yield m.env.timeout(gap_s)
        yield from syscalls.write(m.task, m.socket, buf, 0, 64 * KIB)
        buf.free()
    return program


@pytest.mark.parametrize(("gap_s", "skbs"), [(0.0, [65160, 65160, 752]),
                                             (1e-3, [65160, 376, 65160, 376])])
def test_an_autocorked_tail_joins_the_next_write_only_if_it_comes_first(gap_s, skbs):
    """With a 100-segment window, write(64 KiB) fills a 65160 B skb that goes at once
    (tcp_push_one: send head, 45 segments fit the quota) and leaves a 376 B tail;
    tcp_push autocorks it (skb->len < size_goal, rtx queue not empty, sk_wmem_alloc holds
    the 65160 B clone's truesize > the tail's 1336 B) and sets TSQ_THROTTLED. Back to back,
    the next write() appends to that tail (tcp_sendmsg_locked: copy = size_goal -
    skb->len = 64784 B) before the clone's TX completion (65160 B on the 10 Gbit/s wire
    take 52 us; the copy of 64784 B at 2 GB/s 32 us, and a completion while write() owns
    the socket waits for release_sock): 65160 + 65160 + 752. After a 1 ms gap the TX
    completion came first: tcp_wfree -> tcp_tsq_handler -> tcp_write_xmit sends the tail
    alone (tcp_nagle_test: no sub-MSS segment unACKed, 65160 = 45 x 1448), and the next
    write() starts a new skb: 65160 + 376 + 65160 + 376."""
    m = machine(128 * KIB)
    m.socket.tcp.cwnd_bytes = 100 * MSS
    m.socket._expand_sndbuf()  # 2 x 100 x 4352 B: no wait for memory
    seqs = _allocations(m)
    m.acct.trace = tracer = Tracer()
    drive(m, _two_writes(gap_s))
    ends = [*seqs[1:], 128 * KIB]
    assert [b - a for a, b in zip(seqs, ends, strict=True)] == skbs
    assert [e.nbytes for e in nic_dmas(tracer.events)] == skbs
    assert m.receiver.rcv_nxt == 128 * KIB and m.check_invariants() == []
