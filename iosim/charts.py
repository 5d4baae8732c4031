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
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

import matplotlib
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

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
    "sndbuf": "P",
    "readahead": "p",
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


STRIPE_PT = 4.0  # one path's dash in a striped line, in line widths (matplotlib scales dashes)
COINCIDE_FRAC = 0.015  # lines closer than this share of the y span would hide each other
LINE_WIDTH = 2.8


def path_lines(ax: Axes, series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
               marker: str | None = "o", log_y: bool = False) -> None:
    """One line per path, ``series[path] = (xs, ys)``, in the path's colour.

    Where lines would lie on top of each other (closer than ``COINCIDE_FRAC`` of the span),
    each segment is drawn as a stripe of all their colours, so no path hides under another
    and a striped line reads "these paths are equal here". The full series of each path is
    the line labelled with its name (its markers), which tests and legends read.
    """
    def level(y: float) -> float:
        return math.log10(y) if log_y and y > 0 else y

    levels = [level(y) for _, ys in series.values() for y in ys]
    tol = COINCIDE_FRAC * ((max(levels) - min(levels)) if levels else 0.0)
    groups: dict[tuple[float, float], list[list[tuple[str, float, float]]]] = {}
    for path, (xs, ys) in series.items():
        for x0, x1, y0, y1 in zip(xs, xs[1:], ys, ys[1:], strict=False):
            for group in groups.setdefault((x0, x1), []):
                _, g0, g1 = group[0]
                if abs(level(g0) - level(y0)) <= tol and abs(level(g1) - level(y1)) <= tol:
                    group.append((path, y0, y1))
                    break
            else:
                groups[x0, x1].append([(path, y0, y1)])
    for (x0, x1), segment_groups in groups.items():
        for group in segment_groups:
            k = len(group)
            for i, (path, y0, y1) in enumerate(group):
                style = "-" if k == 1 else (i * STRIPE_PT, (STRIPE_PT, (k - 1) * STRIPE_PT))
                ax.plot([x0, x1], [y0, y1], color=PATH_COLORS[path], linewidth=LINE_WIDTH,
                        linestyle=style, dash_capstyle="butt", solid_capstyle="butt")
    for path, (xs, ys) in series.items():
        ax.plot(xs, ys, linestyle="", marker=marker or "", markersize=6,
                color=PATH_COLORS[path], label=path)


STRIPE_NOTE = "a striped line: paths with equal values there"


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


def _pair_labels(ax: Axes, cold: Sequence[float], warm: Sequence[float], width: float
                 ) -> None:
    """Value labels over each cold/warm pair of bars: one label when the two are equal."""
    for j, (c, w) in enumerate(zip(cold, warm, strict=True)):
        spots = [(j, max(c, w), c)] if c == w else [(j - width / 2, c, c), (j + width / 2, w, w)]
        for x, top, value in spots:
            ax.annotate(f"{value:.0f}", (x, top), xytext=(0, 2), textcoords="offset points",
                        ha="center", va="bottom", fontsize=12)


@styled
def copies_chart(cold: Sequence[Result], warm: Sequence[Result]) -> Figure:
    """Copies per byte (DMA solid, CPU hatched), syscalls and context switches per path,
    cold cache (left bar of each pair) and warm (right, paler)."""
    size = format_size(cold[0].bytes_requested)
    fig, (ax_copy, ax_sys, ax_ctx) = new_figure(
        1, 3, title=f"Copies, syscalls and switches per path ({size} file, "
                    f"{cold[0].profile['name']} profile)",
        width_ratios=[1.4, 1, 1])
    paths = [r.path for r in cold]
    both = [*cold, *warm]
    width = 0.38
    for i, (cache, results) in enumerate((("cold", cold), ("warm", warm))):
        xs = [j + (i - 0.5) * width for j in range(len(paths))]
        colors = [PATH_COLORS[r.path] for r in results]
        alpha = 1.0 if cache == "cold" else 0.55
        bars = {"width": width, "color": colors, "alpha": alpha, "edgecolor": "black",
                "linewidth": 0.6}
        ax_copy.bar(xs, [r.dma_copies for r in results], **bars)
        top = ax_copy.bar(xs, [r.cpu_copies for r in results],
                          bottom=[r.dma_copies for r in results], hatch="//", **bars)
        ax_copy.bar_label(top, labels=[f"{r.copies:g}" for r in results], padding=2,
                          fontsize=12)
        # a warm cache changes syscalls too: reads no longer wait for the disk, so
        # MSG_ZEROCOPY finds its completions not yet back and polls and reaps more often
        ax_sys.bar(xs, [r.syscalls for r in results], **bars)
        ax_ctx.bar(xs, [r.context_switches for r in results], **bars)
    _pair_labels(ax_sys, [r.syscalls for r in cold], [r.syscalls for r in warm], width)
    _pair_labels(ax_ctx, [r.context_switches for r in cold], [r.context_switches for r in warm],
                 width)
    ax_sys.set_yscale("log")
    _plain_log(ax_sys.yaxis)
    ax_sys.set_ylim(0.5, max(r.syscalls for r in both) * 4)  # room for labels on a log axis
    ax_copy.set_ylim(0, max(r.copies for r in both) + 1.0)
    ax_ctx.set_ylim(0, max(1, *(r.context_switches for r in both)) * 1.15)
    ax_ctx.yaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (ax_copy, ax_sys, ax_ctx):
        ax.set_xticks(range(len(paths)), paths, rotation=30, ha="right",
                      rotation_mode="anchor")
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
    ax_sys.set_ylabel("syscalls (log scale)")
    ax_sys.set_title("Syscalls (2 mode switches each)")
    ax_ctx.set_ylabel("context switches (task blocked)")
    ax_ctx.set_title("Context switches")
    return fig


