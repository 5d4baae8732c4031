"""Host calibration: plausible figures, a profile that loads, nothing left behind."""

from __future__ import annotations

import dataclasses
import os
import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iosim import units
from iosim.config import CHOICES, SCHEMA, known_keys, load_profile
from iosim.host import calibrate as cal
from iosim.host.realpaths import child_pids

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or not os.path.isdir("/proc"),
                                reason="needs Linux (fork, /proc)")

# Generous bounds: any machine from a Raspberry Pi to a big server, idle or loaded.
PLAUSIBLE = {
    "cpu.copy_bandwidth": (100e6, 1e12),  # 100 MB/s .. 1 TB/s
    "cpu.copy_bandwidth_cached": (100e6, 10e12),
    "cpu.cache_size": (16 << 10, 1 << 34),
    "cpu.per_skb": (1e-9, 1e-3),
    "cpu.rx_skb": (1e-9, 1e-3),
    "cpu.rx_frag": (1e-9, 1e-3),
    "kernel.fault_around": (4096, 1 << 30),
    "membus.bandwidth": (100e6, 10e12),
    "cpu.mode_switch": (1e-9, 100e-6),
    "cpu.syscall": (1e-9, 100e-6),
    "cpu.pipe_op": (1e-9, 100e-6),
    "cpu.page_fault": (1e-9, 1e-3),
    "cpu.context_switch": (1e-9, 10e-3),
    "nic.rate": (1e6, 1e12),
    "wire.rtt": (100e-9, 100e-3),
    "cpu.cores": (1, 10_000),
    "kernel.page_size": (4096, 1 << 20),
    "kernel.pipe_size": (4096, 1 << 30),
    "kernel.sndbuf": (4096, 1 << 34),
}


@pytest.fixture(scope="module")
def report() -> cal.CalibrationReport:
    messages: list[str] = []
    children = child_pids()
    result = cal.calibrate(progress=messages.append, quick=True)
    assert child_pids() == children
    assert len(messages) >= 5
    return result


def test_quick_calibration_is_quick_and_complete(report):
    """Quick: at most 3 repeats and no re-run rounds (how long that takes is the machine's
    business, not a test's: a busy CI host is slower)."""
    assert report.quick and report.repeats <= 3 and report.elapsed_s > 0
    assert report.measurements["host.loopback_rounds"].value == report.repeats
    assert report.failures == {}
    assert set(PLAUSIBLE) <= set(report.measurements)


def test_figures_are_plausible(report):
    for key, (low, high) in PLAUSIBLE.items():
        assert low <= report.measurements[key].value <= high, key


def test_measurements_are_well_formed(report):
    for key, m in report.measurements.items():
        assert key in known_keys() or key.startswith("host."), key
        assert m.unit_kind in ("time", "rate", "size", "count", "share", "choice", "bool")
        assert m.method and m.samples, key
        if m.unit_kind in ("choice", "bool"):  # a setting read off the host
            assert m.value in CHOICES.get(key, (True, False)), key
            continue
        if m.unit_kind == "share":  # of the TCP work, the sender's part
            assert 0 <= m.value <= 1 and all(0 <= v <= 1 for v in m.samples), key
        elif m.unit_kind == "count":  # how often something happened: possibly never
            assert m.value >= 0, key
        else:
            assert m.value > 0, key
        assert m.spread[0] <= m.value <= m.spread[1], key
        assert m.spread == (min(m.value, *m.samples), max(m.value, *m.samples)), key
        if m.unit_kind in ("size", "count"):
            assert m.value == int(m.value), key


def test_host_tcp_settings_reach_the_profile(report, tmp_path):
    """The sysctls the linux-6 model reads are the host's, so that a socket that sets no
    controller is simulated with the one the kernel gives it, and its receiver's buffer
    starts and stops growing where tcp_rmem says."""
    with open("/proc/sys/net/ipv4/tcp_congestion_control") as fh:
        host_cc = fh.read().strip()
    with open("/proc/sys/net/core/optmem_max") as fh:
        optmem = int(fh.read())
    path = tmp_path / "host.toml"
    path.write_text(report.to_profile_toml())
    profile = load_profile(path)
    if host_cc in CHOICES["kernel.tcp_congestion"]:
        assert profile.kernel.tcp_congestion == host_cc
    assert profile.kernel.optmem_max_bytes == optmem
    with open("/proc/sys/net/ipv4/tcp_rmem") as fh:  # the receive window's buffer
        rmem = [int(v) for v in fh.read().split()]
    assert (profile.kernel.rmem_default_bytes, profile.kernel.rmem_max_bytes) == (
        rmem[1], max(rmem))
    if os.path.exists("/proc/config.gz"):
        import gzip
        with gzip.open("/proc/config.gz", "rt") as fh:
            built = "CONFIG_IRQ_TIME_ACCOUNTING=y" in fh.read().splitlines()
        assert profile.kernel.irq_time_accounting is built


