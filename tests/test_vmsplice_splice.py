"""vmsplice_splice: read() into user buffers, vmsplice() them into a pipe, splice() to the
socket. Counts derived by hand on the teaching profile: N bytes, B = 64 KiB buffers (the
pipe's 16 pages), a ring of 8, P = 4 KiB.
"""

from __future__ import annotations

import pytest

from iosim import PATHS, simulate
from iosim.events import Kind
from iosim.paths.vmsplice_splice import IN_FLIGHT
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