@styled
def size_chart(results: Sequence[Result]) -> Figure:
    """Goodput and CPU time per byte against transfer size, one line per path.

    A dotted line marks the size where the file outgrows the last-level cache
    (``cpu.cache_size``): beyond it copies run at DRAM speed and load the memory bus.
    """
    by_path = _by_path(results)
    first = results[0]
    fig, (ax_rate, ax_cpu) = new_figure(
        1, 2, title=f"Goodput and CPU cost by transfer size "
                    f"({first.profile['name']}, {first.scenario['cache']} cache)")
    sizes = [r.bytes_requested for r in results]
    path_lines(ax_rate, {p: ([r.bytes_requested for r in rs],
                             [gbit_per_s(r.goodput_bps) for r in rs])
                         for p, rs in by_path.items()})
    # seconds per byte -> nanoseconds per byte: 1e9 ns per s
    path_lines(ax_cpu, {p: ([r.bytes_requested for r in rs],
                            [r.cpu_time_s / r.bytes_delivered * 1e9 for r in rs])
                        for p, rs in by_path.items()}, log_y=True)
    every = max(1, math.ceil(len(set(sizes)) / 8))
    for ax in (ax_rate, ax_cpu):
        _size_ticks(ax, sizes, every)
        ax.set_xlabel("transfer size (log scale)")
    cache_bytes = first.profile["cpu"]["cache_size_bytes"]
    note = STRIPE_NOTE
    if min(sizes) < cache_bytes < max(sizes):
        cache = format_size(cache_bytes)
        for ax in (ax_rate, ax_cpu):
            ax.axvline(cache_bytes, color="black", linestyle=":", linewidth=1.5)
            ax.annotate(f"{cache} cache", (cache_bytes, 0.5), xycoords=("data", "axes fraction"),
                        rotation=90, ha="right", va="center", xytext=(-3, 0),
                        textcoords="offset points", fontsize=12)
        note = (f"dotted: files over the {cache} last-level cache (cpu.cache_size), whose "
                f"copies go to DRAM over the memory bus\n{STRIPE_NOTE}")
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
                        (cross, 0.97), xycoords=("data", "axes fraction"), ha="right",
                        va="top", xytext=(-6, 0), textcoords="offset points", fontsize=12)
    fig.legend(handles=path_handles(by_path), loc="outside lower center", ncols=len(by_path),
               title=note, title_fontproperties={"size": 12})
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
    rate = {p: ([x for x, _ in pts], [gbit_per_s(r.goodput_bps) for _, r in pts])
            for p, pts in by_path.items()}
    cores = {p: ([x for x, _ in pts], [r.cpu_time_s / r.sim_time_s for _, r in pts])
             for p, pts in by_path.items()}  # CPU-seconds per second = cores
    for ax, series in ((ax_rate, rate), (ax_cpu, cores)):
        path_lines(ax, series, marker=None)
        for path, pts in by_path.items():
            for x, y, (_, r) in zip(series[path][0], series[path][1], pts, strict=True):
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
        _from_zero(ax)
    ax_rate.set_ylabel("goodput (Gbit/s)")
    ax_rate.set_title("Goodput (marker = bottleneck)")
    ax_cpu.set_ylabel("CPU busy (cores)")
    ax_cpu.set_title("CPU used by the transfer")
    fig.legend(handles=path_handles(by_path), loc="outside lower center", ncols=len(by_path),
               title=STRIPE_NOTE, title_fontproperties={"size": 12})
    ax_cpu.legend(handles=[Line2D([], [], linestyle="", marker=BOTTLENECK_MARKERS.get(b, "*"),
                                  markersize=9, color="grey", markeredgecolor="black", label=b)
                           for b in BOTTLENECK_MARKERS if b in seen],
                  title="bottleneck", loc="best")
    return fig


@dataclass(frozen=True)
class Panel:
    """One panel of a failure chart: a sweep's runs and what to plot of each.

    ``value(result, base)`` gives the y of a run (``base``: the same path's first point,
    for "extra" metrics); ``value=None`` draws the receiver's verdict (``integrity``) as a
    table of coloured cells, a path per row. ``even_x`` spaces the x values evenly (for
    values like byte offsets whose labels would collide); ``integer`` ticks whole numbers.
    """

    title: str
    x_label: str
    points: Sequence[tuple[float, Result]]
    value: Callable[[Result, Result], float] | None = None
    integer: bool = False
    even_x: bool = False


