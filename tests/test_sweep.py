"""Parameter sweeps: rows in grid order wherever they run, resumable, failures kept, bad
specs refused before any run."""

import importlib
import importlib.util
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import iosim
from iosim import config
from iosim.cli import main
from iosim.sweep import run_sweep
from iosim.sweep.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
SWEEP = importlib.import_module("iosim.sweep")  # the module; iosim.sweep is the function

PATHS = ["read_write", "splice"]
RATES_BYTES_PER_S = [1e9 / 8, 40e9 / 8]  # 1 and 40 Gbit/s
SEEDS = [0, 1]
SMALL = {"base": {"size": "256KiB", "cache": "warm"},
         "grid": {"path": PATHS, "nic.rate": ["1Gbit/s", "40Gbit/s"], "seed": SEEDS}}


def test_rows_follow_the_grid_whatever_the_worker_count(tmp_path):
    one = run_sweep(SMALL, tmp_path / "one", workers=1)
    two = run_sweep(SMALL, tmp_path / "two", workers=2)
    assert one.rows == two.rows
    assert [(r["path"], r["nic.rate_bytes_per_s"], r["seed"]) for r in one.rows] == list(
        itertools.product(PATHS, RATES_BYTES_PER_S, SEEDS))
    csv = (tmp_path / "one" / "results.csv").read_bytes()
    assert csv == (tmp_path / "two" / "results.csv").read_bytes()
    assert csv.count(b"\n") == 1 + len(one.rows)
    assert (one.computed, one.reused, one.failed) == (8, 0, 0)


def test_a_row_holds_the_inputs_and_every_result_field_flattened(tmp_path):
    row = run_sweep(SMALL, tmp_path).rows[-1]
    r = iosim.simulate("splice", "256KiB", cache="warm", seed=1,
                       overrides={"nic.rate": "40Gbit/s"})
    assert row["error"] is None
    assert row["goodput_bps"] == r.goodput_bps and row["bottleneck"] == r.bottleneck
    assert row["cpu_time_by_category.copy"] == r.cpu_time_by_category["copy"]
    assert row["utilization.link"] == r.utilization["link"]
    assert json.loads(row["invariant_violations"]) == []
    assert (row["size_bytes"], row["cache"], row["profile"]) == (256 * 1024, "warm", "teaching")
    assert [c for c in row if c.startswith(("profile.", "nic.", "scenario."))] == [
        "nic.rate_bytes_per_s"]


def test_dask_local_cluster_gives_the_same_rows(tmp_path):
    pytest.importorskip("distributed")
    local = run_sweep(SMALL, tmp_path / "local", workers=2)
    dask = run_sweep(SMALL, tmp_path / "dask", workers=2, scheduler="local")
    assert dask.rows == local.rows


def test_tables_as_dataframe_and_parquet(tmp_path):
    pd = pytest.importorskip("pandas")
    pq = pytest.importorskip("pyarrow.parquet")
    frame = iosim.sweep(SMALL, tmp_path)
    assert isinstance(frame, pd.DataFrame) and len(frame) == 8
    assert list(frame.columns) == list(pq.read_table(tmp_path / "results.parquet").column_names)
    assert list(frame["seed"]) == SEEDS * 4


def test_a_killed_sweep_resumes_without_repeating_stored_runs(tmp_path):
    spec = tmp_path / "resume.toml"
    spec.write_text('[base]\nsize = "16MiB"\ncache = "warm"\n'
                    '[grid]\npath = "all"\nseed = {start = 0, stop = 9, step = 1}\n')
    total = 10 * len(iosim.PATHS)  # every path x 10 seeds
    out = tmp_path / "out"
    runs = out / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "iosim", "sweep", str(spec), "--out", str(out), "--workers", "1"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    deadline_s = time.monotonic() + 30
    while not (runs.exists() and any(runs.glob("*.json"))):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline_s
        time.sleep(0.005)
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted" in err
    stored = len(list(runs.glob("*.json")))
    assert 0 < stored < total
    assert not list(runs.glob(".*"))  # no half-written files

    resumed = run_sweep(spec, out, workers=1)
    assert (resumed.reused, resumed.computed, len(resumed.rows)) == (stored, total - stored,
                                                                     total)
    again = run_sweep(spec, out, workers=1)
    assert (again.reused, again.computed) == (total, 0)
    assert again.rows == resumed.rows


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    real = SWEEP.simulate

    def broken_for_splice_seed_1(path, size_bytes, **kwargs):
        if path == "splice" and kwargs["seed"] == 1:
            raise RuntimeError("model broke")
        return real(path, size_bytes, **kwargs)

    monkeypatch.setattr(SWEEP, "simulate", broken_for_splice_seed_1)
    with ThreadPoolExecutor(2) as executor:
        report = run_sweep(SMALL, tmp_path, executor=executor)
        failed = [r for r in report.rows if r["error"]]
        assert [(r["path"], r["seed"], r["error"]) for r in failed] == [
            ("splice", 1, "RuntimeError: model broke")] * 2
        assert all("goodput_bps" not in r for r in failed)
        assert all(r["goodput_bps"] > 0 for r in report.rows if not r["error"])
        assert (report.computed, report.failed) == (8, 2)
        stored = json.loads((tmp_path / "runs" / f"{failed[0]['key']}.json").read_text())
        assert "model broke" in stored["traceback"]
        # A simulation error is deterministic: it is stored and not run again.
        assert run_sweep(SMALL, tmp_path, executor=executor).computed == 0


