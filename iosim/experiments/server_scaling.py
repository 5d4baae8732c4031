"""A server under load, per path: throughput and p99 vs connections, where CPU and memory-bus
time goes, and the page-cache hit ratio as the working set outgrows RAM.

Every path serves the same Zipf-popular file set from one host (``iosim.serve``): event-loop
workers, one per core, keep-alive connections in a closed loop. The hit-ratio panel serves
equal one-size files from a small page cache and draws Che's approximation for LRU beside
the model's ratio.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from matplotlib import ticker

from iosim import charts
from iosim.config import ConfigError
from iosim.experiments.harness import (
    announce,
    entry_point,
    overrides,
    parse_args,
    progress,
    write_csv,
)
from iosim.paths import PATHS
from iosim.server.result import ServerResult
from iosim.server.run import serve, zipf_cdf

NAME = "server_scaling"
PROFILE = "nvme-100g-2024"
KIB = 1024  # bytes per KiB
CONNECTIONS, QUICK_CONNECTIONS = (1, 4, 16, 64, 256), (1, 8, 32)
FILE_BYTES, QUICK_FILE_BYTES = 256 * KIB, 64 * KIB
REQUESTS_PER_CONNECTION, QUICK_REQUESTS_PER_CONNECTION = 24, 6
FILES, ZIPF_ALPHA = 1000, 0.9
# hit-ratio panel: 16 KiB files (4 pages) on a 4 MiB page cache (1024 pages = 256 files)
HIT_FILE_BYTES, HIT_CACHE = 16 * KIB, "4MiB"
HIT_CACHE_FILES = 256
WORKING_SET_RATIOS = (0.25, 0.5, 1, 2, 4, 8)
HIT_REQUESTS, QUICK_HIT_REQUESTS = 20_000, 3_000


def che_hit_ratio(popularity: Sequence[float], capacity: float) -> float:
    """Che's approximation of LRU: the characteristic time T solves
    sum_i (1 - exp(-p_i T)) = C (objects); object i hits with probability 1 - exp(-p_i T)."""
    if capacity >= len(popularity):
        return 1.0
    lo, hi = 0.0, 1.0
    while sum(1 - math.exp(-p * hi) for p in popularity) < capacity:
        hi *= 2
    for _ in range(100):
        t = (lo + hi) / 2
        if sum(1 - math.exp(-p * t) for p in popularity) < capacity:
            lo = t
        else:
            hi = t
    return sum(p * (1 - math.exp(-p * t)) for p in popularity)


def row(panel: str, kwargs: dict[str, Any], r: ServerResult) -> dict[str, Any]:
    """One CSV row: the panel, the ServerResult's scalars and the replayable serve() call."""
    out: dict[str, Any] = {"panel": panel}
    for name, value in r.to_dict().items():
        if name == "cpu_per_core_by_category":
            out.update({f"cpu_{k}": v for k, v in value.items()})
        elif not isinstance(value, dict | list):
            out[name] = value
    out["inputs"] = json.dumps(kwargs, sort_keys=True)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the three panels; write server_scaling.csv and the charts."""
    args = parse_args(NAME, __doc__, argv, PROFILE,
                      "file size of the scaling panels (default 256KiB, 64KiB with --quick)")
    size = args.size_bytes or (QUICK_FILE_BYTES if args.quick else FILE_BYTES)
    if size <= 0:
        raise ConfigError(f"--size: expected a positive size, got {size}")
    conns = QUICK_CONNECTIONS if args.quick else CONNECTIONS
    per_conn = QUICK_REQUESTS_PER_CONNECTION if args.quick else REQUESTS_PER_CONNECTION
    plan: list[tuple[str, dict[str, Any]]] = []
    for path in PATHS:
        for n in conns:
            plan.append(("scaling", {
                "path": path, "profile": args.profile, "overrides": overrides(args),
                "connections": n, "requests": n * per_conn, "files": FILES,
                "file_size": size, "zipf_alpha": ZIPF_ALPHA, "cache": "warm"}))
    hit_requests = QUICK_HIT_REQUESTS if args.quick else HIT_REQUESTS
    for ratio in WORKING_SET_RATIOS:
        plan.append(("hit_ratio", {
            "path": "sendfile_sg", "profile": args.profile,
            "overrides": overrides(args, {"kernel.page_cache": HIT_CACHE}),
            "connections": 4, "requests": hit_requests,
            "files": round(ratio * HIT_CACHE_FILES), "file_size": HIT_FILE_BYTES,
            "zipf_alpha": ZIPF_ALPHA, "cache": "warm"}))
    rows = []
    results: list[tuple[str, dict[str, Any], ServerResult]] = []
    with progress(args, len(plan)) as bar:
        for panel, kwargs in plan:
            r = serve(**kwargs)
            results.append((panel, kwargs, r))
            rows.append(row(panel, kwargs, r))
            bar.update()
    files = [write_csv(rows, args.out / f"{NAME}.csv")]
    files += charts.save_figure(scaling_chart([(k, r) for p, k, r in results
                                               if p == "scaling"]), args.out / NAME)
    files += charts.save_figure(hit_chart([r for p, _, r in results if p == "hit_ratio"]),
                                args.out / f"{NAME}_hit_ratio")
    announce(files)
    return 0


@charts.styled
def scaling_chart(runs: Sequence[tuple[dict[str, Any], ServerResult]]):
    """Throughput and p99 against connections per path; CPU and memory-bus use at the
    most connections, stacked by category."""
    fig, (ax_x, ax_p99, ax_cpu, ax_bus) = charts.new_figure(
        2, 2, "A server per path: one host, Zipf-popular files, event-loop workers")
    by_path: dict[str, list[ServerResult]] = {}
    for _, r in runs:
        by_path.setdefault(r.path, []).append(r)
    charts.path_lines(ax_x, {p: ([r.connections for r in rs],
                                 [charts.gbit_per_s(r.goodput_bps) for r in rs])
                             for p, rs in by_path.items()})
    charts.path_lines(ax_p99, {p: ([r.connections for r in rs],
                                   [r.latency_p99_s * 1e3 for r in rs])  # s -> ms
                               for p, rs in by_path.items()}, log_y=True)
    for ax, label in ((ax_x, "goodput (Gbit/s)"), (ax_p99, "p99 response time (ms)")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("connections")
        ax.set_ylabel(label)
    ax_p99.set_yscale("log")
    ax_p99.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax_p99.yaxis.set_minor_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    last = [rs[-1] for rs in by_path.values()]
    names = [r.path for r in last]
    bottom = [0.0] * len(last)
    categories = ("copy", "syscall", "context_switch", "fault", "pipe", "net", "irq", "pin",
                  "notification")
    for cat in categories:
        heights = [r.cpu_per_core_by_category.get(cat, 0.0) * 100 for r in last]  # -> %
        if any(heights):
            ax_cpu.bar(names, heights, bottom=bottom, label=cat)
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax_cpu.set_ylabel(f"CPU busy, % of {last[0].cores} cores")
    ax_cpu.set_title(f"at {last[0].connections} connections")
    ax_cpu.set_ylim(0, max(bottom) * 1.7)  # room for the legend above the bars
    ax_cpu.legend(fontsize="small", ncols=3, loc="upper center")
    bars = ax_bus.bar(names, [r.membus_utilization * 100 for r in last],  # fraction -> %
                      color=[charts.PATH_COLORS[p] for p in names])
    ax_bus.bar_label(bars, [f"{r.membus_bytes_per_byte:.1f}" for r in last],
                     fontsize="x-small")
    ax_bus.set_ylabel("memory bus busy (%)")
    ax_bus.set_title("memory bus (on the bars: DRAM bytes per byte)")
    for ax in (ax_cpu, ax_bus):  # ten path names side by side: slanted, anchored at the bar
        ax.tick_params(axis="x", labelrotation=40, labelsize="small")
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")
    # the lines rise from lower left to upper right: room above them for the legend
    ax_x.set_ylim(0, ax_x.get_ylim()[1] * 1.8)
    ax_x.legend(handles=charts.path_handles(by_path), fontsize="small", ncols=2,
                loc="upper left")
    return fig


@charts.styled
def hit_chart(results: Sequence[ServerResult]):
    """The model's hit ratio and Che's approximation against working set / page cache."""
    fig, (ax,) = charts.new_figure(1, 1, "Page-cache hit ratio under Zipf popularity (LRU)")
    if not results:
        return fig
    alpha = results[0].spec["zipf_alpha"]
    xs = [r.spec["files"] / HIT_CACHE_FILES for r in results]
    che = []
    for r in results:
        cdf = zipf_cdf(r.spec["files"], alpha)
        pop = [b - a for a, b in zip([0.0, *cdf], cdf, strict=False)]
        che.append(che_hit_ratio(pop, HIT_CACHE_FILES))
    ax.plot(xs, [r.hit_ratio for r in results], marker="o", color=charts.PATH_COLORS[
        results[0].path], label=f"iosim serve ({results[0].path})", linewidth=charts.LINE_WIDTH)
    ax.plot(xs, che, linestyle="--", marker="x", color="black", label="Che approximation")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("working set / page cache")
    ax.set_ylabel("hit ratio")
    ax.set_ylim(0, 1.05)
    ax.legend()
    return fig


if __name__ == "__main__":
    sys.exit(entry_point(main)())
