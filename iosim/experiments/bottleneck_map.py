"""The bottleneck map: which resource limits each path, over NIC rate x memory bandwidth.

    iosim experiment bottleneck_map                 # the grid of models/sweeps/bottleneck_map.toml
    iosim experiment bottleneck_map --quick         # a coarse grid of small transfers
    iosim experiment bottleneck_map --profile host.toml --workers 2

Runs the sweep (resumable: runs already stored in OUT/runs are reused) and draws one panel
per path, each cell coloured by the resource the run reports as its ``bottleneck`` and
labelled with its goodput. Writes bottleneck_map.png, .svg and .csv (the chart's numbers,
each row with the ``iosim.simulate`` call that replays it) to OUT (default
out/bottleneck_map).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from iosim import charts
from iosim.config import ConfigError
from iosim.experiments.harness import Interrupted, announce, entry_point, parse_args, write_csv
from iosim.sweep import run_sweep

NAME = "bottleneck_map"
SPEC = Path(__file__).resolve().parent.parent / "models" / "sweeps" / "bottleneck_map.toml"
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
    "readahead": ("read-ahead window over the disk latency", "#d4a6c8"),
    "latency": ("latency (nothing >= 50% busy)", "#bab0ac"),
}


def quick_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A coarse grid of 8 MiB transfers: the same map in a few seconds."""
    grid = dict(spec["grid"])
    grid["membus.bandwidth"] = {**grid["membus.bandwidth"], "factor": 4}
    grid["nic.rate"] = grid["nic.rate"][::2]
    return {**spec, "base": {**spec["base"], "size": "8MiB"}, "grid": grid}


def draw(rows: list[dict[str, Any]], title: str) -> Figure:
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
    fig, axes = charts.new_figure(math.ceil(len(paths) / cols), cols, title=title,
                                  size_in=(16, 10), sharex=True, sharey=True)
    by_cell = {(r["path"], r[NIC], r[MEMBUS]): r for r in rows}
    for ax, path in zip(axes, paths, strict=False):
        cells = [[names.index(by_cell[path, x, y]["bottleneck"]) for x in rates]
                 for y in bandwidths]
        ax.pcolormesh(cells, cmap=cmap, norm=norm)
        for i, y in enumerate(bandwidths):
            for j, x in enumerate(rates):
                goodput_gbit = by_cell[path, x, y]["goodput_bps"] / 1e9  # bit/s -> Gbit/s
                ax.text(j + 0.5, i + 0.5, f"{goodput_gbit:.3g}", ha="center", va="center",
                        fontsize=10, color="white")
        ax.set_title(path, color=charts.PATH_COLORS[path], fontweight="bold")
        ax.set_xticks([j + 0.5 for j in range(len(rates))], [f"{v:g}" for v in x_gbit])
        ax.set_yticks([i + 0.5 for i in range(len(bandwidths))], [f"{v:g}" for v in y_gb])
        ax.grid(visible=False)
    for ax in axes[len(paths):]:
        ax.set_visible(False)
    for ax in axes[-cols:]:
        ax.set_xlabel("NIC link rate (Gbit/s)")
    for ax in axes[::cols]:
        ax.set_ylabel("memory bus bandwidth (GB/s)")
    present = [n for n in names if any(r["bottleneck"] == n for r in rows)]
    fig.legend([Patch(color=RESOURCES[n][1]) for n in present],
               [RESOURCES[n][0] for n in present], loc="outside lower center",
               ncols=min(len(present), 4), title="bottleneck (Result.bottleneck, see "
               "docs/model.md); numbers in cells: goodput in Gbit/s")
    return fig


def spec_for(args: argparse.Namespace) -> dict[str, Any]:
    """The bundled spec with the user's profile, size and ``--set`` values in its base."""
    with SPEC.open("rb") as fh:
        spec = tomllib.load(fh)
    if args.quick:
        spec = quick_spec(spec)
    swept = sorted(set(args.overrides) & set(spec["grid"]))
    if swept:
        raise ConfigError(f"--set {swept[0]}: this experiment varies {swept[0]} itself; "
                          f"expected another key")
    profile = Path(args.profile)
    base = {**spec["base"], **args.overrides,
            "profile": str(profile.resolve()) if profile.suffix == ".toml" else args.profile}
    if args.size_bytes:
        base["size"] = args.size_bytes
    return {**spec, "base": base}


def chart_rows(rows: Sequence[dict[str, Any]], overrides: dict[str, Any]
               ) -> list[dict[str, Any]]:
    """What the chart shows, a row per cell, with the ``iosim.simulate`` call behind it."""
    out = []
    for r in rows:
        inputs = {"path": r["path"], "size_bytes": r["size_bytes"], "profile": r["profile"],
                  "cache": r["cache"], "seed": r["seed"],
                  "overrides": {**overrides, "nic.rate": f"{r[NIC]!r}B/s",
                                "membus.bandwidth": f"{r[MEMBUS]!r}B/s"}}
        out.append({"path": r["path"], "nic_rate_gbit_per_s": r[NIC] * 8 / 1e9,  # B -> bit
                    "membus_bandwidth_gb_per_s": r[MEMBUS] / 1e9,
                    "bottleneck": r["bottleneck"], "goodput_gbit_per_s": r["goodput_bps"] / 1e9,
                    **{c: v for c, v in r.items() if c.startswith("utilization.")},
                    "inputs": json.dumps(inputs, sort_keys=True)})
    return out


def _more_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, help="local processes (default: all cores)")
    parser.add_argument("--scheduler", help="Dask scheduler: tcp://HOST:PORT or 'local'")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sweep (or reuse its stored runs); write the chart and its table."""
    args = parse_args(NAME, __doc__, argv, "teaching",
                      "transfer size (default 64MiB, 8MiB with --quick)", _more_options)
    try:
        report = run_sweep(spec_for(args), args.out, args.workers, args.scheduler,
                           progress=None if not args.quiet else False)
    except KeyboardInterrupt:
        raise Interrupted(f"; the finished runs are stored in {args.out / 'runs'}, run "
                          f"again to complete") from None
    if report.failed:
        print(f"{report.failed} runs failed; see the error column of {report.files[0]}",
              file=sys.stderr)
        return 1
    rows = report.rows
    first = rows[0]
    fig = draw(rows, f"Bottleneck map: {Path(first['profile']).stem} profile, "
                     f"{first['size_bytes'] / 2**20:g} MiB {first['cache']}-cache transfer "
                     f"to a TCP socket")  # 2**20 bytes per MiB
    files = [write_csv(chart_rows(rows, args.overrides), args.out / f"{NAME}.csv")]
    files += charts.save_figure(fig, args.out / NAME)
    print(f"{len(rows)} runs ({report.computed} computed, {report.reused} reused)")
    announce([*files, *report.files])
    return 0


if __name__ == "__main__":
    sys.exit(entry_point(main)())
