# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · What if the hardware changes?
#
# Every path on the 2024 server profile with the file in the page cache, then one profile
# value at a time: the NIC's link rate, scatter-gather, the memory bus, the page cache's
# size. Each bar and marker names the resource the model found limiting
# (`Result.bottleneck`, defined in docs/model.md). Every claim in the text is checked by an
# `assert` in the cell below it, on the numbers that cell just computed.
#
# As shipped (100 Gbit/s), the paths that do not copy spend the least CPU on the same bytes.

# %%
import iosim
from iosim import charts
from iosim.units import parse_size

PROFILE = "nvme-100g-2024"
SIZE = "16MiB"
COPYING = ("read_write", "mmap_write", "sendfile", "msg_zerocopy")
ZERO_COPY = ("sendfile_sg", "splice")
# the six classic paths this notebook argues about; `iosim experiment whatif_hardware` runs
# every registered path (writev_sendfile, vmsplice_splice, io_uring_send_zc, ktls_sendfile)
SHOWN = [p for p in iosim.PATHS if p in (*COPYING, *ZERO_COPY)]


def run_all(size=SIZE, cache="warm", **overrides):
    """Every path on PROFILE with some profile values changed."""
    return {p: iosim.simulate(p, size, profile=PROFILE, cache=cache, overrides=overrides)
            for p in SHOWN}


def gbit(r):
    return r.goodput_bps / 1e9  # bits per second -> Gbit/s


shipped = run_all()
for r in shipped.values():
    print(f"{r.path:16} {gbit(r):6.1f} Gbit/s, CPU {r.cpu_time_s * 1e3:.2f} ms, "
          f"bottleneck {r.bottleneck}")
# the paths that do not copy spend the least CPU on the same bytes
assert max(shipped[p].cpu_time_s for p in ZERO_COPY) < min(
    shipped[p].cpu_time_s for p in COPYING)
charts.compare_chart(list(shipped.values()),
                     f"{PROFILE} as shipped (100 Gbit/s), warm cache, {SIZE}")

# %% [markdown]
# ## A faster NIC
#
# Up to 40 Gbit/s the link limits every path. Faster than that, the paths run out of the
# sending thread's core one after the other: first `read_write` (two copies per byte),
# last the zero-copy paths. At 400 Gbit/s even `sendfile_sg` is limited by its core (per
# skb and per syscall work remains when the copies are gone), and it goes fastest.

# %%
RATES_GBIT = (10, 25, 40, 100, 200, 400)
runs = {g: run_all(**{"nic.rate": f"{g}Gbit/s"}) for g in RATES_GBIT}
for g in RATES_GBIT:
    print(f"{g:3} Gbit/s: " + ", ".join(f"{p} {gbit(r):.0f} ({r.bottleneck})"
                                        for p, r in runs[g].items()))
assert all(r.bottleneck == "link" for g in RATES_GBIT if g <= 40 for r in runs[g].values())
leaves_link = {p: min(g for g in RATES_GBIT if runs[g][p].bottleneck != "link")
               for p in SHOWN}
assert leaves_link["read_write"] == min(leaves_link.values())
assert leaves_link["sendfile_sg"] == max(leaves_link.values())
fastest = runs[RATES_GBIT[-1]]
assert fastest["sendfile_sg"].bottleneck == "sender_core"
assert gbit(fastest["sendfile_sg"]) == max(gbit(r) for r in fastest.values())
charts.sweep_chart([(g, r) for g in RATES_GBIT for r in runs[g].values()],
                   "NIC link rate (Gbit/s, log scale)", "What if the NIC is faster?")

# %% [markdown]
# ## Scatter-gather off
#
# This profile's kernel is Linux 6 (`kernel.model`), where a TCP socket always gathers
# (GSO, since 4.17): `sendfile_sg`, `splice` and `MSG_ZEROCOPY` still attach page
# references, and a NIC without scatter-gather makes the kernel copy each segment into a
# linear buffer at transmit (`skb_segment`, every byte sent once: `gso_copy_bytes`). So the
# zero-copy paths copy once per byte, at transmit rather than in the syscall;
# `MSG_ZEROCOPY` copies there too, and its sends are not completed as copies; the
# `write()` paths, whose data is already the socket's own copy, are copied once more
# (three copies per byte for `read_write`). The textbook kernel (`--kernel textbook`)
# copies in the syscall instead and leaves `read_write` at two.

