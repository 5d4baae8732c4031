"""iosim calibrate and iosim validate: a loadable profile, a well-formed report, charts, bad
input refused, nothing left behind. Accuracy is a benchmark figure
(benchmarks/validate_accuracy.py), never asserted here."""

from __future__ import annotations

import csv
import dataclasses
import glob
import json
import os
import tempfile

import pytest

import iosim
from iosim._version import model_version
from iosim.cli import main
from iosim.config import CHOICES, load_profile
from iosim.host import realpaths
from iosim.host import validate as val
from iosim.host.realpaths import child_pids

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or not os.path.isdir("/proc"),
                                reason="needs Linux (fork, /proc)")


def _temp_leftovers() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), realpaths.temp_prefix() + "*")))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """One quick calibration and one quick validation, through the command line."""
    out = tmp_path_factory.mktemp("validate")
    temps, children = _temp_leftovers(), child_pids()
    profile = out / "host.toml"
    assert main(["calibrate", "--quick", "--out", str(profile)]) == 0
    report_dir = out / "report"
    assert main(["validate", "--quick", "--sizes", "1MiB", "--profile", str(profile), "--json",
                 "--out", str(report_dir)]) == 0
    return {"profile": profile, "dir": report_dir, "temps": temps, "children": children}


def test_nothing_is_left_behind(runs):
    assert child_pids() == runs["children"]
    assert _temp_leftovers() == runs["temps"]
    assert not [p for p in os.listdir(runs["profile"].parent) if p.endswith(".tmp")]


def test_calibrate_writes_a_loopback_profile(runs):
    profile = load_profile(runs["profile"])
    assert profile.nic.loopback is True
    pages = profile.kernel.fault_around_bytes // profile.kernel.page_size_bytes
    assert pages >= 1 and pages & (pages - 1) == 0
    text = runs["profile"].read_text()
    assert "# measured " in text and "runs, spread" in text


def test_report_has_every_path_measured_and_predicted(runs, capsys):
    report = json.loads((runs["dir"] / "validate.json").read_text())
    assert report["cpu"] in os.sched_getaffinity(0) and report["repeats"] == val.QUICK_REPEATS
    assert len(report["load_average"]) == 2 and min(report["load_average"]) >= 0
    rows = report["rows"]
    assert {r["real_path"] for r in rows} == set(realpaths.PATHS) | {None}
    assert {r["path"] for r in rows} == set(val.REAL_TO_SIM.values()) | {"sendfile"}
    for row in rows:
        assert row["size_bytes"] == 1 << 20
        if row["skipped"] is not None:
            assert row["skipped"].strip() and row["measured_bytes_per_s"] is None
            continue
        assert 1e6 < row["measured_bytes_per_s"] < 1e12  # 1 MB/s .. 1 TB/s
        assert (row["measured_min_bytes_per_s"] <= row["measured_bytes_per_s"]
                <= row["measured_max_bytes_per_s"])  # one of the runs is the figure
        # paths short of clean runs get up to as many rounds again
        assert 0 <= row["undisturbed"] <= row["repeats"]
        assert val.QUICK_REPEATS <= row["repeats"] <= 2 * val.QUICK_REPEATS
        assert row["placement"] == "same" and row["sender_cpu"] == row["receiver_cpu"]
        assert row["congestion"] == report["congestion"]["default"]
        assert 0 < row["measured_wall_s"] < 10 and row["measured_syscalls"] > 0
        # one skb per loopback segment: at least 1 MiB over the 64 KiB MSS each
        assert row["measured_skbs"] >= 16 and row["predicted_skbs"] >= 16
        # the receiver's TCP as the kernel counted it: cannot merge more skbs than were sent
        coalesced = row["measured_backlog_coalesced"] + row["measured_queue_coalesced"]
        assert 0 <= coalesced < row["measured_skbs"]
        assert row["measured_zero_window_wanted"] >= 0 and row["measured_delayed_acks"] >= 0
        assert row["measured_sender_cpu_s"] >= 0 and row["measured_receiver_cpu_s"] >= 0
        assert row["measured_softirq_cpu_s"] >= 0
        assert row["measured_other_s"] == pytest.approx(
            row["measured_wall_s"] - row["measured_sender_cpu_s"]
            - row["measured_receiver_cpu_s"] - row["measured_softirq_cpu_s"])
        assert row["predicted_bytes_per_s"] > 0 and row["predicted_sender_cpu_s"] > 0
        assert row["throughput_error"] == pytest.approx(
            row["predicted_bytes_per_s"] / row["measured_bytes_per_s"] - 1)
    base = next(r for r in rows if r["path"] == val.BASELINE)
    assert base["measured_ratio"] == base["predicted_ratio"] == 1.0
    assert base["measured_ratio_low"] <= 1.0 <= base["measured_ratio_high"]
    sendfile = next(r for r in rows if r["path"] == "sendfile")
    assert "scatter-gather" in sendfile["skipped"]


