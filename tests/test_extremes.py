"""Valid but extreme inputs (the ends of every key, at once) always get a clear answer: a
result whose invariants hold (exit 0), a stop at a bound in one line (exit 1), or a refusal
of the combination in one line (exit 2). Never a hang, a traceback or a broken run."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import iosim
from iosim.cli import main
from iosim.limits import Bounds, RunStopped
from tests import strategies as s

MAX_EVENTS = 20_000  # enough for every path to finish 256 KiB; a starving run stops here
WALL_LIMIT = "10s"  # events can be costly (reclaim of 100,000 pages every ns): a clock bound

FLAGS = {"writer": "--writer", "writer_rate": "--writer-rate", "writer_at": "--writer-at",
         "pressure": "--pressure", "pressure_interval_s": "--pressure-interval",
         "pressure_reader": "--pressure-reader", "truncate_at_s": "--truncate-at",
         "loss": "--loss", "drop": "--drop", "offset_bytes": "--offset",
         "buffer_offset_bytes": "--buffer-offset", "buffer_bytes": "--buffer",
         "zc_buffers": "--zc-buffers", "cache": "--cache", "seed": "--seed"}


def argv_of(path: str, size: int, overrides: dict, scenario: dict) -> list[str]:
    """The command line that asks for this run."""
    argv = ["run", path, "--size", str(size), "--json", "--quiet",
            "--max-events", str(MAX_EVENTS), "--wall-limit", WALL_LIMIT]
    for key, value in overrides.items():
        argv += ["--set", f"{key}={str(value).lower() if isinstance(value, bool) else value}"]
    for key, value in scenario.items():
        if value is None:
            continue
        text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        argv += [FLAGS[key], text]
    return argv


def _strict(text: str) -> object:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=refuse)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=s.paths, size=s.extreme_sizes, overrides=s.extreme_overrides,
       scenario=s.extreme_scenarios)
def test_an_extreme_run_ends_with_a_clear_answer(capsys, path, size, overrides, scenario):
    capsys.readouterr()  # one capture per example
    code = main(argv_of(path, size, overrides, scenario))
    out, err = capsys.readouterr()
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in err
    if code == 0:
        r = _strict(out)
        assert r["invariant_violations"] == []
        assert r["bytes_delivered"] == size
        assert all(math.isfinite(v) for v in r["utilization"].values())
        assert err == ""
    else:
        assert err.count("\n") == 1
        assert err.startswith("iosim: error: " if code == 2 else "iosim: stopped: ")
        assert out == ""


@settings(max_examples=20, deadline=None)
@given(path=s.paths, size=s.extreme_sizes, overrides=s.extreme_overrides,
       scenario=s.extreme_scenarios)
def test_the_api_gives_the_same_answers(path, size, overrides, scenario):
    scenario = {k: v for k, v in scenario.items() if v is not None}
    try:
        r = iosim.simulate(path, size, overrides=overrides, bounds=Bounds(max_events=MAX_EVENTS),
                           **scenario)
    except iosim.ConfigError as exc:
        assert "\n" not in str(exc)
    except RunStopped as exc:
        message = str(exc)
        assert "\n" not in message and "stopped after" in message
        assert exc.facts["events"] >= MAX_EVENTS or any(
            bound in message for bound in ("without a byte", "simulated time passed"))
    else:
        assert r.invariant_violations == [] and r.bytes_delivered == size


def test_a_writer_that_overloads_the_cpu_stops_saying_so():
    with pytest.raises(RunStopped) as exc:
        iosim.simulate("splice", "1MiB", writer="write", writer_rate=1e6,
                       bounds=Bounds(stall_events=20_000))
    message = str(exc.value)
    assert message.startswith("splice stopped after ")
    assert "events without a byte delivered" in message
    # a write() store costs 2 mode switches + a syscall + a 4 KiB copy: 1 + 1 + 2.048 us on
    # the teaching profile, so 1e6 stores/s keep 4.048 of its 2 cores busy
    assert "keep 202% of the 2 cores busy" in message


def test_a_lossy_link_stops_at_the_simulated_time_bound():
    with pytest.raises(RunStopped, match=r"simulated time passed 1 s.*loss 0\.999"):
        iosim.simulate("sendfile_sg", "64KiB", loss=0.999, bounds=Bounds(max_sim_s=1.0))


def test_the_wall_clock_limit_stops_a_run():
    with pytest.raises(RunStopped, match="wall-clock limit of 1e-09 s"):
        iosim.simulate("read_write", "4MiB", buffer_bytes=100, bounds=Bounds(max_wall_s=1e-9))


def test_a_stopped_run_exits_1_with_one_line(capsys):
    code = main(["run", "read_write", "--size", "4MiB", "--buffer", "100", "--max-events",
                 "5000", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.startswith("iosim: stopped: read_write stopped after 6,144 events, the most "
                          "this run may take: ") and err.count("\n") == 1
    assert out.startswith("iosim run read_write")  # the echo, then nothing


def test_a_stopped_path_in_compare_is_named_and_the_others_shown(capsys):
    code = main(["compare", "--size", "1MiB", "--buffer", "512", "--max-events", "3000",
                 "--quiet"])
    out, err = capsys.readouterr()
    assert code == 1
    stopped = [line.split()[2] for line in err.splitlines()]
    assert stopped and set(stopped) <= set(iosim.PATHS)
    assert set(stopped) | {p for p in iosim.PATHS if f"\n{p} " in out} == set(iosim.PATHS)


def test_default_bounds_scale_with_the_run():
    from iosim.limits import BASE_EVENTS, default_bounds

    p = iosim.load_profile("teaching")
    sc = iosim.config.make_scenario("read_write", "1GiB", iosim.PATHS)
    b = default_bounds(p, sc, None)
    # work: 262,144 pages (64 KiB buffer > page) + 741,535 segments of 1448 bytes (rounded up)
    assert b.max_events == BASE_EVENTS + 100 * (262_144 + 741_535)
    assert b.max_sim_s == 86_400.0  # a day: 1000 x 1 GiB at 1 GB/s is 1074 s, less
    slow = iosim.load_profile("teaching", {"nic.rate": "1Mbit/s"})
    assert default_bounds(slow, sc, None).max_sim_s == pytest.approx(1000 * 2**30 * 8 / 1e6)


def test_a_bound_never_changes_a_finished_run():
    a = iosim.simulate("msg_zerocopy", "1MiB", loss=0.01, seed=4)
    b = iosim.simulate("msg_zerocopy", "1MiB", loss=0.01, seed=4,
                       bounds=Bounds(max_events=10**9, stall_events=10**9, max_sim_s=1e9))
    assert a.to_json() == b.to_json()


def test_the_extremes_cover_every_profile_key():
    assert set(s.EXTREME_PROFILE) == set(iosim.config.known_keys())


@given(st.sampled_from(sorted(s.EXTREME_PROFILE)))
def test_every_extreme_profile_value_is_valid_alone(key):
    for value in s.EXTREME_PROFILE[key]:
        iosim.load_profile("teaching", {key: value})
