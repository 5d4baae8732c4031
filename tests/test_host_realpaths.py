"""Real loopback transfers: right bytes, plausible numbers, skips with reasons, nothing left."""

from __future__ import annotations

import glob
import os
import signal
import tempfile
import time

import pytest

from iosim.host import realpaths
from iosim.host.realpaths import PATHS, child_pids, loopback_peer, run_all, run_real, source_file

MIB = 1 << 20
pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or not os.path.isdir("/proc"),
                                reason="needs Linux (fork, /proc)")


def _temp_leftovers() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), realpaths.temp_prefix() + "*")))


@pytest.fixture(autouse=True)
def nothing_left_behind():
    """Every test must leave no child process and no temporary file behind."""
    temps, children = _temp_leftovers(), child_pids()
    yield
    assert child_pids() == children
    assert _temp_leftovers() == temps


@pytest.fixture(scope="module")
def runs() -> dict[str, realpaths.RealRun]:
    # An odd size and buffer: a transfer that gets offsets wrong fails the CRC check.
    return {r.path: r for r in run_all(MIB + 123, buffer_bytes=10_000, repeats=2, verify=True)}


def test_every_path_ran_or_says_why(runs):
    assert set(runs) == set(PATHS)
    for run in runs.values():
        if run.skipped is not None:
            assert run.skipped.strip(), run.path
            continue
        assert run.size_bytes == MIB + 123 and run.repeats == 2
        assert 0 < run.wall_s < 10
        assert 1e6 < run.throughput_bytes_per_s < 1e12  # 1 MB/s .. 1 TB/s
        assert run.throughput_bytes_per_s == pytest.approx(run.size_bytes / run.wall_s)
        assert run.user_cpu_s >= 0 and run.sys_cpu_s >= 0 and run.receiver_cpu_s >= 0
        assert run.user_cpu_s + run.sys_cpu_s < 10
        assert run.voluntary_context_switches >= 0 and run.involuntary_context_switches >= 0
        assert run.minor_faults >= 0