def test_cache_size_is_measured_not_read(report):
    m = report.measurements
    assert "cpu.cache_size" in m and "GB/s by span" in m["cpu.cache_size"].method
    assert "sysfs" not in m["cpu.cache_size"].method
    assert m["cpu.copy_bandwidth_cached"].value > m["cpu.copy_bandwidth"].value
    assert m["cpu.cache_size"].value in cal.copy_spans(128 * cal.MIB)


def test_cache_edge_is_half_way_down_the_drop():
    # L2 to 1 MiB at 40 GB/s, the last-level cache to 32 MiB at 20 GB/s, DRAM at 8 GB/s,
    # with a partial 12 GB/s at 48 MiB: half way (log scale) is sqrt(20 x 8) = 12.6 GB/s,
    # so 48 MiB is past the edge and 32 MiB is the cache.
    mib = cal.MIB
    speed = {s: 40e9 if s <= mib else 20e9 if s <= 32 * mib else 8e9
             for s in cal.copy_spans(512 * mib)}
    speed[48 * mib] = 12e9
    assert cal._cache_edge(speed) == (32 * mib, 20e9)
    with pytest.raises(RuntimeError, match="no cache edge"):
        cal._cache_edge(dict.fromkeys(cal.copy_spans(64 * mib), 8e9))


def test_copy_spans_double_with_a_step_between():
    spans = cal.copy_spans(4 * cal.MIB)
    assert spans == [256 << 10, 384 << 10, 512 << 10, 768 << 10, 1 << 20, 3 << 19, 2 << 20,
                     3 << 20, 4 << 20]


def test_placement_and_start_up_figures(report):
    m = report.measurements
    for key in ("host.tcp_sender_share_linear_same", "host.tcp_sender_share_paged_same",
                "host.rx_frag_hot", "host.mmap_first_touch", "host.mmap_copy_extra"):
        assert key in m, key
    if len(os.sched_getaffinity(0)) > 1:
        assert {"cpu.wakeup_remote", "host.tcp_sender_share_linear_split",
                "host.tcp_per_skb_split", "cpu.split_tx_skb", "cpu.split_rx_skb",
                "cpu.split_tx_paged_skb", "cpu.split_rx_paged_skb"} <= set(m)
    from iosim.host.realpaths import congestion_controls
    default = congestion_controls().default
    if default is not None:
        assert f"host.tcp_startup_same_{default}" in m


def test_a_quick_calibration_leaves_the_tail_skb_costs_to_their_defaults(report, tmp_path):
    """Too few calls to tell a tail's few microseconds from noise: the quick profile costs
    every skb alike (tail_skb = per_skb + rx_skb), as a profile without the keys does."""
    assert not {"cpu.tail_skb", "cpu.split_tail_skb"} & set(report.measurements)
    path = tmp_path / "host.toml"
    path.write_text(report.to_profile_toml())
    p = load_profile(str(path))
    assert p.cpu.tail_skb_s == p.cpu.per_skb_s + p.cpu.rx_skb_s


def test_a_full_calibration_measures_what_a_tail_skb_costs(monkeypatch):
    """With tails asked for, the woken transfer gets its MSS-sized twin (one CPU and two),
    and the tail's cost is written, at most a full skb's. Each fake transfer costs the same
    CPU and sends two skbs a call if its calls are 64 KiB (a tail each), one if MSS-sized:
    the 64 KiB calls, fewer, cost more each, and the extra skbs carry the difference."""
    sizes: set[int] = set()

    class Sock:  # what the send loops see: every byte taken at once
        def send(self, data) -> int:
            sizes.add(len(data))
            return len(data)

        def setsockopt(self, *args) -> None:
            pass

    def fake(cpu, total_bytes, loop, receiver_cpu=None, congestion=None):
        sizes.clear()
        try:
            calls = loop(Sock())
        except (AttributeError, OSError):  # a sendfile loop: it needs a real socket
            calls = 64
        tailed = (64 << 10) in sizes
        return cal._PairCpu(0.1, 0.1, 0.0, calls, calls, 2 * calls if tailed else calls)

    monkeypatch.setattr(cal, "_pinned_transfer", fake)
    monkeypatch.setattr(cal, "_zerocopy_allowed", lambda: False)
    found = cal.measure_loopback_costs(0, 1e-6, 10e9, 50e-9, repeats=1, total_bytes=4 << 20,
                                       other_cpu=1)
    assert cal.LOOPBACK_MSS_BYTES == 65483
    for key, full in (("cpu.tail_skb", ("cpu.per_skb", "cpu.rx_skb")),
                      ("cpu.split_tail_skb", ("cpu.split_tx_skb", "cpu.split_rx_skb"))):
        assert 0 < found[key].value <= sum(found[k].value for k in full), key


