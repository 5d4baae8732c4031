"""linux-6 page cache: adaptive read-ahead, mmap read-around, page references, shadow
entries and reclaim, each against the Linux 6.18 function it follows
(/work/notes/linux6-spec.md §3, §8).

Teaching profile with ``kernel.model = "linux-6"``: 4 KiB pages, ``readahead`` 128 KiB so
``ra_pages`` = 32, ``fault_around`` 64 KiB (16 pages), disk 100 us + 1 GB/s, 0.1 us per DMA
descriptor (one per page). Order-0 pages only (no large folios).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iosim import load_profile, simulate
from iosim.config import Scenario, make_scenario
from iosim.events import Kind
from iosim.kernel import syscalls
from iosim.kernel.pagecache import (
    init_ra_size,
    next_ra_size,
    next_window,
    read_around_window,
    sync_window,
    trim_window,
)
from iosim.kernel.process import Mapping, UserBuffer
from iosim.machine import Machine
from iosim.paths import PATHS
from iosim.trace import Tracer
from tests import strategies as s

PAGE = 4096
KIB = 1024
LINUX6 = {"kernel.model": "linux-6"}


def _machine(size_bytes: int, path: str = "read_write", **overrides) -> Machine:
    profile = load_profile("teaching", {**LINUX6, **overrides})
    return Machine(profile, make_scenario(path, size_bytes, PATHS))


class _DiskSpy:
    """Stands in for the machine's disk: records (step, first page, pages) per request."""

    def __init__(self, disk) -> None:
        self.disk = disk
        self.step = 0  # which read() / fault the program is in
        self.requests: list[tuple[int, int, int]] = []

    def read(self, now_s, nbytes, pages, first_page=None, file=""):
        self.requests.append((self.step, first_page, pages))
        return self.disk.read(now_s, nbytes, pages, first_page, file)


def _reads(size_bytes: int, buffer_bytes: int, offset_bytes: int = 0):
    """Run read() after read() of ``buffer_bytes`` over a cold file; the spy numbers them
    from 1."""
    m = _machine(offset_bytes + size_bytes)
    spy = m.cache.disk = _DiskSpy(m.disk)
    buf = UserBuffer(m.task, buffer_bytes, PAGE)

    def program():
        pos = offset_bytes
        while pos < m.file.size_bytes:
            spy.step += 1
            pos += yield from syscalls.read(m.task, m.cache, m.file, pos, buf, buffer_bytes)
        buf.free()

    m.env.process(program())
    m.env.run()
    assert m.acct.violations == [] and m.cache.cached_refs_ok() == []
    return m, spy.requests


# -- the window arithmetic (mm/readahead.c) --------------------------------------------


def test_get_init_ra_size_quadruples_small_requests_doubles_medium_caps_large():
    # roundup_pow_of_two(req), then x4 if <= max/32, x2 if <= max/4, else max (32)
    assert [init_ra_size(r, 32) for r in (1, 2, 3, 4, 8, 9, 16, 64)] == [
        4, 4, 8, 8, 16, 32, 32, 32]


def test_get_next_ra_size_ramps_up_to_ra_pages():
    # x4 below max/16, x2 up to max/2, then max
    # 1 < 2: x4; 2 is not < 32/16, so x2
    assert [next_ra_size(c, 32) for c in (1, 2, 4, 8, 16, 32)] == [4, 4, 8, 16, 32, 32]


def test_page_cache_sync_ra_window_and_async_size():
    # async_size = size - req when the window is larger than the request, else size / 2
    assert sync_window(0, 4, 32) == (0, 8, 4)  # mark at 0 + 8 - 4 = page 4
    assert sync_window(0, 16, 32) == (0, 32, 16)  # 16 > 32/4: the whole 32, mark at 16
    assert sync_window(0, 64, 32) == (0, 32, 16)  # larger than ra_pages: size/2 async


