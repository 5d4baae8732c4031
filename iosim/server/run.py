"""A server: many connections on W workers and C cores sharing one host.

Every connection has its own socket and TCP state (``machine.Connection``, the kernel code
``simulate()`` runs); all of them share the page cache, the memory bus, the disk queue, the
cores and the NIC's link (``machine.Host``). Each response is an HTTP-style header written
with ``send(MSG_MORE)`` and the file sent by the chosen path's own program, so any
registered path serves. Clients run a closed loop (think time after each response) or an
open loop (Poisson arrivals), over keep-alive connections.
"""

from __future__ import annotations

import bisect
import gc
import math
import random
from array import array
from collections import deque
from typing import Any

from iosim import limits, units
from iosim.accounting import CPU_CATEGORIES
from iosim.config import ConfigError, Profile, Scenario, load_profile
from iosim.kernel import syscalls
from iosim.kernel.pagecache import File
from iosim.machine import Connection, Host
from iosim.paths import PATHS
from iosim.server.loop import CacheView, Request, Worker, close
from iosim.server.result import ServerResult
from iosim.server.spec import ServeSpec, make_spec
from iosim.trace import Tracer


def serve(path: str = "sendfile_sg", profile: str | Profile | None = None,
          overrides: dict[str, Any] | None = None, bounds: limits.Bounds | None = None,
          tracer: Tracer | None = None, **spec: Any) -> ServerResult:
    """Simulate a server sending files along ``path`` to many connections.

    ``spec`` keys are ``ServeSpec`` fields (``connections=100``, ``requests=10_000``,
    ``file_size="64KiB"``, ``zipf_alpha=0.9`` ...); ``profile`` a bundled name, a TOML
    path or a ``Profile``; ``overrides`` profile keys; ``bounds`` as for ``simulate()``
    (default: derived from the spec); ``tracer`` collects every worker's events, as in
    ``simulate()``. Raises ``ConfigError`` on bad input, ``limits.RunStopped`` at a bound.
    """
    if profile is not None and not isinstance(profile, Profile):
        spec["profile"] = profile
    s = make_spec(PATHS, path=path, **spec)
    prof = profile if isinstance(profile, Profile) else load_profile(s.profile)
    if overrides:
        prof = prof.with_overrides(overrides)
    return run(prof, s, bounds, tracer)


def run(profile: Profile, spec: ServeSpec, bounds: limits.Bounds | None = None,
        tracer: Tracer | None = None) -> ServerResult:
    """Run ``spec`` on ``profile``: the same inputs give the same ServerResult, always; a
    run past one of its ``bounds`` (events, events without a byte delivered, simulated
    time, wall clock) raises ``limits.RunStopped``, as ``simulate()`` does."""
    path = PATHS[spec.path]
    if path.overrides:
        profile = profile.with_overrides(path.overrides, origin=f"path {spec.path}")
    if profile.nic.loopback_split:  # its softirq core is the one sender's, core 0
        raise ConfigError(f"{profile.name}: key 'nic.loopback_split': expected false for "
                          "iosim serve (it places one loopback sender and its receiver), "
                          "got true")
    was_enabled = gc.isenabled()
    gc.disable()  # as simulate.run: reference counting frees the run's short-lived objects
    try:
        server = Server(profile, spec)
        server.acct.trace = tracer
        limits.drive(server.env, server.bounds(bounds), server.delivered_now, server.stop,
                     server.delivered_now)
        return server.result()
    finally:
        if was_enabled:
            gc.enable()


RESPONSE_UNITS = 8  # a response's own calls: epoll_wait, recv, the header's send, wake-ups


def file_sizes(spec: ServeSpec, rng: random.Random) -> list[int]:
    """Sizes of the file set: fixed, cycled from a list, or lognormal around the median."""
    if spec.file_sizes_bytes:
        sizes = spec.file_sizes_bytes
        return [sizes[i % len(sizes)] for i in range(spec.files)]
    if spec.size_sigma > 0:
        mu = math.log(spec.file_size_bytes)
        return [max(1, round(rng.lognormvariate(mu, spec.size_sigma)))
                for _ in range(spec.files)]
    return [spec.file_size_bytes] * spec.files