def test_a_batch_lost_by_the_executor_is_retried_next_time(tmp_path, monkeypatch):
    real = SWEEP.run_batch

    def worker_dies_on_splice(points, store_dir):
        if any(p.path == "splice" for p in points):
            raise OSError("worker died")
        return real(points, store_dir)

    monkeypatch.setattr(SWEEP, "run_batch", worker_dies_on_splice)
    with ThreadPoolExecutor(1) as executor:
        report = run_sweep(SMALL, tmp_path, executor=executor)
    assert {r["error"] for r in report.rows if r["path"] == "splice"} == {"OSError: worker died"}
    monkeypatch.setattr(SWEEP, "run_batch", real)
    retried = run_sweep(SMALL, tmp_path, workers=1)
    assert (retried.reused, retried.computed, retried.failed) == (4, 4, 0)


BAD_SPECS = [
    ('[grid]\n"nic.rat" = ["1Gbit/s"]', "[grid] unknown key 'nic.rat'; did you mean nic.rate"),
    ("[base]\nbufer_bytes = 4096", "[base] unknown key 'bufer_bytes'"),
    ('[grid.nic]\nrate = ["1Gbit/s", "fast"]', "key 'nic.rate': expected a rate"),
    ('[grid]\nbuffer_bytes = ["1MiB", "big"]', "key 'buffer_bytes': expected a size"),
    ("[grid]\nseed = 3", "[grid] key 'seed': expected a list or a range"),
    ('[grid]\n"nic.rate" = {start = "1Gbit/s", stop = "2Gbit/s", nun = 3}',
     "unknown range key 'nun'"),
    ('[grid]\n"nic.mtu" = [1500, 9000]\n"nic.tso_max" = [4096]',
     "(nic.mtu=9000, nic.tso_max=4096): key 'nic.tso_max'"),
    ("[base.nic]\nsgg = true", "[base] unknown key 'nic.sgg'; did you mean nic.sg"),
    ('[grid]\ncache = [["warm"]]', "[grid] key 'cache': expected a string, a number or"),
    ("[grid]\nseed = {start = 0, stop = 1e9, step = 1}", "the range has 1,000,000,001 values"),
]


@pytest.mark.parametrize(("body", "message"), BAD_SPECS)
def test_a_bad_spec_is_one_line_naming_the_key_before_any_run(tmp_path, capsys, body, message):
    spec = tmp_path / "bad.toml"
    spec.write_text('[base]\npath = "splice"\nsize = "64KiB"\n' + body.replace("[base]\n", ""))
    code = main(["sweep", str(spec), "--out", str(tmp_path / "out")])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"iosim: error: {spec}")
    assert message in err
    assert not (tmp_path / "out").exists()


def test_asking_for_dask_without_it_is_one_line(tmp_path, capsys, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "distributed" else find_spec(name, *a))
    code = main(["sweep", str(ROOT / "models" / "sweeps" / "bottleneck_map.toml"), "--out",
                 str(tmp_path / "out"), "--scheduler", "local"])
    _, err = capsys.readouterr()
    assert code == 2
    assert err == "iosim: error: --scheduler local needs Dask: pip install 'iosim[dask]'\n"
    assert not (tmp_path / "out").exists()


def test_scenario_keys_come_from_the_core_at_run_time(monkeypatch):
    monkeypatch.setitem(config.SCENARIO_DEFAULTS, "loss", 0.0)
    spec = load_spec({"base": {"path": "splice", "size": "1MiB"},
                      "grid": {"loss": {"start": 0, "stop": 0.02, "num": 3}}})
    assert spec.axes == {"loss": [0.0, 0.01, 0.02]}


