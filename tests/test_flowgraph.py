"""The flow diagram is measured, not drawn: its edges follow what the run did."""

import pytest
from hypothesis import given, settings

import iosim
from iosim import cli
from iosim.teach import flowgraph
from iosim.trace import Tracer
from tests import strategies as st


def _kind_bytes(graph, kind):
    return sum(d["bytes"] for _, _, d in graph.edges(data=True) if d["kind"] == kind)


def _edges(graph):
    return {(u, v, k) for u, v, k in graph.edges(keys=True)}


def _check_against_result(graph, result):
    assert _kind_bytes(graph, "cpu_copy") == result.cpu_copy_bytes
    assert _kind_bytes(graph, "dma") == result.dma_copy_bytes
    assert (_kind_bytes(graph, "cpu_copy") > 0) == (result.cpu_copy_bytes > 0)
    assert (_kind_bytes(graph, "reference") > 0) == (result.frags > 0 or
                                                     result.path in ("mmap_write", "splice",
                                                                     "sendfile", "sendfile_sg"))
    assert _kind_bytes(graph, "transmit") >= result.bytes_delivered
    assert all(d["bytes"] > 0 for _, _, d in graph.edges(data=True))


@pytest.mark.parametrize("path", list(iosim.PATHS))
def test_edges_add_up_to_the_results_counters(path):
    graph, result = flowgraph.trace_flow(path, "256KiB")
    _check_against_result(graph, result)
    assert ("disk", "page cache", "dma") in _edges(graph)
    assert ("NIC", "wire", "transmit") in _edges(graph)


def test_sendfile_without_sg_copies_where_sendfile_sg_references():
    plain, _ = flowgraph.trace_flow("sendfile", "256KiB")
    sg, _ = flowgraph.trace_flow("sendfile_sg", "256KiB")
    assert ("pipe", "socket buffer", "cpu_copy") in _edges(plain)
    assert ("socket buffer", "NIC", "dma") in _edges(plain)
    assert ("pipe", "socket buffer", "reference") in _edges(sg)
    assert ("page cache", "NIC", "dma") in _edges(sg)
    assert not any(k == "cpu_copy" for _, _, k in _edges(sg))


def test_switching_sg_off_turns_splice_references_into_a_copy():
    graph, result = flowgraph.trace_flow("splice", "256KiB", overrides={"nic.sg": False})
    assert ("pipe", "socket buffer", "cpu_copy") in _edges(graph)
    _check_against_result(graph, result)


def test_msg_zerocopy_dmas_from_the_pinned_user_pages():
    graph, _ = flowgraph.trace_flow("msg_zerocopy", "256KiB")
    assert ("user buffer", "socket buffer", "reference") in _edges(graph)
    assert ("user buffer", "NIC", "dma") in _edges(graph)


def test_linearising_an_skb_shows_as_a_cpu_copy_the_trace_does_not_name():
    graph, result = flowgraph.trace_flow("sendfile_sg", "256KiB",
                                         overrides={"dma.max_sg_entries": 4})
    assert result.cpu_copy_bytes > 0
    assert ("page cache", "socket buffer", "cpu_copy") in _edges(graph)
    _check_against_result(graph, result)


def test_mmap_maps_the_page_cache_then_copies_from_the_mapping():
    graph, _ = flowgraph.trace_flow("mmap_write", "256KiB")
    assert ("page cache", "user buffer", "reference") in _edges(graph)
    assert ("user buffer", "socket buffer", "cpu_copy") in _edges(graph)


@settings(max_examples=25, deadline=None)
@given(path=st.paths, size=st.sizes, cache=st.caches, overrides=st.overrides)
def test_edges_add_up_for_any_run(path, size, cache, overrides):
    graph, result = flowgraph.trace_flow(path, size, cache=cache, overrides=overrides)
    assert _kind_bytes(graph, "cpu_copy") == result.cpu_copy_bytes
    assert _kind_bytes(graph, "dma") == result.dma_copy_bytes


def test_an_incomplete_trace_is_refused():
    tracer = Tracer(limit=10)
    result = iosim.simulate("read_write", "256KiB", tracer=tracer)
    with pytest.raises(iosim.ConfigError, match="smaller size"):
        flowgraph.flow_graph(result, tracer)


def test_text_rendering_has_one_line_per_edge_in_flow_order():
    graph, _ = flowgraph.trace_flow("read_write", "64KiB")
    text = flowgraph.render_text(graph)
    lines = [line for line in text.splitlines() if "==" in line or "--" in line]
    assert [line.split()[0] for line in lines[:4]] == ["disk", "page", "user", "socket"]
    assert "4.00 copies per byte (2.00 CPU + 2.00 DMA)" in text


def test_drawing_has_a_box_per_buffer(tmp_path):
    graph, _ = flowgraph.trace_flow("splice", "64KiB")
    fig = flowgraph.draw(graph)
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert set(graph.nodes) <= texts


def test_cli_diagram_prints_the_flow_and_writes_a_png(tmp_path, capsys):
    out = tmp_path / "flow.png"
    assert cli.main(["diagram", "sendfile", "--size", "128KiB", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "pipe          --CPU copy" in printed
    assert out.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, message", [
    (["diagram", "nope"], "unknown path 'nope'"),
    (["diagram", "splice", "--out", "x.txt"], "expected a .png, .svg or .pdf"),
    (["diagram", "splice", "--set", "nic.nope=1"], "unknown profile key"),
])
def test_cli_diagram_errors_are_one_line(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


@pytest.mark.skipif("bounce_copy_bytes" not in iosim.RESULT_FIELDS,
                    reason="this core has no bounce buffers")
def test_bounce_copies_are_named_as_such():
    graph, result = flowgraph.trace_flow("sendfile_sg", "256KiB", offset_bytes=100,
                                         overrides={"dma.alignment": "4KiB"})
    assert result.bounce_copy_bytes > 0
    notes = graph.edges["page cache", "socket buffer", "cpu_copy"]["notes"]
    assert any(n.startswith("bounce buffer") for n in notes)
    _check_against_result(graph, result)
