"""iosim serve: many connections on one host, checked against simulate() and closed forms.

- one connection and one request reproduce ``simulate()`` (bytes, copies, syscalls), the
  server adding only its own calls: ``recv`` of the request, and ``epoll_wait`` for a worker;
- closed loop: Little's law, connections = throughput x (response time + think time);
- Zipf popularity on an LRU page cache: the Che approximation of the hit ratio;
- every byte of every response delivered once, every page reference released.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iosim.cli import main
from iosim.config import ConfigError, Scenario, load_profile
from iosim.experiments.server_scaling import che_hit_ratio
from iosim.paths import PATHS
from iosim.server.result import DOC_HEADER, FIELDS, field_table
from iosim.server.run import serve, zipf_cdf
from iosim.simulate import simulate
from iosim.sweep import run_sweep
from tests import strategies

TEACHING = load_profile("teaching")
HALF_RTT_S = TEACHING.wire.rtt_s / 2
CALL_S = 2 * TEACHING.cpu.mode_switch_s + TEACHING.cpu.syscall_s  # one syscall: 2 us


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("model, extra_calls", [("threads", 1), ("loop", 2)])
def test_one_request_is_simulate(path, model, extra_calls):
    """The thread wakes in recv() (a context switch) and reads the request: one syscall;
    a worker also returns from epoll_wait: two. Everything else is the path's own run."""
    size = 256 * 1024  # fits the teaching 1 MiB send buffer: no EAGAIN
    one = simulate(path, size, "teaching")
    # a path that writes its own header (writev_sendfile) sends it as part of the size
    head = Scenario(path, size).header_bytes if PATHS[path].sends_header else 0
    srv = serve(path, "teaching", connections=1, requests=1, file_size=size - head,
                header_bytes=head, model=model)
    assert srv.invariant_violations == []
    assert srv.requests == 1 and srv.eagain == 0
    assert srv.bytes_delivered == one.bytes_delivered == size
    assert srv.copies == one.copies and srv.cpu_copies == one.cpu_copies
    assert srv.syscalls == one.syscalls + extra_calls
    assert srv.context_switches == one.context_switches + 1
    assert srv.page_faults == one.page_faults and srv.disk_requests == one.disk_requests
    # the request crosses half the round trip; the wake-up and recv() may add their cost
    setup_s = srv.latency_max_s - HALF_RTT_S - one.sim_time_s
    assert -1e-12 <= setup_s <= TEACHING.cpu.context_switch_s + extra_calls * CALL_S + 1e-12


def test_one_request_is_simulate_on_linux6():
    """The same on Linux 6.x (autotuned send buffer), with blocking threads."""
    prof = "nvme-100g-2024"
    for path in PATHS:
        one = simulate(path, "1MiB", prof)
        head = Scenario(path, 1 << 20).header_bytes if PATHS[path].sends_header else 0
        srv = serve(path, prof, connections=1, requests=1, file_size=(1 << 20) - head,
                    header_bytes=head, model="threads")
        assert (srv.bytes_delivered, srv.copies, srv.syscalls) == (
            one.bytes_delivered, one.copies, one.syscalls + 1), path
        assert srv.invariant_violations == []


def test_small_files_cost_four_syscalls_per_request():
    """A 4 KiB file on one keep-alive connection, the worker asleep between requests:
    epoll_wait, recv, send(header, MSG_MORE), sendfile = 4 syscalls and 1 context switch
    (the wake-up from epoll_wait) per request; sendfile's own data moves by DMA only."""
    r = serve("sendfile_sg", "teaching", connections=1, requests=50, file_size="4KiB",
              cache="warm", think_time="1ms")
    assert r.invariant_violations == []
    assert r.syscalls == 4 * 50
    assert r.context_switches == 50
    header = 256
    assert r.bytes_delivered == 50 * (4096 + header)
    assert r.cpu_copies == pytest.approx(header / (4096 + header))  # the header's copy


