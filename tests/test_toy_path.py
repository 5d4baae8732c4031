"""A path defined entirely here, registered through the public call, reaches every
front-end: compare, paths, explain, the flow diagram, the charts and the quiz.

The toy program sends a zero-filled user buffer with write(): no file, so no disk DMA; one
CPU copy (copy_from_user into the socket) and one DMA (the NIC) per byte.
"""

from __future__ import annotations

import json

import pytest
from matplotlib.colors import to_hex

import iosim
from iosim import charts, cli
from iosim.kernel import syscalls
from iosim.kernel.process import UserBuffer
from iosim.paths import PathSpec, register, unregister
from iosim.teach import flowgraph
from iosim.teach.explain import explain
from iosim.teach.quiz import answer, problems

NAME = "zero_fill"


def program(m, sc):
    """``buf = calloc(bufsize); while sent < size: sent += write(sock, buf, n)``."""
    buf = UserBuffer(m.task, sc.buffer_bytes, m.page_bytes)
    sent = 0
    while sent < sc.size_bytes:
        n = min(sc.buffer_bytes, sc.size_bytes - sent)
        sent += yield from syscalls.write(m.task, m.socket, buf, 0, n)
    buf.free()


@pytest.fixture
def toy():
    spec = register(PathSpec(NAME, program, "write() a zero-filled user buffer, no file",
                             textbook_copies=(1, 1), color="#444444",
                             real_note="a toy path of the tests",
                             notes=("textbook: none / kernel: copy_from_user only",)))
    yield spec
    unregister(NAME)
    assert NAME not in iosim.PATHS


def test_its_counts_follow_from_its_program(toy):
    r = iosim.simulate(NAME, "1MiB")
    assert (r.cpu_copies, r.dma_copies) == toy.textbook_copies
    assert r.disk_dma_bytes == 0 and r.bytes_delivered == 1 << 20
    assert r.syscalls == (1 << 20) // (64 << 10)  # one write() per 64 KiB buffer
    assert r.page_faults == 16  # first touch of the buffer's 16 pages
    assert r.invariant_violations == []


def test_compare_and_paths_list_it(toy, capsys):
    assert cli.main(["compare", "--size", "256KiB", "--json"]) == 0
    rows = {r["path"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(iosim.PATHS) and rows[NAME]["cpu_copies"] == 1.0
    assert cli.main(["paths"]) == 0
    assert NAME in capsys.readouterr().out


def test_explain_tells_it(toy):
    text = explain(NAME, "64KiB")
    assert f"{NAME}: write() a zero-filled user buffer" in text
    assert "note: textbook: none / kernel: copy_from_user only" in text
    assert "syscall   write()" in text and "MISMATCH" not in text
    assert "CPU copy  user buffer -> socket buffer" in text


def test_the_diagram_draws_it(toy, capsys):
    graph, _ = flowgraph.trace_flow(NAME, "256KiB")
    assert flowgraph.edge_bytes(graph, "user buffer", "socket buffer", "cpu_copy") == 256 << 10
    assert "disk" not in graph
    assert cli.main(["diagram", NAME, "--size", "64KiB"]) == 0
    assert "user buffer" in capsys.readouterr().out


def test_the_charts_colour_it(toy):
    cold = [iosim.simulate(p, "256KiB") for p in iosim.PATHS]
    warm = [iosim.simulate(p, "256KiB", cache="warm") for p in iosim.PATHS]
    fig = charts.copies_chart(cold, warm)
    assert charts.PATH_COLORS[NAME] == "#444444"
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(iosim.PATHS)
    toy_bars = [b for b in ax.patches if to_hex(b.get_facecolor()) == "#444444"]
    assert len(toy_bars) == 4  # DMA and CPU segments, cold and warm


def test_the_quiz_asks_about_it(toy):
    asked = [p for seed in range(40) for p in problems(seed, 4) if NAME in (p.path, p.other)]
    assert asked, "the quiz draws from every registered path"
    for p in asked[:3]:
        assert answer(p).ok
