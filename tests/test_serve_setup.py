"""A path's one-time set-up in a server: once per worker (io_uring's ring and registered
buffers) or once per connection (kTLS), not once per response.

Counts by hand from the kernel's behaviour: ``io_uring_setup`` (io_uring/io_uring.c) makes a
thread's ring and ``io_uring_register(IORING_REGISTER_BUFFERS)`` (io_uring/rsrc.c:
io_sqe_buffers_register) pins its buffers, once per worker thread; ``setsockopt(TCP_ULP,
"tls")`` (net/tls/tls_main.c:tls_init) and ``setsockopt(SOL_TLS, TLS_TX)``
(do_tls_setsockopt_conf) put state on the socket, once per connection, which every later
response on a keep-alive connection reuses. The syscalls are counted from the run's trace.
"""

from __future__ import annotations

from collections import Counter

import pytest

from iosim.config import Scenario, load_profile
from iosim.events import Kind
from iosim.machine import Machine
from iosim.paths import CONNECTION, PATHS, WORKER, SetUp
from iosim.server.run import serve
from iosim.simulate import simulate
from iosim.trace import Tracer

TEACHING = load_profile("teaching")
ZC_BUFFERS = Scenario("io_uring_send_zc", 1).zc_buffers  # 8 registered buffers per ring
BUFFER_PAGES = 64 * 1024 // 4096  # 16 pages per 64 KiB buffer
RING_PAGES = ZC_BUFFERS * BUFFER_PAGES  # 128 pages faulted in and pinned per registration


def calls(path: str, **spec) -> tuple[Counter, object]:
    """(syscalls by name, ServerResult) of one traced serve run on the teaching profile."""
    tracer = Tracer()
    r = serve(path, "teaching", tracer=tracer, **spec)
    assert r.invariant_violations == []
    counts = Counter(e.what for e in tracer.events if e.kind == Kind.SYSCALL)
    assert sum(counts.values()) == r.syscalls
    return counts, r


@pytest.mark.parametrize("workers, connections, each", [(1, 4, 5), (2, 8, 8), (4, 4, 3)])
def test_io_uring_ring_and_registration_once_per_worker(workers, connections, each):
    """W event-loop workers, C keep-alive connections of R responses each (64 KiB files fit
    the send buffer: no EAGAIN). Per response: recv, send(header, MSG_MORE), and one
    io_uring_enter per SQE (sq_batch 1: READ_FIXED, SEND_ZC); once per worker:
    io_uring_setup and io_uring_register, 128 pages faulted in and pinned. Before, every
    response made its own ring: W x 2 set-up calls were C x R x 2."""
    n = connections * each
    counts, r = calls("io_uring_send_zc", workers=workers, connections=connections,
                      requests=n, file_size="64KiB")
    assert r.eagain == 0 and r.requests == n
    assert counts["io_uring_setup"] == counts["io_uring_register"] == workers
    assert (counts["recv"], counts["send"], counts["io_uring_enter"]) == (n, n, 2 * n)
    assert r.syscalls == counts["epoll_wait"] + 4 * n + 2 * workers
    assert r.cpu_time_by_category["pin"] == pytest.approx(
        workers * RING_PAGES * TEACHING.cpu.page_pin_s)
    # the ring's buffers and the header buffer (one page) fault in once per worker
    assert r.page_faults == workers * (RING_PAGES + 1)


def test_io_uring_one_ring_per_thread():
    """One blocking thread per connection: the thread is the worker, so C rings."""
    counts, r = calls("io_uring_send_zc", model="threads", connections=3, requests=12,
                      file_size="64KiB")
    assert counts["io_uring_setup"] == counts["io_uring_register"] == 3
    assert r.page_faults == 3 * (RING_PAGES + 1)


def test_io_uring_a_parked_response_gets_buffers_not_a_ring():
    """Files larger than the send buffer park a response on EAGAIN while the worker serves
    another connection; that one needs buffers of its own, so the ring registers one more
    group (IORING_REGISTER_BUFFERS_UPDATE): still one io_uring_setup per worker, and every
    registration pins its 128 pages once. The four requests arrive together and each first
    send fills the 64 KiB send buffer, so the one worker has all four in progress: 4
    groups."""
    tracer = Tracer()
    r = serve("io_uring_send_zc", "teaching", tracer=tracer,
              overrides={"kernel.sndbuf": "64KiB"}, workers=1, connections=4, requests=8,
              file_size="1MiB", cache="warm")
    assert r.invariant_violations == [] and r.eagain > 0
    regs = Counter(e.note for e in tracer.events
                   if e.kind == Kind.SYSCALL and e.what == "io_uring_register")
    setups = sum(1 for e in tracer.events if e.kind == Kind.SYSCALL
                 and e.what == "io_uring_setup")
    assert setups == 1 and regs["IORING_REGISTER_BUFFERS"] == 1
    groups = regs["IORING_REGISTER_BUFFERS"] + regs["IORING_REGISTER_BUFFERS_UPDATE"]
    assert groups == 4
    assert r.cpu_time_by_category["pin"] == pytest.approx(
        groups * RING_PAGES * TEACHING.cpu.page_pin_s)


@pytest.mark.parametrize("offload, per_connection", [(False, 2), (True, 3)])
def test_ktls_setsockopts_once_per_connection(offload, per_connection):
    """C keep-alive connections (no reconnects) of R responses on W workers: TCP_ULP and
    TLS_TX (and TLS_TX_ZEROCOPY_RO with offload) once per connection, 2C (3C), not 2CR;
    per response recv, send(header) and one sendfile (a 64 KiB file, one call)."""
    c, each = 4, 10
    counts, r = calls("ktls_sendfile", workers=2, connections=c, requests=c * each,
                      file_size="64KiB", cache="warm",
                      overrides={"nic.tls_offload": offload})
    n = c * each
    assert r.eagain == 0 and r.requests == n
    assert counts["setsockopt"] == per_connection * c
    assert (counts["recv"], counts["send"], counts["sendfile"]) == (n, n, n)
    assert r.syscalls == counts["epoll_wait"] + 3 * n + per_connection * c


def test_ktls_a_new_connection_sets_up_again():
    """One client slot, 4 requests per connection, 12 requests: 3 connections in turn, each
    with its own socket and so its own kTLS set-up (6 setsockopts); the two reconnects are
    accept4 + epoll_ctl each."""
    counts, r = calls("ktls_sendfile", connections=1, requests=12, requests_per_connection=4,
                      file_size="64KiB", cache="warm")
    assert counts["setsockopt"] == 2 * 3
    assert counts["accept4"] == counts["epoll_ctl"] == 2
    assert counts["sendfile"] == r.requests == 12


@pytest.mark.parametrize("path", list(PATHS))
def test_a_program_asks_for_the_set_ups_its_path_declares(path, monkeypatch):
    """What ``PathSpec.setup`` says is what the program asks its machine for."""
    asked = []
    set_up = Machine.set_up

    def recording(self, step, scenario):
        asked.append(step)
        return (yield from set_up(self, step, scenario))

    monkeypatch.setattr(Machine, "set_up", recording)
    simulate(path, "64KiB", "teaching")
    assert tuple(asked) == PATHS[path].setup
    assert all(step.scope in (WORKER, CONNECTION) for step in asked)


def test_a_set_up_names_a_known_scope():
    with pytest.raises(ValueError, match="scope 'process'"):
        SetUp("x", "process", lambda m, sc: iter(()))
