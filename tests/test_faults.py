"""Failure modes: small cases computed by hand, and properties over random scenarios.

Teaching profile: MSS = 1500 - 52 = 1448 bytes, pages of 4096 bytes, 64 KiB skbs.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iosim import ConfigError, simulate
from tests import strategies as s

MSS = 1448
PAGE = 4096
COPY_PATHS = ("read_write", "mmap_write", "sendfile")
ZERO_COPY_PATHS = ("sendfile_sg", "splice")


def test_drop_one_segment_of_a_zero_copy_transfer():
    r = simulate("sendfile_sg", 10 * MSS, drop=[3])  # 10 segments, one skb
    assert r.lost_segments == 1
    assert r.retransmits == 1 and r.retransmit_bytes == MSS
    assert r.cpu_copy_bytes == 0  # resent from the same page references: no copy
    assert r.nic_dma_bytes == 10 * MSS + MSS  # the NIC reads the segment's bytes again
    assert r.bytes_delivered == 10 * MSS and r.duplicate_bytes == 0
    assert r.integrity == "exact" and r.invariant_violations == []


def test_drop_on_a_copy_path_resends_the_private_copy():
    r = simulate("read_write", 10 * MSS, drop=[3])
    assert r.retransmit_bytes == MSS
    assert r.cpu_copy_bytes == 2 * 10 * MSS  # no new copy for the retransmission


def test_tail_loss_is_recovered_by_a_probe_not_a_timeout():
    r = simulate("sendfile_sg", 10 * MSS, drop=[10])
    assert r.retransmits == 1 and r.rto_timeouts == 0
    assert r.sim_time_s < 0.01  # well under the 200 ms minimum RTO


def test_two_lost_tail_segments_probe_then_sack_recovery():
    # the probe resends segment 10; its SACK shows the hole at segment 9, resent at once
    r = simulate("sendfile_sg", 10 * MSS, drop=[9, 10])
    assert r.retransmits == 2 and r.rto_timeouts == 0
    assert r.bytes_delivered == 10 * MSS


@pytest.mark.parametrize("path", COPY_PATHS + ZERO_COPY_PATHS + ("msg_zerocopy",))
def test_private_writer_copies_on_write_and_the_wire_keeps_the_old_data(path):
    r = simulate(path, "1MiB", writer="private", writer_at=[5 * PAGE])
    assert r.cow_copies == 1 and r.cow_copy_bytes == PAGE
    assert r.integrity == "exact"
    assert r.invariant_violations == []


@pytest.mark.parametrize("path", ZERO_COPY_PATHS)
def test_in_place_writer_mixes_versions_on_zero_copy_paths(path):
    r = simulate(path, "1MiB", writer="shared", writer_at=[5 * PAGE])
    # page 5 = bytes 20480..24575; the NIC reads it after the store
    assert r.changed_bytes == PAGE
    # segments [20272, 21720) and [23168, 24616) straddle the page's edges: old + new
    assert r.mixed_version_segments == 2
    assert r.integrity == "mixed"


@pytest.mark.parametrize("path", (*COPY_PATHS, "msg_zerocopy"))
def test_in_place_writer_cannot_reach_copied_data(path):
    r = simulate(path, "1MiB", writer="write", writer_at=[5 * PAGE])
    assert r.writer_stores == 1
    assert r.integrity == "exact" and r.changed_bytes == 0


def test_store_into_a_zero_copy_user_buffer_before_completion():
    r = simulate("msg_zerocopy", "1MiB", writer="userbuf", writer_at=[5 * PAGE])
    assert r.changed_bytes == PAGE and r.mixed_version_segments == 2
    # without SG the kernel copied the buffer at send(): the store comes too late
    r = simulate("msg_zerocopy", "1MiB", writer="userbuf", writer_at=[5 * PAGE],
                 overrides={"nic.sg": False})
    assert r.integrity == "exact"


def test_pressure_skips_pages_an_skb_holds_and_refaults_the_rest():
    # warm 1 MiB = 256 cached pages. Reclaim runs when the sender next yields after its
    # first skb is queued: splice has released the pipe, the skb holds pages 0-15.
    r = simulate("splice", "1MiB", cache="warm", pressure=1000)
    assert r.reclaim_busy_refs == 16
    assert r.evictions == 240
    assert r.refaults == 240  # evicted before use: every one is read from disk again
    assert r.disk_dma_bytes == 240 * PAGE
    assert r.invariant_violations == []


def test_pressure_on_a_copy_path_finds_nothing_pinned():
    r = simulate("read_write", "1MiB", cache="warm", pressure=1000)
    assert r.reclaim_busy_refs == 0 and r.evictions == 256


def test_competing_reader_evicts_through_the_lru():
    r = simulate("sendfile_sg", "1MiB", pressure_reader="2GB/s",
                 overrides={"kernel.page_cache": "512KiB"})
    assert r.evictions > 0 and r.invariant_violations == []


@pytest.mark.parametrize("path", ("sendfile_sg", "splice", "mmap_write", "read_write"))
def test_truncate_detaches_pages_still_being_sent(path):
    r = simulate(path, "4MiB", truncate_at_s=1e-3)
    assert r.bytes_delivered == 4 << 20
    assert r.invariant_violations == []
    if path in ZERO_COPY_PATHS:
        assert r.truncated_inflight_pages > 0


def test_unaligned_offset_costs_one_more_frag_not_a_copy():
    r = simulate("sendfile_sg", "1MiB", offset_bytes=100)
    assert r.frags == 257 and r.unaligned_extra_frags == 1
    assert r.cpu_copy_bytes == 0 and r.bounce_copy_bytes == 0


def test_page_aligned_dma_bounces_head_and_tail():
    # 3 pages fit the initial window (10 MSS = 14480 bytes), so they go out as one skb;
    # a larger transfer's window-sized pieces are cut at MSS multiples, inside pages, and
    # each bounces its own unaligned ends (see the next test)
    r = simulate("sendfile_sg", 3 * PAGE, offset_bytes=100,
                 overrides={"dma.alignment": "4KiB"})
    assert r.bounce_copy_bytes == (PAGE - 100) + 100  # head 3996 bytes + tail 100 bytes
    assert r.cpu_copy_bytes == r.bounce_copy_bytes


def test_window_pieces_of_an_skb_bounce_where_they_are_cut():
    r = simulate("sendfile_sg", "1MiB", offset_bytes=100, overrides={"dma.alignment": "4KiB"})
    assert r.bounce_copy_bytes > PAGE and r.cpu_copy_bytes == r.bounce_copy_bytes
    assert r.invariant_violations == []


def test_unaligned_zero_copy_buffer_pins_one_more_page_per_send():
    r = simulate("msg_zerocopy", "1MiB", buffer_offset_bytes=100)
    assert r.unaligned_extra_frags == 16  # 16 sends of 64 KiB, each over 17 pages


@pytest.mark.parametrize(("options", "message"), [
    ({"loss": 1.0}, "'loss'"),
    ({"loss": -0.1}, "'loss'"),
    ({"writer": "teleport"}, "'writer'"),
    ({"writer": "shared", "writer_rate": -5}, "'writer_rate'"),
    ({"writer": "shared", "writer_at": [1 << 30]}, "'writer_at'"),
    ({"drop": [0]}, "'drop'"),
    ({"pressure": -1}, "'pressure'"),
    ({"writer_rate": 10}, "needs 'writer'"),
    ({"los": 0.1}, "did you mean 'loss'"),
])
def test_bad_failure_inputs(options, message):
    with pytest.raises(ConfigError, match=message):
        simulate("splice", "1MiB", **options)


scenarios = st.fixed_dictionaries({}, optional={
    "loss": st.sampled_from([0.0, 0.01, 0.05]),
    "drop": st.lists(st.integers(1, 40), max_size=3),
    "pressure": st.sampled_from([0, 16, 1000]),
    "pressure_interval_s": st.sampled_from([None, 50e-6]),
    "truncate_at_s": st.sampled_from([None, 1e-4, 5e-4]),
    "offset_bytes": st.sampled_from([0, 100, 4095]),
    "buffer_offset_bytes": st.sampled_from([0, 1, 100]),
})
writers = st.one_of(st.just({}), st.fixed_dictionaries({
    "writer": st.sampled_from(["write", "shared", "private", "userbuf"]),
    "writer_rate": st.sampled_from([0, 20_000, 200_000]),
    "writer_at": st.lists(st.integers(0, 20 * PAGE - 1), max_size=3),
}))


@given(path=s.paths, size=st.integers(1, 20).map(lambda n: n * PAGE + 7), sc=scenarios,
       w=writers, seed=st.integers(0, 3), overrides=s.overrides)
def test_failure_scenarios_keep_the_invariants(path, size, sc, w, seed, overrides):
    w = {**w, "writer_at": [o for o in w.get("writer_at", []) if o < size]} if w else {}
    if w and not (w["writer_rate"] or w["writer_at"]):
        w = {}  # a writer that never stores is refused as input
    r = simulate(path, size, seed=seed, overrides=overrides, **sc, **w)
    assert r.invariant_violations == []  # refcounts back to baseline, nothing freed early
    assert r.bytes_delivered == size  # every byte exactly once
    if path in COPY_PATHS:
        assert r.integrity == "exact"  # a private copy cannot change under the NIC
    # each send DMAs its bytes once (kTLS: with its 22 B of framing per 16 KiB record)
    framing = 22 * -(-size // 16384) if path == "ktls_sendfile" else 0
    assert r.nic_dma_bytes == size + framing + r.retransmit_bytes


def test_mmap_pages_reclaimed_while_write_waits_are_faulted_in_again():
    # found by hypothesis: reclaim unmapped a page between mmap's fault and write()'s copy
    r = simulate("mmap_write", 16391, pressure=16, overrides={"kernel.sndbuf": "16KiB"})
    assert r.invariant_violations == [] and r.bytes_delivered == 16391
