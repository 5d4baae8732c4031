"""`iosim run --trace` writes a Chrome trace: named tracks, slices, counters, instants."""

import json

import pytest

from iosim import cli
from iosim.trace import TRACKS


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    path = tmp_path_factory.mktemp("trace") / "run.json"
    assert cli.main(["run", "read_write", "--size", "256KiB", "--trace", str(path)]) == 0
    return json.loads(path.read_text())


def test_every_track_is_a_named_thread(trace):
    names = {e["args"]["name"]: e["tid"] for e in trace["traceEvents"]
             if e["ph"] == "M" and e["name"] == "thread_name"}
    assert set(TRACKS) <= set(names)
    assert len(set(names.values())) == len(names)


def test_components_have_slices_with_times_and_bytes(trace):
    tracks = {e["tid"]: e["args"]["name"] for e in trace["traceEvents"]
              if e["ph"] == "M" and e["name"] == "thread_name"}
    slices = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    by_track = {}
    for e in slices:
        by_track.setdefault(tracks[e["tid"]], []).append(e)
    assert {"sender", "cpu", "disk", "dma", "wire"} <= set(by_track)
    assert all(e["ts"] >= 0 and e["dur"] >= 0 for e in slices)
    names = {e["name"] for e in by_track["sender"]}
    assert {"read()", "write()"} <= names
    copied = sum(e["args"]["bytes"] for e in by_track["cpu"] if e["name"].startswith("CPU copy"))
    assert copied == 2 * 256 * 1024  # copy_to_user + copy_from_user of every byte


def test_events_are_in_time_order_with_counters_and_instants(trace):
    timed = [e for e in trace["traceEvents"] if e["ph"] != "M"]
    assert [e["ts"] for e in timed] == sorted(e["ts"] for e in timed)
    assert any(e["ph"] == "C" and e["name"] == "refcount of page 0" for e in timed)
    assert any(e["ph"] == "i" and e["name"].startswith("IRQ") for e in timed)
    assert trace["otherData"]["dropped_events"] == 0


def test_unwritable_trace_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "a_file").write_text("")  # a folder that is a file: nothing can go inside
    target = tmp_path / "a_file" / "run.json"
    assert cli.main(["run", "splice", "--size", "64KiB", "--trace", str(target)]) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "cannot write: " in err
    assert out == ""  # refused before the run, not after it
