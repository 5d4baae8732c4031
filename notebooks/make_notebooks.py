"""Write the teaching notebooks from this script, so they are reviewed as code.

    python notebooks/make_notebooks.py        # rewrites notebooks/*.ipynb, without outputs

The notebooks import iosim only (ipywidgets if present) and run top to bottom in seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

# What to look for in each path's diagram and refcount history (narration only: the
# diagrams and numbers themselves come from the runs).
PATH_NOTES = {
    "read_write": "Two CPU copies: `read()` copies page cache -> user buffer, `write()` copies "
                  "it again into the socket buffer. The page-cache page never gains a "
                  "reference: `read()` copies instead of sharing.",
    "mmap_write": "The mapping shares the page-cache pages with the process (a reference per "
                  "mapped page, dropped by `munmap`), but `write()` still copies them into "
                  "the socket buffer.",
    "sendfile": "No user buffer. sendfile() is built on splice: the pages pass through an "
                "internal pipe by reference, but this NIC has no scatter-gather, so the "
                "socket layer copies them into the skb.",
    "sendfile_sg": "With scatter-gather the skb's frags reference the page-cache pages and the "
                   "NIC gathers them by DMA: no CPU copy. The page keeps a reference from the "
                   "skb until the receiver ACKs it.",
    "splice": "The program moves page references file -> pipe -> socket with two splice() "
              "calls per round: no CPU copy, twice the syscalls of sendfile().",
    "msg_zerocopy": "`read()` still copies into the user buffer; `send(MSG_ZEROCOPY)` pins "
                    "those user pages and the NIC DMAs from them. The buffer is only free "
                    "again after the completion arrives (after the ACK).",
}


def tour() -> nbformat.NotebookNode:
    """01: each path in turn, its measured diagram, its counts, one page's refcount."""
    import iosim

    cells = [
        new_markdown_cell(
            "# 01 · A tour of zero-copy\n\n"
            "Each way Linux can send a file to a TCP socket, simulated by iosim: its data "
            "flow as measured in the run (which buffers, who moved the bytes: DMA, CPU copy "
            "or page reference), its counts (copies, syscalls, switches, CPU time), and the "
            "reference count of one file page over time (`watch_page`).\n\n"
            "Sizes are small, so every run takes milliseconds. Change `SIZE` or `PROFILE` "
            "and run all cells again."),
        new_code_cell(
            "import iosim\n"
            "from iosim import charts\n"
            "from iosim.cli import format_result\n"
            "from iosim.teach import flowgraph\n\n"
            "SIZE = \"256KiB\"       # four 64 KiB buffers' worth\n"
            "PROFILE = \"teaching\"  # round numbers: 2 GB/s copies, 1 GB/s disk, 10 Gbit/s\n"
            "PAGE = 0              # the file page whose refcount we follow"),
        new_markdown_cell(
            "## Watch it move\n\n"
            "`read_write` and `sendfile_sg` side by side on one clock, page by page: each "
            "column is a page of the file, each lane a buffer (disk, page cache, user memory, "
            "pipe, socket, NIC, wire, receiver). Press ▶ or click into the animation and use "
            "→ to step, ↓ to jump to the next syscall, F to fold repeated rounds. Watch the "
            "page tiles' reference counts on the right, and the user-memory lane on the "
            "left. `iosim animate read_write sendfile_sg --out b.html` writes the same page "
            "to a file."),
        new_code_cell("iosim.animate(\"read_write\", \"sendfile_sg\", size_bytes=\"64KiB\", "
                      "profile=PROFILE)"),
    ]
    for i, (path, spec) in enumerate(iosim.PATHS.items(), start=1):
        cells += [
            new_markdown_cell(f"## {i}. `{path}`: {spec.summary}\n\n{PATH_NOTES[path]}"),
            new_code_cell(
                f"graph, result = flowgraph.trace_flow({path!r}, SIZE, profile=PROFILE, "
                "watch_page=PAGE)\n"
                "print(flowgraph.render_text(graph))\n"
                "flowgraph.draw(graph)"),
            new_code_cell("print(format_result(result))\n"
                          "charts.refcount_chart(result.page_log, result)"),
        ]
    cells += [
        new_markdown_cell(
            "## All paths side by side\n\nCold cache: the disk DMA counts as a copy. Warm "
            "cache: the file is already in the page cache, one copy less for every path, "
            "and no task ever blocks on the disk."),
        new_code_cell(
            "cold = [iosim.simulate(p, SIZE, profile=PROFILE) for p in iosim.PATHS]\n"
            "warm = [iosim.simulate(p, SIZE, profile=PROFILE, cache=\"warm\") "
            "for p in iosim.PATHS]\n"
            "charts.copies_chart(cold, warm)"),
        new_markdown_cell(
            "## Failure modes\n\n"
            "Zero-copy shares pages instead of copying them, so anything that changes or "
            "frees a page while it is in flight matters: a **lost segment** is sent again "
            "from the same pages (which may have changed), a **writer** modifying the file "
            "or the buffer makes the receiver see newer or mixed data (or forces a COW "
            "copy), **memory pressure** cannot reclaim pages the network still holds, and "
            "**misaligned** data costs extra frags (or bounce copies on a NIC that needs "
            "aligned DMA).\n\n"
            "The loss, writer and pressure scenario keys are newer than some iosim cores; "
            "the cells below say so when this one lacks them."),
        new_code_cell(
            "from iosim.config import SCENARIO_DEFAULTS\n\n"
            "FAILURE_KEYS = \"loss\" in SCENARIO_DEFAULTS\n"
            "print(\"loss / writer / pressure keys in this core:\", FAILURE_KEYS)"),
        new_code_cell(
            "if FAILURE_KEYS:  # 2% of segments lost: retransmitted from the same pages\n"
            "    for path in iosim.PATHS:\n"
            "        r = iosim.simulate(path, SIZE, profile=PROFILE, loss=0.02, seed=1)\n"
            "        print(f\"{path:13} retransmits {r.retransmits:3}  \"\n"
            "              f\"({r.retransmit_bytes} B)  integrity {r.integrity}\")\n"
            "else:\n"
            "    print(\"skipped: no 'loss' scenario key in this iosim core\")"),
        new_code_cell(
            "if FAILURE_KEYS:  # a writer changing the data while it is in flight\n"
            "    for writer, path in [(\"write\", \"sendfile_sg\"), (\"shared\", \"splice\"),\n"
            "                         (\"private\", \"mmap_write\"), "
            "(\"userbuf\", \"msg_zerocopy\")]:\n"
            "        r = iosim.simulate(path, SIZE, profile=PROFILE, writer=writer,\n"
            "                           writer_rate=100_000, seed=1)\n"
            "        print(f\"{writer:8} during {path:13} COW copies {r.cow_copies}, stale \"\n"
            "              f\"{r.stale_bytes} B, mixed segments {r.mixed_version_segments}, \"\n"
            "              f\"integrity {r.integrity}\")\n"
            "else:\n"
            "    print(\"skipped: no 'writer' scenario key in this iosim core\")"),
        new_code_cell(
            "if FAILURE_KEYS:  # reclaim runs while pipes and skbs reference pages\n"
            "    for path in iosim.PATHS:\n"
            "        r = iosim.simulate(path, SIZE, profile=PROFILE, pressure=4096, seed=1)\n"
            "        print(f\"{path:13} evictions {r.evictions}, refaults {r.refaults}, \"\n"
            "              f\"kept for busy references {r.reclaim_busy_refs}\")\n"
            "else:\n"
            "    print(\"skipped: no 'pressure' scenario key in this iosim core\")"),
        new_code_cell(
            "# misalignment: a file offset that is not a multiple of the page size\n"
            "for offset in (0, 100, 2048):\n"
            "    r = iosim.simulate(\"sendfile_sg\", SIZE, profile=PROFILE, "
            "offset_bytes=offset)\n"
            "    extra = {k: getattr(r, k) for k in (\"unaligned_extra_frags\", "
            "\"bounce_copy_bytes\")\n"
            "             if hasattr(r, k)}\n"
            "    print(f\"offset {offset:4} B: {r.frags} frags in {r.skbs} skbs, \"\n"
            "          f\"{r.copies:.4f} copies per byte {extra or ''}\")"),
    ]
    return _notebook(cells)


