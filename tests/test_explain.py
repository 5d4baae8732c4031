"""iosim explain: golden output, every path's syscalls and copies, folding, width."""

import pytest

from iosim import PATHS, simulate
from iosim.cli import main
from iosim.teach.explain import NOTES, WIDTH, explain, repeats
from iosim.teach.traced import copies, run_traced, syscalls
from tests.regen_golden import CASES, GOLDEN_DIR, output

# what each path's program calls, and whether its cold-cache transfer has CPU copies
PROGRAMS = {
    "read_write": (["read()", "write()"], True),
    "mmap_write": (["mmap()", "write()", "munmap()"], True),
    "sendfile": (["sendfile()"], True),
    "sendfile_sg": (["sendfile()"], False),
    "splice": (["pipe()", "splice()"], False),
    "msg_zerocopy": (["setsockopt()", "read()", "send()", "recvmsg()"], True),
    "writev_sendfile": (["send()", "sendfile()"], True),  # the header is copied
    "vmsplice_splice": (["pipe()", "read()", "vmsplice()", "splice()"], True),
    "io_uring_send_zc": (["io_uring_setup()", "io_uring_register()", "io_uring_enter()"], True),
    "ktls_sendfile": (["setsockopt()", "sendfile()"], True),  # the encryption pass
}


@pytest.mark.parametrize("name", [n for n in CASES if n.startswith("explain")])
def test_output_matches_the_golden_file(name):
    expected = (GOLDEN_DIR / name).read_text()
    assert output(CASES[name]) == expected, "regenerate with: python -m tests.regen_golden"


@pytest.fixture(scope="module", params=list(PATHS))
def told(request):
    path = request.param
    return path, explain(path, "256KiB"), run_traced(path, "256KiB")


def test_every_path_tells_its_syscalls_and_copies(told):
    path, text, run = told
    calls, cpu_copies = PROGRAMS[path]
    assert set(calls) <= set(syscalls(run.events))
    for call in calls:
        assert f"syscall   {call}" in text
    for c in copies(run.events):
        assert f"{c.who} copy  {c.src} -> {c.dst}" in text
    assert ("CPU copy  " in text) is cpu_copies
    assert "DMA copy  disk -> page cache" in text


def test_totals_agree_with_the_counters_and_lines_fit(told):
    _, text, _ = told
    assert "MISMATCH" not in text
    assert "invariants   all hold" in text
    assert max(len(line) for line in text.splitlines()) <= WIDTH


def test_every_run_first_echoes_its_arguments():
    text = explain("splice", "16KiB", cache="warm", page=2, overrides={"nic.sg": False})
    assert text.splitlines()[:8] == [
        "ARG path splice", "ARG size 16 KiB", "ARG profile teaching", "ARG cache warm",
        "ARG page 2", "ARG buffer 64 KiB", "ARG seed 0", "ARG set nic.sg=false"]


def test_a_one_mib_run_stays_readable():
    text = explain("read_write", "1MiB")
    assert "the program repeats the steps of" in text
    # slow start makes the first rounds differ (the window, not the program, paces them)
    assert len(text.splitlines()) < 170


@pytest.mark.parametrize(("path", "overrides", "topic"), [
    ("sendfile_sg", None, "sendfile"),
    ("sendfile_sg", None, "sg"),
    ("sendfile", None, "nosg"),
    ("splice", {"nic.csum_offload": False}, "nosg"),
    ("read_write", None, "mode"),
    ("read_write", None, "block"),
    ("splice", None, "tx_done"),
    ("msg_zerocopy", None, "zc_done"),
    ("msg_zerocopy", {"nic.sg": False}, "zc_copy"),
])
def test_textbook_and_kernel_differences_are_noted_once(path, overrides, topic):
    text = explain(path, "128KiB", overrides=overrides)
    assert text.count(NOTES[topic]) == 1


def test_page_life_follows_the_page_through_pipe_skb_nic_and_ack():
    text = explain("sendfile_sg", "16KiB")
    life = text.split("Page 0 of the file")[1].split("Data path")[0]
    order = ["alloc", "get pipe", "get skb", "put pipe", "NIC DMA reads it", "TX completion",
             "put skb"]
    positions = [life.index(step) for step in order]
    assert positions == sorted(positions)
    assert "    1  put skb" in life


def test_diagram_labels_edges_with_the_bytes_of_the_run():
    r = simulate("read_write", "64KiB")
    text = explain("read_write", "64KiB")
    assert r.cpu_copy_bytes == 2 * 64 * 1024
    assert text.count("CPU copy 64 KiB") == 2
    assert "|  user buffer  |" in text and "refs" not in text.split("Data path")[1].split(
        "Totals")[0].split("only, no bytes move)")[1]


def test_repeats_folds_the_shortest_repeating_block():
    assert repeats(list("ababab" + "c")) == [(0, 2, 3), (6, 1, 1)]
    assert repeats(list("aaab")) == [(0, 1, 3), (3, 1, 1)]
    assert repeats([]) == []


def test_cli_explain_and_its_errors(capsys):
    assert main(["explain", "splice", "--size", "32KiB", "--page", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ARG path splice\n") and "Page 1 of the file" in out
    assert main(["explain", "sendfile_zz"]) == 2
    assert "unknown path" in capsys.readouterr().err


def test_a_linearised_skb_is_told_as_the_cpu_copy_it_is():
    # slow start sends the 64 KiB skb in three window-sized pieces (14480, 28960 and 22096
    # bytes); with 4 SG entries each has too many frags and is linearised on its own
    text = explain("sendfile_sg", "64KiB", overrides={"dma.max_sg_entries": 4})
    assert "CPU copy  page cache -> socket buffer (skb_linearize), 14.14 KiB" in text
    assert "CPU copy page cache -> socket buffer: 3 x, 64 KiB" in text
    assert "MISMATCH" not in text


def test_a_lost_segment_is_told_with_the_kernels_retransmit():
    text = explain("sendfile_sg", "16KiB", drop=[3])
    assert "retransmit seq 2896 bytes=1448" in text
    assert "kernel: resend the pages as they are now" in text
    assert "in order up to byte 2896" in text
    assert "MISMATCH" not in text
