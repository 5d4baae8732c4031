"""The data flow of one run as a graph of buffers, with who moved the bytes along each edge.

The textbook diagrams (disk -> page cache -> user buffer -> socket buffer -> NIC) are drawn
here from what a run actually did, never from a picture per path: copy edges come from the
Tracer's CPU-copy and DMA slices, page-reference edges from the syscalls that hand pages on
(splice, sendfile, MSG_ZEROCOPY send, mmap), and CPU copies the trace does not name (bounce
buffers, the driver linearising an skb) from the gap between the trace and
``Result.cpu_copy_bytes``.
So sendfile on a NIC without scatter-gather shows a CPU copy where sendfile_sg shows a
reference, because that is what the model did.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import networkx as nx
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from iosim import charts
from iosim.config import ConfigError
from iosim.events import (
    CPU,
    FILE,
    FRAGS,
    LINEAR,
    MAPPING,
    PAGE_CACHE,
    PIPE,
    SEGMENTS,
    SOCKET,
    SOCKET_FRAGS,
    USER_BUFFER,
    Event,
    Kind,
)
from iosim.result import Result
from iosim.simulate import simulate
from iosim.trace import Tracer
from iosim.units import format_size

# Buffers in the order data passes them, at (column, layer) of the drawing.
NODES: dict[str, tuple[int, int]] = {
    "disk": (0, 0),
    "page cache": (2, 1),
    "user buffer": (4, 2),
    "pipe": (4, 1),
    "socket buffer": (6, 1),
    "GSO segments": (8, 1),
    "NIC": (8, 0),
    "wire": (10, 0),
}
LAYERS = ("hardware", "kernel", "user space")

# Edge kind -> (who moves the data, arrow fill character of the text rendering)
KINDS: dict[str, tuple[str, str]] = {
    "dma": ("DMA", "="),
    "cpu_copy": ("CPU copy", "-"),
    "reference": ("page reference", "~"),
    "transmit": ("transmit", "."),
}
KIND_STYLE: dict[str, dict[str, Any]] = {
    "dma": {"color": "#1B4F72", "linestyle": "-", "linewidth": 3.0},
    "cpu_copy": {"color": "#B03A2E", "linestyle": "-", "linewidth": 3.0},
    "reference": {"color": "#1E8449", "linestyle": "--", "linewidth": 2.2},
    "transmit": {"color": "#7F8C8D", "linestyle": ":", "linewidth": 2.5},
}

# trace buffer names -> the buffer of the drawing they live in
BUFFER_NODE = {LINEAR: "socket buffer", SOCKET_FRAGS: "socket buffer",
               SEGMENTS: "GSO segments"}
DMA_NOTES = {
    LINEAR: "from the skb's linear data",
    SOCKET_FRAGS: "from the socket's page frags (its copy of write() data)",
    SEGMENTS: "from software GSO's linear per-MSS copies (a NIC without scatter-gather)",
}


def trace_flow(path: str, size_bytes: int | str = "1MiB", **simulate_kwargs: Any
               ) -> tuple[nx.MultiDiGraph, Result]:
    """Simulate ``path`` with a Tracer and return its flow graph and result."""
    tracer = Tracer()
    result = simulate(path, size_bytes, tracer=tracer, **simulate_kwargs)
    return flow_graph(result, tracer), result


def flow_graph(result: Result, tracer: Tracer) -> nx.MultiDiGraph:
    """The buffers of a traced run and the bytes each mover carried between them.

    One edge per (source, destination, kind), keyed by kind (dma, cpu_copy, reference,
    transmit), with ``bytes`` and ``notes`` (how, in kernel terms). The CPU-copy and DMA
    edges add up to the Result's ``cpu_copy_bytes`` and ``dma_copy_bytes``.
    """
    if tracer.dropped:
        raise ConfigError(f"the trace kept only {tracer.limit} events ({tracer.dropped} "
                         "dropped): simulate a smaller size to draw the flow")
    g = nx.MultiDiGraph(path=result.path, size_bytes=result.bytes_requested,
                   cache=result.scenario.get("cache"), profile=result.profile.get("name"),
                   copies=result.copies, cpu_copies=result.cpu_copies,
                   dma_copies=result.dma_copies)
    slices = [e for e in tracer.events if e.is_slice]
    pipe_calls = [e for e in slices if e.kind is Kind.SYSCALL and e.dst == SOCKET
                  and e.src in (FILE, PIPE)]  # sendfile() and splice(pipe -> socket)
    traced_cpu_bytes = 0
    for e in slices:
        if e.kind is not Kind.COPY or e.track not in ("cpu", "dma"):
            continue
        src, dst, note, nbytes = BUFFER_NODE.get(e.src, e.src), e.dst, e.note, e.nbytes
        if e.who == CPU:
            if note in ("skb_linearize", "bounce buffer for DMA alignment"):
                continue  # copies of frag data: resolved with the NIC's gather below
            traced_cpu_bytes += nbytes
            if src == MAPPING:  # write() from a mapping of page-cache pages
                _add(g, PAGE_CACHE, USER_BUFFER, "reference", nbytes,
                     "mmap: the page-cache pages mapped into the process, not copied")
                src, note = USER_BUFFER, "copy_from_user out of the mapping"
            elif src == PAGE_CACHE and dst != SEGMENTS and _inside(e, pipe_calls):
                src, note = PIPE, "no scatter-gather: the pipe's pages copied into the skb"
            _add(g, src, BUFFER_NODE.get(dst, dst), "cpu_copy", nbytes, note)
        elif e.src == FRAGS:
            _add(g, "frags", dst, "dma", nbytes, "gather: one descriptor per page frag")
        else:
            _add(g, src, dst, "dma", nbytes, DMA_NOTES.get(e.src, note))
    _add_references(g, slices)
    _resolve_frags(g, result.cpu_copy_bytes - traced_cpu_bytes,
                   getattr(result, "bounce_copy_bytes", 0))  # a field of newer cores
    for e in slices:
        if e.kind is Kind.WIRE:
            _add(g, "NIC", "wire", "transmit", e.nbytes,
                 "payload; every TSO segment adds TCP/IP and Ethernet headers")
    return g


def _inside(e: Event, calls: Sequence[Event]) -> bool:
    return any(c.start_s <= e.start_s <= c.end_s for c in calls)


def _add(g: nx.MultiDiGraph, src: str, dst: str, kind: str, nbytes: int,
         note: str | None) -> None:
    """Add ``nbytes`` to the edge src -> dst of ``kind``."""
    if nbytes <= 0:
        return
    if g.has_edge(src, dst, kind):
        edge = g.edges[src, dst, kind]
        edge["bytes"] += nbytes
        if note and note not in edge["notes"]:
            edge["notes"].append(note)
    else:
        g.add_edge(src, dst, key=kind, kind=kind, bytes=nbytes, notes=[note] if note else [])


def edge_bytes(g: nx.MultiDiGraph, src: str, dst: str, kind: str) -> int:
    """Bytes on the edge src -> dst of ``kind`` (0 when there is none)."""
    return g.edges[src, dst, kind]["bytes"] if g.has_edge(src, dst, kind) else 0


def _add_references(g: nx.MultiDiGraph, slices: Sequence[Event]) -> None:
    """Page references handed on by syscalls, less what the kernel copied instead."""
    into_pipe = out_of_pipe = zerocopy = user_into_pipe = 0
    for e in slices:
        if e.kind is not Kind.SYSCALL:
            continue
        nbytes = e.nbytes
        if (e.src, e.dst) == (FILE, SOCKET):  # sendfile, built on splice: an internal pipe
            into_pipe += nbytes
            out_of_pipe += nbytes
        elif (e.src, e.dst) == (FILE, PIPE):
            into_pipe += nbytes
        elif (e.src, e.dst) == (USER_BUFFER, PIPE):  # vmsplice: the user's pages
            user_into_pipe += nbytes
        elif (e.src, e.dst) == (PIPE, SOCKET):
            out_of_pipe += nbytes
        elif e.note == "MSG_ZEROCOPY":
            zerocopy += nbytes
        elif "zerocopy_bytes" in e.args:  # io_uring_enter's SEND_ZC operations
            zerocopy += e.args["zerocopy_bytes"]
    internal = any((e.src, e.dst) == (FILE, SOCKET) for e in slices if e.kind is Kind.SYSCALL)
    _add(g, "page cache", "pipe", "reference", into_pipe,
         "sendfile's internal pipe holds page references" if internal
         else "pipe buffers hold page references")
    _add(g, "user buffer", "pipe", "reference", user_into_pipe,
         "vmsplice: pipe buffers reference the user's pages")
    _add(g, "pipe", "socket buffer", "reference",
         out_of_pipe - edge_bytes(g, "pipe", "socket buffer", "cpu_copy"),
         "skb frags take references to the pipe's pages")
    _add(g, "user buffer", "socket buffer", "reference",
         zerocopy - edge_bytes(g, "user buffer", "socket buffer", "cpu_copy"),
         "MSG_ZEROCOPY: user pages pinned and attached as skb frags")


def _resolve_frags(g: nx.MultiDiGraph, untraced_cpu_bytes: int, bounce_bytes: int) -> None:
    """Point the NIC's gather DMA at the pages the frags reference.

    ``untraced_cpu_bytes``: CPU copies of frag data (all but the named ones). ``bounce_bytes``
    of them went to bounce buffers (data the NIC cannot DMA where it lies); the rest is the driver's
    skb_linearize (more frags than the NIC's SG entries). Either way the NIC then reads a
    kernel buffer of the skb instead of the referenced pages.
    """
    frag_bytes = edge_bytes(g, "frags", "NIC", "dma")
    if not frag_bytes:
        return
    g.remove_node("frags")
    pinned = (edge_bytes(g, "user buffer", "socket buffer", "reference")
              or edge_bytes(g, "user buffer", "pipe", "reference"))
    source = "user buffer" if pinned else "page cache"
    _add(g, source, "socket buffer", "cpu_copy", bounce_bytes,
         "bounce buffer: data not aligned for the NIC's DMA")
    _add(g, source, "socket buffer", "cpu_copy", untraced_cpu_bytes - bounce_bytes,
         "skb_linearize: more frags than the NIC's scatter-gather entries")
    copied = min(untraced_cpu_bytes, frag_bytes)
    _add(g, "socket buffer", "NIC", "dma", copied, "the skb's copied data")
    _add(g, source, "NIC", "dma", frag_bytes - copied,
         "gather: the NIC reads the referenced pages directly")


def ordered_edges(g: nx.MultiDiGraph) -> list[tuple[str, str, dict[str, Any]]]:
    """Edges in the order data flows: by destination buffer, then source, then kind."""
    rank = {n: i for i, n in enumerate(NODES)}
    kinds = list(KINDS)
    return sorted(g.edges(data=True), key=lambda e: (rank[e[1]], rank[e[0]],
                                                      kinds.index(e[2]["kind"])))


def _headline(g: nx.MultiDiGraph) -> str:
    a = g.graph
    return (f"{a['path']}: {format_size(a['size_bytes'])}, {a['cache']} cache, {a['profile']} "
            f"profile: {a['copies']:.2f} copies per byte ({a['cpu_copies']:.2f} CPU + "
            f"{a['dma_copies']:.2f} DMA)")


def render_text(g: nx.MultiDiGraph) -> str:
    """The flow as aligned lines, one per edge, for terminals and teaching notes."""
    lines = [_headline(g), ""]
    width = max(len(KINDS[k][0]) for k in KINDS) + 6
    for src, dst, d in ordered_edges(g):
        label, fill = KINDS[d["kind"]]
        arrow = f"{fill * 2}{label}".ljust(width - 1, fill) + ">"
        notes = "; ".join(d["notes"])
        lines.append(f"  {src:<13} {arrow} {dst:<13} {format_size(d['bytes']):>10}  {notes}"
                     .rstrip())
    lines.append("")
    lines.append("  " + "   ".join(f"{fill * 2}> {label}" for label, fill in KINDS.values())
                 + " (page references move no bytes)")
    return "\n".join(lines)


LAYER_HEIGHT = 1.6  # drawing units between layers; a column is 1 unit wide


def _xy(node: str) -> tuple[float, float]:
    col, layer = NODES[node]
    return float(col), layer * LAYER_HEIGHT


def _bend(g: nx.MultiDiGraph, src: str, dst: str) -> float:
    """arc3 curvature that takes the edge clear of any buffer lying on the straight line."""
    (x1, y1), (x2, y2) = _xy(src), _xy(dst)
    dx, dy = x2 - x1, y2 - y1
    length = (dx * dx + dy * dy) ** 0.5
    for node in g.nodes:
        if node in (src, dst):
            continue
        px, py = _xy(node)
        t = ((px - x1) * dx + (py - y1) * dy) / (length * length)
        if 0 < t < 1 and abs((px - x1) * dy - (py - y1) * dx) / length < 0.5:
            # positive rad bends towards (dy, -dx): go the other way from the obstacle
            return -0.3 if (px - x1) * dy - (py - y1) * dx > 0 else 0.3
    return 0.0


@charts.styled
def draw(g: nx.MultiDiGraph) -> Figure:
    """The flow as a picture: buffers in user space, kernel and hardware bands, edges styled
    by who moves the data and labelled with the bytes moved."""
    fig, (ax,) = charts.new_figure(title=_headline(g).replace(" profile: ", " profile\n", 1))
    ax.set_axis_off()
    ax.set_aspect("equal")  # arc3 bends in display space; equal units keep labels on curves
    ax.set_xlim(-1.0, 11.0)
    ax.set_ylim(-0.7, (len(LAYERS) - 1) * LAYER_HEIGHT + 0.8)
    for layer, name in enumerate(LAYERS):
        y = layer * LAYER_HEIGHT
        ax.axhspan(y - LAYER_HEIGHT / 2, y + LAYER_HEIGHT / 2, zorder=0,
                   color="#EEF1F3" if layer % 2 else "#F8F9FA")
        ax.text(-0.95, y + LAYER_HEIGHT / 2 - 0.1, name, fontsize=12, style="italic",
                color="#566573", va="top")
    boxes = {}
    for node in g.nodes:
        boxes[node] = ax.text(*_xy(node), node, ha="center", va="center", fontsize=14,
                              zorder=3, bbox={"boxstyle": "round,pad=0.45",
                                              "facecolor": "white", "edgecolor": "black",
                                              "linewidth": 1.2})
    for src, dst, d in ordered_edges(g):
        (x1, y1), (x2, y2) = _xy(src), _xy(dst)
        parallel = list(g[src][dst])  # edges of other kinds between the same buffers fan out
        rad = _bend(g, src, dst) + 0.6 * (parallel.index(d["kind"]) - (len(parallel) - 1) / 2)
        style = KIND_STYLE[d["kind"]]
        ax.annotate("", xy=(x2, y2), xytext=(x1, y1), zorder=2,
                    arrowprops={"arrowstyle": "-|>", "mutation_scale": 22,
                                "patchA": boxes[src], "patchB": boxes[dst],
                                "connectionstyle": f"arc3,rad={rad}", **style})
        # the midpoint of matplotlib's arc3 quadratic curve: half-way out along the normal
        mx = (x1 + x2) / 2 + rad / 2 * (y2 - y1)
        my = (y1 + y2) / 2 - rad / 2 * (x2 - x1)
        flat = y1 == y2 and rad == 0  # a label on a short level edge would cover the boxes
        ax.text(mx, my + 0.12 if flat else my, f"{KINDS[d['kind']][0]}\n"
                f"{format_size(d['bytes'])}", ha="center", va="bottom" if flat else "center",
                fontsize=12, color=style["color"], zorder=4,
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white",
                      "edgecolor": "none", "alpha": 0.85})
    ax.legend(handles=[Line2D([], [], label=KINDS[k][0], **KIND_STYLE[k]) for k in KINDS],
              loc="upper right", ncols=2, fontsize=12)
    return fig
