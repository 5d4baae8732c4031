"""Each experiment runs quickly, writes PNG, SVG and CSV, and its CSV is iosim.simulate's."""

import csv
import json

import pytest

import iosim
from iosim import cli
from iosim.experiment import available, cell, result_columns, run_experiment

EXPERIMENTS = ["copies", "bandwidth_vs_size", "whatif_hardware", "failure_modes", "timeline"]


def test_every_experiment_is_available():
    assert sorted(EXPERIMENTS) == available()


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_quick_run_writes_charts_and_replayable_csv(name, tmp_path, capsys):
    assert run_experiment(name, ["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    files = sorted(tmp_path.iterdir())
    assert not [f for f in files if f.name.startswith(".")], "temporary files left behind"
    for ext in ("png", "svg", "csv"):
        made = [f for f in files if f.suffix == f".{ext}"]
        assert made, ext
        assert all(f.stat().st_size > 0 for f in made)
        assert all(f"wrote {f}" in out for f in made)
    with (tmp_path / f"{name}.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    for row in rows:
        expected = result_columns(iosim.simulate(**json.loads(row["inputs"])))
        assert {k: row[k] for k in expected} == {k: cell(v) for k, v in expected.items()}


def test_failure_modes_says_which_sweeps_ran(tmp_path, capsys):
    from iosim.config import SCENARIO_DEFAULTS

    run_experiment("failure_modes", ["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    with (tmp_path / "failure_modes.csv").open() as fh:
        sweeps = {row["sweep"] for row in csv.DictReader(fh)}
    assert {"misaligned_file", "misaligned_buffer_dma_page"} <= sweeps
    if "loss" in SCENARIO_DEFAULTS:
        assert "loss" in sweeps
    else:
        assert "loss" not in sweeps
        assert "no 'loss' scenario key" in out


def test_cli_runs_an_experiment(tmp_path, capsys):
    assert cli.main(["experiment", "copies", "--quick", "--out", str(tmp_path)]) == 0
    assert f"wrote {tmp_path / 'copies.png'}" in capsys.readouterr().out


def test_cli_rejects_an_unknown_experiment(capsys):
    assert cli.main(["experiment", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown experiment 'nope'" in err
