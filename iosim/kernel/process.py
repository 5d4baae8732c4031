"""The sending task: its syscall entry, its CPU clock, its blocking, and its user memory.

A task books CPU work ahead on its own clock and only yields to SimPy when it must wait or
hand work to another component; blocking on an event that has not yet fired is a context
switch (the scheduler runs something else), counted and costed.
"""

from __future__ import annotations

from iosim import events
from iosim.kernel.page import ANON, Page, Pages
from iosim.kernel.pagecache import DISK_READ_FAULT, File, PageCache
from iosim.kernel.skbuff import add_run
from iosim.timers import sleep


class Task:
    """One single-threaded process issuing syscalls."""

    def __init__(self, env, cpu, cpu_spec, pages: Pages, acct) -> None:
        self.env = env
        self.cpu = cpu
        self.spec = cpu_spec
        self.pages = pages
        self.acct = acct
        self.clock_s = 0.0  # when the task's booked CPU work ends
        self.busy_s = 0.0  # CPU time the task itself used (its core's utilisation)
        self.buffers = 0  # user buffers allocated so far: numbers them for the trace
        self._syscall_s = 2 * cpu_spec.mode_switch_s + cpu_spec.syscall_s  # entry + exit
        self.sleeping = False  # blocked in ``block``, or exited: its core is free
        self.on_sleep: list = []  # called when it blocks or exits (a task sharing its core)

    def charge(self, duration_s: float, category: str) -> None:
        """Book fixed CPU work on the task's clock."""
        now = self.env.now
        clock = self.clock_s
        self.clock_s = self.cpu.run(clock if clock > now else now, duration_s, category)
        self.busy_s += duration_s

    def copy(self, nbytes: int, src: str, dst: str, working_set_bytes: int | None = None,
             note: str = "", bandwidth_bytes_per_s: float | None = None, **args) -> None:
        """Book a CPU copy of ``nbytes`` from buffer ``src`` to ``dst`` on the task's clock;
        ``working_set_bytes`` is the size of what the source belongs to (see ``Cpu.copy``);
        ``args`` go into the trace (where in the file, which buffer)."""
        now = self.env.now
        start = self.clock_s if self.clock_s > now else now
        self.clock_s = self.cpu.copy(start, nbytes, "copy", True, working_set_bytes,
                                     bandwidth_bytes_per_s)
        self.busy_s += self.clock_s - start
        if self.acct.trace is not None:
            self.acct.trace.add(events.copy("cpu", events.CPU, src, dst, start, self.clock_s,
                                            nbytes, note, **args))

    def syscall(self, name: str) -> float:
        """Enter the kernel: a mode switch in, one out, and the syscall's fixed cost.

        Returns the entry time, for ``leave``.
        """
        acct = self.acct
        acct.syscalls += 1
        acct.mode_switches += 2
        now = self.env.now
        clock = self.clock_s
        start = clock if clock > now else now
        duration_s = self._syscall_s
        self.clock_s = self.cpu.run(start, duration_s, "syscall")
        self.busy_s += duration_s
        return start

    def leave(self, name: str, start_s: float, nbytes: int | None = None, src: str = "",
              dst: str = "", note: str = "", **args) -> None:
        """Trace the syscall ``name`` entered at ``start_s`` as returning now; ``src`` and
        ``dst`` are what it moves data between, ``note`` its flags."""
        if self.acct.trace is not None:
            self.acct.trace.add(events.syscall(name, start_s, max(self.env.now, self.clock_s),
                                               nbytes, src, dst, note, **args))

    def sync(self):
        """Let simulated time catch up with the work the task has booked: what to
        ``yield from`` (the timeout to its clock, or nothing: a tuple, not a generator, so
        a sync with nothing booked costs no generator; a timeout's value is None, which a
        tuple's iterator accepts)."""
        env = self.env
        now = env.now
        if self.clock_s > now:
            return (sleep(env, self.clock_s - now),)
        return ()

    def block(self, event, reason: str):
        """Wait for ``event``; if it has not fired, the task sleeps: a context switch."""
        yield from self.sync()
        before = self.env.now
        if self.on_sleep and not event.triggered:  # a task sharing its core may run now
            self.release_core()
        value = yield event
        self.sleeping = False
        if self.env.now > before:  # time passed while it slept
            self.acct.context_switches += 1
            self.acct.blocked_s[reason] = self.acct.blocked_s.get(reason, 0.0) + (
                self.env.now - before)
            self.charge(self.spec.context_switch_s, "context_switch")
            if self.acct.trace is not None:
                self.acct.trace.add(events.block(reason, before, self.env.now))
        return value

    def release_core(self, _event=None) -> None:
        """The task no longer wants its core: it sleeps, or its program ended."""
        self.sleeping = True
        for hook in self.on_sleep:
            hook()

    def fault(self) -> None:
        """Take one page fault (exception entry, handler, return)."""
        self.acct.page_faults += 1
        if self.acct.trace is not None:
            self.acct.trace.add(events.fault(max(self.env.now, self.clock_s)))
        self.charge(self.spec.page_fault_s, "fault")


