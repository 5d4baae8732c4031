"""Experiments: each runs quickly from the installed package, writes PNG, SVG and CSV under
out/NAME, its CSV is iosim.simulate's, and every chart shows what it claims."""

import csv
import io
import json
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from matplotlib.container import BarContainer

import iosim
from iosim import charts, cli
from iosim.experiments import available, harness, run_experiment, server_scaling
from iosim.experiments.harness import cell, result_columns

EXPERIMENTS = ["bandwidth_vs_size", "bottleneck_map", "copies", "failure_modes",
               "server_scaling", "timeline", "whatif_hardware"]
REPLAYED_ROWS = 8  # rows of each CSV simulated again (evenly spaced)


def test_every_experiment_is_available():
    assert available() == EXPERIMENTS


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """Run each experiment once, quick, keeping the figures it saved."""
    cache: dict[str, tuple[Path, str, dict]] = {}

    def run(name: str, *options: str):
        if name not in cache:
            out = tmp_path_factory.mktemp(name)
            figures = {}
            real = charts.save_figure

            def keep(fig, stem):
                figures[Path(stem).name] = fig
                return real(fig, stem)

            with pytest.MonkeyPatch.context() as mp, redirect_stdout(io.StringIO()) as stdout:
                mp.setattr(charts, "save_figure", keep)
                assert run_experiment(name, ["--quick", "--out", str(out), *options]) == 0
            cache[name] = (out, stdout.getvalue(), figures)
        return cache[name]

    return run


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_quick_run_writes_charts_and_replayable_csv(name, ran):
    out, stdout, figures = ran(name, *(["--workers", "2"] if name == "bottleneck_map" else []))
    files = sorted(p for p in out.iterdir() if p.is_file())
    assert not [f for f in files if f.name.startswith(".")], "temporary files left behind"
    for ext in ("png", "svg", "csv"):
        made = [f for f in files if f.suffix == f".{ext}"]
        assert made, ext
        assert all(f.stat().st_size > 0 for f in made)
        assert all(f"wrote {f}" in stdout for f in made)
    assert figures
    with (out / f"{name}.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    step = max(1, len(rows) // REPLAYED_ROWS)
    for row in rows[::step]:
        if name == "server_scaling":  # iosim.serve's rows
            inputs = json.loads(row["inputs"])
            expected = server_scaling.row(row["panel"], inputs, iosim.serve(**inputs))
            assert {k: row[k] for k in expected} == {k: cell(v) for k, v in expected.items()}
            continue
        result = iosim.simulate(**json.loads(row["inputs"]))
        if name == "bottleneck_map":  # the chart's own columns
            assert row["bottleneck"] == result.bottleneck
            assert float(row["goodput_gbit_per_s"]) == result.goodput_bps / 1e9
        else:
            expected = result_columns(result)
            assert {k: row[k] for k in expected} == {k: cell(v) for k, v in expected.items()}


def _path_series(ax):
    """(xs, ys) of each path's line in a panel (the line labelled with the path's name)."""
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
            for line in ax.get_lines() if line.get_label() in iosim.PATHS}


@pytest.mark.parametrize("name", ["bandwidth_vs_size", "whatif_hardware", "failure_modes"])
def test_every_line_panel_shows_a_trend(name, ran):
    """A panel of lines against a swept value claims that something changes along it."""
    _, _, figures = ran(name)
    panels = 0
    for stem, fig in figures.items():
        for ax in fig.axes:
            series = _path_series(ax)
            if not series:
                continue
            panels += 1
            assert len(series) == len(iosim.PATHS), (stem, ax.get_title())
            assert any(len(set(xs)) > 1 and len(set(ys)) > 1 for xs, ys in series.values()), (
                f"{stem}: panel {ax.get_title()!r} is flat for every path")
    assert panels >= 2 * len(figures)


def test_no_bar_runs_off_its_axes(ran):
    _, _, figures = ran("copies")
    for fig in figures.values():
        for ax in fig.axes:
            top = ax.get_ylim()[1]
            for bars in ax.containers:
                if isinstance(bars, BarContainer):
                    assert all(b.get_y() + b.get_height() < top for b in bars), ax.get_title()


