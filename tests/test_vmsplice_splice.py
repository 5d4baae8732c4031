"""vmsplice_splice: read() into user buffers, vmsplice() them into a pipe, splice() to the
socket. Counts derived by hand on the teaching profile: N bytes, B = 64 KiB buffers (the
pipe's 16 pages), a ring of 8, P = 4 KiB.
"""

from __future__ import annotations

import pytest

import iosim
from iosim import PATHS, cli, simulate
from iosim.config import ConfigError
from iosim.events import Kind
from iosim.paths.vmsplice_splice import IN_FLIGHT, UNREAD
from iosim.server.run import serve
from iosim.trace import Tracer

B, P, RING = 64 << 10, 4096, 8


def test_a_transfer_the_ring_holds_needs_no_poll():
    n = RING * B  # 512 KiB: no buffer is reused
    r = simulate("vmsplice_splice", n)
    assert r.syscalls == 1 + 3 * (n // B)  # pipe(), then read + vmsplice + splice per buffer
    assert r.cpu_copy_bytes == n  # the read() copy; vmsplice and splice move references
    assert r.disk_dma_bytes == n and r.nic_dma_bytes == n and r.dma_copy_bytes == 2 * n
    assert r.membus_bytes == 2 * n + 2 * n
    assert r.pages_pinned == n // P  # iov_iter_get_pages2: one reference per user page
    assert r.frags == n // P and r.skbs == n // B  # textbook: an skb per splice()
    assert r.page_faults == RING * B // P  # first touch of the ring by read()
    assert r.integrity == "exact" and r.invariant_violations == []


def test_reusing_a_buffer_waits_for_its_ack():
    n = 1 << 20  # 16 buffers through a ring of 8: 8 reuses, each polls SIOCOUTQ
    tracer = Tracer()
    r = simulate("vmsplice_splice", n, tracer=tracer)
    polls = sum(1 for e in tracer.events if e.kind is Kind.SYSCALL and e.what == "ioctl")
    assert polls >= RING
    assert r.syscalls == 1 + 3 * (n // B) + polls
    # a ring of 2 must wait for ACKs: the program sleeps, each sleep one more poll
    r2 = simulate("vmsplice_splice", n, zc_buffers=2, tracer=(t2 := Tracer()))
    slept = [e for e in t2.events if e.kind is Kind.BLOCK and e.what == IN_FLIGHT]
    polls2 = sum(1 for e in t2.events if e.kind is Kind.SYSCALL and e.what == "ioctl")
    assert slept and polls2 == (n // B - 2) + len(slept)
    assert r2.syscalls == 1 + 3 * (n // B) + polls2 and r2.invariant_violations == []


def test_a_store_into_the_buffer_before_the_ack_reaches_the_wire():
    assert PATHS["vmsplice_splice"].exposed_to == ("userbuf",)
    r = simulate("vmsplice_splice", "1MiB", writer="userbuf", writer_rate=5e4)
    assert r.changed_bytes > 0 and r.integrity in ("changed", "mixed")
    r = simulate("read_write", "1MiB", writer="userbuf", writer_rate=5e4)
    assert r.integrity == "exact"  # copied into the skb: the buffer is free at once


def test_an_unaligned_buffer_takes_two_vmsplices_per_buffer():
    n = 1 << 20
    r = simulate("vmsplice_splice", n, buffer_offset_bytes=100)
    # 17 pages per buffer, 16 pipe slots: vmsplice + splice twice per buffer
    tracer = Tracer()
    simulate("vmsplice_splice", n, buffer_offset_bytes=100, tracer=tracer)
    polls = sum(1 for e in tracer.events if e.kind is Kind.SYSCALL and e.what == "ioctl")
    assert r.syscalls == 1 + 5 * (n // B) + polls
    assert r.unaligned_extra_frags == n // B  # one more page per buffer
    assert r.pages_pinned == 17 * (n // B) and r.invariant_violations == []


@pytest.mark.parametrize("kernel", ["textbook", "linux-6"])
@pytest.mark.parametrize("fault", [{"loss": 0.02, "seed": 1}, {"drop": [3, 40]},
                                   {"pressure": 500, "pressure_interval_s": "50us"},
                                   {"truncate_at_s": "100us"}])
def test_failure_modes_deliver_every_byte(kernel, fault):
    r = simulate("vmsplice_splice", "512KiB", overrides={"kernel.model": kernel}, **fault)
    assert r.bytes_delivered == 512 << 10 and r.invariant_violations == []


# --- loopback: the ACK leaves at queueing, the pages are read at the receiver's copy out ---

LB = 10_000  # 10 kB buffers, as the real twin that corrupted its stream
SLOW_READER = {"nic.loopback": True, "cpu.cores": 2, "cpu.rx_skb": "1ms"}  # far slower
SPLIT_SLOW = {"nic.loopback": True, "cpu.cores": 2, "nic.loopback_split": True,
              "cpu.split_rx_paged_skb": "1ms"}


def _slept(tracer, reason):
    return [e for e in tracer.events if e.kind is Kind.BLOCK and e.what == reason]


@pytest.mark.parametrize("kernel", ["textbook", "linux-6"])
def test_on_loopback_a_buffer_reused_after_its_ack_reaches_the_reader_changed(kernel):
    """16 buffers through the ring of 8, a reader 1 ms per skb: every ACK comes as the skb
    is queued (before the reader's copy), so no SIOCOUTQ poll waits; rounds 8..15 refill
    buffers 0..7 (about 17 us a round) long before the reader's first copy out (1 ms), so
    the first 8 buffers' bytes arrive as their refills, the last 8 as written."""
    over = {**SLOW_READER, "kernel.model": kernel}
    tracer = Tracer()
    r = simulate("vmsplice_splice", 16 * LB, buffer_bytes=LB, overrides=over, tracer=tracer)
    assert not _slept(tracer, IN_FLIGHT)  # SIOCOUTQ showed 0 at every reuse
    assert r.changed_bytes == RING * LB and r.stale_bytes == 0
    assert r.integrity == "changed"  # one refill per segment: a 10 kB skb is one segment
    assert r.bytes_delivered == 16 * LB and r.invariant_violations == []
    # only the first reuse: buffer 0's bytes, exactly; its refill (the read() after the
    # one SIOCOUTQ poll) comes after the ACK of its bytes and before the reader's copy
    tracer = Tracer()
    r = simulate("vmsplice_splice", 9 * LB, buffer_bytes=LB, overrides=over, tracer=tracer)
    assert r.changed_bytes == LB and r.invariant_violations == []
    calls = [e for e in tracer.events if e.kind is Kind.SYSCALL]
    poll = next(i for i, e in enumerate(calls) if e.what == "ioctl")
    refill = calls[poll + 1]
    assert refill.what == "read" and refill.args["bytes"] == LB
    acked_s = min(e.start_s for e in tracer.events
                  if e.kind is Kind.IRQ and e.args.get("ack", 0) >= LB)
    copied_s = min(e.start_s for e in tracer.events if e.kind is Kind.DELIVER)
    assert acked_s <= calls[poll].start_s < refill.end_s < copied_s


def test_on_two_cpus_skbs_that_come_while_the_reader_works_wait_in_its_backlog():
    """The reader on its own CPU owns its socket while it works on an skb (1 ms here), so
    the next skb waits in the socket backlog (``tcp_v4_rcv`` -> ``tcp_add_backlog``) and is
    queued, and ACKed, when that work and its copy end (``release_sock``): each
    transmission is ACKed (quick-ACK mode: each at once) at the delivery of the one before,
    to the tick. The sender polls for its reuses; a refill still lands before the reader
    reads the pages, so bytes are changed."""
    over = {**SPLIT_SLOW, "kernel.model": "textbook"}
    tracer = Tracer()
    r = simulate("vmsplice_splice", 16 * LB, buffer_bytes=LB, overrides=over, tracer=tracer)
    assert r.skbs == 16 and r.bytes_delivered == 16 * LB and r.invariant_violations == []
    delivered = sorted((e.start_s, e.seq or 0) for e in tracer.events if e.kind is Kind.DELIVER)
    acks = sorted((e.start_s, e.args["ack"]) for e in tracer.events
                  if e.kind is Kind.IRQ and e.what == "ACK")
    assert len(acks) == len(delivered) >= 16  # one ACK per transmission (cwnd may cut one)
    assert acks[0][0] < delivered[0][0]  # the first found the reader asleep: queued at once
    assert [t for t, _ in acks[1:]] == [t for t, _ in delivered[:-1]]
    assert [seq for _, seq in delivered[1:]] == [ack for _, ack in acks[:-1]]
    assert _slept(tracer, IN_FLIGHT)
    assert 0 < r.changed_bytes < 16 * LB and r.stale_bytes == 0


@pytest.mark.parametrize("kernel", ["textbook", "linux-6"])
def test_a_real_nic_frees_the_buffer_at_the_ack(kernel):
    """The same program and reader cost on a NIC: the DMA read the pages before the ACK,
    so nothing changes, and waiting for the remote reader (reuse = consumed) waits for
    nothing more: the same numbers."""
    over = {**SLOW_READER, "nic.loopback": False, "kernel.model": kernel}
    acked = simulate("vmsplice_splice", 16 * LB, buffer_bytes=LB, overrides=over)
    assert acked.changed_bytes == 0 and acked.integrity == "exact"
    consumed = simulate("vmsplice_splice", 16 * LB, buffer_bytes=LB, overrides=over,
                        reuse="consumed").to_dict()
    assert consumed.pop("scenario")["reuse"] == "consumed"
    assert consumed == {k: v for k, v in acked.to_dict().items() if k != "scenario"}


@pytest.mark.parametrize("kernel", ["textbook", "linux-6"])
@pytest.mark.parametrize("placement", [SLOW_READER, SPLIT_SLOW], ids=["same", "split"])
def test_reuse_consumed_waits_for_the_reader_on_loopback(kernel, placement):
    """reuse = consumed: each of the 8 reuses sleeps until the reader has copied the
    buffer's last skb out (one more sleep for each skb that ends inside a buffer: linux-6
    cuts its first skb at 7240 B, textbook at each splice), and every byte arrives as
    written."""
    tracer = Tracer()
    r = simulate("vmsplice_splice", 16 * LB, buffer_bytes=LB, reuse="consumed",
                 overrides={**placement, "kernel.model": kernel}, tracer=tracer)
    assert r.changed_bytes == 0 and r.integrity == "exact"
    ends = [e.seq + e.nbytes for e in tracer.events if e.kind is Kind.DELIVER]
    inside = sum(1 for end in ends if end < RING * LB and end % LB)
    if placement is SLOW_READER:
        assert inside == (1 if kernel == "linux-6" else 0)
        assert len(_slept(tracer, UNREAD)) == RING + inside  # the reader is behind each time
    else:  # ACKs from the reader's backlog: some reuses wait for them first, not the read
        assert _slept(tracer, UNREAD)
    assert r.invariant_violations == []


def test_one_core_loopback_reader_cannot_overtake_the_sender():
    """One core: the reader's 1 ms per skb holds the only core, so the sender's refill
    waits behind each copy out in this model; nothing changes."""
    r = simulate("vmsplice_splice", 16 * LB, buffer_bytes=LB,
                 overrides={**SLOW_READER, "cpu.cores": 1})
    assert r.changed_bytes == 0 and r.invariant_violations == []


def test_one_shared_core_on_linux_6_lets_the_sender_refill_before_the_copy():
    """linux-6, one core shared as EEVDF shares it (hw/nic.py:SharedCore): a reader far
    heavier than the sender waits while the sender runs, and the sender's softirq has
    queued and ACKed each skb, so the sender refills buffers whose pages queued skbs still
    reference: changed bytes, at most the ring's first 8 buffers' (16 buffers sent);
    waiting for the reader (consumed) delivers the file."""
    one_core = {**SLOW_READER, "cpu.cores": 1, "kernel.model": "linux-6"}
    acked = simulate("vmsplice_splice", 16 * LB, buffer_bytes=LB, overrides=one_core)
    consumed = simulate("vmsplice_splice", 16 * LB, buffer_bytes=LB, overrides=one_core,
                        reuse="consumed")
    assert 0 < acked.changed_bytes <= RING * LB
    assert consumed.changed_bytes == 0
    assert acked.invariant_violations == consumed.invariant_violations == []


def test_msg_zerocopy_on_loopback_is_copied_before_delivery():
    """skb_orphan_frags_rx copies MSG_ZEROCOPY pages for a local receiver: a slow reader
    cannot see a refill."""
    r = simulate("msg_zerocopy", 16 * LB, buffer_bytes=LB, overrides=SLOW_READER)
    assert r.changed_bytes == 0 and r.zerocopy_copied_sends > 0


def test_reuse_flag_reaches_the_scenario(capsys):
    assert cli.main(["run", "vmsplice_splice", "--size", "64KiB", "--reuse", "consumed",
                     "--set", "nic.loopback=true", "--json"]) == 0
    assert '"reuse": "consumed"' in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        cli.main(["run", "vmsplice_splice", "--reuse", "never"])
    assert exc.value.code == 2 and "--reuse" in capsys.readouterr().err
    with pytest.raises(ConfigError, match=r"key 'reuse': expected one of acked, consumed"):
        simulate("vmsplice_splice", "64KiB", reuse="never")


@pytest.mark.parametrize("reuse", ["acked", "consumed"])
def test_the_animation_ends_at_the_result_on_a_lagging_loopback(reuse):
    """A late skb is the receiver's at its copy out: the trace's DELIVER is then, so the
    animation's clock and counters end where the Result does."""
    run = iosim.animate("vmsplice_splice", size_bytes=16 * LB, buffer_bytes=LB, reuse=reuse,
                        overrides=SLOW_READER).doc["runs"][0]
    shown, result = run["steps"][-1]["counters"], run["result"]
    for name, value in shown.items():
        if isinstance(result.get(name), int | float):
            assert value == pytest.approx(result[name], rel=1e-9, abs=1e-12), name


@pytest.mark.parametrize("kernel", ["textbook", "linux-6"])
def test_a_server_on_loopback_closes_connections_the_reader_is_still_behind_on(kernel):
    """serve: a connection goes when its responses are ACKed, before a lagging reader has
    copied their last skbs out; those still end on their own wire."""
    r = serve("vmsplice_splice", "teaching", connections=12, workers=2, requests=240,
              files=48, file_size="24KiB", size_sigma=1.0, requests_per_connection=7,
              overrides={"nic.loopback": True, "cpu.rx_skb": "200us", "kernel.model": kernel})
    assert r.invariant_violations == [] and r.requests == 240
    assert r.bytes_delivered == r.body_bytes + 240 * 256


@pytest.mark.parametrize("placement", [{"cpu.cores": 1}, {"cpu.cores": 2,
                                                            "nic.loopback_split": True}])
def test_at_the_profiles_costs_the_reader_keeps_up_so_both_reuses_agree(placement):
    """validate holds the real twin (which waits for the reader) against the default
    program: at the bundled loopback costs the model's reader never lags a buffer's reuse,
    so acked and consumed are the same run."""
    over = {"nic.loopback": True, **placement}
    for size, buf in (("4MiB", LB), ("4MiB", 64 << 10)):
        acked = simulate("vmsplice_splice", size, buffer_bytes=buf, cache="warm",
                         overrides=over).to_dict()
        consumed = simulate("vmsplice_splice", size, buffer_bytes=buf, cache="warm",
                            overrides=over, reuse="consumed").to_dict()
        del acked["scenario"], consumed["scenario"]
        assert consumed == acked and acked["changed_bytes"] == 0
