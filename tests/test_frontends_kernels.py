"""Every front-end agrees with the counters on both kernels, in every NIC feature set.

explain derives its totals from the trace and checks them against the Result (a
MISMATCH line otherwise); the flow diagram's CPU and DMA edges add up to the Result's copy
bytes; the animation's totals are the Result's. Under linux-6 the trace holds mechanisms the
textbook kernel lacks (software GSO copies, checksum passes, held skbs, notification
records), so each front-end is run over the combinations that produce them.
"""

from __future__ import annotations

import pytest

from iosim import PATHS
from iosim.teach import flowgraph
from iosim.teach.explain import explain

NICS = {
    "sg": {},
    "nosg": {"nic.sg": False},
    "nocsum": {"nic.csum_offload": False},
    "linearize": {"dma.max_sg_entries": 4},
}
FAULTS = {"clean": {}, "drop": {"drop": [4]}, "writer": {"writer": "shared",
                                                         "writer_at": [20480]}}


def cases():
    for kernel in ("textbook", "linux-6"):
        for nic, overrides in NICS.items():
            for fault, scenario in FAULTS.items():
                for path in PATHS:
                    yield pytest.param(path, {**overrides, "kernel.model": kernel}, scenario,
                                       id=f"{kernel}-{nic}-{fault}-{path}")


@pytest.mark.parametrize(("path", "overrides", "scenario"), list(cases()))
def test_explain_and_the_diagram_add_up(path, overrides, scenario):
    text = explain(path, "64KiB", overrides=overrides, **scenario)
    assert "MISMATCH" not in text
    assert "invariants   all hold" in text
    graph, result = flowgraph.trace_flow(path, "64KiB", overrides=overrides, **scenario)
    edges = graph.edges(data=True)
    assert sum(d["bytes"] for _, _, d in edges if d["kind"] == "cpu_copy") == \
        result.cpu_copy_bytes
    assert sum(d["bytes"] for _, _, d in edges if d["kind"] == "dma") == result.dma_copy_bytes
    assert flowgraph.render_text(graph)


@pytest.mark.parametrize(("path", "overrides", "scenario"),
                         [c for c in cases() if "clean" in c.id or "drop" in c.id])
def test_the_animation_ends_at_the_result(path, overrides, scenario):
    import iosim

    run = iosim.animate(path, size_bytes="64KiB", overrides=overrides, **scenario).doc["runs"][0]
    shown, result = run["steps"][-1]["counters"], run["result"]
    for name, value in shown.items():
        if isinstance(result.get(name), int | float):
            assert value == pytest.approx(result[name], rel=1e-9, abs=1e-12), name
