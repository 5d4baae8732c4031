"""Properties over random scenarios: every byte once, every reference released."""

from hypothesis import given
from hypothesis import strategies as st

from iosim import simulate
from iosim.config import Scenario
from tests import strategies as s


@given(path=s.paths, size=s.sizes, buffer=s.buffer_sizes, cache=s.caches,
       overrides=s.overrides, seed=st.integers(0, 3))
def test_invariants_hold(path, size, buffer, cache, overrides, seed):
    r = simulate(path, size, cache=cache, buffer_bytes=buffer, overrides=overrides, seed=seed)
    assert r.invariant_violations == []
    assert r.bytes_delivered == size
    assert r.membus_bytes == 2 * r.cpu_copy_bytes + r.dma_copy_bytes
    assert r.mode_switches == 2 * r.syscalls
    # no loss: each byte crosses the NIC once (kTLS: and each record's 22 B of framing)
    framing = 22 * -(-size // 16384) if path == "ktls_sendfile" else 0
    assert r.nic_dma_bytes == size + framing
    # writev_sendfile sends its first 256 B (Scenario.header_bytes) from a header buffer:
    # the file, which a cold cache reads from the disk, is the rest of the stream
    file_bytes = max(0, size - Scenario.header_bytes) if path == "writev_sendfile" else size
    assert r.disk_dma_bytes == (file_bytes if cache == "cold" else 0) or overrides.get(
        "kernel.page_cache") in ("256KiB", "1MiB")
    assert r.copies >= 1.0
    assert r.sim_time_s > 0


@given(path=s.paths, size=s.sizes, overrides=s.overrides)
def test_same_inputs_same_json(path, size, overrides):
    a = simulate(path, size, overrides=overrides, seed=7).to_json()
    b = simulate(path, size, overrides=overrides, seed=7).to_json()
    assert a == b
