"""The issue-17 paths' own options (cork, body, sq_batch, sqpoll, zc, tls_offload) through
every front-end: explain's totals match the counters, the flow diagram's edges add up to
the copy bytes, the animation ends at the Result, on both kernels."""

from __future__ import annotations

import pytest

import iosim
from iosim.teach import flowgraph
from iosim.teach.explain import explain

LINUX6 = {"kernel.model": "linux-6"}
CASES = [
    ("writev_sendfile", {"body": "user"}),
    ("writev_sendfile", {"cork": False, "overrides": LINUX6}),
    ("vmsplice_splice", {"zc_buffers": 2, "drop": [4]}),
    ("io_uring_send_zc", {"sqpoll": True}),
    ("io_uring_send_zc", {"zc": False, "sq_batch": 4}),
    ("io_uring_send_zc", {"sq_batch": 16, "overrides": LINUX6}),
    ("ktls_sendfile", {"overrides": {"nic.tls_offload": True}}),
    ("ktls_sendfile", {"overrides": {"nic.tls_offload": True, **LINUX6}}),
    ("ktls_sendfile", {"drop": [4], "overrides": LINUX6}),
]


@pytest.mark.parametrize(("path", "kw"), CASES, ids=[f"{p}-{i}" for i, (p, _) in
                                                     enumerate(CASES)])
def test_front_ends_agree_with_the_counters(path, kw):
    text = explain(path, "128KiB", **kw)
    assert "MISMATCH" not in text and "invariants   all hold" in text
    graph, r = flowgraph.trace_flow(path, "128KiB", **kw)
    edges = graph.edges(data=True)
    assert sum(d["bytes"] for _, _, d in edges if d["kind"] == "cpu_copy") == r.cpu_copy_bytes
    assert sum(d["bytes"] for _, _, d in edges if d["kind"] == "dma") == r.dma_copy_bytes
    run = iosim.animate(path, size_bytes="128KiB", **kw).doc["runs"][0]
    shown, result = run["steps"][-1]["counters"], run["result"]
    for name, value in shown.items():
        if isinstance(result.get(name), int | float):
            assert value == pytest.approx(result[name], rel=1e-9, abs=1e-12), name