def what_if() -> nbformat.NotebookNode:
    """02: change the hardware and re-plot."""
    cells = [
        new_markdown_cell(
            "# 02 · What if the hardware changes?\n\n"
            "Every path on the 2024 server profile, then one profile value at a time: the "
            "NIC's link rate, scatter-gather, memory bandwidth, the page cache's size. Each "
            "bar and marker names the resource the model found busiest (`bottleneck`)."),
        new_code_cell(
            "import iosim\n"
            "from iosim import charts\n\n"
            "PROFILE = \"nvme-100g-2024\"\n"
            "SIZE = \"16MiB\"\n\n\n"
            "def run_all(cache=\"warm\", **overrides):\n"
            "    \"\"\"Every path on PROFILE with some profile values changed.\"\"\"\n"
            "    return [iosim.simulate(p, SIZE, profile=PROFILE, cache=cache, "
            "overrides=overrides)\n"
            "            for p in iosim.PATHS]\n\n\n"
            "charts.compare_chart(run_all(), f\"{PROFILE} as shipped (100 Gbit/s), warm "
            "cache, {SIZE}\")"),
        new_markdown_cell(
            "## A faster NIC\n\nAt 10 Gbit/s the link limits everyone. From about 40 Gbit/s "
            "the paths that copy run out of the sender's core; the zero-copy paths keep up."),
        new_code_cell(
            "points = [(gbit, r) for gbit in (10, 25, 100, 400)\n"
            "          for r in run_all(**{\"nic.rate\": f\"{gbit}Gbit/s\"})]\n"
            "charts.sweep_chart(points, \"NIC link rate (Gbit/s, log scale)\", "
            "\"What if the NIC is faster?\")"),
        new_markdown_cell(
            "## Scatter-gather off\n\nWithout SG the NIC needs each skb in one piece, so "
            "sendfile and splice copy the pages into the socket buffer and MSG_ZEROCOPY "
            "falls back to copying."),
        new_code_cell(
            "for sg in (True, False):\n"
            "    copies = \", \".join(f\"{r.path} {r.copies:.0f}\" for r in "
            "run_all(**{\"nic.sg\": sg}))\n"
            "    print(f\"nic.sg={sg!s:5}  copies per byte: {copies}\")\n"
            "charts.compare_chart(run_all(**{\"nic.sg\": False}), \"Scatter-gather off\")"),
        new_markdown_cell(
            "## Memory bandwidth\n\nA CPU copy crosses the memory bus twice (read and "
            "write), a DMA once; on a slow bus even the zero-copy paths are limited by "
            "memory. The NIC is set to 400 Gbit/s so that it is not the limit."),
        new_code_cell(
            "points = [(gbyte, r) for gbyte in (10, 20, 50, 150)\n"
            "          for r in run_all(**{\"nic.rate\": \"400Gbit/s\",\n"
            "                              \"membus.bandwidth\": f\"{gbyte}GB/s\"})]\n"
            "charts.sweep_chart(points, \"memory bandwidth (GB/s, log scale)\",\n"
            "                   \"What if memory is slower or faster?\")"),
        new_markdown_cell(
            "## Page cache size\n\nCold cache and a page cache far smaller than the file: "
            "pages still referenced by skbs cannot be reclaimed, so read-ahead pages get "
            "evicted before they are sent and must be read again from the disk."),
        new_code_cell(
            "points = []\n"
            "for kib in (384, 1024, 4096, 65536):\n"
            "    for r in run_all(cache=\"cold\", **{\"kernel.page_cache\": f\"{kib}KiB\"}):\n"
            "        points.append((kib, r))\n"
            "        if r.path in (\"read_write\", \"sendfile_sg\"):  # 2**20 bytes per MiB\n"
            "            print(f\"page cache {kib:6} KiB {r.path:12} read \"\n"
            "                  f\"{r.disk_dma_bytes / 2**20:5.1f} MiB from disk to send \"\n"
            "                  f\"{r.bytes_delivered / 2**20:.0f} MiB\")\n"
            "charts.sweep_chart(points, \"page cache (KiB, log scale)\",\n"
            "                   \"What if memory for the page cache is scarce?\")"),
        new_markdown_cell(
            "## Try it yourself\n\nWith ipywidgets installed the sliders re-run every path; "
            "without it, call `explore(...)` with other values."),
        new_code_cell(
            "def explore(nic_gbit=100.0, sg=True, membus_gbyte=150.0, page_cache_kib=65536):\n"
            "    results = run_all(**{\"nic.rate\": f\"{nic_gbit}Gbit/s\", \"nic.sg\": sg,\n"
            "                         \"membus.bandwidth\": f\"{membus_gbyte}GB/s\",\n"
            "                         \"kernel.page_cache\": f\"{page_cache_kib}KiB\"})\n"
            "    return charts.compare_chart(results, f\"NIC {nic_gbit:g} Gbit/s, SG \"\n"
            "                                f\"{'on' if sg else 'off'}, memory \"\n"
            "                                f\"{membus_gbyte:g} GB/s, page cache \"\n"
            "                                f\"{page_cache_kib} KiB\")\n\n\n"
            "try:\n"
            "    from ipywidgets import interact\n"
            "except ImportError:\n"
            "    display(explore(nic_gbit=400, sg=False))\n"
            "else:\n"
            "    interact(explore, nic_gbit=(1.0, 400.0), sg=True, membus_gbyte=(5.0, 300.0),\n"
            "             page_cache_kib=(384, 65536, 128))"),
    ]
    return _notebook(cells)


def _notebook(cells: list) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"  # stable ids: regenerating gives identical files
    return nb


NOTEBOOKS = {"01-zero-copy-tour.ipynb": tour, "02-what-if-hardware.ipynb": what_if}


def main(out_dir: Path = HERE) -> int:
    """Write every notebook into ``out_dir``."""
    for name, build in NOTEBOOKS.items():
        nbformat.write(build(), out_dir / name)
        print(f"wrote {out_dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE))
