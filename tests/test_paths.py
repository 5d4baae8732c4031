"""Copy counts, syscalls and faults against the closed-form expectations (teaching profile).

N is the file size, B the user buffer (64 KiB), P the page (4 KiB); the pipe and the TSO
size goal are 64 KiB, so N = 1 MiB gives 16 rounds.
"""

import pytest

from iosim import PATHS, simulate
from iosim.events import Kind
from iosim.trace import Tracer

N = 1 << 20
B = 64 << 10
P = 4096
ROUNDS = N // B

# path -> (CPU copies per byte, DMA copies per byte) with a cold cache: the textbook table
TEXTBOOK_COLD = {
    "read_write": (2, 2),
    "mmap_write": (1, 2),
    "sendfile": (1, 2),
    "sendfile_sg": (0, 2),
    "splice": (0, 2),
    "msg_zerocopy": (1, 2),
    "writev_sendfile": (0, 2),
    "vmsplice_splice": (1, 2),
    "io_uring_send_zc": (1, 2),
    "ktls_sendfile": (1, 2),  # the AES-GCM pass reads and writes every byte
}
# CPU-copied bytes besides the file's: writev_sendfile's 256-byte header (part of N, so
# its file is N - 256 bytes)
HEADER = {"writev_sendfile": 256}
# NIC DMA besides the file's bytes: kTLS's 22 B per 16 KiB record (TLS 1.3)
FRAMING = {"ktls_sendfile": 22 * (N // 16384)}
# skbs besides one per 64 KiB: the header's own skb (the textbook closes one per call);
# kTLS: one per 16 KiB record, pushed as it is encrypted
EXTRA_SKBS = {"writev_sendfile": 1, "ktls_sendfile": N // 16384 - N // B}


@pytest.fixture(scope="module")
def cold():
    return {p: simulate(p, N) for p in PATHS}


@pytest.fixture(scope="module")
def warm():
    return {p: simulate(p, N, cache="warm") for p in PATHS}


@pytest.mark.parametrize("path", PATHS)
def test_cold_cache_copies_match_the_textbook(cold, path):
    r = cold[path]
    cpu, dma = TEXTBOOK_COLD[path]
    assert PATHS[path].textbook_copies == (cpu, dma)  # what the spec declares
    head, framing = HEADER.get(path, 0), FRAMING.get(path, 0)
    assert r.cpu_copy_bytes == cpu * N + head
    # the header is in user memory, not the file: the disk reads N - head
    assert r.dma_copy_bytes == dma * N + framing - head
    assert r.copies == cpu + dma + framing / N
    assert r.disk_dma_bytes == N - head and r.nic_dma_bytes == N + framing


@pytest.mark.parametrize("path", PATHS)
def test_warm_cache_skips_the_disk(warm, path):
    r = warm[path]
    cpu, dma = TEXTBOOK_COLD[path]
    assert r.disk_dma_bytes == 0 and r.disk_requests == 0
    assert r.dma_copy_bytes == (dma - 1) * N + FRAMING.get(path, 0)
    assert r.cpu_copy_bytes == cpu * N + HEADER.get(path, 0)


@pytest.mark.parametrize("path", PATHS)
def test_membus_carries_two_bytes_per_cpu_copy_and_one_per_dma(cold, path):
    r = cold[path]
    assert r.membus_bytes == 2 * r.cpu_copy_bytes + r.dma_copy_bytes


@pytest.mark.parametrize(("path", "syscalls"), [
    ("read_write", 2 * ROUNDS),          # read + write per buffer
    ("mmap_write", 1 + ROUNDS + 1),      # mmap, write per chunk, munmap
    ("sendfile", 1),                     # one call moves up to 0x7ffff000 bytes
    ("sendfile_sg", 1),
    ("splice", 1 + 2 * ROUNDS),          # pipe(), then two splices per 16-page pipe
])
def test_syscalls_and_mode_switches(cold, path, syscalls):
    r = cold[path]
    assert r.syscalls == syscalls
    assert r.mode_switches == 2 * syscalls


def test_msg_zerocopy_syscalls(cold):
    r = cold["msg_zerocopy"]
    # setsockopt, read + send per buffer, then at least one recvmsg(MSG_ERRQUEUE), at most
    # one poll + recvmsg per send (completions coalesce)
    assert 1 + 2 * ROUNDS + 1 <= r.syscalls <= 1 + 4 * ROUNDS
    assert r.mode_switches == 2 * r.syscalls


@pytest.mark.parametrize(("path", "faults"), [
    ("read_write", B // P),          # first touch of the 16 buffer pages
    ("mmap_write", N // (16 * P)),   # one fault maps 16 cached pages (fault-around)
    ("sendfile", 0), ("sendfile_sg", 0), ("splice", 0),
    ("msg_zerocopy", 8 * B // P),    # 8 ring buffers, first touch
])
def test_page_faults(cold, warm, path, faults):
    assert cold[path].page_faults == faults
    assert warm[path].page_faults == faults


@pytest.mark.parametrize("path", PATHS)
def test_skbs_frags_and_irqs(cold, path):
    r = cold[path]
    assert r.skbs == N // B + EXTRA_SKBS.get(path, 0)
    zero_copy = path in ("sendfile_sg", "splice", "msg_zerocopy", "writev_sendfile",
                         "vmsplice_splice", "io_uring_send_zc")
    # kTLS: each record's 16406 B (header, ciphertext, tag) in 5 new pages, 5 frags
    assert r.frags == (N // P if zero_copy else 5 * (N // 16384) if path == "ktls_sendfile"
                       else 0)
    # one interrupt per disk completion, per TX completion and per ACK. In slow start the
    # congestion window (IW10 = 14480 bytes, then doubling) cuts the first 64 KiB skbs into
    # pieces, each its own transmission (tso_fragment): count what went on the wire.
    tracer = Tracer()
    traced = simulate(path, N, tracer=tracer)
    sends = sum(1 for e in tracer.events if e.kind is Kind.WIRE)
    assert traced.irqs == r.irqs
    assert sends > r.skbs
    assert r.irqs == r.disk_requests + 2 * sends


def test_sendfile_without_sg_and_splice_without_sg_copy():
    r = simulate("splice", N, overrides={"nic.sg": False})
    assert r.cpu_copy_bytes == N and r.frags == 0
    # the kernel drops SG when the NIC cannot checksum
    r = simulate("sendfile_sg", N, overrides={"nic.csum_offload": False})
    assert r.cpu_copy_bytes == N


def test_msg_zerocopy_falls_back_to_copy_without_sg():
    r = simulate("msg_zerocopy", N, overrides={"nic.sg": False})
    assert r.cpu_copy_bytes == 2 * N  # read() copy + the fallback copy into the skb
    assert r.zerocopy_copied_sends == ROUNDS


def test_too_many_frags_for_the_dma_engine_are_linearised():
    r = simulate("sendfile_sg", N, overrides={"dma.max_sg_entries": 8})
    # every 16-frag skb is copied by skb_linearize; only the first window-sized pieces of
    # slow start (IW10 = 14480 bytes: 4-5 frags + the header) fit the engine as they are
    # (pieces of up to 7 pages); the later, whole skbs are all linearised
    assert N // 2 < r.cpu_copy_bytes < N
    r = simulate("sendfile_sg", N, overrides={"dma.max_sg_entries": 4})
    assert r.cpu_copy_bytes == N  # with 4 entries even those are linearised


@pytest.mark.parametrize("path", PATHS)
def test_warm_small_transfers_never_block(warm, path):
    if path in ("msg_zerocopy", "vmsplice_splice", "io_uring_send_zc"):
        return  # waits for completions (or ACKs) before reusing a buffer, by design
    assert warm[path].context_switches == 0


@pytest.mark.parametrize("path", PATHS)
def test_cold_cache_blocks_on_the_disk(cold, path):
    assert cold[path].context_switches >= 1


def test_link_bound_goodput_is_the_wire_efficiency():
    r = simulate("sendfile_sg", "256MiB", cache="warm")
    # a 64 KiB skb is 46 MSS segments of 1448 bytes, each with 52 + 38 header/framing bytes
    wire_bytes = B + 46 * 90
    expected_bps = 10e9 * B / wire_bytes
    assert r.goodput_bps == pytest.approx(expected_bps, rel=0.01)
    assert r.bottleneck == "link"


def test_disk_bound_goodput_is_the_disk_rate():
    r = simulate("sendfile_sg", "256MiB")
    assert r.goodput_bps == pytest.approx(8e9, rel=0.02)  # 1 GB/s disk = 8 Gbit/s
    assert r.bottleneck == "disk"


@pytest.mark.parametrize("path", ["read_write", "mmap_write", "sendfile_sg"])
def test_a_read_ahead_window_too_small_for_the_disk_latency_is_named(path):
    # 100 GbE, cold cache: every window of kernel.readahead waits out disk.latency, so the
    # sender sleeps on the disk while nothing (disk, core, link) is even half busy
    r = simulate(path, "16MiB", profile="nvme-100g-2024")
    assert max(r.utilization.values()) < 0.5
    assert r.bottleneck == "readahead"
    # 16 times the window covers the latency: the disk's bandwidth becomes the limit
    wide = simulate(path, "16MiB", profile="nvme-100g-2024",
                    overrides={"kernel.readahead": "2MiB"})
    assert wide.bottleneck == "disk" and wide.goodput_bps > 2 * r.goodput_bps


@pytest.mark.parametrize(("util", "sndbuf", "cwnd", "disk", "named"), [
    ({"membus": 0.95, "sender_core": 1.0}, 0, 0, 0, "membus"),
    ({"link": 0.95, "disk": 0.2}, 0, 0, 0.9, "link"),
    ({"link": 0.3}, 0.2, 0.6, 0.9, "latency"),  # waited for ACKs to open the window
    ({"link": 0.3}, 0.6, 0, 0.9, "sndbuf"),
    ({"disk": 0.6}, 0, 0, 0.9, "disk"),
    ({"disk": 0.4}, 0, 0, 0.6, "readahead"),
    ({"disk": 0.4}, 0, 0, 0.4, "latency"),  # fixed costs of a short transfer
])
def test_the_bottleneck_rule(util, sndbuf, cwnd, disk, named):
    from iosim.simulate import _bottleneck

    assert _bottleneck(util, sndbuf, cwnd, disk) == named


def test_zero_copy_wins_over_read_write_on_cpu_time(warm):
    assert warm["sendfile_sg"].cpu_time_s < warm["read_write"].cpu_time_s / 3
    assert warm["splice"].cpu_copy_bytes == 0


def test_partial_last_page_counts_exact_bytes():
    r = simulate("read_write", 10_000)
    assert r.bytes_delivered == 10_000
    assert r.cpu_copy_bytes == 20_000 and r.dma_copy_bytes == 20_000
    assert r.invariant_violations == []