def test_ranges_expand_in_the_unit_of_their_key():
    spec = load_spec({"grid": {
        "nic.rate": {"start": "1Gbit/s", "stop": "100Gbit/s", "num": 3, "scale": "log"},
        "size": {"start": "4KiB", "stop": "1MiB", "factor": 4},
        "seed": {"start": 0, "stop": 5, "step": 2},
        "wire.rtt": {"start": "10us", "stop": "30us", "num": 3},
        "path": "all"}})
    assert spec.axes == {"nic.rate": ["125000000.0B/s", "1250000000.0B/s", "12500000000.0B/s"],
                         "size_bytes": [4096, 16384, 65536, 262144, 1048576],
                         "seed": [0, 2, 4], "wire.rtt": [1e-05, 2e-05, 3e-05],
                         "path": list(iosim.PATHS)}


def _descendants(pid: int) -> list[int]:
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as fh:
            out += [int(child) for child in fh.read().split()]
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
def test_a_sweep_killed_with_sigkill_takes_its_workers_along_and_resumes_exactly(tmp_path):
    spec = tmp_path / "kill.toml"
    spec.write_text('[base]\nsize = "32MiB"\ncache = "warm"\n'
                    '[grid]\npath = ["read_write", "splice"]\nseed = [0, 1, 2, 3, 4, 5]\n')
    out = tmp_path / "killed"
    runs = out / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "iosim", "sweep", str(spec), "--out", str(out), "--workers",
         "2", "--quiet"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline_s = time.monotonic() + 60
    while not (runs.exists() and len(list(runs.glob("*.json"))) >= 2):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline_s
        time.sleep(0.005)
    workers = _descendants(proc.pid)
    assert len(workers) == 2
    proc.kill()  # SIGKILL: no handler runs in the sweep itself
    killed_s = time.monotonic()
    proc.communicate(timeout=10)  # its stdout and stderr close: nobody holds them
    while any(_alive(w) for w in workers):
        assert time.monotonic() - killed_s < 5, "a worker outlived its sweep"
        time.sleep(0.01)
    stored = len(list(runs.glob("*.json")))
    assert 0 < stored < 12
    assert not list(runs.glob(".*"))  # a worker stopped mid-write left no temporary

    resumed = run_sweep(spec, out, workers=2, progress=False)
    assert (resumed.reused, resumed.computed, resumed.failed) == (stored, 12 - stored, 0)
    whole = run_sweep(spec, tmp_path / "whole", workers=2, progress=False)
    assert (out / "results.csv").read_bytes() == (tmp_path / "whole" / "results.csv").read_bytes()
    assert resumed.rows == whole.rows


def test_a_scheduler_that_answers_passes_the_probe():
    import socket

    from iosim.sweep import executors

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        executors._probe(f"tcp://127.0.0.1:{server.getsockname()[1]}")


def _sigterm_while_writing() -> None:
    from iosim.sweep import executors

    executors.worker_init(os.getppid())
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # Ctrl-C is the parent's
    with executors.writing():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)  # still here: the file being written is finished first
        print("whole", flush=True)
    time.sleep(10)  # never reached: the worker ends once the file is whole


def _parent_gone() -> None:
    import threading

    from iosim.sweep import executors

    signal.signal(signal.SIGTERM, executors._on_sigterm)
    threading.Thread(target=executors._watch_parent, args=(-1,), daemon=True).start()
    time.sleep(10)  # the watcher sees another parent, SIGTERMs this (idle) main thread


@pytest.mark.parametrize(("target", "exitcode"), [
    (_sigterm_while_writing, -signal.SIGTERM),  # after the write: by the signal itself
    (_parent_gone, -signal.SIGTERM),  # idle: at once
])
def test_a_worker_exits_on_sigterm_writing_or_idle(target, exitcode):
    import multiprocessing

    process = multiprocessing.get_context("fork").Process(target=target)
    process.start()
    process.join(8)
    assert process.exitcode == exitcode


def test_a_remote_dask_cluster_gives_the_same_rows(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  protocol="tcp://", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        remote = run_sweep(SMALL, tmp_path / "remote", scheduler=cluster.scheduler_address,
                           progress=False)
    local = run_sweep(SMALL, tmp_path / "local", workers=1, progress=False)
    assert remote.rows == local.rows and remote.reused == 0
