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
    "kernel.slow_start_after_idle": st.booleans(),
    "kernel.memlock": st.sampled_from(["64KiB", "8MiB"]),
    "kernel.optmem_max": st.sampled_from(["4KiB", "128KiB"]),
    "kernel.max_skb_frags": st.sampled_from([1, 2, 17]),
    "nic.loopback": st.booleans(),
})
losses = st.sampled_from([0.0, 0.0, 0.01])

# --- the extreme ends of every key (tests/test_extremes.py, benchmarks/extremes.py) ---------
# Plain data, so that a benchmark can draw from it without hypothesis.
EXTREME_PROFILE = {
    "cpu.cores": [1, 8192], "cpu.copy_bandwidth": ["1Mbit/s", "1PB/s"],
    "cpu.copy_bandwidth_cached": ["1Mbit/s", "1PB/s"],
    "cpu.aes_gcm_bandwidth": ["1Mbit/s", "1PB/s"], "nic.tls_offload": [True, False],
    "cpu.cache_size": [1, "1GiB"],
    "cpu.mode_switch": ["1ns", "1ms"], "cpu.syscall": ["1ns", "1ms"],
    "cpu.context_switch": ["1ns", "10ms"], "cpu.page_fault": ["1ns", "1ms"],
    "cpu.page_pin": ["1ns", "1ms"], "cpu.pipe_op": ["1ns", "1ms"], "cpu.irq": ["1ns", "1ms"],
    "cpu.notification": ["1ns", "1ms"], "cpu.orphan_page": ["1ns", "1ms"],
    "cpu.per_skb": ["1ns", "1ms"],
    "cpu.rx_skb": ["1ns", "1ms"], "cpu.rx_frag": ["1ns", "1ms"], "cpu.rx_input": ["1ns", "1ms"],
    "cpu.tail_skb": ["1ns", "6us"],  # at most per_skb + rx_skb: teaching's 6 us
    "cpu.split_tail_skb": ["1ns", "6us"],  # at most split_tx_skb + split_rx_skb: 6 us
    "cpu.split_tx_skb": ["1ns", "1ms"], "cpu.split_rx_skb": ["1ns", "1ms"],
    "cpu.split_tx_paged_skb": ["1ns", "1ms"], "cpu.split_rx_paged_skb": ["1ns", "1ms"],
    "cpu.wakeup_remote": ["1ns", "1ms"],
    "membus.bandwidth": ["10Mbit/s", "1PB/s"],
    "disk.latency": ["1ns", "1s"], "disk.bandwidth": ["1Mbit/s", "1PB/s"],
    "disk.queue_depth": [1, 65536],
    "dma.descriptor": ["1ns", "1ms"], "dma.max_sg_entries": [1, 2, 4096],
    "dma.alignment": [1, "4KiB"],
    "nic.rate": ["1Mbit/s", "1Pbit/s"], "nic.mtu": [53, 9000], "nic.tso_max": ["64KiB", "1GiB"],
    "nic.tx_ring": [1, 65536], "nic.sg": [True, False], "nic.csum_offload": [True, False],
    "nic.loopback": [True, False], "nic.loopback_split": [False],
    "kernel.irq_time_accounting": [True, False],
    "wire.rtt": ["1ns", "1s"],
    "kernel.page_cache": ["256KiB", "64GiB"], "kernel.readahead": ["4KiB", "16MiB"],
    "kernel.pipe_size": ["4KiB", "1MiB"], "kernel.sndbuf": ["4KiB", "64MiB"],
    "kernel.rmem_default": ["4KiB", "32MiB"], "kernel.rmem_max": ["32MiB", "1GiB"],
    "kernel.max_skb_frags": [1, 65536], "kernel.fault_around": ["4KiB", "1MiB"],
    "kernel.model": ["linux-6", "textbook"], "kernel.gso": [True, False],
    "kernel.tcp_congestion": ["cubic", "bbr"], "kernel.qdisc": ["pfifo_fast", "fq"],
    "kernel.optmem_max": ["1KiB", "1GiB"], "kernel.memlock": ["4KiB", "1TiB"],
    "kernel.packet_tap": [True, False], "kernel.slow_start_after_idle": [True, False],
    "kernel.page_size": ["4KiB", "64KiB"],
}
EXTREME_SCENARIO = {
    "buffer_bytes": [1, 4095, "16MiB"], "zc_buffers": [1, 64],
    "offset_bytes": [1, 4095, "1GiB"], "buffer_offset_bytes": [1, 4095],
    "writer": [("write", 1.0), ("shared", 1e9), ("private", 1e6), ("userbuf", 1e7),
               ("shared", [0, 4096, 65535])],
    "pressure": [(1, None), (100_000, "1ns"), (64, "1s")],
    "pressure_reader": ["1B/s", "100TB/s"],
    "truncate_at_s": [0, "1ns", "1e6s"],
    "loss": [0.5, 0.999], "drop": [[1], list(range(1, 64))],
    "cache": ["warm"], "seed": [0, 2**63],
}
EXTREME_SIZES = [1, 2, PAGE - 1, PAGE, PAGE + 1, 65536, 256 * 1024]


def scenario_keys(key: str, value) -> dict:
    """The scenario keys one EXTREME_SCENARIO entry stands for."""
    if key == "writer":
        kind, how = value
        return {"writer": kind, **({"writer_at": how} if isinstance(how, list)
                                   else {"writer_rate": how})}
    if key == "pressure":
        pages, interval = value
        return {"pressure": pages, "pressure_interval_s": interval}
    return {key: value}


extreme_overrides = st.dictionaries(st.sampled_from(sorted(EXTREME_PROFILE)), st.none(),
                                    max_size=6).flatmap(
    lambda keys: st.fixed_dictionaries({k: st.sampled_from(EXTREME_PROFILE[k]) for k in keys}))
extreme_scenarios = st.dictionaries(st.sampled_from(sorted(EXTREME_SCENARIO)), st.none(),
                                    max_size=3).flatmap(
    lambda keys: st.fixed_dictionaries({k: st.sampled_from(EXTREME_SCENARIO[k])
                                        for k in keys})).map(
    lambda d: {k: v for key, value in d.items() for k, v in scenario_keys(key, value).items()})
extreme_sizes = st.sampled_from(EXTREME_SIZES)