def test_page_cache_async_ra_pushes_the_window_forward_and_marks_its_first_page():
    assert next_window(0, 8, 32) == (8, 16, 16)
    assert next_window(8, 16, 32) == (24, 32, 32)
    assert next_window(24, 32, 32) == (56, 32, 32)
    # the order-2 trim: a window end is rounded down to 4 pages unless that empties it
    assert trim_window(24, 30, 32) == (24, 28, 28)
    assert trim_window(5, 2, 32) == (5, 2, 2)
    assert trim_window(5, 2, 2) == (5, 1, 1)  # align = 1 << min(2, ffs(2) - 1) = 2


def test_do_sync_mmap_readahead_reads_around_the_fault():
    assert read_around_window(0, 32) == (0, 32, 8)  # mark at 0 + 32 - 8 = 24
    assert read_around_window(100, 32) == (84, 32, 8)


# -- read(): page_cache_sync_ra, then page_cache_async_ra at each mark ------------------


def test_16k_reader_windows_and_the_read_that_submits_each():
    # mm/filemap.c:filemap_get_pages. Read k covers pages 4(k-1)..4k-1. Read 1 misses:
    # W1 = (0, 8), mark on 4. Read 2's batch ends at marked page 4: W2 = (8, 16), mark 8.
    # Read 3 reaches 8: W3 = (24, 32). Read 7 (page 24): W4 = (56, 32); read 15 (page 56):
    # W5 = (88, 32); then every 8 reads.
    m, requests = _reads(1 << 20, 16 * KIB)
    assert requests[:5] == [(1, 0, 8), (2, 8, 16), (3, 24, 32), (7, 56, 32), (15, 88, 32)]
    assert requests[5:] == [(23, 120, 32), (31, 152, 32), (39, 184, 32), (47, 216, 32),
                            (55, 248, 8)]  # the last window trimmed to EOF (do_page_cache_ra)
    assert m.acct.disk_requests == 10 and m.acct.disk_dma_bytes == 1 << 20


def test_64k_reader_windows_and_the_read_that_submits_each():
    # req = 16 pages: W1 = (0, 32) with mark 16 (16 > 32/4, so size = ra_pages); read 2
    # (pages 16-31) reaches 16: W2 = (32, 32), mark 32; read 3: W3 = (64, 32); read 5: W4
    m, requests = _reads(1 << 20, 64 * KIB)
    assert requests[:5] == [(1, 0, 32), (2, 32, 32), (3, 64, 32), (5, 96, 32), (7, 128, 32)]
    assert m.acct.disk_requests == 8 and m.acct.disk_dma_bytes == 1 << 20


@pytest.mark.parametrize(("buffer", "window_bytes"), [(16 * KIB, 32 * KIB),
                                                     (64 * KIB, 128 * KIB)])
def test_first_disk_completion_follows_the_initial_window(buffer, window_bytes):
    # page_cache_sync_ra: one request at t = 0 of the initial window (not two 128 KiB ones):
    # its media time ends at 100 us + bytes / 1 GB/s (132.768 us for 16 KiB reads, 231.072
    # for 64 KiB); the pages are uptodate one DMA descriptor per page later.
    tracer = Tracer()
    simulate("read_write", "1MiB", buffer_bytes=buffer, overrides=LINUX6, tracer=tracer)
    disk = [e for e in tracer.events if e.kind is Kind.DISK]
    assert [e.args["queued_at_s"] for e in disk].count(0.0) == 1
    assert disk[0].nbytes == window_bytes
    assert disk[0].end_s == pytest.approx(100e-6 + window_bytes / 1e9, abs=1e-12)
    irq = next(e for e in tracer.events if e.kind is Kind.IRQ)
    assert irq.start_s == pytest.approx(disk[0].end_s + window_bytes / PAGE * 0.1e-6)
    assert round(disk[0].end_s * 1e6, 1) == (132.8 if buffer == 16 * KIB else 231.1)


