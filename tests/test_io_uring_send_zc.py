"""io_uring_send_zc: READ_FIXED into registered buffers + SEND_ZC, batched submissions,
SQPOLL, and plain SEND. Counts derived by hand on the teaching profile: N = 1 MiB in
64 KiB buffers (16 chunks, each a read SQE and a send SQE), a ring of 8 buffers.
"""

from __future__ import annotations

import pytest

from iosim import simulate
from iosim.events import Kind
from iosim.trace import Tracer

N, B, P, RING = 1 << 20, 64 << 10, 4096, 8
CHUNKS = N // B


def test_one_enter_per_sqe():
    r = simulate("io_uring_send_zc", N)
    assert r.syscalls == 2 + 2 * CHUNKS  # io_uring_setup, io_uring_register, 32 enters
    assert r.uring_sqes == 2 * CHUNKS
    # a result CQE per SQE, and one IORING_CQE_F_NOTIF per zero-copy send, after the ACK
    assert r.uring_cqes == 2 * CHUNKS + CHUNKS and r.zerocopy_notifications == CHUNKS
    assert r.cpu_copy_bytes == N  # the read into the registered buffer; the send references
    assert r.dma_copy_bytes == 2 * N and r.membus_bytes == 2 * N + 2 * N
    assert r.frags == N // P and r.skbs == CHUNKS
    # registration pins the 8 buffers' 128 pages once; MSG_ZEROCOPY pins 16 per send
    assert r.pages_pinned == RING * B // P
    assert simulate("msg_zerocopy", N).pages_pinned == N // P
    assert r.page_faults == RING * B // P  # registration faults the ring in
    assert r.integrity == "exact" and r.invariant_violations == []


def test_a_batch_of_16_is_one_enter_per_16_sqes():
    r = simulate("io_uring_send_zc", N, sq_batch=16)
    assert r.syscalls == 2 + 2 * CHUNKS // 16  # 4
    assert r.uring_cqes == 3 * CHUNKS and r.invariant_violations == []


def test_batching_makes_at_most_a_sixteenth_of_msg_zerocopys_syscalls():
    n = 64 << 20  # 1024 chunks: the 2 setup calls are amortised
    uring = simulate("io_uring_send_zc", n, sq_batch=16)
    zc = simulate("msg_zerocopy", n)
    assert uring.syscalls == 2 + 2 * (n // B) // 16  # 130
    # msg_zerocopy: setsockopt, read + send per chunk, and its error-queue reads
    assert zc.syscalls >= 1 + 2 * (n // B) + 1
    assert 16 * uring.syscalls <= zc.syscalls


def test_sqpoll_makes_no_syscall_after_setup():
    r = simulate("io_uring_send_zc", N, sqpoll=True)
    assert r.syscalls == 2 and r.mode_switches == 4
    assert r.uring_sqes == 2 * CHUNKS and r.uring_cqes == 3 * CHUNKS
    assert r.cpu_time_by_category["syscall"] > 0  # the SQ thread's per-SQE work


def test_no_zc_copies_and_has_no_notifications():
    r = simulate("io_uring_send_zc", N, zc=False)
    assert r.cpu_copy_bytes == 2 * N and r.frags == 0
    assert r.uring_cqes == 2 * CHUNKS and r.zerocopy_notifications == 0


def test_a_notification_waits_for_the_ack():
    tracer = Tracer()
    simulate("io_uring_send_zc", "256KiB", sq_batch=8, tracer=tracer)
    first_ack = min(e.start_s for e in tracer.events if e.kind is Kind.IRQ
                    and "ACK" in str(e.what))
    waits = [e for e in tracer.events if e.kind is Kind.BLOCK
             and e.what == "io_uring completion"]
    assert waits and all(w.end_s >= first_ack for w in waits)


def test_a_store_into_a_registered_buffer_before_the_ack_reaches_the_wire():
    r = simulate("io_uring_send_zc", N, writer="userbuf", writer_rate=5e4)
    assert r.changed_bytes > 0
    r = simulate("io_uring_send_zc", N, zc=False, writer="userbuf", writer_rate=5e4)
    assert r.integrity == "exact"


@pytest.mark.parametrize("kernel", ["textbook", "linux-6"])
@pytest.mark.parametrize("fault", [{"loss": 0.02, "seed": 1}, {"drop": [3, 40]},
                                   {"pressure": 500, "pressure_interval_s": "50us"},
                                   {"buffer_offset_bytes": 100}, {"zc_buffers": 1},
                                   {"sq_batch": 3}])
def test_failure_modes_deliver_every_byte(kernel, fault):
    r = simulate("io_uring_send_zc", "512KiB", overrides={"kernel.model": kernel}, **fault)
    assert r.bytes_delivered == 512 << 10 and r.invariant_violations == []


def test_a_ring_of_registered_buffers_too_large_to_hold_is_refused(capsys):
    from iosim import cli

    # registration faults in every page of every buffer: 1e8 buffers of 1 GiB cannot be held
    assert cli.main(["run", "io_uring_send_zc", "--size", "64KiB", "--zc-buffers",
                     "100000000", "--buffer", "1GiB"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "key 'zc_buffers'" in err
