"""The animation's document: steps in time order, counters that end at the Result, folding,
the page's references followed exactly, a self-contained page, and the command line."""

import math
import re

import pytest
from hypothesis import HealthCheck, given, settings

import iosim
from iosim import PATHS
from iosim.cli import main
from iosim.events import Kind
from iosim.teach import animate as A
from tests import strategies as S

FAILURES = {
    "clean": {},
    "warm": {"cache": "warm"},
    "drop": {"drop": [3]},
    "loss": {"loss": 0.05, "seed": 2},
    "private": {"writer": "private", "writer_rate": 2e5},
    "shared": {"writer": "shared", "writer_at": [5000]},
    "userbuf": {"writer": "userbuf", "writer_rate": 2e5},
    "pressure": {"pressure": 2000, "pressure_interval_s": 5e-5},
    "unaligned": {"offset_bytes": 100, "buffer_offset_bytes": 100},
    "truncate": {"truncate_at_s": 3e-4},
    "reader": {"pressure_reader": "2GB/s"},
}


def _doc(path, size="64KiB", overrides=None, **scenario):
    return A.document([A.trace(path, size, overrides=overrides, **scenario)])["runs"][0]


def _same(shown, want):
    return math.isclose(shown, want, rel_tol=1e-9, abs_tol=1e-15)


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("path", PATHS)
def test_counters_end_at_the_results_fields(path, failure):
    run = _doc(path, "128KiB", **FAILURES[failure])
    last = run["steps"][-1]["counters"]
    assert {k: last[k] for k in A.COUNTERS if not _same(last[k], run["result"][k])} == {}
    assert run["invariants"] == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=S.paths, size=S.sizes, cache=S.caches, overrides=S.overrides,
       buffer=S.buffer_sizes)
def test_counters_end_at_the_result_for_random_scenarios(path, size, cache, overrides, buffer):
    run = _doc(path, size, overrides=overrides or None, cache=cache, buffer_bytes=buffer)
    last = run["steps"][-1]["counters"]
    assert {k: last[k] for k in A.COUNTERS if not _same(last[k], run["result"][k])} == {}


@pytest.mark.parametrize("path", PATHS)
def test_steps_run_forward_and_counters_never_go_back(path):
    run = _doc(path, drop=[3])
    times = [s["t"] for s in run["steps"]]
    assert times == sorted(times)
    for key in A.COUNTERS:
        values = [s["counters"][key] for s in run["steps"]]
        assert values == sorted(values), key


@pytest.mark.parametrize("path", PATHS)
def test_at_each_syscall_boundary_the_counts_are_the_calls_so_far(path):
    run = _doc(path, "128KiB")
    enters = leaves = sleeps = 0
    for s in run["steps"]:
        enters += s["boundary"] == "enter"
        leaves += s["boundary"] == "leave"
        sleeps += s["key"].startswith("block ")
        if s["boundary"]:
            c = s["counters"]
            assert c["syscalls"] == enters
            assert c["mode_switches"] == enters + leaves  # one switch in, one out
            assert c["context_switches"] == sleeps
    assert enters == leaves == run["result"]["syscalls"]
    assert len(run["calls"]) == enters
    for call in run["calls"]:
        assert run["steps"][call["enter"]]["boundary"] == "enter"
        assert run["steps"][call["leave"]]["boundary"] == "leave"


def _tile_refs(run, element):
    """The refcount drawn on one element after every step."""
    state = None
    out = []
    for s in run["steps"]:
        for eid, props in s["ops"]:
            if eid == element:
                state = props
        out.append(None if state is None else state["refs"])
    return out


@pytest.mark.parametrize("path", ["sendfile_sg", "splice", "mmap_write", "read_write"])
def test_page_zero_tile_follows_the_page_log(path):
    t = A.trace(path, "64KiB", watch_page=0)
    run = A.document([t])["runs"][0]
    alloc = next(e for e in t.events if e.kind is Kind.ALLOC and 0 in e.args["indexes"])
    serial = alloc.args["ids"][alloc.args["indexes"].index(0)]
    drawn = [n for n in _tile_refs(run, f"p{serial}") if n is not None]
    changes = [n for i, n in enumerate(drawn) if i == 0 or n != drawn[i - 1]]
    logged = [count for _, count, _ in t.result.page_log]
    assert changes == [c for i, c in enumerate(logged) if i == 0 or c != logged[i - 1]]


def test_references_are_chips_in_the_holders_lane():
    run = _doc("sendfile_sg")
    lanes = {}
    for s in run["steps"]:
        for _eid, props in s["ops"]:
            if props and props["kind"] == "chip":
                lanes.setdefault(props["state"], set()).add(props["lane"])
    assert lanes == {"pipe": {"pipe"}, "skb": {"socket"}}
    final = {}
    for s in run["steps"]:
        for eid, props in s["ops"]:
            final[eid] = props
    tiles = [p for p in final.values() if p and p["kind"] == "tile"]
    assert len(tiles) == 16 and {p["refs"] for p in tiles} == {1}  # the cache's own
    assert not [p for p in final.values() if p and p["kind"] == "chip"]


