"""Slide-ready figures of iosim results, one function per chart.

Every chart draws a path in the same colour (``PATH_COLORS``), so a reader who has learnt
that sendfile_sg is blue on one slide finds it blue on the next. Figures are plain
``matplotlib.figure.Figure`` objects on the Agg canvas: no pyplot state, safe in scripts,
tests and notebooks alike. ``save_figure`` writes PNG and SVG atomically.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import ParamSpec, TypeVar

import matplotlib
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from iosim.atomic import replacing
from iosim.events import CPU, Event, Kind, title
from iosim.paths import PATHS
from iosim.result import Result
from iosim.units import format_size

UNKNOWN_PATH_COLOR = "#7F7F7F"


class _PathColors(Mapping[str, str]):
    """Each path's colour, from its ``PathSpec`` (Okabe-Ito for the built-in ones:
    distinguishable with the common colour-vision deficiencies)."""

    def __getitem__(self, path: str) -> str:
        spec = PATHS.get(path)
        return spec.color if spec is not None else UNKNOWN_PATH_COLOR

    def __iter__(self) -> Iterator[str]:
        return iter(PATHS)

    def __len__(self) -> int:
        return len(PATHS)


PATH_COLORS: Mapping[str, str] = _PathColors()

# Marker of each Result.bottleneck value, for sweeps where the limit changes along the way.
BOTTLENECK_MARKERS: dict[str, str] = {
    "link": "o",
    "sender_core": "^",
    "cpu": "v",
    "membus": "D",
    "disk": "s",
    "latency": "X",
}

P = ParamSpec("P")
R = TypeVar("R")

SLIDE_SIZE_IN = (12.0, 6.75)  # 16:9 at 12 inches wide
PNG_DPI = 150
NOTEBOOK_DPI = 80  # inline figures: 960 pixels wide, as wide as a notebook column
STYLE: dict[str, object] = {
    "font.size": 14,
    "axes.titlesize": 14,
    "axes.labelsize": 14,
    "xtick.labelsize": 13,
    "ytick.labelsize": 13,
    "legend.fontsize": 12,
    "figure.titlesize": 17,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",  # keep SVG text editable
}



def styled(chart: Callable[P, R]) -> Callable[P, R]:
    """Build the whole chart under ``STYLE``: titles and legends read rcParams when made."""

    @functools.wraps(chart)
    def build(*args: P.args, **kwargs: P.kwargs) -> R:
        with matplotlib.rc_context(STYLE):
            return chart(*args, **kwargs)

    return build


class SlideFigure(Figure):
    """A Figure that shows itself in Jupyter without pyplot: IPython calls ``_repr_png_``."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=NOTEBOOK_DPI)
        return buf.getvalue()


def new_figure(nrows: int = 1, ncols: int = 1, title: str = "",
               size_in: tuple[float, float] = SLIDE_SIZE_IN, **subplots: object
               ) -> tuple[Figure, list[Axes]]:
    """A slide-sized figure on the Agg canvas and its axes, flattened in reading order."""
    with matplotlib.rc_context(STYLE):
        fig = SlideFigure(figsize=size_in, layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols, squeeze=False, **subplots)
        if title:
            fig.suptitle(title, fontweight="bold")
    return fig, [ax for row in axes for ax in row]