def test_copies_chart_shows_cold_and_warm_syscalls(ran):
    out, _, figures = ran("copies")
    ax_sys = figures["copies"].axes[1]
    heights = [b.get_height() for bars in ax_sys.containers for b in bars]
    with (out / "copies.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(heights) == sorted(float(r["syscalls"]) for r in rows)
    # why warm bars too: MSG_ZEROCOPY polls more warm (its completions are not back yet)
    cold, warm = (iosim.simulate("msg_zerocopy", "1MiB", cache=c).syscalls
                  for c in ("cold", "warm"))
    assert warm > cold


# the issue-17 paths after writev_sendfile that a writer reaches
NEW_VERDICTS: set[tuple[str, str]] = {("writer_userbuf", "vmsplice_splice"),
                                      ("writer_userbuf", "io_uring_send_zc")}


def test_failure_charts_answer_their_question(ran):
    out, _, figures = ran("failure_modes")
    with (out / "failure_modes.csv").open() as fh:
        rows = list(csv.DictReader(fh))

    def of(sweep, path, col):
        return [float(r[col]) for r in rows if r["sweep"] == sweep and r["path"] == path]

    # a loss is resent by DMA: no path copies more with the CPU when segments are lost
    for path in iosim.PATHS:
        assert len(set(of("loss", path, "cpu_copy_bytes"))) == 1
        assert of("loss", path, "retransmit_bytes")[-1] > 0
    # the writers: in-place stores reach the receiver through page references only
    verdicts = {(r["sweep"], r["path"]) for r in rows if r["integrity"] != "exact"}
    assert verdicts == {("writer_write", "sendfile_sg"), ("writer_write", "splice"),
                        ("writer_shared", "sendfile_sg"), ("writer_shared", "splice"),
                        ("writer_userbuf", "msg_zerocopy"),
                        ("writer_write", "writev_sendfile"), ("writer_shared", "writev_sendfile"),
                        *NEW_VERDICTS}
    assert set(figures) == {f"failure_modes_{s}" for s in (
        "loss", "writer_write", "writer_shared", "writer_userbuf", "writer_private",
        "pressure", "misaligned")}


def test_timeline_writes_the_slices_it_draws(ran):
    out, _, _ = ran("timeline")
    with (out / "timeline_slices.csv").open() as fh:
        slices = list(csv.DictReader(fh))
    assert {s["path"] for s in slices} == set(iosim.PATHS)
    assert {"syscall", "block", "copy", "wire"} <= {s["kind"] for s in slices}


def test_cli_runs_an_experiment_into_out_name(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["experiment", "copies", "--quick"]) == 0
    assert "wrote out/copies/copies.png" in capsys.readouterr().out
    assert (tmp_path / "out" / "copies" / "copies.csv").is_file()


def test_profile_set_and_size_reach_every_run(tmp_path, capsys):
    assert cli.main(["experiment", "copies", "--out", str(tmp_path), "--profile",
                     "hdd-1g-2010", "--set", "nic.rate=25Gbit/s", "--size", "64KiB"]) == 0
    with (tmp_path / "copies.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        inputs = json.loads(row["inputs"])
        assert (inputs["profile"], inputs["size_bytes"]) == ("hdd-1g-2010", 65536)
        assert inputs["overrides"] == {"nic.rate": "25Gbit/s"}
        assert row["bytes_delivered"] == "65536"


def test_a_profile_file_works_from_any_directory(tmp_path, capsys, monkeypatch):
    (tmp_path / "host.toml").write_text('extends = "teaching"\n[nic]\nrate = "25Gbit/s"\n')
    monkeypatch.chdir(tmp_path)
    assert cli.main(["experiment", "bottleneck_map", "--quick", "--workers", "1",
                     "--profile", "host.toml", "--size", "256KiB"]) == 0
    with (tmp_path / "out" / "bottleneck_map" / "bottleneck_map.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    monkeypatch.chdir("/")
    row = rows[0]
    assert iosim.simulate(**json.loads(row["inputs"])).bottleneck == row["bottleneck"]


@pytest.mark.parametrize(("options", "message"), [
    (["--set", "nic.rate=25Gbit/s"], "--set nic.rate: this experiment varies nic.rate itself"),
    (["--set", "nic.rat=1Gbit/s"], "unknown profile key 'nic.rat'"),
    (["--set", "nic.rate"], "expected KEY=VALUE"),
    (["--size", "big"], "expected a size"),
])
def test_bad_options_are_one_line(options, message, tmp_path, capsys):
    try:
        code = cli.main(["experiment", "whatif_hardware", "--quick", "--out", str(tmp_path),
                         *options])
    except SystemExit as exc:  # argparse's way
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not list(tmp_path.iterdir())


def test_ctrl_c_keeps_the_runs_that_finished(tmp_path, capsys, monkeypatch):
    real, calls = harness.Case.run, []

    def interrupted_at_the_fourth(self, tracer=None):
        calls.append(self)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(self, tracer)

    monkeypatch.setattr(harness.Case, "run", interrupted_at_the_fourth)
    assert cli.main(["experiment", "copies", "--quick", "--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    runs = 2 * len(iosim.PATHS)  # every path, cold and warm
    assert err == (f"iosim: interrupted after 3 of {runs} runs; wrote them to "
                   f"{tmp_path}/copies.csv\n")
    with (tmp_path / "copies.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copies.csv"]


def test_ctrl_c_in_the_bottleneck_map_keeps_the_stored_runs(tmp_path, capsys, monkeypatch):
    from iosim.experiments import bottleneck_map

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bottleneck_map, "run_sweep", interrupted)
    assert cli.main(["experiment", "bottleneck_map", "--quick", "--out", str(tmp_path)]) == 130
    assert capsys.readouterr().err == (f"iosim: interrupted; the finished runs are stored in "
                                       f"{tmp_path / 'runs'}, run again to complete\n")


@pytest.mark.parametrize(("tty", "quiet", "shown"), [(True, False, True), (True, True, False),
                                                      (False, False, False)])
def test_progress_on_a_terminal_unless_quiet(tty, quiet, shown, tmp_path, capsys,
                                              monkeypatch):
    monkeypatch.setattr(harness, "PROGRESS_DELAY_S", 0)
    monkeypatch.setattr("sys.stderr.isatty", lambda: tty)
    argv = ["experiment", "copies", "--quick", "--size", "16KiB", "--out", str(tmp_path)]
    assert cli.main(argv + ["--quiet"] * quiet) == 0
    err = capsys.readouterr().err
    assert ("copies: " in err and f"/{2 * len(iosim.PATHS)} " in err) == shown, err


def test_cli_rejects_an_unknown_experiment(capsys):
    assert cli.main(["experiment", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown experiment 'nope'" in err


def test_experiments_run_as_modules():
    done = subprocess.run([sys.executable, "-m", "iosim.experiments.copies", "--help"],
                          capture_output=True, text=True, check=True)
    assert "--profile" in done.stdout and "--set KEY=VALUE" in done.stdout