def test_textbook_keeps_two_full_windows_at_the_first_miss():
    tracer = Tracer()
    simulate("read_write", "1MiB", buffer_bytes=16 * KIB, tracer=tracer)
    disk = [e for e in tracer.events if e.kind is Kind.DISK]
    assert [(e.first_page, e.pages) for e in disk[:2]] == [(0, 32), (32, 32)]
    assert disk[1].args["queued_at_s"] == 0.0


@pytest.mark.parametrize("path", ["sendfile_sg", "splice"])
def test_splice_reads_ask_for_the_pipes_16_pages(path):
    # mm/filemap.c:filemap_splice_read asks for the pipe's free slots (16 pages): the same
    # windows as a 64 KiB reader
    tracer = Tracer()
    simulate(path, "1MiB", overrides=LINUX6, tracer=tracer)
    disk = [(e.first_page, e.pages) for e in tracer.events if e.kind is Kind.DISK]
    assert disk == [(32 * i, 32) for i in range(8)]


def test_a_first_read_away_from_the_start_reads_just_the_request():
    # page_cache_sync_ra: no previous read (prev_pos = -1) and index 256 != 0, nothing
    # cached before it (page_cache_prev_miss finds 255), so "a standalone, small random
    # read": the 16 pages asked, no mark. Read 2 follows it (index - prev_index = 0): a
    # first window (272, 32) with its mark at 288, reached by read 3.
    _, requests = _reads(512 * KIB, 64 * KIB, offset_bytes=1 << 20)
    assert requests[:3] == [(1, 256, 16), (2, 272, 32), (3, 304, 32)]


# -- mmap faults: read-around, fault-around, async read-ahead at the mark --------------