# %%
sg_on, sg_off = run_all(), run_all(**{"nic.sg": False})
for p in SHOWN:
    print(f"{p:16} CPU copies per byte: SG on {sg_on[p].cpu_copies:g}, "
          f"off {sg_off[p].cpu_copies:g}")
for p in ZERO_COPY:
    assert (sg_on[p].cpu_copies, sg_off[p].cpu_copies) == (0, 1)
assert all(r.gso_copy_bytes == r.bytes_delivered for r in sg_off.values())
assert (sg_on["msg_zerocopy"].cpu_copies, sg_off["msg_zerocopy"].cpu_copies) == (1, 2)
assert sg_off["msg_zerocopy"].zerocopy_copied_sends == 0
assert (sg_on["read_write"].cpu_copies, sg_off["read_write"].cpu_copies) == (2, 3)
charts.compare_chart(list(sg_off.values()), "Scatter-gather off")

# %% [markdown]
# ## Memory bandwidth
#
# The memory bus carries 2 bytes per byte a CPU copies (read and write) and 1 per byte a
# DMA engine moves (`membus_bytes`). The file here is larger than the last-level cache
# (`cpu.cache_size`, 32 MiB), so the copies of page-cache pages go to DRAM. The NIC is set
# to 400 Gbit/s so that it is not the limit. On a slow bus every path is limited by memory,
# and the zero-copy paths, which only the NIC's DMA puts on the bus, go furthest; on a fast
# bus the sending core is the limit again.

# %%
BUS_SIZE = "48MiB"
BUS_GBYTE = (5, 10, 20, 40, 150)
bus = {gb: run_all(size=BUS_SIZE, **{"nic.rate": "400Gbit/s",
                                     "membus.bandwidth": f"{gb}GB/s"}) for gb in BUS_GBYTE}
slow, fast = bus[BUS_GBYTE[0]], bus[BUS_GBYTE[-1]]
for p, r in slow.items():
    print(f"{p:16} {r.membus_bytes / r.bytes_delivered:g} bus bytes per byte; at "
          f"{BUS_GBYTE[0]} GB/s {gbit(r):5.1f} Gbit/s ({r.bottleneck}), at "
          f"{BUS_GBYTE[-1]} GB/s {gbit(fast[p]):5.1f} Gbit/s ({fast[p].bottleneck})")
assert parse_size(BUS_SIZE) > slow["read_write"].profile["cpu"]["cache_size_bytes"]
assert all(r.membus_bytes == 2 * r.cpu_copy_bytes + r.dma_copy_bytes
           for runs_at in bus.values() for r in runs_at.values())
assert all(r.bottleneck == "membus" for r in slow.values())
assert min(gbit(slow[p]) for p in ZERO_COPY) > 2 * max(gbit(slow[p]) for p in COPYING)
assert all(r.bottleneck != "membus" for r in fast.values())
charts.sweep_chart([(gb, r) for gb in BUS_GBYTE for r in bus[gb].values()],
                   "memory bandwidth (GB/s, log scale)",
                   f"What if memory is slower or faster? ({BUS_SIZE}, 400 Gbit/s NIC)")

# %% [markdown]
# `read_write` counts 5 bus bytes per byte and `mmap_write` 3, yet on the slowest bus they
# send at about the same rate (within 3 %): `read_write`'s second copy reads a 64 KiB user
# buffer that stays in the cache, so that traffic is counted but never waits for DRAM.

# %%
assert slow["read_write"].membus_bytes > slow["mmap_write"].membus_bytes
assert abs(gbit(slow["read_write"]) / gbit(slow["mmap_write"]) - 1) < 0.03