def test_littles_law_closed_loop():
    """N = X (R + Z) within 1 %: each connection's cycles tile its time."""
    n, think_s = 8, 1e-3
    r = serve("read_write", "teaching", connections=n, requests=4000, file_size="16KiB",
              think_time=think_s)
    assert r.invariant_violations == []
    assert n / (r.requests_per_s * (r.latency_mean_s + think_s)) == pytest.approx(1, rel=0.01)


@pytest.mark.parametrize("alpha", [0.8, 1.1])
def test_zipf_lru_hit_ratio_is_che(alpha):
    """4096 one-page files, a 512-page cache: the hit ratio is Che's within 3 points."""
    files, capacity = 4096, 512
    r = serve("sendfile_sg", "teaching", overrides={"kernel.page_cache": f"{capacity * 4}KiB"},
              connections=2, requests=20_000, files=files, file_size="4KiB", zipf_alpha=alpha,
              cache="warm")
    assert r.invariant_violations == []
    cdf = zipf_cdf(files, alpha)
    popularity = [b - a for a, b in zip([0.0, *cdf], cdf, strict=False)]
    assert r.hit_ratio == pytest.approx(che_hit_ratio(popularity, capacity), abs=0.03)


@pytest.mark.parametrize("kernel", ["textbook", "linux-6"])
@pytest.mark.parametrize("model", ["loop", "threads"])
@pytest.mark.parametrize("path", list(PATHS))
def test_every_byte_once_and_every_reference_released(path, model, kernel):
    """Eviction under a small cache, lognormal sizes, keep-alive reconnects, two workers:
    the receivers got exactly the queued response bytes, and no page keeps a reference."""
    r = serve(path, "teaching", overrides={"kernel.page_cache": "1MiB", "kernel.model": kernel},
              connections=12, workers=2, model=model, requests=240, files=48,
              file_size="24KiB", size_sigma=1.0, zipf_alpha=0.9, requests_per_connection=7,
              think_time="50us")
    assert r.invariant_violations == []
    assert r.requests == 240
    assert r.bytes_delivered == r.body_bytes + 240 * 256  # kTLS framing is not payload
    assert r.evictions > 0


def test_open_loop_poisson():
    """Open loop well below capacity: throughput is the offered rate."""
    r = serve("sendfile_sg", "teaching", connections=8, arrival="open", rate=5000,
              requests=3000, cache="warm")
    assert r.invariant_violations == []
    assert r.requests == 3000
    assert r.requests_per_s == pytest.approx(5000, rel=0.05)


def test_full_send_buffer_returns_eagain_to_the_event_loop():
    """Files larger than the send buffer: a worker sees EAGAIN and serves the others."""
    r = serve("sendfile_sg", "teaching", overrides={"kernel.sndbuf": "64KiB"},
              connections=4, workers=1, requests=8, file_size="1MiB", cache="warm")
    assert r.invariant_violations == []
    assert r.eagain > 0
    assert r.bytes_delivered == 8 * (1 << 20) + 8 * 256


def test_same_inputs_same_result():
    kwargs = dict(connections=5, requests=60, files=20, zipf_alpha=1.0, size_sigma=0.5,
                  think_time="10us")
    assert serve("splice", **kwargs).to_json() == serve("splice", **kwargs).to_json()


@pytest.mark.parametrize("kwargs, message", [
    ({"connections": 0}, "key 'connections': expected a positive value, got 0"),
    ({"file_size": "12 apples"}, "key 'file_size'"),
    ({"zipf": 1.0}, "unknown serve key 'zipf'; did you mean 'zipf_alpha'?"),
    ({"model": "forks"}, "key 'model': expected one of loop, threads"),
    ({"arrival": "open"}, "key 'rate': expected a positive request rate"),
    ({"path": "carrier_pigeon"}, "key 'path': expected one of"),
    ({"connections": 10**7}, "key 'connections': expected at most 1,000,000"),
    ({"file_sizes": ["4KiB", 0]}, "key 'file_sizes_bytes': expected positive sizes"),
    ({"think_time": "-1ms"}, "key 'think_time_s': expected zero or more"),
])
def test_bad_input_is_one_line(kwargs, message):
    kwargs = {"path": "sendfile_sg", **kwargs}
    with pytest.raises(ConfigError) as err:
        serve(**kwargs)
    assert message in str(err.value) and "\n" not in str(err.value)


