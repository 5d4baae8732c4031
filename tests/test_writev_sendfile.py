"""writev_sendfile: a header by write()/send(MSG_MORE), the file by sendfile(); or the body
from a user buffer by read() + writev(). Counts derived by hand on the teaching profile.

N = 1 MiB on the stream (the 256-byte header H is part of it), B = 64 KiB, P = 4 KiB.
"""

from __future__ import annotations

import pytest

from iosim import cli, simulate
from iosim.events import Kind
from iosim.trace import Tracer

N, H, B, P = 1 << 20, 256, 64 << 10, 4096
LINUX6 = {"kernel.model": "linux-6"}


def test_cold_header_then_sendfile():
    r = simulate("writev_sendfile", N)
    assert r.syscalls == 2  # send(header, MSG_MORE) + one sendfile() for the whole body
    assert r.cpu_copy_bytes == H  # copy_from_user of the header only
    # the file is the body, N - H bytes (the header comes from user memory): read-ahead
    # reads all of it; the NIC reads every stream byte, header included, by DMA
    assert r.disk_dma_bytes == N - H and r.nic_dma_bytes == N
    assert r.dma_copy_bytes == 2 * N - H
    assert r.membus_bytes == 2 * H + (N - H) + N  # the header's read and write, both DMAs
    assert r.page_faults == 1  # the header buffer's one page, first touch
    # textbook: each call closes its skb: 1 header skb + 16 of 64 KiB (pipe rounds)
    assert r.skbs == 1 + N // B
    assert r.frags == N // P  # the body's 256 pages (N - H ends on page 255)
    assert r.integrity == "exact" and r.invariant_violations == []


def test_body_from_a_user_buffer_is_copied_like_read_write():
    r = simulate("writev_sendfile", N, body="user")
    # 16 reads of at most 64 KiB (the last N - H - 15 B); writev(header, buffer) first,
    # then write() for the other 15
    assert r.syscalls == 2 * (N // B)
    assert r.cpu_copy_bytes == 2 * (N - H) + H  # read + write of the body, the header once
    assert r.page_faults == B // P + 1  # the buffer's 16 pages and the header's one
    assert r.frags == 0 and r.integrity == "exact" and r.invariant_violations == []


def _first_segments(**kw) -> tuple[int, int]:
    tracer = Tracer()
    simulate("writev_sendfile", "64KiB", overrides=LINUX6, tracer=tracer, **kw)
    wire = [e for e in tracer.events if e.kind is Kind.WIRE]
    return wire[0].nbytes, sum(e.args["segments"] for e in wire)


def test_linux6_cork_makes_the_header_share_the_first_segment():
    mss = 1448  # MTU 1500 - 52 B of TCP/IPv4 headers with timestamps
    first, segments = _first_segments(cork=True)
    # MSG_MORE holds the 256 B; sendfile's frags join the same skb: full segments only
    assert first > H and segments == -(-(64 << 10) // mss)  # 46
    first, segments = _first_segments(cork=False)
    # uncorked the header leaves alone, and the body's 65280 B need 46 segments more
    assert first == H and segments == 1 + -(-((64 << 10) - H) // mss)  # 47


def test_textbook_header_is_its_own_segment_either_way():
    for cork in (True, False):
        tracer = Tracer()
        simulate("writev_sendfile", "64KiB", cork=cork, tracer=tracer)
        assert next(e for e in tracer.events if e.kind is Kind.WIRE).nbytes == H


def test_in_place_writer_reaches_the_wire_through_the_body_frags():
    r = simulate("writev_sendfile", "256KiB", writer="write", writer_at=[20480])
    assert r.changed_bytes > 0 and r.integrity != "exact"
    r = simulate("writev_sendfile", "256KiB", body="user", writer="write", writer_at=[20480])
    assert r.integrity == "exact"  # copied at read(): the store is too late
    r = simulate("writev_sendfile", "256KiB", writer="write", writer_at=[100])
    assert r.writer_stores == 1 and r.integrity == "exact"  # the header is user memory


@pytest.mark.parametrize("kernel", ["textbook", "linux-6"])
@pytest.mark.parametrize("fault", [{"loss": 0.02, "seed": 1}, {"pressure": 500,
                                   "pressure_interval_s": "50us"}, {"offset_bytes": 100}])
def test_failure_modes_deliver_every_byte(kernel, fault):
    r = simulate("writev_sendfile", "512KiB", overrides={"kernel.model": kernel}, **fault)
    assert r.bytes_delivered == 512 << 10 and r.invariant_violations == []


def test_flags_reach_the_scenario(capsys):
    assert cli.main(["run", "writev_sendfile", "--size", "64KiB", "--header", "1KiB",
                     "--cork", "off", "--body", "user", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"header_bytes": 1024' in out and '"cork": false' in out and '"body": "user"' in out
    with pytest.raises(SystemExit) as exc:
        cli.main(["run", "writev_sendfile", "--cork", "maybe"])
    assert exc.value.code == 2 and "--cork: expected on or off" in capsys.readouterr().err