# %% [markdown]
# ## Page cache size
#
# Cold cache now, and a page cache from two read-ahead windows (`kernel.readahead`,
# 128 KiB) up to the whole file. A page nobody references can be reclaimed. This profile's
# kernel is Linux 6 (`kernel.model`): the next window is read when the reader reaches the
# first page of the current one, so even two windows of cache hold what `read()` is about
# to copy, and `read_write` reads each page once. `msg_zerocopy` reads ahead of its sends
# (a ring of 8 buffers): there the window read ahead evicts pages before they are copied
# (`evicted_unused`), and they are read again (`refaults`). The paths that pass the pages
# through a pipe hold references on them until their ACKs, so reclaim has to skip those
# pages instead (`reclaim_busy_refs`); with only two windows of cache, what the socket
# still references leaves too little room, and the window read ahead is evicted before
# it is spliced and read again. From three windows on, they read each page once. With
# room for the file, nothing is evicted.

# %%
window = shipped["read_write"].profile["kernel"]["readahead_bytes"]
CACHE_BYTES = [2 * window, 3 * window, 4 * window, 8 * window, parse_size(SIZE)]
cache_runs = {c: run_all(cache="cold", **{"kernel.page_cache": f"{c}B"})
              for c in CACHE_BYTES}
small, whole = cache_runs[CACHE_BYTES[0]], cache_runs[CACHE_BYTES[-1]]
for p in SHOWN:
    print(f"{p:16} read {small[p].disk_dma_bytes / 2**20:5.1f} MiB from disk with a "
          f"{CACHE_BYTES[0] // 1024} KiB page cache, {whole[p].disk_dma_bytes / 2**20:.1f} "
          f"MiB with {CACHE_BYTES[-1] // 2**20} MiB; reclaim skipped "
          f"{small[p].reclaim_busy_refs} referenced pages")  # 2**20 bytes per MiB
assert small["read_write"].disk_dma_bytes == parse_size(SIZE)
assert small["read_write"].refaults == 0
zc = small["msg_zerocopy"]
assert zc.disk_dma_bytes > parse_size(SIZE) and zc.refaults == zc.evicted_unused > 0
for p in ZERO_COPY:
    assert small[p].reclaim_busy_refs > 0 and small[p].refaults > 0
    assert cache_runs[CACHE_BYTES[1]][p].disk_dma_bytes == parse_size(SIZE)
assert all(r.evictions == 0 and r.disk_dma_bytes == parse_size(SIZE) for r in whole.values())
points = [(c // 1024, r) for c in CACHE_BYTES for r in cache_runs[c].values()]
charts.failure_chart([
    charts.Panel("read from disk (MiB)", "page cache (KiB)", points,
                 lambda r, base: r.disk_dma_bytes / 2**20, even_x=True),
    charts.Panel("times reclaim skipped a referenced page", "page cache (KiB)", points,
                 lambda r, base: r.reclaim_busy_refs, integer=True, even_x=True)],
    f"What if memory for the page cache is scarce? ({SIZE} file, cold cache)")

# %% [markdown]
# ## Try it yourself
#
# `explore(...)` re-runs every path with other values; with `ipywidgets` installed
# (`pip install 'iosim[notebooks]'`) the next cell gives it sliders.

# %% tags=["no-claims"]
def explore(nic_gbit=100.0, sg=True, membus_gbyte=150.0, page_cache_kib=65536):
    results = run_all(**{"nic.rate": f"{nic_gbit}Gbit/s", "nic.sg": sg,
                         "membus.bandwidth": f"{membus_gbyte}GB/s",
                         "kernel.page_cache": f"{page_cache_kib}KiB"})
    return charts.compare_chart(list(results.values()),
                                f"NIC {nic_gbit:g} Gbit/s, SG {'on' if sg else 'off'}, "
                                f"memory {membus_gbyte:g} GB/s, page cache "
                                f"{page_cache_kib} KiB")


explore(nic_gbit=400, sg=False)

# %% tags=["widgets"]
from ipywidgets import interact  # noqa: E402 (only this cell needs it)

interact(explore, nic_gbit=(1.0, 400.0), sg=True, membus_gbyte=(5.0, 300.0),
         page_cache_kib=(384, 65536, 128))
