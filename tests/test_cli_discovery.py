"""What a new user finds: --version, usage, keys, scenarios, tables that fit 100 columns,
exit statuses that tell a broken run from bad input, progress only where it helps."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

import iosim
from iosim import cli
from iosim._version import __version__, model_hash, model_version
from iosim.cli import main
from iosim.config import SCHEMA, bundled_profiles, bundled_scenarios, known_keys

ROOT = Path(__file__).resolve().parents[1]
MACHINE = sys.modules["iosim.machine"]


def run(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_version_names_the_package_and_the_model(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out == f"iosim {__version__}+{model_hash()}\n"
    assert len(model_hash()) == 12 and int(model_hash(), 16) >= 0


def test_the_model_hash_covers_the_model_not_the_front_ends(tmp_path, monkeypatch):
    import iosim._version as version

    package = tmp_path / "iosim"
    for rel in ("simulate.py", "cli.py", "hw/nic.py", "teach/quiz.py"):
        (package / rel).parent.mkdir(parents=True, exist_ok=True)
        (package / rel).write_text("x = 1\n")
    monkeypatch.setattr(version, "PACKAGE_DIR", package)

    def digest() -> str:
        version.model_hash.cache_clear()
        return version.model_hash()

    try:
        first = digest()
        (package / "cli.py").write_text("x = 2\n")
        (package / "teach" / "quiz.py").write_text("x = 2\n")
        assert digest() == first  # a front-end changed: stored runs stay valid
        (package / "hw" / "nic.py").write_text("x = 2\n")
        assert digest() != first  # the model changed: they do not
    finally:
        version.model_hash.cache_clear()


def test_bare_iosim_prints_usage_and_every_command(capsys):
    code, out, err = run(capsys)
    assert code == 0 and err == ""
    assert out.startswith("usage: iosim")
    for command in ("run", "compare", "sweep", "keys", "scenarios", "explain", "quiz",
                    "experiment", "diagram", "calibrate", "validate", "profiles", "paths"):
        assert command in out
    assert "exit status: 0 ok, 1 a run broke its invariants" in out


def test_keys_lists_every_profile_key_with_its_default_in_each_profile(capsys):
    code, out, _ = run(capsys, "keys")
    assert code == 0
    for dotted in known_keys():
        assert f"\n{dotted}  [" in f"\n{out}"
    section, key = "nic", "rate"
    block = out.split("nic.rate  [", 1)[1].split("\nnic.mtu", 1)[0]
    assert "unit needed" in block and SCHEMA[section][key][1] in block
    assert "hdd-1g-2010 1Gbit/s" in block and "nvme-100g-2024 100Gbit/s" in block
    assert "teaching 10Gbit/s" in block
    assert "scenario keys" in out and "writer_rate" in out
    assert max(len(line) for line in out.splitlines()) <= cli.TABLE_WIDTH
    _, only_kernel, _ = run(capsys, "keys", "kernel.p")
    listed = [line.split()[0] for line in only_kernel.splitlines() if not line.startswith(" ")]
    assert listed == [k for k in known_keys() if k.startswith("kernel.p")]
    assert {"kernel.page_size", "kernel.page_cache", "kernel.pipe_size"} <= set(listed)


def test_scenarios_lists_the_bundled_files_with_what_they_show(capsys):
    code, out, _ = run(capsys, "scenarios")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines() if not line.startswith(" ")]
    assert names == list(bundled_scenarios())
    assert "inplace-writer       write() into the file while zero-copy frags" in out
    assert "keys: writer, writer_at, size_bytes" in out


def test_profiles_and_paths(capsys):
    _, out, _ = run(capsys, "profiles")
    assert [line.split()[0] for line in out.splitlines()] == list(bundled_profiles())
    _, out, _ = run(capsys, "paths")
    assert [line.split()[0] for line in out.splitlines()] == list(iosim.PATHS)


def test_tables_fit_100_columns_unless_wide(capsys):
    code, out, _ = run(capsys, "compare", "--size", "256KiB", "--quiet", "--writer", "shared",
                       "--writer-at", "20480", "--loss", "0.01")
    assert code == 0
    assert max(len(line) for line in out.splitlines()[1:]) <= 100
    assert "not shown: mode sw" in out and "(--wide shows every column)" in out
    assert "integrity" in out and "mixed seg" in out  # the failure columns stay
    _, wide, _ = run(capsys, "compare", "--size", "256KiB", "--quiet", "--wide")
    head = wide.splitlines()[2]
    for column in ("mode sw", "faults", "membus", "CPU time", "syscalls"):
        assert column in head
    assert "not shown" not in wide
    _, record, _ = run(capsys, "run", "sendfile_sg", "--size", "1MiB", "--loss", "0.01",
                       "--writer", "shared", "--writer-at", "20480", "--pressure", "10")
    assert max(len(line) for line in record.splitlines()[1:]) <= 100
    assert "utilization:" in record


def test_a_run_that_breaks_its_invariants_exits_1_naming_the_run(capsys, monkeypatch):
    monkeypatch.setattr(MACHINE.Machine, "check_invariants",
                        lambda self: ["refcount of page 3 went below 0"])
    code, out, err = run(capsys, "run", "splice", "--size", "64KiB", "--json")
    assert code == 1
    assert json.loads(out)["invariant_violations"] == ["refcount of page 3 went below 0"]
    assert err == ("iosim: invariants broken in splice (1); first: splice: refcount of page 3 "
                   "went below 0\n")
    code, out, err = run(capsys, "compare", "--size", "64KiB", "--quiet")
    assert code == 1 and "invariants: read_write: refcount of page 3" in out
    assert err.startswith("iosim: invariants broken in read_write (1), mmap_write (1), ")


def test_a_sweep_says_which_runs_broke_invariants(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(MACHINE.Machine, "check_invariants",
                        lambda self: ["1 sk_buffs never freed"] if self.scenario.seed else [])
    spec = tmp_path / "s.toml"
    spec.write_text('[base]\npath = "splice"\nsize = "64KiB"\n[grid]\nseed = [0, 1]\n')
    code, out, err = run(capsys, "sweep", str(spec), "--out", str(tmp_path / "out"),
                         "--workers", "1", "--quiet")
    assert code == 1
    assert out.startswith(f"iosim sweep {spec}")
    assert err.startswith("iosim: 1 runs broke invariants; first: (path='splice', seed=1) ")
    assert err.rstrip().endswith(".json: 1 sk_buffs never freed")


def test_the_python_api_takes_what_the_command_line_takes():
    text = iosim.simulate("splice", "64KiB", overrides={"nic.loopback": "true",
                                                       "cpu.cores": "4", "wire.rtt": "0.0001",
                                                       "nic.rate": "25Gbit/s"},
                          seed="3", loss="0", cache="warm")
    assert text.profile["nic"]["loopback"] is True and text.profile["cpu"]["cores"] == 4
    assert text.profile["nic"]["rate_bytes_per_s"] == 25e9 / 8 and text.seed == 3
    typed = iosim.simulate("splice", 65536, overrides={"nic.loopback": True, "cpu.cores": 4,
                                                      "wire.rtt": 1e-4,
                                                      "nic.rate": "25Gbit/s"},
                           seed=3, loss=0.0, cache="warm")
    assert text.to_json() == typed.to_json()


def test_json_output_is_strict(capsys):
    _, out, _ = run(capsys, "compare", "--size", "64KiB", "--json", "--quiet")
    json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in --json output"))
    with pytest.raises(iosim.ConfigError, match="NaN or infinity"):
        cli._dumps({"x": float("nan")})


def test_values_that_start_with_a_dash_reach_their_own_check():
    assert cli._join_dash_values(["run", "x", "--truncate-at", "-1ms", "--json"],
                                 {"--truncate-at"}) == ["run", "x", "--truncate-at=-1ms",
                                                        "--json"]
    assert cli._join_dash_values(["--size", "--json"], {"--size"}) == ["--size", "--json"]


def test_progress_bars_stay_off_without_a_terminal(capsys):
    bar = cli._bar(100, "x", quiet=False)
    assert bar.disable  # pytest's stderr is no terminal
    assert cli._bar(100, "x", quiet=True).disable


def test_a_closed_pipe_is_a_quiet_exit(tmp_path):
    proc = subprocess.run(f"{sys.executable} -m iosim run read_write --size 4MiB --trace-text"
                          " | head -1", shell=True, capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout == "iosim run read_write --size 4MiB --trace-text\n"
    assert proc.stderr == ""


def test_python_dash_m_iosim_is_the_command(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["iosim", "paths"])
    with pytest.raises(SystemExit) as exc:
        runpy.run_module("iosim", run_name="__main__")
    assert exc.value.code == 0
    assert "sendfile_sg" in capsys.readouterr().out


def test_explain_and_diagram_take_the_machine_flags(capsys, tmp_path):
    code, out, _ = run(capsys, "explain", "sendfile_sg", "--set", "nic.sg=false")
    assert code == 0 and "set nic.sg=false" in out.replace("ARG ", "")
    png = tmp_path / "flow.png"
    code, out, _ = run(capsys, "diagram", "splice", "--size", "64KiB", "--out", str(png))
    assert code == 0 and png.stat().st_size > 0 and f"wrote {png}" in out


def test_model_version_is_what_the_sweep_store_keys_on(tmp_path):
    from iosim.sweep import run_sweep

    out = run_sweep({"base": {"path": "splice", "size": "64KiB"}}, tmp_path, workers=1,
                    progress=False)
    stored = json.loads(next((tmp_path / "runs").glob("*.json")).read_text())
    assert stored["model"] == model_version() and out.rows[0]["key"] == stored["key"]
