"""Scenario injections: a concurrent writer, memory pressure, truncation, segment loss.

Each is a SimPy process or a hook started by ``install``; all randomness comes from the
run's seeded ``env.rng``. Their own CPU work (a writer's stores, a COW copy) is charged to
the ``writer`` category, not to the transfer's copies, but it shares the cores and the bus.
"""

from __future__ import annotations

from iosim import events
from iosim.config import Scenario
from iosim.hw.wire import SegmentLoss
from iosim.kernel.page import ANON
from iosim.kernel.skbuff import SkBuff


class Writer:
    """Another task storing into the data in flight, as its kind dictates.

    ``write`` (write() syscall) and ``shared`` (MAP_SHARED store) change the page-cache page
    in place; ``private`` (MAP_PRIVATE store) faults a private copy first, so the page cache
    and the data in flight keep the old content; ``userbuf`` stores into the sending
    process's own buffer, which MSG_ZEROCOPY hands to the NIC by reference.
    """

    def __init__(self, m, sc: Scenario) -> None:
        self.m = m
        self.kind = sc.writer
        self.cowed: set[int] = set()  # pages the private writer already has its own copy of
        self.pending_at = sorted(sc.writer_at)

    def on_push(self, skb: SkBuff) -> None:
        """``writer_at``: store into an offset as soon as the skb carrying it is queued."""
        end = skb.seq + skb.len
        while self.pending_at and self.pending_at[0] < end:
            offset = self.pending_at.pop(0)
            if offset >= skb.seq:
                ev = self.m.env.timeout(0)
                ev.callbacks.append(lambda _ev, o=offset, s=skb: self.store(o, s))

    def run(self, rate_pages_per_s: float):
        """Poisson stores at ``rate_pages_per_s`` into the bytes in flight."""
        env, sock = self.m.env, self.m.socket
        while not self.m.finished:
            yield env.timeout(env.rng.expovariate(rate_pages_per_s))
            if sock.rtx:
                last = sock.rtx[-1]
                offset = env.rng.randrange(sock.rtx[0].seq, last.seq + last.len)
                for skb in sock.rtx:  # the one holding the offset
                    if skb.seq <= offset < skb.seq + skb.len:
                        break
            else:
                offset = env.rng.randrange(self.m.scenario.size_bytes)
                skb = None
            self.store(offset, skb)

    def store(self, offset: int, skb: SkBuff | None) -> None:
        """One store into the page holding stream byte ``offset``."""
        m = self.m
        acct = m.acct
        acct.writer_stores += 1
        now = m.env.now
        page_bytes = m.page_bytes
        if self.kind == "userbuf":
            page = self._user_page(offset, skb)
            if page is not None:
                page.version = m.pages.next_user_version()
            m.cpu.run(now, m.profile.cpu.page_fault_s, "writer")
            if acct.trace is not None:
                acct.trace.add(events.user_store(now, page and page.serial, page and page.index))
            return
        if offset < m.stream_prefix_bytes:  # a header in user memory, copied: no file page
            m.cpu.run(now, m.profile.cpu.page_fault_s, "writer")
            if acct.trace is not None:
                acct.trace.add(events.user_store(now, None, None))
            return
        index = (m.scenario.offset_bytes + offset - m.stream_prefix_bytes) // page_bytes
        if self.kind == "private":
            copied = index not in self.cowed
            if copied:  # first store: fault, copy the page, map the copy
                self.cowed.add(index)
                acct.cow_copies += 1
                acct.cow_copy_bytes += page_bytes
                end = m.cpu.run(now, m.profile.cpu.page_fault_s, "writer")
                m.cpu.copy(end, page_bytes, "writer", counted=False)
            if acct.trace is not None:
                acct.trace.add(events.cow(index, now, copied))
            return
        version = m.file.store(index)
        page = m.cache.find(m.file, index)
        if page is not None:
            page.version = version
        if self.kind == "write":  # write(): a syscall and a copy into the page
            end = m.cpu.run(now, 2 * m.profile.cpu.mode_switch_s + m.profile.cpu.syscall_s,
                            "writer")
            m.cpu.copy(end, page_bytes, "writer", counted=False)
        else:  # a store to a MAP_SHARED page: the write fault that dirties it
            m.cpu.run(now, m.profile.cpu.page_fault_s, "writer")
        if acct.trace is not None:
            acct.trace.add(events.store(self.kind, index, now))

    def _user_page(self, offset: int, skb: SkBuff | None):
        """The user page a buffer store hits: one the skb references, if any."""
        if skb is not None:
            pos = skb.seq + skb.linear_len
            for frag in skb.frags:
                if pos <= offset < pos + frag.len and frag.page.kind == ANON:
                    return frag.page
                pos += frag.len
        return None


def _pressure(m, pages: int, interval_s: float | None):
    """Reclaim ``pages`` once data is in flight, then every ``interval_s``."""
    yield m.first_push
    while not m.finished:
        m.cache.reclaim(pages)
        if interval_s is None:
            return
        yield m.env.timeout(interval_s)


def _reader(m, rate_bytes_per_s: float):
    """A competing task streaming another file through the page cache at a rate."""
    from iosim.kernel.pagecache import File

    cache = m.cache
    chunk_pages = cache.ra_pages
    other = File("other.bin", 1 << 50, m.page_bytes)  # effectively endless
    index = 0
    while not m.finished:
        if cache.linux6:  # filemap_read's batches, each page referenced until "copied"
            end = index + chunk_pages
            while index < end:
                batch, wait = cache.get_batch(other, index, end, "other reader")
                if wait is not None:
                    yield wait
                    continue
                m.pages.put(batch, "other reader")
                index += len(batch)
            cache.ra_state(other).prev_pos = index * m.page_bytes
        else:
            _, wait = cache.read_pages(other, index, chunk_pages)
            index += chunk_pages
            if wait is not None:
                yield wait
        yield m.env.timeout(chunk_pages * m.page_bytes / rate_bytes_per_s)


def _truncate(m, at_s: float):
    yield m.env.timeout(at_s)
    if not m.finished:
        m.acct.truncated_inflight_pages += m.cache.truncate(m.file)
        if m.acct.trace is not None:
            m.acct.trace.add(events.truncate(m.env.now))


def install(m, sc: Scenario) -> None:
    """Start every injection the scenario asks for on machine ``m``."""
    env = m.env
    if sc.writer is not None:
        writer = Writer(m, sc)
        if sc.writer_at:
            m.socket.on_push.append(writer.on_push)
        if sc.writer_rate > 0:
            env.process(writer.run(sc.writer_rate))
    if sc.pressure > 0:
        env.process(_pressure(m, sc.pressure, sc.pressure_interval_s))
    if sc.pressure_reader > 0:
        env.process(_reader(m, sc.pressure_reader))
    if sc.truncate_at_s is not None:
        env.process(_truncate(m, sc.truncate_at_s))
    if sc.loss > 0 or sc.drop:
        m.socket.tcp.loss_possible = True
        m.wire.loss = SegmentLoss(env.rng, sc.loss, sc.drop)

