"""Refcount rules of pages and the page cache, checked directly."""

import pytest
import simpy

from iosim import load_profile, simulate
from iosim.accounting import Accounting
from iosim.config import make_scenario
from iosim.kernel.page import ANON, FILE, Pages
from iosim.machine import Machine
from iosim.paths import PATHS


def _pages():
    return Pages(simpy.Environment(), Accounting())


def test_put_below_zero_is_a_violation():
    pages = _pages()
    page = pages.new(ANON)
    pages.put([page], "test")
    assert pages.live == 0 and pages.acct.violations == []
    pages.put([page], "test")
    assert any("below zero" in v for v in pages.acct.violations)


def test_get_on_freed_page_is_a_violation():
    pages = _pages()
    page = pages.new(ANON)
    pages.put([page], "test")
    pages.get([page], "test")
    assert any("freed" in v for v in pages.acct.violations)


def test_freeing_a_cached_page_is_a_violation():
    pages = _pages()
    page = pages.new(FILE)
    page.in_cache = True
    pages.put([page], "test")
    assert any("still in the page cache" in v for v in pages.acct.violations)


def _machine(**overrides):
    profile = load_profile("teaching", overrides or None)
    return Machine(profile, make_scenario("splice", 1 << 20, PATHS))


def test_reclaim_skips_referenced_pages_and_frees_the_rest():
    m = _machine()
    m.cache.prefill(m.file, 8)
    held = [m.cache.find(m.file, i) for i in range(4)]
    m.pages.get(held, "pipe")
    freed = m.cache.reclaim(8)
    assert freed == 4
    assert m.acct.reclaim_busy_refs == 4
    assert all(p.in_cache for p in held)
    assert m.cache.find(m.file, 5) is None
    m.pages.put(held, "pipe")
    assert m.cache.reclaim(8) == 4
    assert m.pages.live == 0 and m.acct.violations == []


def test_reclaim_takes_the_least_recently_used_pages_before_and_after_it_first_ran():
    m = _machine()
    cache, file = m.cache, m.file
    cache.prefill(file, 8)  # LRU, cold to hot: 0 .. 7
    cache.read_pages(file, 0, 4)  # touched: 4 5 6 7 0 1 2 3
    assert cache.reclaim(2) == 2
    assert [cache.find(file, i) is None for i in range(8)] == [False] * 4 + [True] * 2 + [False] * 2
    cache.read_pages(file, 6, 1)  # 7 0 1 2 3 6
    assert cache.reclaim(2) == 2
    assert sorted(p.index for p in cache.lru.values()) == [1, 2, 3, 6]
    assert m.acct.violations == []


def test_watched_page_logs_its_refcount_history():
    from iosim.simulate import simulate
    r = simulate("splice", 1 << 20, watch_page=3)
    log = r.page_log
    assert log[0][1:] == (1, "alloc")
    counts = [c for _, c, _ in log]
    assert max(counts) == 3  # cache + pipe + skb
    assert counts[-1] == 1  # back to the cache's own reference


@pytest.mark.parametrize("kernel", ["textbook", "linux-6"])
@pytest.mark.parametrize("path", ["read_write", "mmap_write", "sendfile_sg", "msg_zerocopy"])
def test_a_cache_smaller_than_a_read_batch_frees_nothing_the_reader_holds(path, kernel):
    # 64 pages of cache; a 64 KiB read collects 16 pages while its read-ahead windows (32
    # pages each) insert more: reclaim must skip the pages the batch has collected
    r = simulate(path, "4MiB", profile="nvme-100g-2024",
                 overrides={"kernel.page_cache": "256KiB", "kernel.model": kernel})
    assert r.invariant_violations == []
    assert r.bytes_delivered == 4 << 20