DOCS = Path(__file__).resolve().parent.parent / "docs" / "server.md"


def test_the_docs_table_is_current():
    assert DOCS.read_text() == DOC_HEADER + field_table(), (
        "regenerate: iosim fields --serve --markdown > docs/server.md")
    assert set(json.loads(serve().to_json())) == {f.name for f in FIELDS}


def test_cli_serve_json_and_spec_file(tmp_path, capsys):
    spec = tmp_path / "small.toml"
    spec.write_text('[serve]\npath = "splice"\nconnections = 3\nrequests = 12\n'
                    'file_size = "16KiB"\nzipf_alpha = 1.0\nfiles = 5\n')
    assert main(["serve", str(spec), "--requests", "9", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["path"], out["connections"], out["requests"]) == ("splice", 3, 9)
    assert out["invariant_violations"] == []
    assert main(["serve", "--path", "read_write", "--connections", "2", "--requests", "4"]) == 0
    text = capsys.readouterr().out
    assert "read_write x 2 connections" in text and "all hold" in text


@pytest.mark.parametrize("argv, message", [
    (["--connections", "-3"], "--connections: key 'connections': expected a positive value"),
    (["--file-size", "3apples"], "--file-size: key 'file_size_bytes'"),
    (["--requests", "3", "--duration", "1ms"], "give one of them, not both"),
    (["--path", "pigeon"], "--path: key 'path': expected one of"),
    (["missing.toml"], "missing.toml: cannot read serve spec"),
    (["--set", "nic.rate=fast"], "nic.rate"),
])
def test_cli_bad_input_is_one_line_exit_2(argv, message, capsys):
    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_fields_serve(capsys):
    assert main(["fields", "--serve"]) == 0
    assert "requests_per_s" in capsys.readouterr().out


def test_serve_specs_sweep_like_single_runs(tmp_path):
    """run = "serve": every grid point is an iosim.serve run, stored and reused."""
    spec = {"run": "serve", "base": {"requests": 12, "file_size": "16KiB", "files": 4},
            "grid": {"path": ["splice", "read_write"], "connections": [1, 3],
                     "nic.rate": ["1Gbit/s", "10Gbit/s"]}}
    first = run_sweep(spec, tmp_path, workers=1, progress=False)
    assert (first.computed, first.failed) == (8, 0)
    row = first.rows[-1]
    direct = serve("read_write", overrides={"nic.rate": "10Gbit/s"}, requests=12,
                   file_size="16KiB", files=4, connections=3)
    assert (row["path"], row["connections"], row["requests_per_s"]) == (
        "read_write", 3, direct.requests_per_s)
    again = run_sweep(spec, tmp_path, workers=1, progress=False)
    assert (again.computed, again.reused) == (0, 8)


def test_serve_sweep_bad_key_is_one_line():
    with pytest.raises(ConfigError, match=r"\[grid\] unknown key 'conections'; did you mean "
                                          r"connections\?"):
        run_sweep({"run": "serve", "grid": {"conections": [1, 2]}}, progress=False)
    with pytest.raises(ConfigError, match="key 'run': expected one of simulate, serve"):
        run_sweep({"run": "server", "grid": {"connections": [1, 2]}}, progress=False)


@settings(max_examples=40, deadline=None)
@given(path=strategies.paths, overrides=strategies.overrides,
       kernel=st.sampled_from(["textbook", "linux-6"]),
       model=st.sampled_from(["loop", "threads"]), connections=st.integers(1, 6),
       workers=st.integers(0, 3), files=st.integers(1, 12),
       size=st.integers(1, 48 * 1024), sigma=st.sampled_from([0.0, 1.2]),
       header=st.sampled_from([0, 1, 256, 5000]), rpc=st.integers(0, 3),
       cache=strategies.caches)
def test_property_every_byte_once_every_reference_released(
        path, overrides, kernel, model, connections, workers, files, size, sigma, header,
        rpc, cache):
    r = serve(path, "teaching", overrides={**overrides, "kernel.model": kernel},
              connections=connections, workers=workers, model=model, requests=3 * connections,
              files=files, file_size=size, size_sigma=sigma, header_bytes=header,
              requests_per_connection=rpc, zipf_alpha=1.0, cache=cache)
    assert r.invariant_violations == []
    assert r.requests == 3 * connections
    assert r.bytes_delivered == r.body_bytes + r.requests * header


def test_freed_buffers_come_back_from_the_heap_without_faults():
    """read_write allocates its 64 KiB buffer per response; the worker's heap keeps the
    freed pages mapped, so only the first response faults: 16 buffer pages and the one
    page of the 256-byte header buffer."""
    r = serve("read_write", "teaching", connections=1, requests=10, file_size="64KiB",
              cache="warm")
    assert r.invariant_violations == []
    assert r.page_faults == 64 * 1024 // 4096 + 1


def test_a_cache_miss_blocks_the_event_loop():
    """30 % hits: a worker asleep on the disk serves none of its other connections, so
    one or two workers are the limit where blocking threads overlap the reads."""
    kwargs = dict(overrides={"kernel.page_cache": "1MiB"}, connections=16, requests=400,
                  files=200, file_size="64KiB", zipf_alpha=0.8)
    one, two = (serve("sendfile_sg", model="loop", workers=w, **kwargs) for w in (1, 2))
    threads = serve("sendfile_sg", model="threads", **kwargs)
    for r in (one, two, threads):
        assert r.invariant_violations == [] and r.hit_ratio < 0.5
    assert one.bottleneck == two.bottleneck == "workers"
    assert one.disk_blocked_s > 0.5 * one.sim_time_s  # asleep in filemap_read most of it
    assert one.requests_per_s < two.requests_per_s < threads.requests_per_s
    assert threads.bottleneck == "link"


# --- TCP idle restart (RFC 2861) on keep-alive connections ----------------------------------
LINUX6 = {"kernel.model": "linux-6"}
RTO_S = TEACHING.wire.rtt_s + 0.2  # linux-6 tcp_set_rto: SRTT + tcp_rto_min = 200.1 ms


def _keepalive(think: str, overrides: dict | None = None, requests: int = 3):
    return serve("sendfile", "teaching", {**LINUX6, **(overrides or {})}, connections=1,
                 requests=requests, file_size="256KiB", header_bytes=0, cache="warm",
                 think_time=think)


@pytest.mark.parametrize("cwnd, idle_rtos, want", [
    (80, 1.5, 40),    # 1.5 - 1 = 0.5 > 0: one halving; 0.5 - 1 < 0 stops
    (80, 2.0, 40),    # 2 - 1 = 1 > 0: one; 1 - 1 = 0 is not > 0
    (80, 2.5, 20),    # two halvings
    (80, 10, 10),     # 80 -> 40 -> 20 -> 10: no longer above the initial window
    (15, 3, 10),      # 15 >> 1 = 7, raised to the initial window 10
    (8, 50, 8),       # below IW10 (after a loss): the old window is the floor
    (100, 1.0001, 50),  # called only past one RTO, so the first test is always > 0
])
def test_restart_window_halves_once_per_rto_after_the_first(cwnd, idle_rtos, want):
    """tcp_cwnd_restart: while ((delta -= rto) > 0 && cwnd > restart) cwnd >>= 1, and the
    result is max(cwnd, min(IW10, old cwnd))."""
    from iosim.kernel.tcp import restart_cwnd_segs

    assert restart_cwnd_segs(cwnd, 10, idle_rtos * 0.2, 0.2) == want


def test_an_idle_keepalive_connection_restarts_in_slow_start():
    """Think 10 s = 50 RTOs: every later response finds its connection idle with nothing
    out, so its window goes back to IW10 (any window halves to 10 in 50 halvings) and it
    takes exactly as long as the first one, which started in slow start from IW10. With
    the sysctl off the window stays open and the later responses are faster."""
    on = _keepalive("10s")
    off = _keepalive("10s", {"kernel.slow_start_after_idle": False})
    assert on.invariant_violations == off.invariant_violations == []
    assert on.cwnd_restarts == 2 and off.cwnd_restarts == 0  # requests 2 and 3
    assert on.latency_p50_s == pytest.approx(on.latency_max_s, rel=1e-9)
    assert off.latency_max_s == pytest.approx(on.latency_max_s, rel=1e-9)  # the first
    assert off.latency_p50_s < 0.7 * on.latency_p50_s


def test_a_short_think_time_keeps_the_window():
    """Think 150 ms: the idle time (think + one RTT + half an RTT, about 150.2 ms) is below
    the RTO (200.1 ms), so tcp_slow_start_after_idle_check does nothing."""
    short = _keepalive("150ms")
    assert short.cwnd_restarts == 0
    assert short.latency_p50_s < 0.7 * short.latency_max_s


@pytest.mark.parametrize("overrides", [{"kernel.model": "textbook"},
                                       {"kernel.tcp_congestion": "bbr"}])
def test_no_idle_restart_on_textbook_or_bbr(overrides):
    """The textbook kernel has no restart; BBR sets cong_control, which the check skips."""
    assert _keepalive("10s", overrides).cwnd_restarts == 0


# --- run bounds, as simulate()'s (iosim/limits.py) ------------------------------------------
def test_an_overloaded_open_loop_stops_when_no_byte_is_delivered(capsys):
    """10^9 requests/s on a 1 Mbit/s link: the first 1448-byte segment needs 11.6 ms on the
    wire, while the arrivals alone make about one event per ns. The stall bound (1,000,000
    events, counted 2048 at a time) trips after 489 x 2048 = 1,001,472 events, at about
    1 ms, with no byte delivered and the requests queued: one line, exit 1."""
    code = main(["serve", "--path", "sendfile_sg", "--arrival", "open", "--rate", "1e9",
                 "--requests", "10000000", "--file-size", "64KiB", "--set",
                 "nic.rate=1Mbit/s", "--json"])
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("iosim: stopped: serve sendfile_sg stopped after 1,001,472 events "
                          "without a byte delivered: 0 of 10,000,000 responses, 0 B delivered "
                          "at 1 ms simulated; ")
    assert "requests waiting for their connection" in err


def test_max_events_stops_a_serve_run_at_the_next_look(capsys):
    """--max-events 5000: the bounds are looked at every 2048 events, so the run stops at
    the first look past 5000, 3 x 2048 = 6144 events."""
    code = main(["serve", "--requests", "1000", "--max-events", "5000", "--json"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "stopped after 6,144 events, the most this run may take: " in err
    assert " of 1,000 responses" in err


def test_simulated_time_bound_stops_a_serve_run():
    from iosim.limits import Bounds, RunStopped

    with pytest.raises(RunStopped, match=r"simulated time passed 1 ms"):
        serve("sendfile_sg", "teaching", connections=4, requests=10_000,
              bounds=Bounds(max_sim_s=1e-3))


def test_bounds_never_change_a_finished_serve_run(capsys):
    """Default bounds, generous ones and a wall-clock limit (looked at every 64 events)
    give the same result: the bounds only read the run."""
    from iosim.limits import Bounds

    kw = dict(connections=8, requests=200, file_size="16KiB", think_time="1ms")
    a = serve("read_write", "teaching", **kw)
    b = serve("read_write", "teaching", **kw, bounds=Bounds(
        max_events=10**9, stall_events=10**9, max_sim_s=1e9, max_wall_s=3600))
    assert a.to_json() == b.to_json()
    d = serve("sendfile_sg", "teaching", connections=4, duration="5ms", file_size="4KiB")
    assert d.requests > 0 and d.invariant_violations == []