class UserBuffer:
    """A malloc'd buffer: anonymous pages, each faulted in on first touch."""

    def __init__(self, task: Task, size_bytes: int, page_bytes: int, offset_bytes: int = 0
                 ) -> None:
        self.task = task
        self.size_bytes = size_bytes
        self.page_bytes = page_bytes
        self.offset_bytes = offset_bytes % page_bytes  # start address within its first page
        self.pages: list[Page | None] = [None] * (-(-(self.offset_bytes + size_bytes)
                                                    // page_bytes))
        self.label = events.USER_BUFFER
        self.number = task.buffers  # which of the task's buffers, for the trace
        task.buffers += 1
        self.untouched = len(self.pages)  # pages not yet faulted in
        self.working_set_bytes = size_bytes  # refilled before each use: a cache-sized buffer
        # stays in the cache

    def page_span(self, start: int, nbytes: int) -> range:
        """Indexes of the buffer pages holding bytes ``start .. start+nbytes-1``."""
        first = (self.offset_bytes + start) // self.page_bytes
        last = (self.offset_bytes + start + nbytes - 1) // self.page_bytes
        return range(first, last + 1)

    def touch(self, start: int, nbytes: int) -> None:
        """Fault in the pages under a byte range that were never touched."""
        if self.untouched:
            new = []
            for i in self.page_span(start, nbytes):
                if self.pages[i] is None:
                    self.task.fault()
                    self.pages[i] = self.task.pages.new(ANON, index=i)
                    self.untouched -= 1
                    new.append(self.pages[i])
            if new and self.task.acct.trace is not None:
                self.task.acct.trace.add(events.alloc(
                    events.USER_BUFFER, f"buffer {self.number}", self.task.env.now,
                    [p.index for p in new], [p.serial for p in new]))

    def copy_runs(self, start: int, nbytes: int):
        """copy_from_user (generator, like ``Mapping.copy_runs``): faults in never-touched
        pages and returns the content versions of the range."""
        self.touch(start, nbytes)
        yield from ()
        return self.runs(start, nbytes)

    def fill(self, start: int, runs: list[list[int]]) -> None:
        """Record that file data of version ``runs`` now occupies the buffer from ``start``.

        A page someone else still references (an skb frag or a pipe buffer that vmsplice
        made of it: ``fs/splice.c:vmsplice_to_pipe`` shares the page, it copies nothing)
        now holds other bytes than those references were given: it takes a new content
        version, so a reader of the old reference sees changed data."""
        pos = self.offset_bytes + start
        pages = self.pages
        pb = self.page_bytes
        fresh = None  # one new version for the referenced pages this refill overwrites
        for version, n in runs:
            end = pos + n
            for i in range(pos // pb, (end - 1) // pb + 1):
                page = pages[i]
                if page.refcount > 1:
                    if fresh is None:
                        fresh = self.task.pages.next_user_version()
                    page.version = fresh
                else:
                    page.version = version
            pos = end

    def runs(self, start: int, nbytes: int) -> list[list[int]]:
        """Content versions of a byte range, run-length encoded."""
        out: list[list[int]] = []
        pos = self.offset_bytes + start
        end = pos + nbytes
        if nbytes > 0:  # the common case: every page of the range holds one version
            pages = self.pages
            first = pos // self.page_bytes
            version = pages[first].version
            for i in range(first + 1, (end - 1) // self.page_bytes + 1):
                if pages[i].version != version:
                    break
            else:
                return [[version, nbytes]]
        while pos < end:
            i = pos // self.page_bytes
            n = min(end, (i + 1) * self.page_bytes) - pos
            add_run(out, self.pages[i].version, n)
            pos += n
        return out

    def free(self) -> None:
        """free(): drop the owner's reference on every page."""
        self.task.pages.put([p for p in self.pages if p is not None], "free")
        self.pages = [None] * len(self.pages)
        self.untouched = len(self.pages)


class Mapping:
    """A shared read mapping of a file (mmap): page-cache pages mapped on demand by faults."""

    def __init__(self, task: Task, cache: PageCache, file: File, fault_around_pages: int
                 ) -> None:
        self.task = task
        self.cache = cache
        self.file = file
        self.fault_around_pages = fault_around_pages
        self.mapped: dict[int, Page] = {}
        self.label = events.MAPPING
        self.working_set_bytes = file.size_bytes
        cache.on_unmap = self.unmap_page
        self._mark_used = cache.linux6
        if cache.linux6:
            self._fault = self._read_fault

    def _fault(self, index: int):
        """textbook: one fault on page ``index`` (generator): read it if needed, map it and,
        around it, the cached pages of its fault-around block."""
        while True:
            self.task.fault()
            pages, wait = self.cache.read_pages(self.file, index, 1)
            if wait is None:
                break
            # the fault holds the page while it waits for the disk
            self.task.pages.get(pages, "fault")
            yield from self.task.block(wait, DISK_READ_FAULT)
            self.task.pages.put(pages, "fault")
            if pages[0].in_cache:
                break  # else truncated meanwhile: fault again
        self._map(index, pages[0])
        self._map_around(index)

    def _read_fault(self, index: int):
        """linux-6 mm/memory.c:do_read_fault on page ``index`` (generator): fault-around
        first; if that did not map the page, mm/filemap.c:filemap_fault reads around a miss
        or starts the next window at a PG_readahead page (``PageCache.fault_page``), waits
        for the disk holding a reference, and the retried fault (VM_FAULT_RETRY, the same
        exception, so one fault) maps the block again; finish_fault maps a page that
        fault-around skips. mmap_miss (read-around switched off after 100 misses) is not
        modelled."""
        self.task.fault()
        tried = False
        while not self._map_around(index):
            page = self.cache.fault_page(self.file, index, tried)
            if page.uptodate:
                self._map(index, page)  # finish_fault
                return
            self.task.pages.get((page,), "fault")
            yield from self.task.block(page.io, DISK_READ_FAULT)
            self.task.pages.put((page,), "fault")
            tried = True  # retried; if truncated meanwhile, the page is looked up again

    def _map_around(self, index: int) -> bool:
        """mm/memory.c:do_fault_around -> filemap_map_pages over the fault-around block of
        ``index``: maps its cached pages but skips pages under I/O and read-ahead markers
        (next_uptodate_folio), so the access that reaches a marker faults and starts the
        next read-ahead. Returns whether page ``index`` is mapped now."""
        around = self.fault_around_pages
        if around <= 1:  # should_fault_around
            return False
        block = index - index % around
        mapped = self.mapped
        pages = self.task.pages
        if self.task.acct.trace is not None or pages.watch:  # one get per page, logged
            find = self.cache.find
            for i in range(block, min(block + around, self.file.npages)):
                if i not in mapped:
                    page = find(self.file, i)
                    if page is not None and page.uptodate and not page.readahead_mark:
                        self._map(i, page)
            return index in mapped
        base = self.cache.file_base(self.file)
        stop = min(block + around, self.file.npages)
        new = []
        for i, page in zip(range(block, stop), map(self.cache.lru.get,
                                                   range(base + block, base + stop)),
                           strict=True):
            if (page is not None and page.uptodate and not page.readahead_mark
                    and i not in mapped):
                page.mapcount += 1  # _map, with one get for the block
                mapped[i] = page
                new.append(page)
        if new:
            pages.get(new, "mmap")
            if self._mark_used:
                for page in new:
                    page.accessed = True
        return index in mapped

    def _map(self, index: int, page: Page) -> None:
        page.mapcount += 1
        self.task.pages.get((page,), "mmap")
        self.mapped[index] = page
        if self._mark_used:
            page.accessed = True  # in use by the process: not wasted read-ahead

    def copy_runs(self, start: int, nbytes: int):
        """copy_from_user over the mapping (generator): page by page, faulting on unmapped
        pages as it reaches them; returns the content versions it copied."""
        pb = self.cache.page_bytes
        out: list[list[int]] = []
        pos, end = start, start + nbytes
        mapped = self.mapped
        last = (end - 1) // pb
        while pos < end:
            index = pos // pb
            page = mapped.get(index)
            if page is None:
                yield from self._fault(index)
                page = mapped[index]
            version = page.version
            hi = index + 1  # with the mapped pages after it that hold the same version
            for p in map(mapped.get, range(hi, last + 1)):
                if p is None or p.version != version:
                    break
                hi += 1
            top = hi * pb
            n = (end if end < top else top) - pos
            if out and out[-1][0] == version:  # add_run, inline
                out[-1][1] += n
            else:
                out.append([version, n])
            pos += n
        return out

    def unmap_page(self, page: Page) -> None:
        """Reclaim's rmap walk: remove the PTE, so a later access faults again."""
        if self.mapped.get(page.index) is page:
            del self.mapped[page.index]
            page.mapcount -= 1
            self.task.pages.put((page,), "munmap")

    def unmap(self) -> None:
        """munmap(): drop every mapping."""
        pages = self.task.pages
        if self.task.acct.trace is not None or pages.watch:  # one put per page, logged
            for page in list(self.mapped.values()):
                self.unmap_page(page)
        else:
            gone = list(self.mapped.values())
            self.mapped.clear()
            for page in gone:
                page.mapcount -= 1
            pages.put(gone, "munmap")
        self.cache.on_unmap = None
