"""Every figure under docs/ is what the model gives now: its table replays.

Each committed figure has its numbers beside it (docs/NAME.csv, one row per thing drawn,
with the ``iosim.simulate`` call behind it). The figure is drawn from that table by
``python docs/make_figures.py``; this replays a sample of its rows and checks the table is
whole, so a model change that moves the figure fails here until the script is run again.
"""

import csv
import json
from pathlib import Path

import pytest

import iosim

DOCS = Path(__file__).resolve().parent.parent / "docs"
REGENERATE = "regenerate: python docs/make_figures.py"
REPLAYED = 24  # rows per figure simulated again, evenly spread over the table


def _rows(name: str) -> list[dict[str, str]]:
    with (DOCS / f"{name}.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_every_committed_figure_has_its_table():
    figures = {p.stem for p in DOCS.glob("*.png")}
    assert figures and figures == {p.stem for p in DOCS.glob("*.csv")}


@pytest.fixture(scope="module")
def bottleneck_map():
    return _rows("bottleneck_map")


def test_the_bottleneck_map_table_is_the_whole_grid(bottleneck_map):
    cells = {(r["path"], r["nic_rate_gbit_per_s"], r["membus_bandwidth_gb_per_s"])
             for r in bottleneck_map}
    rates = {r["nic_rate_gbit_per_s"] for r in bottleneck_map}
    buses = {r["membus_bandwidth_gb_per_s"] for r in bottleneck_map}
    assert len(cells) == len(bottleneck_map) == len(iosim.PATHS) * len(rates) * len(buses)
    assert (len(rates), len(buses)) == (8, 7)


def test_the_bottleneck_map_is_what_the_model_gives_now(bottleneck_map):
    step = max(1, len(bottleneck_map) // REPLAYED)
    for row in bottleneck_map[::step]:
        r = iosim.simulate(**json.loads(row["inputs"]))
        assert (row["bottleneck"], float(row["goodput_gbit_per_s"])) == (
            r.bottleneck, r.goodput_bps / 1e9), f"{row['path']} {row['inputs']}: {REGENERATE}"


def test_what_sweep_md_says_of_the_bottleneck_map(bottleneck_map):
    """The reading of the map in docs/sweep.md, on the committed numbers."""
    def at(row):
        return float(row["nic_rate_gbit_per_s"]), float(row["membus_bandwidth_gb_per_s"])

    slowest_bus = min(at(r)[1] for r in bottleneck_map)
    fastest = max(at(r) for r in bottleneck_map)
    for r in bottleneck_map:
        rate, bus = at(r)
        if bus == slowest_bus and r["bottleneck"] != "link":
            assert r["bottleneck"] == "membus", r
        if (rate, bus) == fastest:
            assert r["bottleneck"] == "sender_core", r

    def leaves_link(path):  # the lowest rate at which the fastest bus is not link-bound
        return min(at(r)[0] for r in bottleneck_map if r["path"] == path
                   and at(r)[1] == fastest[1] and r["bottleneck"] != "link")

    def best(path):
        return max(float(r["goodput_gbit_per_s"]) for r in bottleneck_map if r["path"] == path)

    copying = ("read_write", "mmap_write", "sendfile", "msg_zerocopy")
    for zero_copy in ("sendfile_sg", "splice"):
        assert leaves_link(zero_copy) > max(leaves_link(p) for p in copying)
        assert best(zero_copy) > max(best(p) for p in copying)