def test_the_kernels_skb_count_is_recorded(report):
    """A 64 KiB send() is a 65,483-byte skb and a 53-byte tail on lo: the kernel sends one
    or two skbs per call (tcpi_data_segs_out), never fewer than the full ones."""
    m = report.measurements
    calls = (32 << 20) // (64 << 10)  # --quick: 32 MiB per transfer in 64 KiB calls
    for kind in ("linear", "paged"):
        skbs = m[f"host.tcp_skbs_{kind}"]
        assert skbs.unit_kind == "count"
        assert all(calls <= n <= 2 * calls + 2 for n in skbs.samples), (kind, skbs)


def test_a_tail_skb_is_what_a_64_kib_call_costs_beyond_its_mss_twin():
    """By hand: paused 64 KiB calls cost 20 us each beyond their syscall (1 us) and the
    copies (10 ms of the transfer, twice: sender's and receiver's), two skbs a call; calls
    of one MSS 17 us, one skb a call: the extra skb costs 3 us. A round whose tails did not
    go alone says nothing; none such, no figure; never more than a full skb's cost."""
    call = {"woken": 4096, "whole": 4100}

    def round_(woken_us: float, whole_us: float, woken_skbs: float) -> dict[str, float]:
        return {"woken": 4096 * (woken_us + 1) * 1e-6 + 0.02,
                "whole": 4100 * (whole_us + 1) * 1e-6 + 0.02,
                "woken" + cal.SKBS: woken_skbs * 4096, "whole" + cal.SKBS: 4100}

    kinds = ("woken", "whole")
    m = cal._tail_skb([round_(20, 17, 2), round_(20, 17, 1.1), round_(21, 17, 2)], call,
                      kinds, 1e-6, 0.01, 50e-6, "paused sends")
    assert m.samples == pytest.approx((3e-6, 4e-6)) and m.value == pytest.approx(3.5e-6)
    assert m.unit_kind == "time" and "paused sends" in m.method
    assert cal._tail_skb([round_(20, 17, 1.1)], call, kinds, 1e-6, 0.01, 50e-6, "-") is None
    capped = cal._tail_skb([round_(90, 17, 2)], call, kinds, 1e-6, 0.01, 50e-6, "-")
    assert capped.value == pytest.approx(50e-6)


def test_the_receivers_regime_is_recorded(report):
    """Whether each linear transfer's receiver kept up or fell a buffer behind: the windows
    it wanted closed (TCPWantZeroWindowAdv), one per ACK at most, so never more than the
    skbs it was sent (plus the handshake's few)."""
    m = report.measurements
    if "host.tcp_behind_linear" not in m:  # /proc/net/netstat unreadable: nothing to say
        return
    for kind in ("linear", "woken"):
        behind, skbs = m[f"host.tcp_behind_{kind}"], m["host.tcp_skbs_linear"]
        assert behind.unit_kind == "count" and "buffer behind" in behind.method
        assert all(0 <= n <= max(skbs.samples) * 2 + 16 for n in behind.samples), behind


def test_a_busy_host_is_said(report):
    busy = report.measurements["host.others_share"]
    assert 0 <= busy.value <= 1 and "other tasks" in busy.method
    quiet = dict(report.measurements, **{"host.others_share": cal._fixed(0.0, "share", "-")})
    loud = dict(report.measurements, **{"host.others_share": cal._fixed(0.5, "share", "-")})
    assert "warning" not in dataclasses.replace(report, measurements=quiet).summary()
    assert "took 50% of the machine" in dataclasses.replace(
        report, measurements=loud).summary()


def test_mode_switch_is_half_a_null_syscall(report):
    m = report.measurements
    assert m["cpu.mode_switch"].value == pytest.approx(m["host.null_syscall"].value / 2)