def test_syscall_counts_follow_the_method(runs):
    calls = -(-(MIB + 123) // 10_000)  # per-call chunks of buffer_bytes
    expected_min = {"read_write": 2 * calls, "mmap_write": calls + 2, "sendfile": 1,
                    "splice": 2 * calls, "msg_zerocopy": 2 * calls,  # zerocopy: read + send
                    "writev_sendfile": 2,  # send(header, MSG_MORE) + sendfile(rest)
                    "ktls_sendfile": 1,
                    "vmsplice_splice": 3 * calls}  # read + vmsplice + splice per buffer
    for path, run in runs.items():
        if run.skipped is None:
            assert run.syscalls >= expected_min[path], path
    if runs["sendfile"].skipped is None:
        assert runs["sendfile"].syscalls <= 2  # each call asks for the rest of the file
    if runs["read_write"].skipped is None:
        assert runs["read_write"].syscalls < 3 * calls


def test_skbs_sent_are_counted_from_tcp_info(runs):
    """tcpi_data_segs_out: on loopback one segment per skb, each at most the lo MTU's MSS
    (65536 - 40 B of headers - 12 B of timestamps), so a transfer takes at least size / MSS
    of them; a 10 000-byte send() makes at most two skbs (its head may fill the unsent tail,
    the rest starts one), so read_write takes at most two per call."""
    mss_bytes = 65536 - 40 - 12
    calls = -(-(MIB + 123) // 10_000)
    for path, run in runs.items():
        if run.skipped is None and path != "ktls_sendfile":  # TLS records add bytes
            assert run.data_segments >= -(-(MIB + 123) // mss_bytes), path
    if runs["read_write"].skipped is None:
        assert runs["read_write"].data_segments <= 2 * calls


NETSTAT = ("TcpExt: SyncookiesSent DelayedACKs TCPBacklogCoalesce TCPRcvCoalesce"
           " TCPWantZeroWindowAdv\nTcpExt: 0 7 120 33 4\n"
           "IpExt: InNoRoutes InOctets\nIpExt: 0 123\n")


def test_receive_counters_read_the_tcpext_pair_of_lines(tmp_path):
    good = tmp_path / "netstat"
    good.write_text(NETSTAT)
    assert realpaths.receive_counters(str(good)) == {
        "backlog_coalesced": 120, "queue_coalesced": 33, "zero_window_wanted": 4,
        "delayed_acks": 7}
    short = tmp_path / "short"  # an older kernel without one of them: unknown, not zero
    short.write_text(NETSTAT.replace(" TCPWantZeroWindowAdv", "").replace(" 33 4", " 33"))
    assert realpaths.receive_counters(str(short)) is None
    torn = tmp_path / "torn"  # a value line shorter than its names
    torn.write_text(NETSTAT.replace("0 7 120 33 4", "0 7 120"))
    assert realpaths.receive_counters(str(torn)) is None
    assert realpaths.receive_counters(str(tmp_path / "missing")) is None
    before = realpaths.receive_counters(str(good))
    after = {key: value + 2 for key, value in before.items()}
    assert realpaths.counters_delta(before, after) == dict.fromkeys(before, 2)
    assert realpaths.counters_delta(None, after) is None


def test_receive_counters_are_bounded_by_the_skbs_sent(runs):
    """The kernel's receiver can merge at most every skb but the first into another."""
    for path, run in runs.items():
        if run.skipped is None and run.receive is not None:
            merged = run.receive["backlog_coalesced"] + run.receive["queue_coalesced"]
            assert 0 <= merged < run.data_segments, path
            assert min(run.receive.values()) >= 0, path


def test_zerocopy_outcome_is_reported(runs):
    for path, run in runs.items():
        if path != "msg_zerocopy":
            assert run.zerocopy_copied is None
    zc = runs["msg_zerocopy"]
    if zc.skipped is None:
        assert zc.zerocopy_copied is True  # loopback always falls back to copying


@pytest.mark.parametrize("path", ["writev_sendfile"])
@pytest.mark.parametrize("size_bytes", [1, realpaths.HEADER_BYTES, realpaths.HEADER_BYTES + 1,
                                        3 * 4096 + 17])
def test_new_twins_move_exactly_the_files_bytes(path, size_bytes):
    # run_real raises unless the receiver got size_bytes whose CRC-32 is the file's; sizes
    # at and around the header and a buffer smaller than the pipe exercise every branch.
    run = run_real(path, size_bytes, buffer_bytes=4096, repeats=1, verify=True)
    assert run.skipped is None, run.skipped
    assert run.size_bytes == size_bytes and run.syscalls >= 1


def test_writev_sendfile_sends_only_a_header_when_the_file_is_that_short():
    run = run_real("writev_sendfile", realpaths.HEADER_BYTES, repeats=1, verify=True)
    assert run.syscalls == 1  # one send, no MSG_MORE (no body follows), no sendfile


def test_ktls_refused_is_a_skip(monkeypatch):
    monkeypatch.setattr(realpaths, "TCP_ULP", 0x7FFF)  # no such option: ENOPROTOOPT
    run = run_real("ktls_sendfile", MIB, repeats=1)
    assert run.skipped and "TCP_ULP" in run.skipped
    assert run.wall_s == 0 and run.syscalls == 0


def test_ktls_runs_or_says_why_the_kernel_refused():
    run = run_real("ktls_sendfile", MIB, repeats=1)
    if run.skipped is not None:  # no "tls" ULP here (module absent or not loadable)
        assert "TCP_ULP" in run.skipped or "TLS_TX" in run.skipped
    else:
        assert run.syscalls >= 1 and run.wall_s > 0


def test_splice_missing_is_a_skip(monkeypatch):
    monkeypatch.delattr(os, "splice")
    run = run_real("splice", MIB)
    assert run.skipped and "splice" in run.skipped
    assert run.wall_s == 0 and run.syscalls == 0


def test_zerocopy_refused_is_a_skip(monkeypatch):
    monkeypatch.setattr(realpaths, "SO_ZEROCOPY", 0x7FFF)  # no such option: ENOPROTOOPT
    run = run_real("msg_zerocopy", MIB, repeats=1)
    assert run.skipped and "SO_ZEROCOPY" in run.skipped


@pytest.mark.parametrize("kwargs", [
    {"path": "carrier_pigeon", "size_bytes": MIB},
    {"path": "sendfile", "size_bytes": 0},
    {"path": "sendfile", "size_bytes": realpaths.MAX_SIZE_BYTES + 1},
    {"path": "sendfile", "size_bytes": MIB, "buffer_bytes": 0},
    {"path": "sendfile", "size_bytes": MIB, "repeats": 0},
])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        run_real(**kwargs)


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_cleanup_on_error_and_interrupt(monkeypatch, error):
    def failing_sender(sock, src_fd, size_bytes, buffer_bytes):
        sock.send(b"partial")
        raise error

    monkeypatch.setitem(realpaths.SENDERS, "sendfile", failing_sender)
    with pytest.raises(type(error)):
        run_real("sendfile", MIB, repeats=1)


def test_interrupt_inside_an_mmap_send_stays_an_interrupt(monkeypatch):
    def interrupted_send_all(sock, view):  # the traceback keeps this slice of the mapping
        raise KeyboardInterrupt

    monkeypatch.setattr(realpaths, "_send_all", interrupted_send_all)
    with pytest.raises(KeyboardInterrupt):
        run_real("mmap_write", MIB, repeats=1)


def test_pinned_runs_put_sender_and_receiver_on_one_cpu(monkeypatch):
    cpu = max(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    seen: list[set[int]] = []
    real_child_main = realpaths._child_main

    def child_main(address, mode, verify, mark_bytes=0):
        assert os.sched_getaffinity(0) == {cpu}
        return real_child_main(address, mode, verify, mark_bytes)

    def sender(sock, src_fd, size_bytes, buffer_bytes):
        seen.append(os.sched_getaffinity(0))
        return realpaths._send_read_write(sock, src_fd, size_bytes, buffer_bytes)

    monkeypatch.setattr(realpaths, "_child_main", child_main)
    monkeypatch.setitem(realpaths.SENDERS, "read_write", sender)
    run = run_real("read_write", MIB, repeats=1, cpu=cpu, verify=True)
    assert run.skipped is None and seen == [{cpu}]
    assert os.sched_getaffinity(0) == before  # restored afterwards
    with pytest.raises(ValueError):
        run_real("read_write", MIB, cpu=10_000)


def test_source_file_is_cached_and_removed():
    with source_file(3 * MIB + 5) as path:
        assert os.path.getsize(path) == 3 * MIB + 5
        assert os.path.basename(os.path.dirname(path)).startswith(realpaths.TEMP_PREFIX)
    assert not os.path.exists(path)


def test_shared_source_of_the_wrong_size_is_refused():
    with source_file(MIB) as path, pytest.raises(ValueError):
        run_real("sendfile", 2 * MIB, source=path)


def test_echo_peer_round_trips_and_reports():
    with loopback_peer("echo") as peer:
        peer.sock.sendall(b"hello")
        got = b""
        while len(got) < 5:
            got += peer.sock.recv(5 - len(got))
        report = peer.finish()
    assert got == b"hello" and report.received_bytes == 5


def test_child_pids_sees_a_child():
    pid = os.fork()
    if pid == 0:
        try:
            time.sleep(30)
        finally:
            os._exit(0)
    try:
        assert pid in child_pids()
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert pid not in child_pids()


def test_split_runs_put_the_receiver_on_another_cpu():
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("needs two CPUs")
    run = run_real("read_write", MIB, repeats=1, cpu=cpus[0], receiver_cpu=cpus[1])
    assert (run.sender_cpu, run.receiver_cpu) == (cpus[0], cpus[1])
    assert run.others_cpu_s >= 0 and run.steal_s >= 0 and run.receiver_softirq_cpu_s >= 0
    assert 0 < run.first_data_s <= run.wall_s and run.receiver_wakeups >= 0


def test_the_congestion_controller_is_set_and_reported():
    controls = realpaths.congestion_controls()
    if controls.default is None:
        pytest.skip("no congestion-control sysctl")
    assert controls.default in controls.available
    run = run_real("read_write", MIB, repeats=1, congestion=controls.default)
    assert run.congestion == controls.default
    assert run_real("read_write", MIB, repeats=1).congestion == controls.default


def test_an_unknown_controller_is_a_reason_or_a_skip():
    why = realpaths.prepare_congestion("nosuchcc")
    assert why and "nosuchcc" in why and "available" in why
    assert "not a congestion controller name" in realpaths.prepare_congestion("bad name!")
    run = run_real("read_write", MIB, repeats=1, congestion="nosuchcc")
    assert run.skipped and "TCP_CONGESTION" in run.skipped


def test_marks_say_when_each_multiple_arrived():
    with loopback_peer("drain", mark_bytes=100_000) as peer:
        peer.sock.sendall(bytes(250_000))
        report = peer.finish()
    assert report.received_bytes == 250_000 and len(report.marks_ns) == 2
    assert report.first_data_ns <= report.marks_ns[0] <= report.marks_ns[1] <= report.last_data_ns


@pytest.mark.parametrize("buffer_bytes", [10_000, 100_000])  # 100 kB: two pipe rounds each
def test_the_vmsplice_twin_waits_for_the_reader_and_keeps_the_bytes(buffer_bytes):
    """Reusing a vmspliced buffer once SIOCOUTQ shows it ACKed corrupts a loopback stream
    (the receive queue's skbs still reference its pages); the twin also waits for the
    receiver's count, so every repeat's CRC-32 is the file's (run_real raises otherwise)."""
    size = 8 * MIB + 17
    run = run_real("vmsplice_splice", size, buffer_bytes=buffer_bytes, repeats=3, verify=True)
    if run.skipped is not None:
        pytest.skip(run.skipped)
    buffers = -(-size // buffer_bytes)
    assert run.syscalls >= 3 * buffers  # read, vmsplice, splice per buffer (and polls)