def zipf_cdf(n: int, alpha: float) -> list[float]:
    """Cumulative Zipf(``alpha``) popularity of ``n`` ranks (rank 1 the most popular)."""
    out = []
    total = 0.0
    for i in range(1, n + 1):
        total += i ** -alpha
        out.append(total)
    return [c / total for c in out]


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0..1) of sorted values."""
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class Client:
    """One client connection slot: its current connection and the worker serving it."""

    __slots__ = ("conn", "done", "fresh", "served", "set_ups", "want", "worker")

    def __init__(self, conn: Connection, worker: Worker) -> None:
        self.conn = conn
        self.worker = worker
        self.set_ups: dict[str, tuple] = {}  # the connection's: name -> (SetUp, handle)
        self.served = 0  # responses on the current connection
        self.fresh = False  # accepted, not yet served: accept() and epoll_ctl() to do
        self.want = 0  # stream offset the current response ends at
        self.done = None  # fires when the client holds byte ``want - 1``
        conn.client = self


class Server:
    """The host, its workers, the file set and the clients of one server run."""

    def __init__(self, profile: Profile, spec: ServeSpec) -> None:
        self.spec = spec
        self.profile = profile
        self.host = host = Host(profile, spec.seed)
        self.env = host.env
        self.acct = host.acct
        self.half_rtt_s = host.rtt_s / 2
        sizes = file_sizes(spec, random.Random(f"iosim-serve-files-{spec.seed}"))
        self.files = [File(f"file{i}", n, host.page_bytes) for i, n in enumerate(sizes)]
        self.cdf = zipf_cdf(len(self.files), spec.zipf_alpha)
        self.rng = random.Random(f"iosim-serve-requests-{spec.seed}")
        self.scenarios: dict[int, Scenario] = {}
        self.rmap: set = set()  # every live mapping's unmap (reclaim's rmap walk)
        host.cache.on_unmap = self._unmap
        if spec.cache == "warm":  # the most popular files first, as far as the cache holds
            room = host.cache.capacity_pages
            for f in self.files:
                if f.npages > room:
                    break
                host.cache.prefill(f, f.npages)
                room -= f.npages
        epoll = spec.model == "loop"
        count = (spec.workers or profile.cpu.cores) if epoll else spec.connections
        self.workers = [Worker(host, i, epoll) for i in range(count)]
        hot = min(sum(sizes), host.cache.capacity_pages * host.page_bytes)
        for w in self.workers:
            w.task.hot_set_bytes = hot
        self.program = PATHS[spec.path].program
        self.issued = 0
        self.latencies = array("d")
        self.end_s = 0.0
        self.body_bytes = 0
        self.response_bytes = 0
        self.framing_bytes = 0  # stream bytes that are no response's (kTLS record framing)
        self.lookups = self.hits = 0
        self.connections = 0
        self.problems: list[str] = []  # broken invariants of closed connections (first 100)
        self.delivered = 0  # bytes the closed connections' receivers got in order
        self.cwnd_restarts = 0  # idle restarts of the closed connections' windows
        self.clients = [Client(self._connect(), self.workers[i % count])
                        for i in range(spec.connections)]
        if spec.arrival == "closed":
            for c in self.clients:
                self.env.process(self._closed(c))
        else:
            self.queues = [deque() for _ in self.clients]
            self.waiting: list = [None] * len(self.clients)
            self.env.process(self._arrivals())
            for i, c in enumerate(self.clients):
                self.env.process(self._open(i, c))

    # --- connections -------------------------------------------------------------------
    def _connect(self) -> Connection:
        conn = Connection(self.host)
        self.connections += 1
        conn.wire.on_ack = lambda ack, sack, xid, conn=conn: self._acked(conn, ack, sack, xid)
        return conn

    def _acked(self, conn: Connection, ack: int, sack, xid: int) -> None:
        conn.socket.on_ack(ack, sack, xid)
        c = conn.client
        if c.done is not None and conn.receiver.rcv_nxt >= c.want:
            done, c.done = c.done, None
            done.succeed()

    def _close(self, c: Client) -> None:
        """The client closes a connection it got every response on; check what it held,
        and close the connection's set-ups with it."""
        self._check(c.conn)
        close(c.set_ups)
        c.conn.close(self.host)

    def _check(self, conn: Connection) -> None:
        sock, rx = conn.socket, conn.receiver
        self.delivered += rx.rcv_nxt
        self.cwnd_restarts += sock.tcp.cwnd_restarts
        if len(self.problems) >= 100:
            return
        if rx.rcv_nxt != sock.write_seq:
            self.problems.append(f"a connection's receiver got {rx.rcv_nxt} bytes in order, "
                                 f"its socket queued {sock.write_seq}")
        if sock.rtx or sock.tail is not None:
            self.problems.append(f"{len(sock.rtx)} sk_buffs of a connection never freed")
        if sock.zc_pending:
            self.problems.append(f"{len(sock.zc_pending)} MSG_ZEROCOPY completions never "
                                 f"sent")

    def _unmap(self, page) -> None:
        for unmap in list(self.rmap):
            unmap(page)

    # --- clients -----------------------------------------------------------------------
    def _take(self) -> bool:
        """Whether a client may start one more request."""
        s = self.spec
        if s.duration_s is not None:
            return self.env.now < s.duration_s
        if self.issued >= s.requests:
            return False
        self.issued += 1
        return True

    def _pick(self) -> File:
        return self.files[bisect.bisect_left(self.cdf, self.rng.random())] if len(
            self.files) > 1 else self.files[0]

    def _reconnect(self, c: Client):
        """Keep-alive exhausted: close, open a new connection (a handshake, one RTT)."""
        self._close(c)
        yield self.env.timeout(2 * self.half_rtt_s)
        c.conn = self._connect()
        c.conn.client = c
        c.served = 0
        c.fresh = True

    def _closed(self, c: Client):
        """Closed loop: request, response, think, again."""
        env = self.env
        yield env.timeout(self.half_rtt_s)  # the first request crosses the wire
        while self._take():
            rpc = self.spec.requests_per_connection
            if rpc and c.served >= rpc:
                yield from self._reconnect(c)
                yield env.timeout(self.half_rtt_s)
            sent_s = env.now - self.half_rtt_s
            yield from self._respond(c, self._pick())
            self.latencies.append(c.conn.receiver.last_delivery_s - sent_s)
            if self.spec.think_time_s:
                yield env.timeout(self.spec.think_time_s)
        self._close(c)

    def _arrivals(self):
        """Open loop: Poisson arrivals at ``rate``, to the connections in turn."""
        env = self.env
        n = 0
        while self._take():
            i = n % len(self.clients)
            self.queues[i].append(env.now)
            if self.waiting[i] is not None:
                ev, self.waiting[i] = self.waiting[i], None
                ev.succeed()
            n += 1
            yield env.timeout(self.rng.expovariate(self.spec.rate))
        for i, ev in enumerate(self.waiting):
            self.queues[i].append(None)  # no more requests
            if ev is not None:
                self.waiting[i] = None
                ev.succeed()

    def _open(self, i: int, c: Client):
        """Open loop on one connection: requests wait for the previous response (HTTP/1.1
        without pipelining); response time counts from the request's arrival."""
        env = self.env
        queue = self.queues[i]
        while True:
            if not queue:
                self.waiting[i] = env.event()
                yield self.waiting[i]
            arrived_s = queue.popleft()
            if arrived_s is None:
                break
            rpc = self.spec.requests_per_connection
            if rpc and c.served >= rpc:
                yield from self._reconnect(c)
            # the request leaves the client once the previous response is in
            yield env.timeout(max(arrived_s, env.now - self.half_rtt_s) + self.half_rtt_s
                              - env.now)
            yield from self._respond(c, self._pick())
            self.latencies.append(c.conn.receiver.last_delivery_s - arrived_s)
        self._close(c)

    # --- the server side ---------------------------------------------------------------
    def _respond(self, c: Client, file: File):
        """The request is at the server: the worker reads it, sends header and file, and
        the client waits for the last byte (generator)."""
        w = c.worker
        yield from w.acquire()
        task = w.task
        sock = c.conn.socket
        if c.fresh:  # a new connection: accept it and add it to the worker's epoll set
            task.leave("accept4", task.syscall("accept4"))
            if w.epoll:
                task.leave("epoll_ctl", task.syscall("epoll_ctl"), note="EPOLL_CTL_ADD")
            c.fresh = False
        task.leave("recv", task.syscall("recv"), note="request")
        find = self.host.cache.find
        self.lookups += file.npages
        self.hits += sum(1 for i in range(file.npages) if find(file, i) is not None)
        start_seq = sock.write_seq
        header = self.spec.header_bytes
        own_header = PATHS[self.spec.path].sends_header  # writev_sendfile: header + body
        if header and not own_header:
            buf = w.header_buffer(header, self.host.page_bytes)
            yield from syscalls.write(task, sock, buf, 0, header, more=True)
        sc = self.scenarios.get(file.size_bytes)
        if sc is None:
            extra = header if own_header else 0
            sc = self.scenarios[file.size_bytes] = Scenario(
                self.spec.path, file.size_bytes + extra, buffer_bytes=self.spec.buffer_bytes,
                header_bytes=extra, seed=self.spec.seed)
        req = Request(self.host, w, sock, file, CacheView(self.host.cache, self.rmap),
                      c.set_ups)
        yield from self.program(req, sc)
        yield from task.sync()
        w.release()
        c.served += 1
        c.want = sock.write_seq
        self.body_bytes += file.size_bytes
        self.response_bytes += c.want - start_seq
        self.framing_bytes += req.stream_extra_bytes
        if c.conn.receiver.rcv_nxt < c.want:
            c.done = self.env.event()
            yield c.done
        self.end_s = max(self.end_s, c.conn.receiver.last_delivery_s)

    # --- bounds ---------------------------------------------------------------------------
    def bounds(self, bounds: limits.Bounds | None) -> limits.Bounds:
        """``limits``' bounds scaled to this run: the work of the most responses it can make
        (``requests``, or what the link or memory bus carries in ``duration_s`` of the
        smallest response) at the largest response each, and their time: bytes at the
        slowest device plus, per connection in turn, a handshake, a round trip and the think
        time per response (plus the open loop's arrivals)."""
        s, host = self.spec, self.host
        sizes = [f.size_bytes for f in self.files]
        largest = max(sizes) + s.header_bytes
        if s.duration_s is None:
            responses = s.requests
        else:
            fastest = max(self.profile.nic.rate_bytes_per_s,
                          self.profile.membus.bandwidth_bytes_per_s)
            responses = math.ceil(s.duration_s * fastest / (min(sizes) + s.header_bytes)
                                  ) + s.connections
        pieces = -(-largest // min(s.buffer_bytes, host.page_bytes))
        work = responses * (pieces + -(-largest // host.nic.mss_bytes) + RESPONSE_UNITS)
        rounds = -(-responses // s.connections)
        wait_s = rounds * (4 * self.half_rtt_s + s.think_time_s)
        if s.duration_s is not None:
            wait_s += s.duration_s
        elif s.arrival == "open":
            wait_s += s.requests / s.rate
        sim_s = limits.SIM_BOUND_FACTOR * (responses * largest
                                           / limits.slowest_bytes_per_s(self.profile) + wait_s)
        return limits.scaled_bounds(bounds, work, sim_s)

    def delivered_now(self) -> int:
        """Bytes the clients hold: the closed connections' and the open ones' (in order,
        and out of order above a gap)."""
        return self.delivered + sum(
            w.receiver.rcv_nxt + sum(b - a for a, b in w.receiver.ooo)
            for w in self.host.wires.values())

    def stop(self, events: int, bound: str) -> None:
        """A bound was reached: raise ``RunStopped`` with what the run got done."""
        s = self.spec
        n = len(self.latencies)
        asked = f"{n:,} of {s.requests:,}" if s.duration_s is None else f"{n:,}"
        waiting = (sum(len(q) for q in self.queues) if s.arrival == "open" else 0)
        raise limits.RunStopped(
            f"serve {s.path} stopped after {bound}: {asked} responses, "
            f"{units.format_size(self.delivered_now())} delivered at "
            f"{units.format_time(self.env.now)} simulated"
            + (f"; {waiting:,} requests waiting for their connection" if waiting else ""),
            path=s.path, events=events, responses=n, sim_time_s=self.env.now)

    # --- the record ---------------------------------------------------------------------
    def invariants(self) -> list[str]:
        """End-of-run checks: every response byte delivered once, every reference released."""
        host = self.host
        for w in self.workers:
            if w.header is not None:
                w.header.free()
            close(w.set_ups)  # the thread exits
        out = list(self.acct.violations) + self.problems
        if self.delivered != self.response_bytes:
            out.append(f"clients got {self.delivered} bytes in order, the responses were "
                       f"{self.response_bytes}")
        out.extend(host.cache.cached_refs_ok()[:10])
        if host.pages.live != len(host.cache.lru):
            out.append(f"{host.pages.live - len(host.cache.lru)} pages outside the page "
                       f"cache never freed")
        return out

    def result(self) -> ServerResult:
        """The ServerResult of the finished run."""
        violations = self.invariants()
        host, acct, spec = self.host, self.acct, self.spec
        t = self.end_s
        n = len(self.latencies)
        ordered = sorted(self.latencies)
        cores = self.profile.cpu.cores
        cpu_by = {k: acct.cpu_time_s[k] for k in CPU_CATEGORIES}
        cpu_total = sum(cpu_by.values())

        def share(seconds: float, lanes: int = 1) -> float:
            return round(min(seconds / (lanes * t), 1.0), 6) if t > 0 else 0.0

        per_core = {k: share(v, cores) for k, v in cpu_by.items()}
        per_core["idle"] = round(max(0.0, 1.0 - sum(cpu_by.values()) / (cores * t)), 6
                                 ) if t > 0 else 0.0
        util = {"cpu": share(host.cpu.lanes.busy_s, cores),
                "link": share(host.nic.link.busy_s),
                "disk": share(host.disk.media.busy_s),
                "workers": share(sum(w.held_s for w in self.workers), len(self.workers))}
        membus = share(host.membus.busy_s)
        disk_blocked = sum(w.disk_blocked_s for w in self.workers)
        delivered = self.delivered - self.framing_bytes

        def per_byte(nbytes: int) -> float:
            return nbytes / delivered if delivered else 0.0

        def per_request(count: int) -> float:
            return count / n if n else 0.0

        return ServerResult(
            path=spec.path, model=spec.model, connections=spec.connections,
            workers=len(self.workers), cores=cores, requests=n, sim_time_s=t,
            requests_per_s=n / t if t > 0 else 0.0,
            goodput_bps=delivered * 8 / t if t > 0 else 0.0,  # 8 bits per byte
            bytes_delivered=delivered, body_bytes=self.body_bytes,
            latency_mean_s=sum(ordered) / n if n else 0.0,
            latency_p50_s=percentile(ordered, 0.50), latency_p95_s=percentile(ordered, 0.95),
            latency_p99_s=percentile(ordered, 0.99), latency_max_s=ordered[-1] if n else 0.0,
            think_time_s=spec.think_time_s,
            hit_ratio=self.hits / self.lookups if self.lookups else 0.0,
            membus_bytes_per_byte=per_byte(acct.membus_bytes), membus_utilization=membus,
            cpu_utilization=util["cpu"], cpu_time_by_category=cpu_by,
            cpu_per_core_by_category=per_core, worker_utilization=util["workers"],
            disk_utilization=util["disk"], link_utilization=util["link"],
            copies=per_byte(acct.cpu_copy_bytes + acct.dma_copy_bytes),
            cpu_copies=per_byte(acct.cpu_copy_bytes), dma_copies=per_byte(acct.dma_copy_bytes),
            syscalls=acct.syscalls, syscalls_per_request=per_request(acct.syscalls),
            context_switches=acct.context_switches,
            context_switches_per_request=per_request(acct.context_switches),
            eagain=sum(w.eagain for w in self.workers),
            disk_blocked_s=disk_blocked, page_faults=acct.page_faults,
            disk_requests=acct.disk_requests, evictions=acct.evictions,
            retransmits=acct.retransmits, cwnd_restarts=self.cwnd_restarts,
            bottleneck=bottleneck(membus, util, disk_blocked / (len(self.workers) * t)
                                  if t > 0 else 0.0),
            invariant_violations=violations, seed=spec.seed, spec=spec.to_dict(),
            profile=self.profile.to_dict(), cpu_time_s=cpu_total,
        )


def bottleneck(membus: float, util: dict[str, float], disk_blocked: float) -> str:
    """What limits the server (see ``ServerResult.bottleneck``); ``disk_blocked`` is the
    workers' share of time asleep on disk reads."""
    if membus >= 0.9:
        return "membus"
    util = {**util, "membus": membus}
    busiest = max(util, key=util.get)
    if util[busiest] >= 0.9:
        return busiest
    if disk_blocked >= 0.5:
        return "disk"
    if util[busiest] >= 0.5:
        return busiest
    return "clients"
