"""The page cache: file pages by (file, index), LRU order, read-ahead, and reclaim.

The cache holds one reference on each of its pages. Reclaim frees a page only when that is
the only reference left besides its mappings (which it can unmap); a page also held by a
pipe, an sk_buff or a pin is skipped, exactly as the kernel's reclaim skips it.

Two kernels (``kernel.model``). *textbook*: a fixed ``readahead`` window at a miss, the
next one submitted when a window's first page is touched (``read_pages``). *linux-6*:
``mm/readahead.c`` as in Linux 6.18 (``get_batch``, ``fault_page``): the first window sized
from the request, ``PG_readahead`` on the first page of its async part, a window twice or
four times larger each time the reader reaches a mark, up to ``ra_pages``; mmap faults read
around the faulting page. Pages are order 0 (no large folios): one page, one reference.
The window arithmetic is the pure functions below; ``RaState`` is ``struct file_ra_state``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from operator import attrgetter

from iosim import events
from iosim.kernel.page import FILE, Page, Pages, file_pages

# Why a task sleeps until the disk brings a page in: in read() (filemap_read waits on the
# folio lock) or in a page fault of a mapping (filemap_fault). Result.bottleneck counts both.
DISK_READ = "disk read"
DISK_READ_FAULT = "disk read for an mmap fault"
DISK_WAITS = (DISK_READ, DISK_READ_FAULT)

LINUX6 = "linux-6"
KEY_SHIFT = 48  # LRU keys: file base (a multiple of 2**48) + page index
PAGEVEC_SIZE = 31  # include/linux/pagevec.h: folios one filemap_get_read_batch takes
# page_cache_async_ra adds 2 to ra->order before trimming; on an order-0 mapping
# page_cache_ra_order resets it to 0 every window, so the trim always sees order 2
_ASYNC_ORDER = 2
_REFCOUNT, _MAPCOUNT = attrgetter("refcount"), attrgetter("mapcount")


def init_ra_size(req_pages: int, max_pages: int) -> int:
    """mm/readahead.c:get_init_ra_size: the first window, from the request size."""
    n = 1 << (req_pages - 1).bit_length()  # roundup_pow_of_two
    if n <= max_pages // 32:
        return 4 * n
    if n <= max_pages // 4:
        return 2 * n
    return max_pages


def next_ra_size(cur_pages: int, max_pages: int) -> int:
    """mm/readahead.c:get_next_ra_size: the window after one of ``cur_pages``."""
    if cur_pages < max_pages // 16:
        return 4 * cur_pages
    if cur_pages <= max_pages // 2:
        return 2 * cur_pages
    return max_pages


def sync_window(index: int, req_pages: int, max_pages: int) -> tuple[int, int, int]:
    """page_cache_sync_ra, sequential or first read: (start, size, async_size)."""
    size = init_ra_size(req_pages, max_pages)
    return index, size, (size - req_pages if size > req_pages else size >> 1)


def trim_window(start: int, size: int, max_pages: int) -> tuple[int, int, int]:
    """page_cache_async_ra's tail: the window end rounded down to ``1 << min(order,
    ffs(max) - 1)`` pages, unless that empties it; async_size = size, so the mark is on
    the window's first page."""
    align = 1 << min(_ASYNC_ORDER, (max_pages & -max_pages).bit_length() - 1)
    end = start + size
    aligned_end = end - end % align
    if aligned_end > start:
        size -= end - aligned_end
    return start, size, size


def next_window(start: int, size: int, max_pages: int) -> tuple[int, int, int]:
    """page_cache_async_ra when the marked page is the expected one: the window right
    after (start, size), grown by ``get_next_ra_size``."""
    return trim_window(start + size, max(size, next_ra_size(size, max_pages)), max_pages)


