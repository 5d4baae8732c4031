"""Reference-counted pages: ``get``/``put`` are the only ways to change a refcount.

A page is freed when its count reaches 0; going below 0, or freeing a page that is still in
the page cache, is a bug the model records as an invariant violation. Per-page state is kept
in plain slots and changed in bulk, so a simulated GiB (262,144 pages) stays cheap.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from iosim import events

FILE, ANON = "file", "anon"
KERNEL = "kernel"  # the kernel's own pages (kTLS records): no file, no user mapping
USER_VERSION_BASE = -1  # new user-memory contents get versions -1, -2, ...: never file data


class Page:
    """One physical page. ``version`` is the content generation, for integrity checks."""

    __slots__ = (
        "accessed",
        "batch",
        "file",
        "in_cache",
        "index",
        "io",
        "kind",
        "log",
        "mapcount",
        "readahead_mark",
        "refcount",
        "serial",
        "uptodate",
        "version",
    )

    def __init__(self, kind: str, file: Any = None, index: int = 0, version: int = 0,
                 serial: int = 0, uptodate: bool = True, io: Any = None,
                 in_cache: bool = False) -> None:
        self.kind = kind
        self.file = file
        self.index = index
        self.refcount = 1  # the creator's reference (page cache or owning user buffer)
        self.serial = serial  # which physical page this is, for the trace (Pages.new sets it)
        self.mapcount = 0
        self.version = version
        self.uptodate = uptodate  # a page-cache page being read is not, until the disk is done
        self.io = io  # the SimPy event of a read in flight into this page
        self.in_cache = in_cache
        self.readahead_mark = False
        self.accessed = False  # PG_referenced: someone read it since it came in
        self.batch = 0  # the read batch collecting it (PageCache.read_pages), if that is on
        self.log: list[tuple[float, int, str]] | None = None

    def __repr__(self) -> str:
        where = f"{self.file.name}:{self.index}" if self.file is not None else "anon"
        return f"<Page {where} ref={self.refcount} v{self.version}>"


def file_pages(file: Any, start: int, versions: list[int], serial: int, io: Any
               ) -> list[Page]:
    """New page-cache pages ``start, start+1, ...`` of ``file`` with content ``versions``
    and serials from ``serial``, in the cache and being read by ``io`` (None: uptodate):
    what ``Page(FILE, file, index, version, serial, io is None, io, True)`` makes, without
    a constructor call per page (a read-ahead window of them at a time)."""
    out = []
    new = Page.__new__
    uptodate = io is None
    index = start
    for version in versions:
        page = new(Page)
        page.kind = FILE
        page.file = file
        page.index = index
        page.refcount = 1
        page.serial = serial
        page.mapcount = 0
        page.version = version
        page.uptodate = uptodate
        page.io = io
        page.in_cache = True
        page.readahead_mark = False
        page.accessed = False
        page.batch = 0
        page.log = None
        out.append(page)
        index += 1
        serial += 1
    return out


class Pages:
    """Creates pages and changes their refcounts, checking the invariants as it goes."""

    def __init__(self, env, acct) -> None:
        self.env = env
        self.acct = acct
        self.live = 0  # pages allocated and not yet freed
        self.watch: set[tuple[str, int]] = set()  # (file name, index) whose refcount we log
        self.watch_log: list[tuple[float, int, str]] = []  # shared by every life of the page
        self.allocated = 0  # pages ever allocated: the next page's serial
        self.user_version = USER_VERSION_BASE  # the next new user-memory content's version

    def next_user_version(self) -> int:
        """A content version no page held before: a store into user memory (a writer's, a
        refill of a buffer others still reference) makes bytes that are no file data."""
        version = self.user_version
        self.user_version -= 1
        return version

    def new(self, kind: str, file: Any = None, index: int = 0, version: int = 0) -> Page:
        """Allocate a page holding one reference for its creator."""
        page = Page(kind, file, index, version, self.allocated)
        self.allocated += 1
        self.live += 1
        if self.watch and file is not None and (file.name, index) in self.watch:
            page.log = self.watch_log
            self._log(page, "alloc")
        return page

    def _log(self, page: Page, what: str) -> None:
        page.log.append((self.env.now, page.refcount, what))
        if self.acct.trace is not None:
            self.acct.trace.add(events.refcount(page.index, self.env.now, page.refcount))

    def _trace_refs(self, op: str, holder: str, pages: list[Page]) -> None:
        """One REF event per kind of page (page cache, user buffer) in a get or put."""
        by_kind: dict[str, tuple[list[int], list[int]]] = {}
        for page in pages:
            indexes, ids = by_kind.setdefault(page.kind, ([], []))
            indexes.append(page.index)
            ids.append(page.serial)
        for kind, (indexes, ids) in by_kind.items():
            where = events.PAGE_CACHE if kind == FILE else events.USER_BUFFER
            self.acct.trace.add(events.ref(op, holder, self.env.now, where, indexes, ids))

    def get(self, pages: Iterable[Page], holder: str) -> None:
        """Take one reference on each page (``get_page``)."""
        if self.acct.trace is None and not self.watch:  # nothing to log: the bare loop
            for page in pages:
                if page.refcount <= 0:
                    self.acct.violation(f"get_page on freed {page!r} by {holder}")
                page.refcount += 1
            return
        if self.acct.trace is not None:
            pages = list(pages)
            self._trace_refs("get", holder, pages)
        for page in pages:
            if page.refcount <= 0:
                self.acct.violation(f"get_page on freed {page!r} by {holder}")
            page.refcount += 1
            if page.log is not None:
                self._log(page, f"get {holder}")

    def put(self, pages: Iterable[Page], holder: str) -> None:
        """Drop one reference on each page (``put_page``); free those that reach 0."""
        if self.acct.trace is None and not self.watch:  # nothing to log: the bare loop
            for page in pages:
                page.refcount -= 1
                if page.refcount <= 0:
                    self._freed(page, holder)
            return
        if self.acct.trace is not None:
            pages = list(pages)
            self._trace_refs("put", holder, pages)
        for page in pages:
            page.refcount -= 1
            if page.log is not None:
                self._log(page, f"put {holder}")
            if page.refcount <= 0:
                self._freed(page, holder)

    def get_frags(self, frags: Iterable[Any], holder: str) -> None:
        """``get`` on the page of each frag or pipe buffer, without a list of them."""
        if self.acct.trace is None and not self.watch:
            for frag in frags:
                page = frag.page
                if page.refcount <= 0:
                    self.acct.violation(f"get_page on freed {page!r} by {holder}")
                page.refcount += 1
            return
        self.get([frag.page for frag in frags], holder)

    def put_frags(self, frags: Iterable[Any], holder: str) -> None:
        """``put`` on the page of each frag or pipe buffer, without a list of them."""
        if self.acct.trace is None and not self.watch:
            for frag in frags:
                page = frag.page
                page.refcount -= 1
                if page.refcount <= 0:
                    self._freed(page, holder)
            return
        self.put([frag.page for frag in frags], holder)

    def _freed(self, page: Page, holder: str) -> None:
        """``page``'s count reached 0 (or went below: a bug) at a put by ``holder``."""
        if page.refcount < 0:
            self.acct.violation(f"refcount below zero on {page!r} by {holder}")
        elif page.in_cache:
            self.acct.violation(f"{page!r} freed while still in the page cache")
        else:
            self.live -= 1