def test_json_on_stdout_matches_the_file(runs, tmp_path, capsys):
    capsys.readouterr()
    assert main(["validate", "--quick", "--sizes", "64KiB", "--paths", "read_write,sendfile_sg",
                 "--repeats", "1", "--profile", str(runs["profile"]), "--json",
                 "--out", str(tmp_path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tmp_path / "validate.json").read_text())
    assert [r["real_path"] for r in printed["rows"]] == ["read_write", "sendfile", None]


def test_csv_holds_the_same_rows(runs):
    report = json.loads((runs["dir"] / "validate.json").read_text())
    with (runs["dir"] / "validate.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["path"] for r in rows] == [r["path"] for r in report["rows"]]


def test_charts_are_written(runs):
    png, svg = runs["dir"] / "validate.png", runs["dir"] / "validate.svg"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "throughput" in text
    assert svg.stat().st_size > 10_000


def test_table_lines_up_and_names_the_skips(runs):
    report = json.loads((runs["dir"] / "validate.json").read_text())
    rows = [val.Row(**r) for r in report["rows"]]
    v = val.Validation(rows=rows, profile="p", cpu=0, buffer_bytes=65536, repeats=3)
    table = v.table()
    assert "skipped: sendfile() without scatter-gather" in table
    skips = [line for line in table.splitlines() if "skipped:" in line]
    assert skips and all(line.count("skipped:") == 1 for line in skips)  # the reason, once
    assert "worst: throughput" in table and "sendfile_sg (sendfile)" in table


@pytest.mark.parametrize("argv, message", [
    (["validate", "--paths", "read_write,carrier_pigeon"], "unknown path 'carrier_pigeon'"),
    (["validate", "--sizes", "1MiB,lots"], "'lots'"),
    (["validate", "--sizes", "2GiB"], "1GiB"),
    (["validate", "--sizes", ""], "''"),
    (["validate", "--repeats", "0"], "at least 1"),
    (["validate", "--profile", "/nonexistent/host.toml"], "cannot read"),
    (["calibrate", "--out", "/"], "is a folder; expected a file name"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path):
    if argv[0] == "validate":
        argv = [*argv, "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as exc:  # argparse exits itself; main returns the rest
        raise SystemExit(main(argv))
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_unreadable_profile_is_refused(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[cpu\ncores = ")
    assert main(["validate", "--profile", str(bad), "--out", str(tmp_path)]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_an_interrupted_validation_leaves_nothing(monkeypatch, tmp_path, runs):
    temps, children = _temp_leftovers(), child_pids()

    def interrupted(sock, src_fd, size_bytes, buffer_bytes):
        sock.send(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setitem(realpaths.SENDERS, "splice", interrupted)
    assert main(["validate", "--quick", "--sizes", "64KiB", "--profile", str(runs["profile"]),
                 "--out", str(tmp_path)]) == 130
    assert child_pids() == children and _temp_leftovers() == temps


def test_a_refused_method_is_a_skip_not_a_failure(monkeypatch, tmp_path, runs):
    monkeypatch.setattr(realpaths, "SO_ZEROCOPY", 0x7FFF)  # no such option: ENOPROTOOPT
    result = val.validate(load_profile(runs["profile"]), sizes=(64 << 10,),
                          paths=("read_write", "msg_zerocopy"), repeats=2)
    zc = next(r for r in result.rows if r.path == "msg_zerocopy")
    assert zc.skipped and "SO_ZEROCOPY" in zc.skipped and zc.repeats == 0
    assert [r.path for r in result.compared()] == ["read_write"]


def _run(wall_s: float, cpu_s: float) -> realpaths.RealRun:
    size = 1 << 20
    return realpaths.RealRun("read_write", size, 65536, 1, wall_s=wall_s,
                             throughput_bytes_per_s=size / wall_s, sys_cpu_s=cpu_s / 2,
                             receiver_cpu_s=cpu_s / 2, syscalls=32)


def test_the_figure_is_the_median_undisturbed_run(runs):
    profile = load_profile(runs["profile"])
    clean = [_run(1.0e-3, 0.99e-3), _run(1.2e-3, 1.15e-3), _run(1.1e-3, 1.05e-3)]
    disturbed = _run(2.0e-3, 1.0e-3)  # half its wall time went to another task
    rows = val.compare(profile, 1 << 20, 65536, {"read_write": [*clean, disturbed]})
    row = rows[0]
    assert (row.undisturbed, row.repeats) == (3, 4)
    assert row.measured_wall_s == 1.1e-3
    assert row.measured_min_bytes_per_s == pytest.approx((1 << 20) / 2.0e-3)
    only_disturbed = val.compare(profile, 1 << 20, 65536, {"read_write": [disturbed]})[0]
    assert only_disturbed.undisturbed == 0 and only_disturbed.measured_wall_s == 2.0e-3
    assert only_disturbed.disturbed and not row.disturbed
    v = val.Validation(rows=[only_disturbed], profile="p", cpu=0, buffer_bytes=65536, repeats=1)
    assert v.worst()["throughput_error"] is None and not val.accuracy_goal_met(v)
    assert "DISTURBED" in v.table()


def test_on_two_cpus_idle_is_not_a_disturbance_but_other_tasks_are():
    split = dataclasses.replace(_run(2.0e-3, 1.0e-3), sender_cpu=0, receiver_cpu=1)
    assert val.is_clean(split)  # each CPU waits for the other: idle, not another task
    assert not val.is_clean(dataclasses.replace(split, others_cpu_s=0.3e-3))
    assert not val.is_clean(dataclasses.replace(split, steal_s=0.3e-3))
    assert val.is_clean(dataclasses.replace(split, others_cpu_s=0.1e-3, steal_s=0.05e-3))
    # on one CPU, a neighbour on the other CPU still shares the cache and the memory bus
    same = _run(1.0e-3, 1.0e-3)
    assert val.is_clean(same)
    assert not val.is_clean(dataclasses.replace(same, others_cpu_s=0.2e-3))


def test_paths_short_of_clean_runs_get_more_rounds(monkeypatch):
    made: list[str] = []

    def fake_run(path, size_bytes, buffer_bytes, repeats, **kwargs):
        made.append(path)
        # read_write's first three runs were disturbed, every other run is clean
        bad = path == "read_write" and made.count(path) <= 3
        return _run(2.0e-3 if bad else 1.0e-3, 1.0e-3)

    monkeypatch.setattr(realpaths, "run_real", fake_run)
    runs = val.measure(("read_write", "splice"), 1 << 20, 65536, 3, 0, lambda _m: None)
    # 3 rounds of both; read_write then has no clean run of the 2 it needs: 2 more rounds
    assert made.count("splice") == 3 and made.count("read_write") == 5
    assert sum(map(val.is_clean, runs["read_write"])) == 2


def test_placements_and_controllers_are_recorded(runs, tmp_path, capsys):
    from iosim.host.realpaths import congestion_controls

    default = congestion_controls().default
    if default is None or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs and a congestion-control sysctl")
    capsys.readouterr()
    assert main(["validate", "--quick", "--sizes", "256KiB", "--paths", "read_write,splice",
                 "--repeats", "1", "--placement", "both", "--cc", f"{default},nosuchcc",
                 "--profile", str(runs["profile"]), "--json", "--out", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["placements"]) == {"same", "split"}
    sender, receiver = report["placements"]["split"]
    assert sender != receiver and report["placements"]["same"][0] == report["placements"][
        "same"][1]
    cc = report["congestion"]
    assert cc["default"] == default and default in cc["available"] and cc["run"] == [default]
    assert "nosuchcc" in cc["refused"] and cc["refused"]["nosuchcc"].strip()
    measured = [r for r in report["rows"] if r["skipped"] is None]
    assert {(r["placement"], r["congestion"]) for r in measured} == {
        ("same", default), ("split", default)}
    for row in measured:
        assert (row["sender_cpu"], row["receiver_cpu"]) == tuple(
            report["placements"][row["placement"]])
        assert row["measured_others_cpu_s"] >= 0 and row["measured_steal_s"] >= 0
        assert row["measured_receiver_wakeups"] >= 0
        assert 0 <= row["measured_first_data_s"] <= row["measured_wall_s"]
        if row["congestion"] in CHOICES["kernel.tcp_congestion"]:  # the model has it
            assert val.sim_overrides(row["placement"], row["congestion"])[
                "kernel.tcp_congestion"] == row["congestion"]
        ratio_errors = [k for k in row if "ratio" in k and "err" in k]
        assert ratio_errors == ["ratio_error"] and row["ratio_error"] is not None
        assert row["measured_ratio_low"] <= row["measured_ratio_high"]


@pytest.mark.parametrize("argv, message", [
    (["validate", "--placement", "sideways"], "expected same, split or both"),
    (["validate", "--cc", "cubic,"], "congestion controller"),
    (["validate", "--cc", "a" * 20], "congestion controller"),
])
def test_bad_placement_or_controller_is_refused(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main([*argv, "--out", str(tmp_path)]))
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_new_twins_have_rows_like_the_first_paths(runs):
    report = json.loads((runs["dir"] / "validate.json").read_text())
    rows = {r["real_path"]: r for r in report["rows"] if r["real_path"]}
    keys = set(rows["read_write"])
    for real in ("writev_sendfile", "ktls_sendfile"):
        row = rows[real]
        assert set(row) == keys and row["path"] == real
        assert row["placement"] == "same"
        if row["skipped"] is None:
            assert row["congestion"] == report["congestion"]["default"]
            assert row["measured_bytes_per_s"] > 0 and row["predicted_bytes_per_s"] > 0
    assert rows["writev_sendfile"]["skipped"] is None  # sendfile works wherever read_write does
    assert "io_uring_send_zc" not in {r["path"] for r in report["rows"]}  # no twin: no row


def test_a_report_repredicted_with_the_same_model_and_profile_is_the_same(runs, tmp_path,
                                                                            capsys):
    """--from measures nothing: the real figures are the report's, and with the model and
    profile unchanged so is every prediction and error (the simulation is deterministic)."""
    source = runs["dir"] / "validate.json"
    before = json.loads(source.read_text())
    capsys.readouterr()
    assert main(["validate", "--from", str(source), "--profile", str(runs["profile"]),
                 "--json", "--out", str(tmp_path)]) == 0
    after = json.loads(capsys.readouterr().out)
    assert after == json.loads((tmp_path / "validate.json").read_text())
    assert after["rows"] == before["rows"]
    for key in ("host", "kernel", "date", "load_average", "placements", "congestion"):
        assert after[key] == before[key]
    assert after["model"] == before["model"] == model_version()  # the model held against


def test_a_repredicted_report_follows_the_profile(runs, tmp_path):
    """Twice the per-skb cost on the sending side: the same measurements, slower
    predictions for every path, the measured ratios untouched."""
    before = json.loads((runs["dir"] / "validate.json").read_text())
    profile = load_profile(runs["profile"])
    slower = profile.with_overrides({"cpu.per_skb": f"{2 * profile.cpu.per_skb_s}s"},
                                    origin="test")
    after = val.repredict(before, slower).to_dict()
    pairs = [(b, a) for b, a in zip(before["rows"], after["rows"], strict=True)
             if b["skipped"] is None]
    assert pairs
    for b, a in pairs:
        assert a["measured_bytes_per_s"] == b["measured_bytes_per_s"]
        assert a["measured_ratio"] == b["measured_ratio"]
        assert a["predicted_bytes_per_s"] < b["predicted_bytes_per_s"]
        assert a["throughput_error"] == pytest.approx(
            a["predicted_bytes_per_s"] / a["measured_bytes_per_s"] - 1)


@pytest.mark.parametrize("content, message", [
    (None, "--from needs --profile"),
    ("[1, 2]", "expected an iosim validate report"),
    ("{not json", "not JSON"),
    ('{"rows": [{"path": "read_write"}]}', "not an iosim validate report"),
])
def test_bad_from_is_one_line_and_exit_2(content, message, runs, tmp_path, capsys):
    source = tmp_path / "old.json"
    argv = ["validate", "--from", str(source), "--out", str(tmp_path / "out")]
    if content is not None:
        source.write_text(content)
        argv += ["--profile", str(runs["profile"])]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_from_refuses_to_overwrite_its_own_report(runs, capsys):
    assert main(["validate", "--from", str(runs["dir"] / "validate.json"), "--profile",
                 str(runs["profile"]), "--out", str(runs["dir"])]) == 2
    assert "would overwrite" in capsys.readouterr().err


def test_each_twin_is_simulated_as_the_program_it_runs():
    """A PathSpec's real_scenario is what its real twin does differently from the path's
    default program: vmsplice_splice's waits for the reader, so with a lagging reader on
    the other CPU validate's prediction delivers the file unchanged, as the twin does (the
    default program, refilling once ACKed, would send changed bytes)."""
    from iosim.paths import PATHS
    assert PATHS["vmsplice_splice"].real_scenario == {"reuse": "consumed"}
    report = {"rows": [dataclasses.asdict(val.Row(
                  "vmsplice_splice", "vmsplice_splice", 1 << 20, placement="split",
                  measured_bytes_per_s=1e9, measured_sender_cpu_s=1e-3))],
              "buffer_bytes": 10_000, "cpu": 0, "repeats": 1, "load_average": [0, 0],
              "date": "", "host": "", "kernel": ""}
    lagging = {"cpu.cores": 2, "cpu.split_rx_skb": "1ms", "cpu.split_rx_paged_skb": "1ms"}
    profile = load_profile("teaching").with_overrides(lagging, origin="test")
    row = val.repredict(report, profile).rows[0]
    case = profile.with_overrides(val.sim_overrides("split", None), origin="test")
    runs = {reuse: iosim.simulate("vmsplice_splice", 1 << 20, profile=case, cache="warm",
                                  buffer_bytes=10_000, zc_buffers=realpaths.ZC_BUFFERS,
                                  reuse=reuse) for reuse in ("acked", "consumed")}
    assert runs["acked"].changed_bytes > 0 == runs["consumed"].changed_bytes
    assert row.predicted_changed_bytes == 0 and row.predicted_time_s == runs[
        "consumed"].sim_time_s


def test_the_kept_campaigns_are_reports_with_their_profiles():
    """benchmarks/campaigns/*/: a validate.json whose every row names a path the model has,
    and the host.toml calibrated with it, loadable today (validate_accuracy --campaigns
    re-predicts them; a test would take minutes)."""
    from pathlib import Path

    from iosim.paths import PATHS
    folders = sorted((Path(__file__).resolve().parent.parent / "benchmarks" / "campaigns")
                     .glob("*/"))
    assert folders
    for folder in folders:
        report = json.loads((folder / "validate.json").read_text())
        assert report["rows"] and {r["path"] for r in report["rows"]} <= set(PATHS)
        assert load_profile(folder / "host.toml").nic.loopback