def test_failure_modes_are_visible_steps():
    keys = {s["key"] for s in _doc("sendfile_sg", drop=[3], writer="shared",
                                   writer_at=[5000])["steps"]}
    assert {"drop", "retransmit", "store"} <= keys
    assert "cow" in {s["key"] for s in _doc("mmap_write", writer="private",
                                            writer_rate=2e5)["steps"]}
    skipped = _doc("sendfile_sg", "256KiB", pressure=2000, pressure_interval_s=5e-5)
    assert "reclaim skip" in {s["key"] for s in skipped["steps"]}
    assert skipped["result"]["reclaim_busy_refs"] > 0
    head = _doc("sendfile_sg", offset_bytes=100)
    tiles = {}
    for s in head["steps"]:
        for eid, props in s["ops"]:
            if props and props["kind"] == "tile":
                tiles[eid] = props
    assert head["columns"] == 17  # 64 KiB from byte 100 spans 17 pages
    bounds = sorted((p["c"], p["a"], p["b"]) for p in tiles.values())
    assert bounds[0] == (0, 100 / 4096, 1.0) and bounds[-1] == (16, 0.0, 100 / 4096)


def test_long_runs_fold_repeated_rounds_and_end_the_same():
    folded = _doc("read_write", "1MiB")
    assert folded["folded"]
    banners = [s for s in folded["steps"] if s["fold"] == 2]
    hidden = [s for s in folded["steps"] if s["fold"] == 1]
    assert banners and len(hidden) > len(folded["steps"]) / 2
    assert re.match(r"rounds \d+-\d+ repeat the steps of rounds? \d", banners[0]["text"])
    for i, s in enumerate(folded["steps"]):
        if s["fold"] == 2:
            assert s["counters"] == folded["steps"][i - 1]["counters"]
    plain = A.document([A.trace("read_write", "1MiB")], fold=False)["runs"][0]
    assert not plain["folded"] and not any(s["fold"] for s in plain["steps"])
    assert plain["steps"][-1]["counters"] == folded["steps"][-1]["counters"]
    assert not _doc("sendfile_sg")["folded"]


def test_two_runs_share_one_clock():
    doc = A.animate("read_write", "sendfile_sg").doc
    times = [doc["runs"][n]["steps"][i]["t"] for n, i in doc["order"]]
    assert times == sorted(times)
    assert len(doc["order"]) == sum(len(r["steps"]) for r in doc["runs"])
    assert [r["color"] for r in doc["runs"]] == [A.path_color("read_write"),
                                                 A.path_color("sendfile_sg")]


def test_the_page_is_self_contained():
    page = A.animate("sendfile_sg").html
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", page)
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page)
    assert "/*IOSIM_DOC*/" not in page and 'id="totals"' in page
    data = page[page.index("const DOC = ") + 12:page.index(";\n(function")]
    assert "</" not in data  # nothing in the data can close the script element


def test_animate_a_result_simulates_it_again():
    r = iosim.simulate("splice", "64KiB", profile="teaching")
    page = iosim.animate(r)
    assert page.doc["runs"][0]["result"]["syscalls"] == r.syscalls
    assert "<iframe srcdoc=" in page._repr_html_()
    custom = iosim.simulate("splice", "64KiB", overrides={"nic.rate": "1Gbit/s"}, drop=[2])
    run = iosim.animate([custom, r]).doc["runs"][0]
    assert run["result"]["sim_time_s"] == custom.sim_time_s and run["result"]["retransmits"]


def test_new_trace_kinds_describe_pages_and_work():
    t = A.trace("read_write", "64KiB", drop=[2])
    kinds = {e.kind for e in t.events}
    assert {Kind.ALLOC, Kind.WORK, Kind.DROP} <= kinds
    work = [e for e in t.events if e.kind is Kind.WORK]
    assert math.isclose(sum(e.duration_s for e in work), t.result.cpu_time_s, rel_tol=1e-9)
    refs = [e for e in t.events if e.kind is Kind.REF]
    assert all(len(e.args["ids"]) == e.pages for e in refs)
    dropped = [e for e in t.events if e.kind is Kind.DROP]
    assert sum(len(e.args["ranges"]) for e in dropped) == t.result.lost_segments
    users = [e for e in t.events if e.kind is Kind.ALLOC and e.what == "buffer 0"]
    assert sum(e.pages for e in users) == 16


def test_cli_writes_the_page_and_refuses_bad_input(tmp_path, capsys):
    out = tmp_path / "a.html"
    assert main(["animate", "sendfile_sg", "--size", "64KiB", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out and out.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["a.html"]  # no temporary left behind
    for argv, message in [
        (["animate", "nope", "--out", str(out)], "unknown path 'nope'"),
        (["animate", "splice", "--out", str(tmp_path / "a.png")], "expected a .html"),
        (["animate", "splice", "--size", "8MiB", "--out", str(out)], "too many pages"),
        (["animate", "splice", "--size", "1KiX", "--out", str(out)], "key 'size_bytes'"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err


@pytest.mark.parametrize("size", [1, 4095, 4097])
def test_tiny_transfers_animate(size):
    run = _doc("sendfile_sg", size)
    assert run["steps"][-1]["counters"]["bytes_delivered"] == size


@pytest.mark.parametrize("path", PATHS)
def test_the_options_echo_names_only_what_differs_from_the_defaults(path):
    """A run with every default echoes no options (not the other paths' keys); a changed
    key is echoed as it is written."""
    assert _doc(path)["options"] == []
    assert _doc(path, buffer_bytes=32768, cache="warm")["options"] == [
        "cache=warm", "buffer_bytes=32768"]


def test_the_echoed_command_names_every_profile_key_the_run_set():
    """The page's command line replays the run: its --set keys are the profile keys that
    differ from the named profile (here the loopback host of validate's one-CPU case)."""
    from iosim.teach.animate import animate
    a = animate("splice", size_bytes="64KiB", overrides={
        "nic.loopback": True, "cpu.cores": 1, "kernel.model": "linux-6"})
    run = a.doc["runs"][0]
    assert sorted(run["sets"]) == ["cpu.cores=1", "kernel.model=linux-6", "nic.loopback=true"]
    assert "run.sets" in a.html