def _faults(size_bytes: int, **overrides):
    """Copy a cold mapping page by page; return the pages that faulted, the disk requests
    (numbered by the fault that made them) and the machine."""
    m = _machine(size_bytes, "mmap_write", **overrides)
    spy = m.cache.disk = _DiskSpy(m.disk)
    mapping = Mapping(m.task, m.cache, m.file, m.profile.kernel.fault_around_bytes // PAGE)
    faulted = []

    def program():
        for index in range(m.file.npages):
            before = m.acct.page_faults
            spy.step = before + 1
            yield from mapping.copy_runs(index * PAGE, m.file.page_len(index))
            if m.acct.page_faults > before:
                faulted.append(index)
        mapping.unmap()

    m.env.process(program())
    m.env.run()
    assert m.acct.violations == [] and m.cache.cached_refs_ok() == []
    return faulted, spy.requests, m


def test_cold_mapping_faults_at_0_16_24_32_48_64():
    # mm/memory.c:do_read_fault, mm/filemap.c:filemap_fault. Fault 1 (page 0) misses:
    # read-around (0, 32, 8) puts the mark on 24; the retried fault maps 0-15. Fault 2 (16):
    # fault-around maps 16-31 except marked 24. Fault 3 (24): do_async_mmap_readahead
    # (32, 32). Fault 4 (32, marked): (64, 32), waits, maps 32-47. Fault 5: 48-63.
    faulted, requests, m = _faults(1 << 20)
    assert faulted[:6] == [0, 16, 24, 32, 48, 64]
    assert requests[:4] == [(1, 0, 32), (3, 32, 32), (4, 64, 32), (6, 96, 32)]
    # steady state: 2 faults per 128 KiB when the marked page is still being read
    assert faulted[6:] == list(range(80, 256, 16))
    assert m.acct.page_faults == 17 and m.acct.disk_requests == 8


def test_no_second_request_before_the_mark_is_reached():
    faulted, requests, _ = _faults(1 << 20)
    assert faulted[2] == 24  # the third fault is the one at the mark
    assert [r for r in requests if r[0] < 3] == [(1, 0, 32)]


def test_a_16k_mapping_is_one_fault_and_one_16k_read():
    # read-around trimmed to EOF: 4 pages; async_size 8 > 4, so no mark; the retried fault
    # maps all four
    faulted, requests, m = _faults(16 * KIB)
    assert faulted == [0] and requests == [(1, 0, 4)]
    assert m.acct.disk_dma_bytes == 16 * KIB


def test_without_fault_around_every_page_faults_and_reads_around():
    # fault_around = one page: should_fault_around is false, finish_fault maps one page
    faulted, requests, m = _faults(256 * KIB, **{"kernel.fault_around": "4KiB"})
    assert faulted == list(range(64)) and m.acct.page_faults == 64
    assert requests == [(1, 0, 32), (25, 32, 32)]  # the mark on 24 starts the second


# -- K19: references held through the copy / into the pipe -----------------------------


def _page_life(path: str, model: str) -> list[tuple[int, str]]:
    r = simulate(path, 16 * KIB, cache="warm", watch_page=1,
                 overrides={"kernel.model": model})
    return [(count, what) for _, count, what in r.page_log]


def test_read_keeps_the_batch_reference_through_copy_to_user():
    # mm/filemap.c:filemap_read puts the folio_batch only after copy_folio_to_iter
    assert _page_life("read_write", "linux-6") == [(1, "alloc"), (2, "get read"),
                                                   (1, "put read")]
    tracer = Tracer()
    simulate("read_write", 4 * KIB, cache="warm", overrides=LINUX6, tracer=tracer)
    steps = [(e.kind, e.what) for e in tracer.events if e.kind in (Kind.REF, Kind.COPY)
             and (e.kind is Kind.COPY or e.who == "read")][:3]
    assert steps == [(Kind.REF, "get"), (Kind.COPY, ""), (Kind.REF, "put")]


@pytest.mark.parametrize("path", ["splice", "sendfile_sg"])
def test_splice_takes_the_pipe_reference_before_dropping_the_batch(path):
    # filemap_splice_read: splice_folio_into_pipe (folio_get) then folio_batch_release;
    # splice_to_socket: the skb's get_page before pipe_buf_release; the ACK frees the skb.
    # Page 1 (bytes 4096-8191) also holds where tcp_write_xmit cuts the first 5 segments
    # (tcp_mss_split_point: 7240 B): tso_fragment → skb_split takes a reference on the frag
    # cut in two, so two skbs hold it until their ACKs (3 -> 4, then 2 -> 1)
    assert [c for c, _ in _page_life(path, "linux-6")] == [1, 2, 3, 2, 3, 4, 3, 2, 1]
    assert [w for _, w in _page_life(path, "linux-6")][1:4] == ["get read", "get pipe",
                                                                "put read"]
    assert [c for c, _ in _page_life(path, "textbook")] == [1, 2, 3, 2, 1]  # golden lives


def test_explain_names_the_batch_reference_under_linux6():
    from iosim.teach.explain import page_life
    from iosim.teach.traced import run_traced

    text = "\n".join(page_life(run_traced("read_write", 16 * KIB, cache="warm",
                                           overrides=LINUX6), 0))
    assert "2  get read: the read batch references it (filemap_get_read_batch)" in text
    assert "1  put read: copied or in the pipe: the batch lets go" in text


@pytest.mark.parametrize("scenario", [{}, {"buffer_bytes": 16 * KIB},
                                      {"pressure": 2000, "pressure_interval_s": 5e-5},
                                      {"offset_bytes": 100, "buffer_offset_bytes": 100}])
@pytest.mark.parametrize("path", sorted(PATHS))
def test_the_animation_follows_a_linux6_run(path, scenario):
    # a linux-6 read copies batch by batch: the animation places each part in its buffer
    from iosim.teach import animate

    run = animate.document([animate.trace(path, "256KiB", overrides=LINUX6,
                                          **scenario)])["runs"][0]
    last = run["steps"][-1]["counters"]
    assert {k: last[k] for k in animate.COUNTERS
            if last[k] != pytest.approx(run["result"][k])} == {}
    assert run["invariants"] == []


def test_the_animation_places_each_batch_of_a_read_in_its_buffer():
    # 64 KiB file, one read(100000): 25 pages asked, so the window is (0, 32, 7) trimmed to
    # the 16 pages of the file, its mark on 16 - 7 = 9 (page_cache_ra_unbounded): the read
    # copies pages 0-9, then 10-15 into buffer bytes 40960 on
    from iosim.teach import animate

    run = animate.document([animate.trace("read_write", "64KiB", overrides=LINUX6,
                                          buffer_bytes=100_000)])["runs"][0]
    shown = {}
    copies = 0
    for step in run["steps"]:
        for eid, props in step["ops"]:
            shown[eid] = props
        if step["key"].startswith("CPU cache user"):
            copies += 1
            if copies == 2:
                break
    user = sorted((p["c"], p["w"]) for p in shown.values()
                  if p and p.get("kind") == "tile" and p["lane"] == "user")
    assert copies == 2 and user == [(float(i), 1.0) for i in range(16)]


# -- K20: shadow entries and refaults; K21: reclaim unmaps, then fails ------------------


def _read_batch_and_release(m, first, count):
    while True:
        batch, wait = m.cache.get_batch(m.file, first, first + count, "test")
        if wait is None:
            m.pages.put(batch, "test")
            return batch
        m.env.run(wait)


def test_every_eviction_leaves_a_shadow_and_every_reread_refaults():
    # mm/vmscan.c:__remove_mapping -> workingset_eviction for every reclaimed page;
    # filemap_add_folio -> workingset_refault counts every page re-added over a shadow
    m = _machine(64 * PAGE)
    m.cache.prefill(m.file, 8)
    _read_batch_and_release(m, 0, 4)  # pages 0-3 used, 4-7 not
    assert m.cache.reclaim(8) == 8
    assert m.cache.shadows.indexes("data.bin") == list(range(8))
    assert m.acct.evictions == 8 and m.acct.evicted_unused == 4
    _read_batch_and_release(m, 0, 8)
    assert m.acct.refaults == 8 and len(m.cache.shadows) == 0


def test_textbook_shadows_only_pages_never_used():
    m = Machine(load_profile("teaching"), make_scenario("read_write", 64 * PAGE, PATHS))
    m.cache.prefill(m.file, 8)
    m.cache.read_pages(m.file, 0, 4)
    m.cache.reclaim(8)
    assert m.cache.shadows.indexes("data.bin") == [4, 5, 6, 7]
    assert m.acct.evicted_unused == 4
    m.cache.read_pages(m.file, 0, 8)
    assert m.acct.refaults == 4


def test_a_shadow_outlives_any_number_of_later_evictions():
    # a 64-page cache read page by page (ra_pages = 1): 256 reads evict pages 0-191, each
    # leaving a shadow; reading page 0 again is a refault, 192 evictions later
    m = _machine(256 * PAGE, **{"kernel.page_cache": "256KiB", "kernel.readahead": "4KiB"})
    for index in range(256):
        _read_batch_and_release(m, index, 1)
    assert m.acct.evictions == 192 and m.acct.disk_requests == 256
    assert m.cache.shadows.indexes("data.bin") == list(range(192))
    _read_batch_and_release(m, 0, 1)
    assert m.acct.refaults == 1 and m.cache.shadows.indexes("data.bin")[:2] == [1, 2]


def _mapped_and_referenced(model: str):
    m = Machine(load_profile("teaching", {"kernel.model": model}),
                make_scenario("mmap_write", 4 * PAGE, PATHS))
    m.cache.prefill(m.file, 4)
    mapping = Mapping(m.task, m.cache, m.file, 16)
    m.env.process(mapping.copy_runs(0, PAGE))  # maps all 4 by fault-around
    m.env.run()
    page = m.cache.find(m.file, 0)
    m.pages.get([page], "skb")  # an extra reference besides cache and mapping
    return m, mapping, page


def test_linux6_reclaim_unmaps_before_it_finds_the_busy_reference():
    # mm/vmscan.c:shrink_folio_list: try_to_unmap, then __remove_mapping's
    # folio_ref_freeze fails (refcount 2 with the skb's) -> cannot_free, kept on the LRU
    m, mapping, page = _mapped_and_referenced("linux-6")
    assert m.cache.reclaim(4) == 3
    assert m.acct.reclaim_busy_refs == 1
    assert page.in_cache and page.mapcount == 0 and 0 not in mapping.mapped
    assert page.refcount == 2  # the cache's and the skb's


def test_textbook_reclaim_skips_the_busy_page_still_mapped():
    m, mapping, page = _mapped_and_referenced("textbook")
    assert m.cache.reclaim(4) == 3
    assert m.acct.reclaim_busy_refs == 1
    assert page.mapcount == 1 and 0 in mapping.mapped and page.refcount == 3


def test_pressure_under_splice_rereads_with_fresh_windows():
    # warm 1 MiB: the skb holds pages 0-15 when reclaim runs, the other 240 (never used)
    # go. Splice then misses at 16 right after a read that ended there: page_cache_sync_ra
    # (16 pages asked) -> (16, 32) marked at 32, then (48, 32) ... (240, 16): 8 requests.
    r = simulate("splice", "1MiB", cache="warm", pressure=1000, overrides=LINUX6)
    assert r.reclaim_busy_refs == 16 and r.evictions == 240
    assert r.evicted_unused == 240 and r.refaults == 240
    assert r.disk_requests == 8 and r.disk_dma_bytes == 240 * PAGE
    assert r.invariant_violations == []


# -- properties ------------------------------------------------------------------------


@given(path=s.paths, size=s.sizes, buffer=s.buffer_sizes, cache=s.caches,
       overrides=s.overrides, pressure=s.pressures, seed=st.integers(0, 3))
def test_linux6_every_byte_once_and_every_reread_a_refault(path, size, buffer, cache,
                                                          overrides, pressure, seed):
    r = simulate(path, size, cache=cache, buffer_bytes=buffer, seed=seed,
                 overrides={**overrides, **LINUX6}, **pressure)
    assert r.invariant_violations == []  # references back to the cache's own, all freed
    assert r.bytes_delivered == size
    if "pressure_reader" in pressure:
        return  # its own file's disk reads count in disk_dma_bytes too
    # every page read from the disk a second time is a refault (workingset_refault)
    capacity = load_profile("teaching", overrides).kernel.page_cache_bytes // PAGE
    # a path that sends its own header (part of the size) reads only the rest from the file
    head = Scenario(path, size).header_bytes if PATHS[path].sends_header else 0
    file_bytes = size - min(head, size)
    first = file_bytes if cache == "cold" else max(0, file_bytes - capacity * PAGE)
    last = file_bytes - (-(-file_bytes // PAGE) - 1) * PAGE  # a read of the last page moves this
    extra = r.disk_dma_bytes - first
    if file_bytes == 0:
        assert extra == 0
    elif last == PAGE:
        assert extra == r.refaults * PAGE
    else:
        assert r.refaults * last <= extra <= r.refaults * PAGE


@pytest.mark.parametrize("model", ["textbook", "linux-6"])
@pytest.mark.parametrize("traced", [False, True], ids=["bulk", "per page"])
def test_pages_read_after_a_rewrite_carry_the_new_content(model, traced):
    """truncate_inode_pages, then the file written again (File.rewrite): pages read from
    the disk afterwards hold the new content, the file's version, in the bulk fill and in
    the per-page one (a traced run takes that); a page stored to since keeps its own."""
    from iosim.trace import Tracer

    m = Machine(load_profile("teaching", {"kernel.model": model}),
                make_scenario("read_write", 64 * PAGE, PATHS))
    if traced:
        m.acct.trace = Tracer()
    m.cache.prefill(m.file, 8)
    m.cache.truncate(m.file)
    stored = m.file.store(5)
    pages, _ = m.cache.read_pages(m.file, 0, 8)
    assert [p.version for p in pages] == [m.file.version_of(i) for i in range(8)]
    assert pages[0].version == m.file.base_version > 0 and pages[5].version == stored
