"""The iosim command as a user runs it: output, JSON contract, errors."""

import json
import subprocess
import sys

import pytest

from iosim.cli import main

REQUIRED = ["path", "bytes_requested", "bytes_delivered", "sim_time_s", "goodput_bps", "copies",
            "cpu_copy_bytes", "dma_copy_bytes", "membus_bytes", "syscalls", "mode_switches",
            "context_switches", "page_faults", "cpu_time_s", "cpu_time_by_category",
            "invariant_violations", "profile"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# the issue-17 paths after writev_sendfile: (CPU, DMA) copies per byte, cold, 1 MiB
NEW_PATHS: dict[str, tuple[float, float]] = {"vmsplice_splice": (1.0, 2.0),
                                             "io_uring_send_zc": (1.0, 2.0),
                                             # the NIC also reads 22 B per 16 KiB record
                                             "ktls_sendfile": (1.0, 2.0 + 22 / 16384)}


def test_compare_json_gives_the_textbook_table(capsys):
    code, out, _ = run(capsys, "compare", "--size", "1MiB", "--json")
    assert code == 0
    rows = {r["path"]: r for r in json.loads(out)}
    assert {p: (r["cpu_copies"], r["dma_copies"]) for p, r in rows.items()} == {
        "read_write": (2.0, 2.0), "mmap_write": (1.0, 2.0), "sendfile": (1.0, 2.0),
        "sendfile_sg": (0.0, 2.0), "splice": (0.0, 2.0), "msg_zerocopy": (1.0, 2.0),
        # the 256-byte header is copied by the CPU, the disk reads only the body
        "writev_sendfile": (256 / (1 << 20), 2 - 256 / (1 << 20)),
        **NEW_PATHS}
    for r in rows.values():
        assert set(REQUIRED) <= set(r)
        assert r["invariant_violations"] == []
        assert r["profile"]["name"] == "teaching"


def test_run_prints_a_readable_record_and_echoes_its_arguments(capsys):
    code, out, _ = run(capsys, "run", "sendfile_sg", "--size", "1MiB", "--cache", "warm")
    assert code == 0
    assert out.splitlines()[0] == "iosim run sendfile_sg --size 1MiB --cache warm"
    assert "copies: 1.00 per byte = 0.00 CPU + 1.00 DMA" in out
    assert "invariants: all hold" in out


def test_compare_table_lists_every_path(capsys):
    code, out, _ = run(capsys, "compare", "--size", "256KiB")
    assert code == 0
    for path in ("read_write", "mmap_write", "sendfile", "sendfile_sg", "splice",
                 "msg_zerocopy"):
        assert path in out
    assert "invariants: all hold" in out


def test_set_changes_the_profile(capsys):
    _code, out, _ = run(capsys, "run", "sendfile_sg", "--size", "1MiB", "--json",
                       "--set", "nic.sg=false", "--set", "nic.rate=25Gbit/s")
    r = json.loads(out)
    assert r["cpu_copies"] == 1.0
    assert r["profile"]["nic"]["rate_bytes_per_s"] == 25e9 / 8


def test_same_seed_byte_identical_json(capsys):
    _, a, _ = run(capsys, "compare", "--size", "512KiB", "--json", "--seed", "3")
    _, b, _ = run(capsys, "compare", "--size", "512KiB", "--json", "--seed", "3")
    assert a == b


def test_profiles_lists_the_bundled_ones(capsys):
    code, out, _ = run(capsys, "profiles")
    assert code == 0
    assert "teaching" in out and "nvme-100g-2024" in out and "hdd-1g-2010" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "teleport"], "unknown path 'teleport'"),
    (["run", "splice", "--size", "12XB"], "expected a size"),
    (["compare", "--profile", "nope"], "unknown profile 'nope'"),
    (["compare", "--set", "nic.rat=3"], "unknown profile key 'nic.rat'"),
    (["compare", "--set", "nic.rate=fast"], "'nic.rate'"),
    (["compare", "--set", "nic.rate=0"], "expected a positive value"),
    (["compare", "--set", "novalue"], "expected KEY=VALUE"),
    (["compare", "--profile", "missing.toml"], "missing.toml: cannot read"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        code = main(argv)
        raise SystemExit(code)
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err and out == ""


def test_bad_profile_file_via_the_real_command(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('extends = "teaching"\n[disk]\nbandwidth = -5\n')
    proc = subprocess.run([sys.executable, "-m", "iosim.cli", "compare", "--profile", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"iosim: error: {bad}: key 'disk.bandwidth': expected a "
                                   f"positive value, got -5")
    assert proc.stdout == ""
