"""Hypothesis strategies shared by the property tests."""

from hypothesis import strategies as st

from iosim import PATHS

PAGE = 4096

paths = st.sampled_from(sorted(PATHS))
sizes = st.one_of(st.integers(1, 64 * PAGE), st.integers(1, 64).map(lambda n: n * PAGE))
buffer_sizes = st.sampled_from([4096, 8192, 16384, 65536, 100_000, 262144])
caches = st.sampled_from(["cold", "warm"])
overrides = st.fixed_dictionaries({}, optional={
    "nic.sg": st.booleans(),
    "kernel.sndbuf": st.sampled_from(["16KiB", "64KiB", "1MiB"]),
    "kernel.pipe_size": st.sampled_from(["4KiB", "16KiB", "64KiB", "1MiB"]),
    "kernel.page_cache": st.sampled_from(["256KiB", "1MiB", "1GiB"]),
    "kernel.readahead": st.sampled_from(["4KiB", "128KiB", "512KiB"]),
    "nic.tx_ring": st.sampled_from([1, 4, 256]),
    "dma.max_sg_entries": st.sampled_from([4, 32]),
    "cpu.cores": st.sampled_from([1, 2, 8]),
    "disk.queue_depth": st.sampled_from([1, 32]),
})
# memory pressure: none, one reclaim, reclaim every 50 us, a competing reader
pressures = st.sampled_from([{}, {"pressure": 64}, {"pressure": 1000},
                             {"pressure": 32, "pressure_interval_s": "50us"},
                             {"pressure_reader": "2GB/s"}])

# linux-6 switches on top of ``overrides`` (tests/test_linux6_tcp.py)
linux6_overrides = st.fixed_dictionaries({"kernel.model": st.just("linux-6")}, optional={
    "kernel.gso": st.booleans(),
    "nic.csum_offload": st.booleans(),
    "kernel.tcp_congestion": st.sampled_from(["cubic", "bbr"]),
    "kernel.qdisc": st.sampled_from(["pfifo_fast", "fq"]),
    "kernel.memlock": st.sampled_from(["64KiB", "8MiB"]),
    "kernel.optmem_max": st.sampled_from(["4KiB", "128KiB"]),
    "kernel.max_skb_frags": st.sampled_from([1, 2, 17]),
    "nic.loopback": st.booleans(),
})
losses = st.sampled_from([0.0, 0.0, 0.01])
