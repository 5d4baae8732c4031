"""The page cache: file pages by (file, index), LRU order, read-ahead, and reclaim.

The cache holds one reference on each of its pages. Reclaim frees a page only when that is
the only reference left besides its mappings (which it can unmap); a page also held by a
pipe, an sk_buff or a pin is skipped, exactly as the kernel's reclaim skips it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from iosim import events
from iosim.kernel.page import FILE, Page, Pages


class File:
    """A regular file: a size and the content version of every page ever written."""

    def __init__(self, name: str, size_bytes: int, page_bytes: int) -> None:
        self.name = name
        self.size_bytes = size_bytes
        self.page_bytes = page_bytes
        self.npages = -(-size_bytes // page_bytes)
        self.versions: dict[int, int] = {}  # index -> version of pages written since base
        self.base_version = 0  # version of every page not written since (re)creation
        self.next_version = 1  # versions only grow, so older content has a smaller number

    def version_of(self, index: int) -> int:
        """The current content version of page ``index``."""
        return self.versions.get(index, self.base_version)

    def store(self, index: int) -> int:
        """Record new content in page ``index``; return its version."""
        version = self.versions[index] = self.next_version
        self.next_version += 1
        return version

    def rewrite(self) -> None:
        """The whole file gets new content (truncate, then written again)."""
        self.versions.clear()
        self.base_version = self.next_version
        self.next_version += 1

    def page_len(self, index: int) -> int:
        """Bytes of file data in page ``index`` (the last page may be partial)."""
        return min(self.page_bytes, self.size_bytes - index * self.page_bytes)


class PageCache:
    """File pages in LRU order with the kernel's read-ahead and reclaim rules."""

    def __init__(self, env, kernel_spec, pages: Pages, disk, cpu, irq_s: float, acct) -> None:
        self.env = env
        self.page_bytes = kernel_spec.page_size_bytes
        self.capacity_pages = kernel_spec.page_cache_bytes // self.page_bytes
        self.ra_pages = max(1, kernel_spec.readahead_bytes // self.page_bytes)
        self.pages = pages
        self.disk = disk
        self.cpu = cpu
        self.irq_s = irq_s
        self.acct = acct
        self.lru: OrderedDict[tuple[str, int], Page] = OrderedDict()
        self.on_unmap: Callable[[Page], None] | None = None  # rmap: set by the mm owner
        # shadow entries: pages evicted before anyone used them, so a later read refaults
        self.shadows: set[tuple[str, int]] = set()

    def prefill(self, file: File, count: int) -> None:
        """Warm start: the first ``count`` pages are already cached and uptodate."""
        for index in range(min(count, file.npages, self.capacity_pages)):
            self._insert(self.pages.new(FILE, file, index, file.version_of(index)),
                         (file.name, index))

    def find(self, file: File, index: int) -> Page | None:
        """The cached page, or None."""
        return self.lru.get((file.name, index))

    def read_pages(self, file: File, first: int, count: int) -> tuple[list[Page], object]:
        """Pages ``first .. first+count-1``, reading ahead as the kernel would.

        Returns the pages and an event to wait on (None when all are uptodate). The
        synchronous read-ahead window starts at a miss; touching the first page of a window
        starts the asynchronous read of the next one, so the disk stays a window ahead.
        """
        lru = self.lru
        get = lru.get
        touch = lru.move_to_end
        out = []
        waits = []
        name = file.name
        for index in range(first, first + count):
            key = (name, index)
            page = get(key)
            if page is None:
                self._read_window(file, index)
                page = lru[key]
            else:
                touch(key)
            if page.readahead_mark:
                page.readahead_mark = False
                self._read_window(file, index + self.ra_pages)
            io = page.io
            if io is not None and (not waits or waits[-1] is not io):
                waits.append(io)
            page.accessed = True
            out.append(page)
        if not waits:
            return out, None
        return out, waits[0] if len(waits) == 1 else self.env.all_of(waits)

    def _read_window(self, file: File, start: int) -> None:
        """Submit disk reads for the missing pages of the window at ``start``."""
        end = min(start + self.ra_pages, file.npages)
        run: list[Page] = []
        name = file.name
        lru = self.lru
        new = self.pages.new
        shadows = self.shadows
        versions, base = file.versions, file.base_version
        for index in range(start, end):
            key = (name, index)
            if key in lru:
                self._submit(file, run)
                run = []
                continue
            page = new(FILE, file, index, versions.get(index, base) if versions else base)
            page.uptodate = False
            if shadows and key in shadows:
                shadows.discard(key)
                self.acct.refaults += 1
            self._insert(page, key)
            run.append(page)
        self._submit(file, run)
        first = self.lru.get((file.name, start))
        if first is not None and end < file.npages:
            first.readahead_mark = True

    def _submit(self, file: File, run: list[Page]) -> None:
        if not run:
            return
        nbytes = len(run) * self.page_bytes
        if run[-1].index == file.npages - 1:
            nbytes -= self.page_bytes - file.page_len(run[-1].index)
        now = self.env.now
        event = self.env.timeout(self.disk.read(now, nbytes, len(run), run[0].index) - now)
        for page in run:
            page.io = event
        event.callbacks.append(lambda _ev, run=run: self._complete(run))

    def _complete(self, run: list[Page]) -> None:
        """Disk completion interrupt: the pages become uptodate."""
        self.acct.irqs += 1
        self.cpu.run(self.env.now, self.irq_s, "irq")
        if self.acct.trace is not None:
            self.acct.trace.add(events.irq(events.IRQ_DISK, self.env.now, pages=len(run)))
        for page in run:
            page.uptodate = True
            page.io = None

    def _insert(self, page: Page, key: tuple[str, int]) -> None:
        """Add a page at the hot end, reclaiming first if the cache is full."""
        if len(self.lru) >= self.capacity_pages:
            self.reclaim(len(self.lru) - self.capacity_pages + 1)
        page.in_cache = True
        self.lru[key] = page

    def reclaim(self, want: int) -> int:
        """Evict up to ``want`` pages from the cold end; return how many were freed.

        Pages referenced beyond the cache and their mappings (pipe, skb, pin) or with I/O in
        flight are skipped and rotated, as the kernel's shrink_page_list does.
        """
        freed = 0
        scanned = 0
        limit = len(self.lru)
        while freed < want and scanned < limit:
            scanned += 1
            key, page = next(iter(self.lru.items()))
            if not page.uptodate or page.refcount > 1 + page.mapcount:
                if page.uptodate:  # locked for I/O is not a busy reference
                    self.acct.reclaim_busy_refs += 1
                self.lru.move_to_end(key)
                continue
            if page.mapcount and self.on_unmap is not None:
                self.on_unmap(page)
            self.evict(page)
            freed += 1
        return freed

    def evict(self, page: Page) -> None:
        """Remove ``page`` from the cache and drop the cache's reference."""
        key = (page.file.name, page.index)
        del self.lru[key]
        page.in_cache = False
        self.acct.evictions += 1
        if not page.accessed:
            self.shadows.add(key)
        self.pages.put((page,), "pagecache")

    def truncate(self, file: File) -> int:
        """truncate_inode_pages: detach every cached page of ``file``; return how many were
        still referenced (an skb or pipe keeps sending a page the file no longer has)."""
        busy = 0
        for key, page in list(self.lru.items()):
            if key[0] != file.name:
                continue
            if page.mapcount and self.on_unmap is not None:
                self.on_unmap(page)
            if page.refcount > 1:
                busy += 1
            del self.lru[key]
            page.in_cache = False
            page.accessed = True  # detached: never a refault
            self.pages.put((page,), "truncate")
        self.shadows = {k for k in self.shadows if k[0] != file.name}
        file.rewrite()
        return busy

    def cached_refs_ok(self) -> list[str]:
        """End-of-run check: every cached page holds only the cache's reference (+ maps)."""
        return [f"{p!r} still referenced at the end" for p in self.lru.values()
                if p.refcount != 1 + p.mapcount]
