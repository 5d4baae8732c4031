"""ktls_sendfile: sendfile() on a kTLS socket, software AES-GCM or NIC offload. Counts
derived by hand on the teaching profile: N = 1 MiB = 64 records of 16 KiB, each 22 B of
TLS 1.3 framing on the stream; AES-GCM at 1 GB/s.
"""

from __future__ import annotations

import pytest

from iosim import config, simulate

N, P, RECORD, FRAME = 1 << 20, 4096, 16384, 22
RECORDS = N // RECORD
OFFLOAD = {"nic.tls_offload": True}


def test_cold_software_is_2_dma_and_1_cpu_pass():
    r = simulate("ktls_sendfile", N)
    assert r.syscalls == 3  # setsockopt(TCP_ULP), setsockopt(TLS_TX), sendfile()
    assert r.cpu_copy_bytes == N  # the encryption reads and writes every byte once
    assert r.disk_dma_bytes == N and r.nic_dma_bytes == N + FRAME * RECORDS
    assert r.dma_copy_bytes == 2 * N + FRAME * RECORDS  # 2 DMA per byte, + the framing
    assert r.membus_bytes == 2 * N + 2 * N + FRAME * RECORDS
    # each record's 5 + 16384 + 17 = 16406 B of ciphertext fill 5 new pages, 5 frags
    assert r.frags == 5 * RECORDS and r.skbs == RECORDS  # textbook: one skb per record
    # the pass costs N / aes_gcm_bandwidth at least (1.048576 ms)
    assert r.cpu_time_by_category["copy"] >= N / 1e9 * (1 - 1e-9)
    assert r.bytes_delivered == N and r.integrity == "exact" and r.invariant_violations == []


def test_offload_is_zero_copy_again():
    r = simulate("ktls_sendfile", N, overrides=OFFLOAD)
    assert r.syscalls == 4  # + setsockopt(TLS_TX_ZEROCOPY_RO)
    assert r.cpu_copy_bytes == 0 and r.dma_copy_bytes == 2 * N + FRAME * RECORDS
    # per record: the header frag, its 4 page-cache pages, the tag space
    assert r.frags == (1 + RECORD // P + 1) * RECORDS
    assert r.invariant_violations == []


def test_the_pass_is_costed_by_the_profile():
    slow = simulate("ktls_sendfile", N, overrides={"cpu.aes_gcm_bandwidth": "500MB/s"})
    fast = simulate("ktls_sendfile", N)
    # N / 500 MB/s = 2.097152 ms (sums of per-record floats: within 1e-9)
    assert slow.cpu_time_by_category["copy"] >= N / 5e8 * (1 - 1e-9)
    assert slow.cpu_time_by_category["copy"] > fast.cpu_time_by_category["copy"]
    assert slow.sim_time_s > fast.sim_time_s
    assert slow.cpu_copy_bytes == fast.cpu_copy_bytes == N


def test_warm_software_still_encrypts():
    r = simulate("ktls_sendfile", N, cache="warm")
    assert r.disk_dma_bytes == 0 and r.cpu_copy_bytes == N
    assert r.nic_dma_bytes == N + FRAME * RECORDS


def test_writers_reach_the_wire_only_with_offload():
    kw = {"writer": "write", "writer_at": [20480]}
    assert simulate("ktls_sendfile", "256KiB", **kw).integrity == "exact"  # encrypted copy
    r = simulate("ktls_sendfile", "256KiB", overrides=OFFLOAD, **kw)
    assert r.changed_bytes > 0  # TLS_TX_ZEROCOPY_RO broken: the NIC reads the new data


def test_profiles_without_the_new_keys_still_load(tmp_path):
    text = (config.MODELS_DIR / "teaching.toml").read_text()
    old = "\n".join(line for line in text.splitlines()
                    if not line.startswith(("aes_gcm_bandwidth", "tls_offload")))
    (tmp_path / "old.toml").write_text(old)
    p = config.load_profile(tmp_path / "old.toml")
    assert p.cpu.aes_gcm_bandwidth_bytes_per_s == 1e9 and p.nic.tls_offload is False


@pytest.mark.parametrize("kernel", ["textbook", "linux-6"])
@pytest.mark.parametrize("fault", [{"loss": 0.02, "seed": 1}, {"drop": [3, 40]},
                                   {"pressure": 500, "pressure_interval_s": "50us"},
                                   {"truncate_at_s": "100us"}, {"offset_bytes": 100},
                                   {"overrides": OFFLOAD}])
def test_failure_modes_deliver_every_byte(kernel, fault):
    overrides = {"kernel.model": kernel, **fault.get("overrides", {})}
    rest = {k: v for k, v in fault.items() if k != "overrides"}
    r = simulate("ktls_sendfile", "512KiB", overrides=overrides, **rest)
    assert r.bytes_delivered == 512 << 10 and r.invariant_violations == []