def save_figure(fig: Figure, stem: str | Path) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg``."""
    stem = Path(stem)
    return [save_as(fig, stem.with_suffix(f".{ext}")) for ext in ("png", "svg")]


def save_as(fig: Figure, target: str | Path) -> Path:
    """Write one file, its format from its suffix; a reader never sees it half-written."""
    target = Path(target)
    fmt = target.suffix.lstrip(".").lower()
    if fmt not in ("png", "svg", "pdf"):
        raise ValueError(f"{target}: expected a .png, .svg or .pdf file name")
    with replacing(target, binary=True) as fh, matplotlib.rc_context(STYLE):
        fig.savefig(fh, format=fmt, dpi=PNG_DPI)
    return target


def line_width(path: str) -> float:
    """Wider for earlier paths, so a path drawn over an identical one still shows beneath."""
    order = list(PATH_COLORS)
    return 2.0 + 1.2 * (len(order) - 1 - order.index(path)) / (len(order) - 1)


def path_handles(paths: Iterable[str]) -> list[Patch]:
    """Legend entries of path colours."""
    return [Patch(color=PATH_COLORS[p], label=p) for p in paths]


def gbit_per_s(goodput_bps: float) -> float:
    """Result.goodput_bps (bits per second) in Gbit/s: 1e9 bits per Gbit."""
    return goodput_bps / 1e9


def _size_ticks(ax: Axes, sizes_bytes: Sequence[int], every: int = 1) -> None:
    ticks = sorted(set(sizes_bytes))[::every]
    ax.set_xscale("log", base=2)
    ax.set_xticks(ticks, [format_size(s).replace(" ", "") for s in ticks])
    ax.minorticks_off()


def _plain_log(axis) -> None:
    """Log-axis tick labels as plain numbers (0.1, 1, 10), not powers of ten."""
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))


def _bar_labels(ax: Axes, bars, fmt: str) -> None:
    ax.bar_label(bars, labels=[fmt.format(b.get_height()) for b in bars], padding=2,
                 fontsize=12)


@styled
def copies_chart(cold: Sequence[Result], warm: Sequence[Result]) -> Figure:
    """Copies per byte (DMA solid, CPU hatched), syscalls and context switches per path."""
    size = format_size(cold[0].bytes_requested)
    fig, (ax_copy, ax_sys, ax_ctx) = new_figure(
        1, 3, title=f"Copies, syscalls and switches per path ({size} file, "
                    f"{cold[0].profile['name']} profile)",
        width_ratios=[1.4, 1, 1])
    paths = [r.path for r in cold]
    width = 0.38
    for i, (cache, results) in enumerate((("cold", cold), ("warm", warm))):
        xs = [j + (i - 0.5) * width for j in range(len(paths))]
        colors = [PATH_COLORS[r.path] for r in results]
        alpha = 1.0 if cache == "cold" else 0.55
        ax_copy.bar(xs, [r.dma_copies for r in results], width, color=colors, alpha=alpha,
                    edgecolor="black", linewidth=0.6)
        top = ax_copy.bar(xs, [r.cpu_copies for r in results], width,
                          bottom=[r.dma_copies for r in results], color=colors, alpha=alpha,
                          hatch="//", edgecolor="black", linewidth=0.6)
        ax_copy.bar_label(top, labels=[f"{r.copies:g}" for r in results], padding=2,
                          fontsize=12)
        ctx = ax_ctx.bar(xs, [r.context_switches for r in results], width, color=colors,
                         alpha=alpha, edgecolor="black", linewidth=0.6)
        _bar_labels(ax_ctx, ctx, "{:.0f}")
    # syscalls and mode switches do not depend on the cache state: the program is the same
    xs = range(len(paths))
    sys_bars = ax_sys.bar([x - width / 2 for x in xs], [r.syscalls for r in cold], width,
                          color=[PATH_COLORS[p] for p in paths], edgecolor="black",
                          linewidth=0.6)
    mode_bars = ax_sys.bar([x + width / 2 for x in xs], [r.mode_switches for r in cold], width,
                           color=[PATH_COLORS[p] for p in paths], edgecolor="black",
                           linewidth=0.6, hatch="..")
    _bar_labels(ax_sys, sys_bars, "{:.0f}")
    _bar_labels(ax_sys, mode_bars, "{:.0f}")
    ax_sys.set_yscale("log")
    _plain_log(ax_sys.yaxis)
    ax_sys.set_ylim(0.5, max(r.mode_switches for r in cold) * 4)
    ax_copy.set_ylim(0, max(r.copies for r in cold + list(warm)) + 1.0)
    ax_ctx.set_ylim(0, max(1, *(r.context_switches for r in cold)) * 1.15)
    for ax in (ax_copy, ax_sys, ax_ctx):
        ax.set_xticks(list(xs), paths, rotation=30, ha="right", rotation_mode="anchor")
        ax.set_xlabel("path")
        ax.grid(axis="x", visible=False)
    ax_copy.set_ylabel("copies per byte delivered")
    ax_copy.set_title("Copies: DMA + CPU (hatched)")
    ax_copy.legend(handles=[Patch(facecolor="white", edgecolor="black", label="DMA copy"),
                            Patch(facecolor="white", edgecolor="black", hatch="//",
                                  label="CPU copy"),
                            Patch(facecolor="grey", label="cold cache (left bar)"),
                            Patch(facecolor="grey", alpha=0.55, label="warm cache (right)")],
                   loc="upper right", ncols=2, fontsize=12)
    ax_sys.set_ylabel("count (log scale)")
    ax_sys.set_title("Syscalls, mode switches (dots)")
    ax_ctx.set_ylabel("context switches (task blocked)")
    ax_ctx.set_title("Context switches")
    return fig


@styled
def size_chart(results: Sequence[Result]) -> Figure:
    """Goodput and CPU time per byte against transfer size, one line per path."""
    by_path = _by_path(results)
    first = results[0]
    fig, (ax_rate, ax_cpu) = new_figure(
        1, 2, title=f"Where zero-copy stops paying: transfer size "
                    f"({first.profile['name']}, {first.scenario['cache']} cache)")
    sizes = [r.bytes_requested for r in results]
    for path, rs in by_path.items():
        xs = [r.bytes_requested for r in rs]
        ax_rate.plot(xs, [gbit_per_s(r.goodput_bps) for r in rs], "o-", color=PATH_COLORS[path],
                     label=path, markersize=5, linewidth=line_width(path))
        # seconds per byte -> nanoseconds per byte: 1e9 ns per s
        ax_cpu.plot(xs, [r.cpu_time_s / r.bytes_delivered * 1e9 for r in rs], "o-",
                    color=PATH_COLORS[path], label=path, markersize=5,
                    linewidth=line_width(path))
    every = max(1, math.ceil(len(set(sizes)) / 8))
    for ax in (ax_rate, ax_cpu):
        _size_ticks(ax, sizes, every)
        ax.set_xlabel("transfer size (log scale)")
    ax_rate.set_ylabel("goodput (Gbit/s)")
    ax_rate.set_title("Goodput")
    ax_cpu.set_yscale("log")
    _plain_log(ax_cpu.yaxis)
    ax_cpu.set_ylabel("CPU time per byte sent (ns, log scale)")
    ax_cpu.set_title("CPU cost")
    cross = zerocopy_crossover_bytes(results)
    if cross is not None:
        ax_cpu.axvline(cross, color=PATH_COLORS["msg_zerocopy"], linestyle="--")
        ax_cpu.annotate(f"MSG_ZEROCOPY beats read+write\nfrom {format_size(cross)}",
                        (cross, 0.97), xycoords=("data", "axes fraction"), ha="left",
                        va="top", xytext=(6, 0), textcoords="offset points", fontsize=12)
    ax_rate.legend(loc="upper left")
    return fig


def zerocopy_crossover_bytes(results: Sequence[Result]) -> int | None:
    """Smallest size from which MSG_ZEROCOPY costs less CPU per byte than read+write."""
    by_path = _by_path(results)
    rw = {r.bytes_requested: r.cpu_time_s for r in by_path.get("read_write", [])}
    zc = {r.bytes_requested: r.cpu_time_s for r in by_path.get("msg_zerocopy", [])}
    sizes = sorted(set(rw) & set(zc))
    cheaper = [zc[s] < rw[s] for s in sizes]
    if not any(cheaper) or all(cheaper):
        return None
    last_dearer = max(i for i, c in enumerate(cheaper) if not c)
    return sizes[last_dearer + 1] if last_dearer + 1 < len(sizes) else None


@styled
def compare_chart(results: Sequence[Result], title: str) -> Figure:
    """Goodput and busy cores of every path under one configuration, bottleneck on each bar."""
    fig, (ax_rate, ax_cpu) = new_figure(1, 2, title=title)
    paths = [r.path for r in results]
    colors = [PATH_COLORS[p] for p in paths]
    rate = ax_rate.bar(paths, [gbit_per_s(r.goodput_bps) for r in results], color=colors,
                       edgecolor="black", linewidth=0.6)
    _bar_labels(ax_rate, rate, "{:.3g}")
    ax_rate.bar_label(rate, labels=[r.bottleneck for r in results], label_type="center",
                      rotation=90, fontsize=12, path_effects=[
                          patheffects.withStroke(linewidth=3, foreground="white")])
    ax_rate.set_ylim(0, max(gbit_per_s(r.goodput_bps) for r in results) * 1.1)
    cores = ax_cpu.bar(paths, [r.cpu_time_s / r.sim_time_s for r in results], color=colors,
                       edgecolor="black", linewidth=0.6)  # CPU-seconds per second = cores
    _bar_labels(ax_cpu, cores, "{:.3g}")
    for ax in (ax_rate, ax_cpu):
        ax.tick_params(axis="x", rotation=30)
        for label in ax.get_xticklabels():
            label.set_ha("right")
            label.set_rotation_mode("anchor")
        ax.set_xlabel("path")
        ax.grid(axis="x", visible=False)
    ax_rate.set_ylabel("goodput (Gbit/s)")
    ax_rate.set_title("Goodput (inside: the bottleneck)")
    ax_cpu.set_ylabel("CPU busy (cores)")
    ax_cpu.set_title("CPU used by the transfer")
    return fig


@styled
def sweep_chart(points: Sequence[tuple[float, Result]], x_label: str, title: str,
                log_x: bool = True) -> Figure:
    """Goodput and busy cores against a swept hardware value; markers name the bottleneck."""
    fig, (ax_rate, ax_cpu) = new_figure(1, 2, title=title)
    by_path: dict[str, list[tuple[float, Result]]] = {}
    for x, r in points:
        by_path.setdefault(r.path, []).append((x, r))
    seen: set[str] = set()
    for path, pts in by_path.items():
        xs = [x for x, _ in pts]
        rate = [gbit_per_s(r.goodput_bps) for _, r in pts]
        cores = [r.cpu_time_s / r.sim_time_s for _, r in pts]  # CPU-seconds per second
        for ax, ys in ((ax_rate, rate), (ax_cpu, cores)):
            ax.plot(xs, ys, "-", color=PATH_COLORS[path], linewidth=line_width(path))
            for x, y, (_, r) in zip(xs, ys, pts, strict=True):
                ax.plot(x, y, BOTTLENECK_MARKERS.get(r.bottleneck, "*"), markersize=9,
                        color=PATH_COLORS[path], markeredgecolor="black")
                seen.add(r.bottleneck)
    ticks = sorted({x for x, _ in points})
    for ax in (ax_rate, ax_cpu):
        if log_x:
            ax.set_xscale("log")
            ax.minorticks_off()
        ax.set_xticks(ticks, [f"{x:g}" for x in ticks])
        ax.set_xlabel(x_label)
    ax_rate.set_ylabel("goodput (Gbit/s)")
    ax_rate.set_title("Goodput (marker = bottleneck)")
    ax_cpu.set_ylabel("CPU busy (cores)")
    ax_cpu.set_title("CPU used by the transfer")
    fig.legend(handles=path_handles(by_path), loc="outside lower center", ncols=len(by_path))
    ax_cpu.legend(handles=[Line2D([], [], linestyle="", marker=BOTTLENECK_MARKERS.get(b, "*"),
                                  markersize=9, color="grey", markeredgecolor="black", label=b)
                           for b in BOTTLENECK_MARKERS if b in seen],
                  title="bottleneck", loc="best")
    return fig


@styled
def failure_chart(points: Sequence[tuple[float, Result]], x_label: str,
                  metrics: Sequence[tuple[str, str]], title: str, note: str = "") -> Figure:
    """One failure sweep: a panel per metric, a line per path, the swept value along x.

    ``metrics``: (metric, axis label) where metric is ``goodput``, ``extra_copies``,
    ``extra_frags`` (against the path's first point), ``integrity`` (categories) or any
    numeric Result field.
    """
    fig, axes = new_figure(1, len(metrics), title=title)
    by_path: dict[str, list[tuple[float, Result]]] = {}
    for x, r in points:
        by_path.setdefault(r.path, []).append((x, r))
    ticks = sorted({x for x, _ in points})
    for ax, (metric, y_label) in zip(axes, metrics, strict=True):
        levels = _integrity_levels(points) if metric == "integrity" else {}
        for path, pts in by_path.items():
            base = pts[0][1]
            ys = [levels[r.integrity] if levels else _metric(r, base, metric) for _, r in pts]
            ax.plot([x for x, _ in pts], ys, "o-", color=PATH_COLORS[path], label=path,
                    markersize=6, linewidth=line_width(path))
        if levels:
            ax.set_yticks(list(levels.values()), list(levels))
            ax.set_ylim(-0.5, len(levels) - 0.5)
        ax.set_xticks(ticks, _tick_texts(ticks))
        ax.set_xlabel(x_label)
        ax.set_title(y_label)
    fig.legend(handles=path_handles(by_path), loc="outside lower center", ncols=len(by_path),
               title=note or None, title_fontproperties={"style": "italic", "size": 12})
    return fig


def _tick_texts(ticks: Sequence[float]) -> list[str]:
    """Tick texts, in thousands (50k) when they are round thousands reaching 10 000."""
    if max(ticks) >= 10_000 and all(x % 1000 == 0 for x in ticks):
        return [f"{x / 1000:g}k" if x else "0" for x in ticks]
    return [f"{x:g}" for x in ticks]


def _integrity_levels(points: Sequence[tuple[float, Result]]) -> dict[str, int]:
    """Integrity outcomes as y positions: "exact" at the bottom, the others above it."""
    seen = {r.integrity for _, r in points}
    order = ["exact", *sorted(seen - {"exact"})]
    return {name: i for i, name in enumerate(order)}


def _metric(r: Result, base: Result, metric: str) -> float:
    if metric == "goodput":
        return gbit_per_s(r.goodput_bps)
    if metric == "extra_copies":
        return r.copies - base.copies
    if metric == "extra_frags":
        return float(r.frags - base.frags)
    return float(getattr(r, metric))


TIMELINE_TRACKS = ("sender", "cpu", "disk", "dma", "wire")


@styled
def timeline_chart(events: Sequence[Event], result: Result, ax: Axes | None = None,
                   t_max_s: float | None = None) -> Figure:
    """A Gantt chart of one run: a row per component, a bar per traced slice.

    The sender's row shows its syscalls (pale) with the time it slept inside them hatched
    on top, so a sendfile() that waits for the disk does not look busy; the other rows show
    work (copies, DMA, the link). On its own figure the wide bars are labelled (syscall
    names, copy targets); drawn into ``ax`` (a grid of paths) they are not, to stay readable.
    """
    labelled = ax is None
    if ax is None:
        fig, (ax,) = new_figure(title=f"{result.path}: {format_size(result.bytes_requested)}, "
                                      f"{result.scenario['cache']} cache, "
                                      f"{result.profile['name']} profile")
        fig.legend(handles=_timeline_key(result.path), loc="outside lower center", ncols=4)
    color = PATH_COLORS[result.path]
    rows = {t: len(TIMELINE_TRACKS) - 1 - i for i, t in enumerate(TIMELINE_TRACKS)}
    us = 1e6  # seconds -> microseconds
    end_us = (t_max_s or result.sim_time_s) * us * 1.02
    labels: list[tuple[float, float, int, str]] = []  # (width, centre, row, text), in µs
    for e in events:
        if e.track not in rows or e.kind in (Kind.REF, Kind.STORE, Kind.COW, Kind.USER_STORE,
                                             Kind.DROP):
            continue
        y = rows[e.track]
        if e.is_slice:
            blocked = e.kind is Kind.BLOCK
            in_call = e.kind in (Kind.SYSCALL, Kind.PIPE)  # wall time, asleep or not
            width_us = max(e.duration_s, 0.0) * us
            ax.broken_barh([(e.start_s * us, width_us)], (y - 0.35, 0.7),
                           facecolors="#dddddd" if blocked else color,
                           edgecolors="#999999" if blocked else "black", linewidth=0.4,
                           hatch="xx" if blocked else None, alpha=0.35 if in_call else 1.0,
                           zorder=3 if blocked else 2)
            labels.append((width_us, (e.start_s + e.end_s) / 2 * us, y, _short_name(e)))
        elif not e.is_counter:
            ax.plot([e.start_s * us] * 2, [y - 0.45, y + 0.45], color="black", linewidth=0.8)
    if labelled:
        _label_bars(ax, labels, end_us)
    ax.set_yticks(list(rows.values()), list(rows))
    ax.set_ylim(-0.6, len(TIMELINE_TRACKS) - 0.4)
    ax.set_xlim(0, end_us)
    ax.set_xlabel("simulated time (µs)")
    ax.grid(axis="y", visible=False)
    return ax.figure


def _label_bars(ax: Axes, labels: Sequence[tuple[float, float, int, str]], end_us: float
                ) -> None:
    """Write each label inside its bar if it fits and no wider bar's label is in the way."""
    taken: list[tuple[int, float, float]] = []
    for width_us, centre_us, row, text in sorted(labels, reverse=True):
        # about 1.2% of the axis per character at 12 pt on a 12-inch figure
        half_us = 0.006 * end_us * (len(text) + 1)
        lo, hi = centre_us - half_us, centre_us + half_us
        if 2 * half_us > width_us or any(r == row and lo < b and a < hi for r, a, b in taken):
            continue
        taken.append((row, lo, hi))
        ax.text(centre_us, row, text, ha="center", va="center", fontsize=12, clip_on=True,
                path_effects=[patheffects.withStroke(linewidth=3, foreground="white")])


def _short_name(e: Event) -> str:
    """A slice's name short enough to sit inside its bar."""
    if e.kind is Kind.BLOCK:
        return f"blocked: {e.what}"
    if e.kind is Kind.COPY and e.who == CPU:
        return f"copy -> {e.dst}"
    if e.kind is Kind.WIRE:
        return f"skb {e.seq}"
    if e.kind is Kind.DISK:
        return f"read {format_size(e.nbytes)}"
    return title(e)


def _timeline_key(path: str) -> list:
    return [Patch(facecolor=PATH_COLORS[path], edgecolor="black", label="busy"),
            Patch(facecolor=PATH_COLORS[path], edgecolor="black", alpha=0.35,
                  label="sender inside a syscall"),
            Patch(facecolor="#dddddd", edgecolor="#999999", hatch="xx",
                  label="sender blocked (context switch)"),
            Line2D([], [], color="black", linewidth=0.8, label="page fault / interrupt")]


@styled
def timeline_grid(runs: Sequence[tuple[Result, Sequence[Event]]]) -> Figure:
    """Every path's timeline on one shared time axis, so their lengths compare."""
    first = runs[0][0]
    fig, axes = new_figure(math.ceil(len(runs) / 2), 2, sharex=True, sharey=True,
                           title=f"Timelines: {format_size(first.bytes_requested)}, "
                                 f"{first.scenario['cache']} cache, {first.profile['name']}")
    t_max_s = max(r.sim_time_s for r, _ in runs)
    for ax, (r, events) in zip(axes, runs, strict=False):
        timeline_chart(events, r, ax=ax, t_max_s=t_max_s)
        ax.set_title(r.path, color=PATH_COLORS[r.path], fontweight="bold", fontsize=14)
        ax.tick_params(axis="y", labelsize=12)
        ax.set_xlabel("")
    for ax in axes[len(runs):]:
        ax.set_visible(False)
    key = _timeline_key(first.path)
    key[0] = Patch(facecolor="white", edgecolor="black", label="busy (path colour)")
    for ax in axes[len(runs) - 2:len(runs)]:
        ax.set_xlabel("simulated time (µs)")
    fig.legend(handles=key, loc="outside lower center", ncols=4, fontsize=12)
    return fig


@styled
def refcount_chart(page_log: Sequence[tuple[float, int, str]], result: Result) -> Figure:
    """One page's refcount over time, each step labelled with who took or dropped it."""
    page = result.scenario.get("watch_page")
    fig, (ax,) = new_figure(title=f"{result.path}: refcount of file page {page}",
                            size_in=(SLIDE_SIZE_IN[0], 5.0))
    us = 1e6  # seconds -> microseconds
    end_us = result.sim_time_s * us
    xs = [t * us for t, _, _ in page_log] + [end_us]
    ys = [c for _, c, _ in page_log]
    ax.step(xs, [*ys, ys[-1]] if ys else [0], where="post", color=PATH_COLORS[result.path],
            linewidth=2.5)
    taken: list[tuple[int, float, float]] = []  # (level, start, end) of placed labels, µs
    for t, count, what in page_log:
        # about 0.9% of the axis per character at 12 pt on a 12-inch figure
        lo, hi = t * us, t * us + 0.009 * end_us * (len(what) + 1)
        level = min(lv for lv in range(len(page_log) + 1)
                    if not any(lv == tl and lo < b and a < hi for tl, a, b in taken))
        taken.append((level, lo, hi))
        ax.annotate(what, (t * us, count), xytext=(4, 8 + 18 * level),
                    textcoords="offset points", fontsize=12,
                    arrowprops={"arrowstyle": "-", "color": "grey", "linewidth": 0.6}
                    if level else None)
    ax.set_xlim(0, end_us * 1.05)
    top = max([*ys, 1]) + 1 + max((lv for lv, _, _ in taken), default=0) // 3
    ax.set_ylim(0, top)
    ax.set_yticks(range(top + 1))
    ax.set_xlabel("simulated time (µs)")
    ax.set_ylabel("references held")
    return fig


def _by_path(results: Iterable[Result]) -> dict[str, list[Result]]:
    out: dict[str, list[Result]] = {}
    for r in results:
        out.setdefault(r.path, []).append(r)
    for rs in out.values():
        rs.sort(key=lambda r: r.bytes_requested)
    return out