INTEGRITY_COLORS = {"exact": "#c7e9c0", "changed": "#fdd49e", "stale": "#fdae6b",
                    "mixed": "#ef6548"}


@styled
def failure_chart(panels: Sequence[Panel], title: str, note: str = "") -> Figure:
    """A failure mode: a panel per metric, a line per path (stripes where paths are equal)."""
    ncols = 2 if len(panels) == 4 else len(panels)
    fig, axes = new_figure(math.ceil(len(panels) / ncols), ncols, title=title)
    paths: dict[str, None] = {}
    for ax, panel in zip(axes, panels, strict=True):
        by_path: dict[str, list[tuple[float, Result]]] = {}
        for x, r in panel.points:
            by_path.setdefault(r.path, []).append((x, r))
        paths.update(dict.fromkeys(by_path))
        ticks = sorted({x for x, _ in panel.points})
        position = {x: float(i) for i, x in enumerate(ticks)} if panel.even_x else {}
        if panel.value is None:
            _integrity_cells(ax, by_path, ticks)
        else:
            path_lines(ax, {p: ([position.get(x, x) for x, _ in pts],
                                [panel.value(r, pts[0][1]) for _, r in pts])
                            for p, pts in by_path.items()})
            _from_zero(ax)
            if panel.integer:
                ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xticks([position.get(x, x) for x in ticks], _tick_texts(ticks))
        ax.set_xlabel(panel.x_label)
        ax.set_title(panel.title)
    fig.legend(handles=path_handles(paths), loc="outside lower center", ncols=len(paths),
               title=f"{note}; {STRIPE_NOTE}" if note else STRIPE_NOTE,
               title_fontproperties={"size": 12})
    return fig


def _from_zero(ax: Axes) -> None:
    """A y axis from zero, with a margin below so that a line at zero shows above the axis."""
    top = ax.get_ylim()[1]
    ax.set_ylim(-0.03 * top, top)


def _integrity_cells(ax: Axes, by_path: Mapping[str, Sequence[tuple[float, Result]]],
                     ticks: Sequence[float]) -> None:
    """What the receiver got, per path (rows) and swept value (columns), as coloured cells."""
    paths = list(by_path)
    for row, path in enumerate(paths):
        verdict = {x: r.integrity for x, r in by_path[path]}
        for col, x in enumerate(ticks):
            ax.add_patch(Rectangle((col, row), 1, 1, facecolor=INTEGRITY_COLORS.get(
                verdict[x], UNKNOWN_PATH_COLOR), edgecolor="white", linewidth=2))
            ax.text(col + 0.5, row + 0.5, verdict[x], ha="center", va="center", fontsize=12)
    ax.set_xlim(0, len(ticks))
    ax.set_ylim(len(paths), 0)
    ax.set_xticks([c + 0.5 for c in range(len(ticks))], _tick_texts(ticks))
    ax.set_yticks([r + 0.5 for r in range(len(paths))], paths)
    for label, path in zip(ax.get_yticklabels(), paths, strict=True):
        label.set_color(PATH_COLORS[path])
    ax.grid(visible=False)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _tick_texts(ticks: Sequence[float]) -> list[str]:
    """Tick texts, in thousands (50k) when they are round thousands reaching 10 000."""
    if max(ticks) >= 10_000 and all(x % 1000 == 0 for x in ticks):
        return [f"{x / 1000:g}k" if x else "0" for x in ticks]
    return [f"{x:g}" for x in ticks]


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
    labels: list[tuple[bool, float, float, int, str]] = []  # (sleep?, width, centre, row, text)
    for e in events:
        if e.track not in rows or e.kind in (Kind.REF, Kind.STORE, Kind.COW, Kind.USER_STORE,
                                             Kind.DROP):
            continue
        y = rows[e.track]
        if e.is_slice:
            blocked = e.kind is Kind.BLOCK
            in_call = e.kind in (Kind.SYSCALL, Kind.PIPE)  # wall time, asleep or not
            width_us = max(e.duration_s, 0.0) * us
            # a syscall's outline is its own pale colour: a run of short calls must not
            # read as a solid (busy) bar
            ax.broken_barh([(e.start_s * us, width_us)], (y - 0.35, 0.7),
                           facecolors="#dddddd" if blocked else color,
                           edgecolors="#999999" if blocked else color if in_call else "black",
                           linewidth=0.4, hatch="xx" if blocked else None,
                           alpha=0.35 if in_call else 1.0, zorder=3 if blocked else 2)
            labels.append((blocked, width_us, (e.start_s + e.end_s) / 2 * us, y,
                           _short_name(e)))
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


def _label_bars(ax: Axes, labels: Sequence[tuple[bool, float, float, int, str]],
                end_us: float) -> None:
    """Write each label inside its bar if it fits and no earlier label is in the way:
    the sleeps first (a syscall's name must not sit on the time it slept), then by width."""
    taken: list[tuple[int, float, float]] = []
    for _, width_us, centre_us, row, text in sorted(labels, reverse=True):
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