def read_around_window(pgoff: int, ra_pages: int) -> tuple[int, int, int]:
    """mm/filemap.c:do_sync_mmap_readahead, read-around: ra_pages centred on the fault,
    a quarter of it async (the mark ra_pages/4 before the end)."""
    return max(0, pgoff - ra_pages // 2), ra_pages, ra_pages // 4


class Shadows:
    """Shadow entries (the xarray's value entries left by evicted pages): one byte per page
    of each file, grown as pages are evicted, so even millions stay cheap. None is dropped:
    the kernel's shadow shrinker (mm/workingset.c:count_shadow_nodes) keeps up to about
    eight times memory's worth, and the model's readers re-read a page long before that.
    """

    __slots__ = ("count", "maps")

    def __init__(self) -> None:
        self.maps: dict[str, bytearray] = {}  # file name -> 1 where the page has a shadow
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def add(self, name: str, index: int) -> None:
        """workingset_eviction: page ``index`` of ``name`` leaves a shadow."""
        marks = self.maps.get(name)
        if marks is None:
            marks = self.maps[name] = bytearray()
        if index >= len(marks):
            marks.extend(bytes(max(index + 1 - len(marks), len(marks), 4096)))
        if not marks[index]:
            marks[index] = 1
            self.count += 1

    def forget(self, name: str) -> None:
        """Truncate removes the file's shadows with its pages."""
        marks = self.maps.pop(name, None)
        if marks is not None:
            self.count -= marks.count(1)

    def indexes(self, name: str) -> list[int]:
        """The pages of ``name`` that have a shadow, in order."""
        marks = self.maps.get(name, b"")
        return [i for i, m in enumerate(marks) if m]


class RaState:
    """``struct file_ra_state`` of the file's one open ``struct file``."""

    __slots__ = ("async_size", "prev_pos", "size", "start")

    def __init__(self) -> None:
        self.start = self.size = self.async_size = 0
        self.prev_pos = -1  # file_ra_state_init: no read yet


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
        self._batch = 1  # the read batch being collected now (Page.batch marks its pages)
        self.capacity_pages = kernel_spec.page_cache_bytes // self.page_bytes
        self.ra_pages = max(1, kernel_spec.readahead_bytes // self.page_bytes)
        self.pages = pages
        self.disk = disk
        self.cpu = cpu
        self.irq_s = irq_s
        self.acct = acct
        # LRU order, keyed by an int per (file, page): the file's base (``_base``) + index.
        # A plain dict (insertion order; a touch re-inserts) until reclaim first walks it
        # from the cold end: then an OrderedDict (``_keep_order``), whose move_to_end and
        # popping from the front stay O(1). The order is the same either way
        self.lru: dict[int, Page] = {}
        self._ordered = False
        self._bases: dict[str, int] = {}  # file name -> the key of its page 0
        self.on_unmap: Callable[[Page], None] | None = None  # rmap: set by the mm owner
        self.linux6 = kernel_spec.model == LINUX6
        # shadow entries: a read that finds one is a refault. textbook: only pages evicted
        # before anyone used them; linux-6: every eviction (mm/vmscan.c:__remove_mapping ->
        # workingset_eviction)
        self.shadows = Shadows()
        if self.linux6:
            self.reclaim = self._shrink  # type: ignore[method-assign]
        self._ra: dict[str, RaState] = {}  # linux-6: file name -> its read-ahead state

    def _keep_order(self) -> None:
        """From now on keep the LRU in an OrderedDict (same order): reclaim takes pages
        from its cold end, which a plain dict with deletions in front makes slow."""
        if not self._ordered:
            self.lru = OrderedDict(self.lru)
            self._ordered = True

    def _touch(self, key: int, page: Page) -> None:
        """Move cached ``page`` (at ``key``) to the LRU's hot end."""
        if self._ordered:
            self.lru.move_to_end(key)  # type: ignore[attr-defined]
        else:
            del self.lru[key]
            self.lru[key] = page

    def _base(self, name: str) -> int:
        """The LRU key of page 0 of file ``name``; page i's is that + i. Ints hash faster
        than (name, index) tuples; bases are 2**48 pages apart, so files never meet."""
        base = self._bases.get(name)
        if base is None:
            base = self._bases[name] = len(self._bases) << KEY_SHIFT
        return base

    def prefill(self, file: File, count: int) -> None:
        """Warm start: the first ``count`` pages are already cached and uptodate."""
        n = min(count, file.npages, self.capacity_pages)
        base = self._base(file.name)
        pages = self.pages
        if pages.watch or len(self.lru) + n > self.capacity_pages:
            new = [pages.new(FILE, file, index, file.version_of(index)) for index in range(n)]
            for page in new:
                self._insert(page, base + page.index)
        else:  # room for all, nothing to watch: what new() and _insert() do, in one pass
            serial = pages.allocated
            versions, version = file.versions, file.base_version
            new = file_pages(file, 0, [versions.get(index, version) for index in range(n)]
                             if versions else [version] * n, serial, None)
            pages.allocated = serial + n
            pages.live += n
            self.lru.update(zip(range(base, base + n), new, strict=True))
        self._trace_alloc(file, new)

    def file_base(self, file: File) -> int:
        """The LRU key of ``file``'s page 0 (page i's is that + i), for lookups in bulk."""
        return self._base(file.name)

    def find(self, file: File, index: int) -> Page | None:
        """The cached page, or None."""
        return self.lru.get(self._base(file.name) + index)

    def read_pages(self, file: File, first: int, count: int) -> tuple[list[Page], object]:
        """textbook: pages ``first .. first+count-1``, reading ahead a fixed window.

        Returns the pages and an event to wait on (None when all are uptodate). The
        synchronous read-ahead window starts at a miss; touching the first page of a window
        starts the asynchronous read of the next one, so the disk stays a window ahead.
        """
        lru = self.lru
        ordered = self._ordered
        out = []
        waits = []
        last_io = None  # waits[-1]
        base = self._base(file.name)
        batch = self._batch
        for key in range(base + first, base + first + count):
            page = lru.get(key)
            if page is None:
                self._read_window(file, key - base)
                lru, ordered = self.lru, self._ordered  # reclaim may have ordered it
                page = lru[key]
            elif ordered:
                lru.move_to_end(key)  # type: ignore[attr-defined]
            else:  # _touch, inline
                del lru[key]
                lru[key] = page
            # collected: reclaim, run by a later window's insert, must not free it under us
            page.batch = batch
            if page.readahead_mark:
                page.readahead_mark = False
                self._read_window(file, key - base + self.ra_pages)
                lru, ordered = self.lru, self._ordered
            io = page.io
            if io is not None and io is not last_io:
                waits.append(io)
                last_io = io
            page.accessed = True
            out.append(page)
        self._batch += 1  # the batch is the caller's now: its pages are no longer marked
        if not waits:
            return out, None
        return out, waits[0] if len(waits) == 1 else self.env.all_of(waits)

    def _read_window(self, file: File, start: int) -> None:
        """textbook: submit disk reads for the missing pages of the window at ``start``."""
        end = min(start + self.ra_pages, file.npages)
        self._fill(file, start, end, -1)
        first = self.lru.get(self._base(file.name) + start)
        if first is not None and end < file.npages:
            first.readahead_mark = True

    def _fill(self, file: File, start: int, end: int, mark: int) -> None:
        """Add the missing pages ``start .. end-1`` (not uptodate) and submit one disk read
        per contiguous run of them; a new page at ``mark`` gets PG_readahead. A page already
        cached ends a run (page_cache_ra_unbounded: read_pages, then skip it)."""
        name = file.name
        lru = self.lru
        pages = self.pages
        base = self._base(name)
        keys = range(base + start, base + end)
        marks = self.shadows.maps.get(name)
        if (len(lru) + end - start <= self.capacity_pages and self.acct.trace is None
                and not pages.watch and not any(map(lru.__contains__, keys))
                and (marks is None or marks.find(1, start, end) < 0)):
            self._fill_new(file, base, start, end, mark)
            return
        run: list[Page] = []
        # no page to watch: allocate inline (what Pages.new does, minus the watch test);
        # serials and the live count are kept here and written back after the loop
        new = pages.new if pages.watch else None
        serial = pages.allocated
        capacity = self.capacity_pages
        shadows = self.shadows  # marks: the file's shadows; it grows in place
        versions, unwritten = file.versions, file.base_version
        for index in range(start, end):
            key = base + index
            if key in lru:
                self._submit(file, run)
                run = []
                continue
            version = versions.get(index, unwritten) if versions else unwritten
            if new is None:
                page = Page(FILE, file, index, version, serial, False)
                serial += 1
            else:
                page = new(FILE, file, index, version)
                page.uptodate = False
            if marks is None and shadows.count:  # reclaim in this loop may add the first
                marks = shadows.maps.get(name)
            if marks is not None and index < len(marks) and marks[index]:
                marks[index] = 0
                shadows.count -= 1
                self.acct.refaults += 1  # workingset_refault: WORKINGSET_REFAULT_FILE
            if index == mark:
                page.readahead_mark = True
            if len(lru) >= capacity:  # _insert, inline
                self.reclaim(len(lru) - capacity + 1)
                lru = self.lru  # ordered now
            page.in_cache = True
            lru[key] = page
            run.append(page)
        if new is None:
            pages.live += serial - pages.allocated
            pages.allocated = serial
        self._submit(file, run)

    def _fill_new(self, file: File, base: int, start: int, end: int, mark: int) -> None:
        """``_fill`` when every page of ``start .. end-1`` is new, none has a shadow and the
        cache has room for them all (no reclaim, nothing to watch or trace): one disk read,
        the pages made in one pass, in flight and in the cache from the start. Versions as
        ``_fill``'s loop gives them."""
        pages = self.pages
        serial = pages.allocated
        n = end - start
        nbytes = n * self.page_bytes
        if end == file.npages:
            nbytes -= self.page_bytes - file.page_len(end - 1)
        now = self.env.now
        event = self.env.timeout(self.disk.read(now, nbytes, n, start, file.name) - now)
        versions, unwritten = file.versions, file.base_version
        run = file_pages(file, start, [versions.get(index, unwritten)
                                       for index in range(start, end)]
                         if versions else [unwritten] * n, serial, event)
        pages.allocated = serial + n
        pages.live += n
        if start <= mark < end:
            run[mark - start].readahead_mark = True
        self.lru.update(zip(range(base + start, base + end), run, strict=True))
        event.callbacks.append(lambda _ev, run=run: self._complete(run))

    # -- linux-6: mm/filemap.c and mm/readahead.c ---------------------------------------

    def ra_state(self, file: File) -> RaState:
        """The file's ``struct file_ra_state`` (one open file per name in the model)."""
        ra = self._ra.get(file.name)
        if ra is None:
            ra = self._ra[file.name] = RaState()
        return ra

    def get_batch(self, file: File, index: int, last_index: int, holder: str
                  ) -> tuple[list[Page], object]:
        """mm/filemap.c:filemap_get_pages for pages ``index .. last_index-1``.

        Returns (batch, None) with the batch's references taken for ``holder`` (the caller
        drops them after its copy or splice), or ([], event) when the first page is still
        being read: wait for ``event`` and call again (filemap_update_page waits without a
        reference, in folio_put_wait_locked). A miss runs page_cache_sync_ra; a batch whose
        last page carries PG_readahead runs page_cache_async_ra (filemap_readahead), even
        if that page is not uptodate yet. Only uptodate pages are returned: a longer batch
        ending at a page still in I/O returns the part before it.
        """
        batch = self._read_batch(file, index, last_index)
        if not batch:
            self._sync_ra(file, index, last_index - index)
            batch = self._read_batch(file, index, last_index)
            if not batch:  # filemap_create_folio: one page, read on its own
                self._fill(file, index, index + 1, -1)
                batch = self._read_batch(file, index, last_index)
        self.pages.get(batch, holder)  # folio_try_get in filemap_get_read_batch
        last = batch[-1]
        if last.readahead_mark:
            self._async_ra(file, last, last_index - last.index)
        if not last.uptodate:
            if len(batch) == 1:
                self.pages.put(batch, holder)
                return [], last.io
            batch.pop()
            self.pages.put((last,), holder)
        return batch, None

    def _read_batch(self, file: File, index: int, last_index: int) -> list[Page]:
        """filemap_get_read_batch: cached pages from ``index`` on, stopping at a gap and
        after a page that is not uptodate or carries PG_readahead (at most a folio_batch).
        Each is moved to the LRU's hot end and counts as used (a page still being read is
        the one this reader waits for)."""
        out = []
        lru = self.lru
        ordered = self._ordered
        base = self._base(file.name)
        for i in range(index, min(last_index, index + PAGEVEC_SIZE)):
            key = base + i
            page = lru.get(key)
            if page is None:
                break
            if ordered:
                lru.move_to_end(key)  # type: ignore[attr-defined]
            else:  # _touch, inline
                del lru[key]
                lru[key] = page
            page.accessed = True
            out.append(page)
            if not page.uptodate or page.readahead_mark:
                break
        return out

    def _sync_ra(self, file: File, index: int, req: int) -> None:
        """mm/readahead.c:page_cache_sync_ra after a miss at ``index`` for ``req`` pages."""
        ra = self.ra_state(file)
        max_pages = self.ra_pages
        prev_index = ra.prev_pos // self.page_bytes if ra.prev_pos >= 0 else None
        if not index or req > max_pages or (
                prev_index is not None and 0 <= index - prev_index <= 1):
            ra.start, ra.size, ra.async_size = sync_window(index, req, max_pages)
        else:
            # not sequential: how many pages before this one are cached?
            miss = self._prev_miss(file, index - 1, max_pages)
            contig = index - miss - 1
            if contig <= req:  # a small random read: just the request, no state
                self._ra_unbounded(file, index, req, 0)
                return
            if miss < 0:  # cached from the first page: a long stream
                contig *= 2
            ra.start, ra.size, ra.async_size = index, min(contig + req, max_pages), 1
        self._ra_unbounded(file, ra.start, ra.size, ra.async_size)

    def _async_ra(self, file: File, page: Page, req: int) -> None:
        """mm/readahead.c:page_cache_async_ra: the reader reached marked ``page``."""
        page.readahead_mark = False  # folio_clear_readahead
        ra = self.ra_state(file)
        max_pages = self.ra_pages
        index = page.index
        if index == ra.start + ra.size - ra.async_size:  # the expected mark: sequential
            ra.start, ra.size, ra.async_size = next_window(ra.start, ra.size, max_pages)
        else:  # a mark without matching state (interleaved reads): size it from the cache
            start = self._next_miss(file, index + 1, max_pages)
            if start - index > max_pages:
                return
            ra.start, ra.size, ra.async_size = trim_window(
                start, next_ra_size(start - index + req, max_pages), max_pages)
        self._ra_unbounded(file, ra.start, ra.size, ra.async_size)

    def _ra_unbounded(self, file: File, start: int, nr: int, lookahead: int) -> None:
        """do_page_cache_ra + page_cache_ra_unbounded: the window trimmed to the page of
        the last byte, PG_readahead on page ``start + nr - lookahead`` (if read now)."""
        if start >= file.npages:
            return
        nr = min(nr, file.npages - start)
        self._fill(file, start, start + nr, start + nr - lookahead if lookahead <= nr else -1)

    def _prev_miss(self, file: File, index: int, max_scan: int) -> int:
        """mm/filemap.c:page_cache_prev_miss: the highest gap in ``index - max_scan + 1 ..
        index`` (-1 for ULONG_MAX: every page down to 0 is cached)."""
        lru = self.lru
        base = self._base(file.name)
        for n in range(max_scan):
            if index < 0:
                return -1
            if base + index not in lru:
                return index
            if n + 1 < max_scan:
                index -= 1
        return index

    def _next_miss(self, file: File, index: int, max_scan: int) -> int:
        """mm/filemap.c:page_cache_next_miss: the lowest gap in ``index .. index +
        max_scan - 1``, else ``index + max_scan``."""
        lru = self.lru
        base = self._base(file.name)
        for i in range(index, index + max_scan):
            if base + i not in lru:
                return i
        return index + max_scan

    def fault_page(self, file: File, index: int, tried: bool) -> Page:
        """mm/filemap.c:filemap_fault's page-cache half: the page for a fault at ``index``
        (maybe still being read). A miss reads around it (do_sync_mmap_readahead); a first
        try that finds PG_readahead reads the next window (do_async_mmap_readahead)."""
        key = self._base(file.name) + index
        page = self.lru.get(key)
        if page is None:
            ra = self.ra_state(file)
            ra.start, ra.size, ra.async_size = read_around_window(index, self.ra_pages)
            self._ra_unbounded(file, ra.start, ra.size, ra.async_size)
            page = self.lru[key]
        elif page.readahead_mark and not tried:
            self.pages.get((page,), "fault")  # filemap_get_folio's reference: reclaim
            self._async_ra(file, page, self.ra_pages)  # for the new window keeps it
            self.pages.put((page,), "fault")
        self._touch(key, page)
        page.accessed = True
        return page

    def _trace_alloc(self, file: File, new: list[Page]) -> None:
        if self.acct.trace is not None and new:
            self.acct.trace.add(events.alloc(events.PAGE_CACHE, file.name, self.env.now,
                                             [p.index for p in new], [p.serial for p in new]))

    def _submit(self, file: File, run: list[Page]) -> None:
        if not run:
            return
        self._trace_alloc(file, run)
        nbytes = len(run) * self.page_bytes
        if run[-1].index == file.npages - 1:
            nbytes -= self.page_bytes - file.page_len(run[-1].index)
        now = self.env.now
        event = self.env.timeout(self.disk.read(now, nbytes, len(run), run[0].index, file.name)
                                 - now)
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

    def _insert(self, page: Page, key: int) -> None:
        """Add a page at the hot end, reclaiming first if the cache is full."""
        if len(self.lru) >= self.capacity_pages:
            self.reclaim(len(self.lru) - self.capacity_pages + 1)
        page.in_cache = True
        self.lru[key] = page

    def reclaim(self, want: int) -> int:
        """Evict up to ``want`` pages from the cold end; return how many were freed.

        Pages referenced beyond the cache and their mappings (pipe, skb, pin) or with I/O in
        flight are skipped and rotated, as the kernel's shrink_page_list does. textbook
        checks the references before unmapping; linux-6 unmaps first (``_shrink``, which
        takes this method's place).
        """
        self._keep_order()
        freed = 0
        scanned = 0
        limit = len(self.lru)
        skipped: list[Page] | None = [] if self.acct.trace is not None else None
        while freed < want and scanned < limit:
            scanned += 1
            key, page = next(iter(self.lru.items()))
            if (not page.uptodate or page.refcount > 1 + page.mapcount
                    or page.batch == self._batch):  # a read batch being collected holds it
                if page.uptodate:  # locked for I/O is not a busy reference
                    self.acct.reclaim_busy_refs += 1
                    if skipped is not None:
                        skipped.append(page)
                self.lru.move_to_end(key)
                continue
            if page.mapcount and self.on_unmap is not None:
                self.on_unmap(page)
            self.evict(page)
            freed += 1
        if skipped:
            self.acct.trace.add(events.reclaim_skipped(
                self.env.now, [p.index for p in skipped], [p.serial for p in skipped]))
        return freed

    def _shrink(self, want: int) -> int:
        """linux-6 reclaim, mm/vmscan.c:shrink_folio_list: a page locked for I/O is kept;
        try_to_unmap removes its PTEs first (the process loses them even when the free
        then fails); __remove_mapping's folio_ref_freeze fails while anything besides the
        cache holds a reference (pipe, skb frag, FOLL_GET), and the page goes back on its
        LRU (cannot_free -> keep_locked). No FOLL_PIN page is ever in the page cache here,
        so folio_maybe_dma_pinned has nothing to find, and PTE young bits are not modelled.
        """
        self._keep_order()
        freed = 0
        scanned = 0
        lru = self.lru
        limit = len(lru)
        skipped: list[Page] | None = [] if self.acct.trace is not None else None
        while freed < want and scanned < limit:
            scanned += 1
            key, page = next(iter(lru.items()))
            if page.uptodate:
                if page.mapcount and self.on_unmap is not None:
                    self.on_unmap(page)
                if page.refcount == 1:
                    self.evict(page)
                    freed += 1
                    continue
                self.acct.reclaim_busy_refs += 1
                if skipped is not None:
                    skipped.append(page)
            lru.move_to_end(key)
        if skipped:
            self.acct.trace.add(events.reclaim_skipped(
                self.env.now, [p.index for p in skipped], [p.serial for p in skipped]))
        return freed

    def evict(self, page: Page) -> None:
        """Remove ``page`` from the cache and drop the cache's reference."""
        name = page.file.name
        del self.lru[self._base(name) + page.index]
        page.in_cache = False
        self.acct.evictions += 1
        if not page.accessed:
            self.acct.evicted_unused += 1
        if self.linux6 or not page.accessed:
            self.shadows.add(name, page.index)
        self.pages.put((page,), "pagecache")

    def truncate(self, file: File) -> int:
        """truncate_inode_pages: detach every cached page of ``file``; return how many were
        still referenced (an skb or pipe keeps sending a page the file no longer has)."""
        busy = 0
        for key, page in list(self.lru.items()):
            if page.file.name != file.name:  # the name its key was made from
                continue
            if page.mapcount and self.on_unmap is not None:
                self.on_unmap(page)
            if page.refcount > 1:
                busy += 1
            del self.lru[key]
            page.in_cache = False
            page.accessed = True  # detached: never a refault
            self.pages.put((page,), "truncate")
        self.shadows.forget(file.name)
        file.rewrite()
        return busy

    def cached_refs_ok(self) -> list[str]:
        """End-of-run check: every cached page holds only the cache's reference (+ maps)."""
        cached = self.lru.values()
        if (list(map(_REFCOUNT, cached)).count(1) == len(cached)
                and not any(map(_MAPCOUNT, cached))):  # the common case, in C
            return []
        return [f"{p!r} still referenced at the end" for p in cached
                if p.refcount != 1 + p.mapcount]
