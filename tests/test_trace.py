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


def _ns(us: float) -> int:
    return round(us * 1000)  # what Perfetto's JSON importer does: llround(ts * 1000)


def _nests(slices: list[dict]) -> list[str]:
    """Slices on one thread that overlap without nesting (what Perfetto's importer rejects),
    in whole nanoseconds as the importer reads them."""
    bad = []
    open_ends: list[tuple[int, str]] = []
    for e in sorted(slices, key=lambda e: (_ns(e["ts"]), -_ns(e["dur"]))):
        start, end = _ns(e["ts"]), _ns(e["ts"]) + _ns(e["dur"])
        while open_ends and open_ends[-1][0] <= start:
            open_ends.pop()
        if open_ends and end > open_ends[-1][0]:
            bad.append(f"{e['name']} at {e['ts']} ends after {open_ends[-1][1]}")
        open_ends.append((end, e["name"]))
    return bad


SCENARIOS = [
    ("read_write", {}), ("mmap_write", {}), ("sendfile", {}), ("sendfile_sg", {}),
    ("splice", {"cache": "warm"}), ("msg_zerocopy", {}),
    ("sendfile_sg", {"loss": 0.02, "seed": 2}), ("splice", {"writer": "shared",
                                                        "writer_rate": 5e4}),
    ("read_write", {"overrides": {"cpu.cores": 4}, "pressure": 64,
                    "pressure_interval_s": "50us"}),
    ("msg_zerocopy", {"overrides": {"dma.alignment": "4KiB"}, "buffer_offset_bytes": 100}),
]


@pytest.mark.parametrize(("path", "kw"), SCENARIOS)
def test_slices_on_every_thread_nest(path, kw):
    from iosim import simulate
    from iosim.trace import Tracer

    tracer = Tracer()
    simulate(path, "512KiB", tracer=tracer, **kw)
    chrome = tracer.to_chrome()
    by_tid: dict[int, list[dict]] = {}
    for e in chrome["traceEvents"]:
        if e["ph"] == "X":
            by_tid.setdefault(e["tid"], []).append(e)
    assert by_tid
    for tid, slices in by_tid.items():
        assert _nests(slices) == [], tid
    # every slice of the run is exported once, none lost to the lanes
    assert sum(map(len, by_tid.values())) == sum(1 for e in tracer.events if e.is_slice)


def test_overlapping_dma_gets_a_second_lane():
    from iosim import simulate
    from iosim.trace import Tracer

    tracer = Tracer()
    simulate("read_write", "1MiB", tracer=tracer)
    names = [e["args"]["name"] for e in tracer.to_chrome()["traceEvents"]
             if e["ph"] == "M" and e["name"] == "thread_name"]
    assert "dma 2" in names  # a disk DMA beside a NIC DMA: two lanes, both nest


def test_times_are_microseconds_for_every_viewer():
    from iosim import simulate
    from iosim.trace import Tracer

    tracer = Tracer()
    simulate("read_write", "256KiB", tracer=tracer)
    chrome = tracer.to_chrome()
    assert "displayTimeUnit" not in chrome  # Perfetto would read "ns" as the unit of ts
    slices = [e for e in tracer.sorted_events() if e.is_slice]
    exported = [e for e in chrome["traceEvents"] if e["ph"] == "X"]
    for e, x in zip(slices, exported, strict=True):
        assert abs(x["ts"] * 1e-6 - e.start_s) < 1e-9  # within the nanosecond rounding
        assert abs(x["dur"] * 1e-6 - e.duration_s) < 2e-9
