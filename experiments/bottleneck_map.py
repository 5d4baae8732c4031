"""The bottleneck map: which resource limits each path, over NIC rate x memory bandwidth.

    python experiments/bottleneck_map.py                 # the grid of bottleneck_map.toml
    python experiments/bottleneck_map.py --quick         # a coarse grid of small transfers
    python experiments/bottleneck_map.py --out DIR --workers 2

Runs the sweep in ``bottleneck_map.toml`` (resumable: runs already in DIR/runs are reused)
and draws one panel per path, each cell coloured by the resource the run reports as its
``bottleneck`` and labelled with its goodput. Writes bottleneck_map.png, .svg and .csv.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import tomllib
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.patches import Patch

from iosim.sweep import run_sweep

HERE = Path(__file__).resolve().parent
SPEC = HERE / "bottleneck_map.toml"
NIC = "nic.rate_bytes_per_s"
MEMBUS = "membus.bandwidth_bytes_per_s"
# bottleneck -> (legend label, colour); the order is the legend's.
RESOURCES = {
    "link": ("link (the NIC's wire)", "#4c78a8"),
    "sender_core": ("sending thread's core", "#e45756"),
    "cpu": ("all cores", "#f58518"),
    "membus": ("memory bus", "#54a24b"),
    "disk": ("disk", "#b279a2"),
    "sndbuf": ("send buffer over the round trip", "#72b7b2"),
    "latency": ("latency (nothing >= 50% busy)", "#bab0ac"),
}


def quick_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A coarse grid of 8 MiB transfers: the same map in a few seconds."""
    grid = dict(spec["grid"])
    grid["membus.bandwidth"] = {**grid["membus.bandwidth"], "factor": 4}
    grid["nic.rate"] = grid["nic.rate"][::2]
    return {**spec, "base": {**spec["base"], "size": "8MiB"}, "grid": grid}


def draw(rows: list[dict[str, Any]], title: str) -> plt.Figure:
    """One panel per path: NIC rate across, memory bandwidth up, colour = bottleneck.

    Cells are equal in size whatever the spacing of the values, so any list of rates reads.
    """
    paths = list(dict.fromkeys(r["path"] for r in rows))
    rates = sorted({r[NIC] for r in rows})
    bandwidths = sorted({r[MEMBUS] for r in rows})
    names = list(RESOURCES)
    cmap = ListedColormap([colour for _, colour in RESOURCES.values()])
    norm = BoundaryNorm(range(len(names) + 1), cmap.N)
    x_gbit = [v * 8 / 1e9 for v in rates]  # bytes/s -> Gbit/s
    y_gb = [v / 1e9 for v in bandwidths]  # bytes/s -> GB/s
    cols = 3
    fig, axes = plt.subplots(math.ceil(len(paths) / cols), cols, figsize=(16, 10),
                             sharex=True, sharey=True, squeeze=False, layout="constrained")
    by_cell = {(r["path"], r[NIC], r[MEMBUS]): r for r in rows}
    for ax, path in zip(axes.flat, paths, strict=False):
        cells = [[names.index(by_cell[path, x, y]["bottleneck"]) for x in rates]
                 for y in bandwidths]
        ax.pcolormesh(cells, cmap=cmap, norm=norm)
        for i, y in enumerate(bandwidths):
            for j, x in enumerate(rates):
                goodput_gbit = by_cell[path, x, y]["goodput_bps"] / 1e9  # bit/s -> Gbit/s
                ax.text(j + 0.5, i + 0.5, f"{goodput_gbit:.3g}", ha="center", va="center",
                        fontsize=8, color="white")
        ax.set_title(path)
        ax.set_xticks([j + 0.5 for j in range(len(rates))], [f"{v:g}" for v in x_gbit])
        ax.set_yticks([i + 0.5 for i in range(len(bandwidths))], [f"{v:g}" for v in y_gb])
    for ax in axes.flat[len(paths):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("NIC link rate (Gbit/s)")
    for ax in axes[:, 0]:
        ax.set_ylabel("memory bus bandwidth (GB/s)")
    present = [n for n in names if any(r["bottleneck"] == n for r in rows)]
    fig.legend([Patch(color=RESOURCES[n][1]) for n in present],
               [RESOURCES[n][0] for n in present], loc="outside lower center",
               ncols=len(present), title="bottleneck (busiest resource); "
               "numbers in cells: goodput in Gbit/s")
    fig.suptitle(title, fontsize=14)
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="coarse grid, 8 MiB transfers")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "bottleneck_map",
                        help="output folder (default experiments/out/bottleneck_map)")
    parser.add_argument("--workers", type=int, help="local processes (default: all cores)")
    parser.add_argument("--scheduler", help="Dask scheduler: tcp://HOST:PORT or 'local'")
    args = parser.parse_args(argv)
    with SPEC.open("rb") as fh:
        spec = tomllib.load(fh)
    if args.quick:
        spec = quick_spec(spec)
    report = run_sweep(spec, args.out, args.workers, args.scheduler)
    if report.failed:
        print(f"{report.failed} runs failed; see the error column of {report.files[0]}",
              file=sys.stderr)
        return 1
    rows = report.rows
    size_mib = rows[0]["size_bytes"] / 2**20
    fig = draw(rows, f"Bottleneck map: {rows[0]['profile']} profile, {size_mib:g} MiB "
                     f"{rows[0]['cache']}-cache transfer to a TCP socket")
    png, svg, table = (args.out / f"bottleneck_map.{ext}" for ext in ("png", "svg", "csv"))
    fig.savefig(png, dpi=150)
    fig.savefig(svg)
    with table.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "nic_rate_gbit_per_s", "membus_bandwidth_gb_per_s",
                         "bottleneck", "goodput_gbit_per_s", *(
                             c for c in rows[0] if c.startswith("utilization."))])
        for r in rows:
            writer.writerow([r["path"], r[NIC] * 8 / 1e9, r[MEMBUS] / 1e9, r["bottleneck"],
                             r["goodput_bps"] / 1e9,
                             *(v for c, v in r.items() if c.startswith("utilization."))])
    print(f"{len(rows)} runs ({report.computed} computed, {report.reused} reused)")
    for path in (png, svg, table):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