def test_profile_loads_and_keeps_the_measured_values(report, tmp_path):
    path = tmp_path / "host.toml"
    path.write_text(report.to_profile_toml())
    profile = load_profile(path)
    assert profile.cpu.cores == report.measurements["cpu.cores"].value
    assert profile.kernel.page_size_bytes == report.measurements["kernel.page_size"].value
    measured = report.measurements["cpu.copy_bandwidth"].value
    assert profile.cpu.copy_bandwidth_bytes_per_s == pytest.approx(measured, rel=1e-3)
    measured = report.measurements["wire.rtt"].value
    assert profile.wire.rtt_s == pytest.approx(measured, rel=1e-3)
    assert profile.nic.loopback is True  # measured, and validated, over 127.0.0.1
    fault_around = report.measurements["kernel.fault_around"].value
    assert profile.kernel.fault_around_bytes == fault_around
    pages = fault_around // profile.kernel.page_size_bytes
    assert pages * profile.kernel.page_size_bytes == fault_around
    assert pages & (pages - 1) == 0  # a power of two
    teaching = load_profile("teaching")
    assert profile.disk == teaching.disk  # a page-cache read is not a disk
    assert profile.dma == teaching.dma


def test_profile_uses_exactly_the_schema_keys(report):
    text = report.to_profile_toml()
    data = tomllib.loads(text)
    assert set(data) - set(SCHEMA) == {"name", "description", "extends"}
    assert data["extends"] == "teaching"
    for section, values in data.items():
        if section in SCHEMA:
            assert set(values) <= set(SCHEMA[section]), section
    for dotted in known_keys():  # each key is either set or listed as inherited
        key = dotted.split(".")[1]
        assert f"\n{key} = " in text or f"\n# {key} = " in text, dotted
    lines = text.splitlines()
    first_section = next(i for i, line in enumerate(lines) if line.startswith("["))
    for previous, line in zip(lines[first_section:], lines[first_section + 1:], strict=False):
        if line and not line.startswith(("#", "[")):
            assert previous.startswith("# "), line  # every value says where it comes from
    assert f"measured {report.date}: 3 runs, spread" in text


def test_profile_can_extend_another_base(report, tmp_path):
    path = tmp_path / "host.toml"
    path.write_text(report.to_profile_toml("nvme-100g-2024"))
    assert load_profile(path).disk == load_profile("nvme-100g-2024").disk


def test_a_failed_measurement_is_reported_and_inherited(monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise OSError("no loopback here")

    for name in ("measure_caches", "measure_membus_bandwidth", "measure_syscalls",
                 "measure_page_fault", "measure_context_switch", "measure_loopback_tcp"):
        monkeypatch.setattr(cal, name, refuse)
    report = cal.calibrate(quick=True, repeats=1)
    assert "wire.rtt" in report.measurements
    assert "no loopback here" in report.failures["nic.rate"]
    path = tmp_path / "partial.toml"
    path.write_text(report.to_profile_toml())
    profile = load_profile(path)
    assert profile.cpu.copy_bandwidth_bytes_per_s == load_profile("teaching").cpu \
        .copy_bandwidth_bytes_per_s
    assert "not measured: OSError: no loopback here" in path.read_text()


def test_a_disturbed_round_of_loopback_transfers_is_left_out_and_run_again(monkeypatch):
    """The first round's transfers found others on the CPUs: their figures (100x the CPU)
    play no part, the round is run again, and the profile says how many rounds ran."""
    transfers = []

    def fake(cpu, total_bytes, loop, receiver_cpu=None, congestion=None):
        transfers.append(loop)
        first_round = len(transfers) <= 4  # linear, woken, whole, hot (one CPU here)
        cpu_s = 100.0 if first_round else 1.0
        return cal._PairCpu(cpu_s * 0.25, cpu_s * 0.75, 0.0, 64, 1, 64, first_round)

    monkeypatch.setattr(cal, "_pinned_transfer", fake)
    monkeypatch.setattr(cal, "_zerocopy_allowed", lambda: False)
    found = cal.measure_loopback_costs(0, 1e-6, 10e9, 50e-9, repeats=2, total_bytes=4 << 20)
    assert len(transfers) == 3 * 4 and found["host.loopback_rounds"].value == 3
    assert "1 disturbed" in found["host.loopback_rounds"].method
    per_call = (1.0 - 64 * 1e-6 - 2 * (4 << 20) / 10e9) / 64  # the clean rounds' alone
    assert found["cpu.per_skb"].value + found["cpu.rx_skb"].value == pytest.approx(per_call)


def test_repeats_must_be_positive():
    with pytest.raises(ValueError):
        cal.calibrate(repeats=0)


@given(st.floats(min_value=1e-10, max_value=100.0))
def test_times_survive_the_toml_round_trip(seconds):
    text = cal._toml_value(seconds, "time")
    assert units.parse_time(text.strip('"')) == pytest.approx(seconds, rel=1e-3)


@given(st.floats(min_value=1.0, max_value=1e13))
def test_rates_survive_the_toml_round_trip(rate):
    text = cal._toml_value(rate, "rate")
    assert units.parse_rate(text.strip('"') if '"' in text else float(text)) == pytest.approx(
        rate, rel=1e-3)
