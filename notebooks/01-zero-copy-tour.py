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
# # 01 · A tour of zero-copy
#
# Each way Linux can send a file to a TCP socket, simulated by iosim: its data flow as
# measured in the run (which buffers, who moved the bytes: DMA, CPU copy or page reference),
# its counts (copies, syscalls, switches, CPU time), and the reference count of one file
# page over time (`watch_page`).
#
# Sizes are small, so every run takes milliseconds. Change `SIZE` or `PROFILE` and run all
# cells again. Every claim in the text is checked by an `assert` in the cell below it, on
# the numbers that cell just computed: if the model stops behaving as the text says, the
# notebook stops (and the test suite fails).

# %% tags=["no-claims"]
import math

import iosim
from iosim import charts
from iosim.cli import format_result
from iosim.config import Scenario
from iosim.teach import flowgraph
from iosim.units import parse_size

SIZE = "256KiB"       # four 64 KiB buffers' worth
PROFILE = "teaching"  # round numbers: 2 GB/s copies, 1 GB/s disk, 10 Gbit/s
PAGE = 0              # the file page whose refcount we follow
size_bytes = parse_size(SIZE)


def holders(result):
    """Who took a reference on the watched page: 'read', 'pipe', 'skb', 'mmap' ..."""
    return {what.split()[1] for _, _, what in result.page_log if what.startswith("get ")}


# %% [markdown]
# ## Watch it move
#
# `read_write` and `sendfile_sg` side by side on one clock, page by page: each column is a
# page of the file, each lane a buffer (disk, page cache, user memory, pipe, socket, NIC,
# wire, receiver). Press ▶ or click into the animation and use → to step, ↓ to jump to the
# next syscall, F to fold repeated rounds. Watch the page tiles' reference counts on the
# right, and the user-memory lane on the left. `iosim animate read_write sendfile_sg --out
# b.html` writes the same page to a file.

# %% tags=["no-claims"]
iosim.animate("read_write", "sendfile_sg", size_bytes="64KiB", profile=PROFILE)

# %% [markdown]
# ## 1. `read_write`: `read()` into a user buffer, `write()` it to the socket
#
# Two CPU copies: `read()` copies page cache → user buffer, `write()` copies it again into
# the socket buffer. `read()` holds a reference on the page only while it waits for the
# disk and copies (the lookup of `filemap_read`); the socket never references the page,
# because it holds copies.

# %%
graph, result = flowgraph.trace_flow("read_write", SIZE, profile=PROFILE, watch_page=PAGE)
print(flowgraph.render_text(graph))
assert flowgraph.edge_bytes(graph, "page cache", "user buffer", "cpu_copy") == size_bytes
assert flowgraph.edge_bytes(graph, "user buffer", "socket buffer", "cpu_copy") == size_bytes
assert result.cpu_copies == 2
assert holders(result) == {"read"}
flowgraph.draw(graph)

# %%
print(format_result(result))
charts.refcount_chart(result.page_log, result)

# %% [markdown]
# ## 2. `mmap_write`: `mmap()` the file, `write()` from the mapping
#
# The mapping shares the page-cache pages with the process (a reference per mapped page,
# dropped by `munmap`), but `write()` still copies them into the socket buffer: one CPU
# copy instead of two.

# %%
graph, result = flowgraph.trace_flow("mmap_write", SIZE, profile=PROFILE, watch_page=PAGE)
print(flowgraph.render_text(graph))
assert flowgraph.edge_bytes(graph, "page cache", "user buffer", "reference") == size_bytes
assert flowgraph.edge_bytes(graph, "user buffer", "socket buffer", "cpu_copy") == size_bytes
assert result.cpu_copies == 1
assert "mmap" in holders(result)
assert any(what == "put munmap" for _, _, what in result.page_log)
flowgraph.draw(graph)

# %%
print(format_result(result))
charts.refcount_chart(result.page_log, result)

# %% [markdown]
# ## 3. `sendfile`: `sendfile()` on a NIC without scatter-gather
#
# No user buffer, and one syscall for the whole file. `sendfile()` is built on splice: the
# pages pass through an internal pipe by reference, but this NIC has no scatter-gather, so
# the socket layer copies them into the skb.

# %%
graph, result = flowgraph.trace_flow("sendfile", SIZE, profile=PROFILE, watch_page=PAGE)
print(flowgraph.render_text(graph))
assert "user buffer" not in graph
assert flowgraph.edge_bytes(graph, "page cache", "pipe", "reference") == size_bytes
assert flowgraph.edge_bytes(graph, "pipe", "socket buffer", "cpu_copy") == size_bytes
assert result.syscalls == 1 and result.cpu_copies == 1
flowgraph.draw(graph)

# %%
print(format_result(result))
charts.refcount_chart(result.page_log, result)

# %% [markdown]
# ## 4. `sendfile_sg`: `sendfile()` with scatter-gather DMA
#
# With scatter-gather the skb's frags reference the page-cache pages and the NIC gathers
# them by DMA: no CPU copy. The page keeps the skb's reference until the receiver's ACK
# frees the skb, at least one round trip after it was sent.

# %%
graph, result = flowgraph.trace_flow("sendfile_sg", SIZE, profile=PROFILE, watch_page=PAGE)
print(flowgraph.render_text(graph))
assert flowgraph.edge_bytes(graph, "pipe", "socket buffer", "reference") == size_bytes
assert flowgraph.edge_bytes(graph, "page cache", "NIC", "dma") == size_bytes
assert result.cpu_copies == 0
held_s = {what: t for t, _, what in result.page_log}
assert held_s["put skb"] - held_s["get skb"] >= result.profile["wire"]["rtt_s"]
flowgraph.draw(graph)

# %%
print(format_result(result))
charts.refcount_chart(result.page_log, result)

# %% [markdown]
# ## 5. `splice`: `splice()` file → pipe → socket
#
# The program moves page references file → pipe → socket with two `splice()` calls per
# pipe-full (64 KiB): no CPU copy, like `sendfile_sg`, but the syscalls grow with the file
# where `sendfile()` is one call.

# %%
graph, result = flowgraph.trace_flow("splice", SIZE, profile=PROFILE, watch_page=PAGE)
print(flowgraph.render_text(graph))
pipe_bytes = result.profile["kernel"]["pipe_size_bytes"]
assert result.cpu_copies == 0
assert result.syscalls >= 2 * size_bytes // pipe_bytes
flowgraph.draw(graph)

# %%
print(format_result(result))
charts.refcount_chart(result.page_log, result)

# %% [markdown]
# ## 6. `msg_zerocopy`: `read()` into buffers, `send(MSG_ZEROCOPY)` from pinned pages
#
# `read()` still copies into the user buffer; `send(MSG_ZEROCOPY)` pins those user pages
# and the NIC DMAs from them. The buffer may only be reused once the kernel says it is
# done with it: a completion on the socket's error queue (after the ACK), which the
# program reaps with `recvmsg(MSG_ERRQUEUE)`, on top of its `read()` and `send()` calls.

# %%
graph, result = flowgraph.trace_flow("msg_zerocopy", SIZE, profile=PROFILE,
                                     watch_page=PAGE)
print(flowgraph.render_text(graph))
buffer_bytes = result.scenario["buffer_bytes"]
assert flowgraph.edge_bytes(graph, "user buffer", "NIC", "dma") == size_bytes
assert result.cpu_copies == 1
assert result.pages_pinned >= size_bytes // result.profile["kernel"]["page_size_bytes"]
assert result.zerocopy_notifications > 0
assert result.syscalls > 2 * size_bytes // buffer_bytes  # read + send per buffer, and more
flowgraph.draw(graph)

# %%
print(format_result(result))
charts.refcount_chart(result.page_log, result)

# %% [markdown]
# ## All paths side by side
#
# Cold cache: the disk's DMA into the page cache counts as a copy. Warm cache: the file is
# already in the page cache, so every path makes exactly one copy fewer per byte of the
# file (writev_sendfile's header comes from user memory, not the file), and nothing is read
# from the disk.

# %%
cold = [iosim.simulate(p, SIZE, profile=PROFILE) for p in iosim.PATHS]
warm = [iosim.simulate(p, SIZE, profile=PROFILE, cache="warm") for p in iosim.PATHS]
for c, w in zip(cold, warm, strict=True):
    print(f"{c.path:16} copies per byte: cold {c.copies:g}, warm {w.copies:g}")
    # writev_sendfile's header is part of its size but not of its file
    head = Scenario(c.path, size_bytes).header_bytes if iosim.PATHS[c.path].sends_header else 0
    assert c.disk_dma_bytes == size_bytes - head and w.disk_dma_bytes == 0
    assert math.isclose(c.copies - w.copies, (size_bytes - head) / size_bytes)
charts.copies_chart(cold, warm)

# %% [markdown]
# ## Failure modes
#
# Zero-copy shares pages instead of copying them, so anything that changes or frees a page
# while it is in flight matters: a **lost segment** is sent again, a **writer** modifying
# the file or the buffer makes the receiver see newer or mixed data (or forces a COW copy),
# **memory pressure** cannot reclaim pages the network still holds, and **misaligned**
# data costs extra frags. `iosim experiment failure_modes` sweeps each of them.
#
# **Loss.** 2 % of the segments lost: each path resends the same number of bytes (the
# same seed loses the same segments of the same stream; kTLS's stream is longer by its
# record headers and tags, so its segments are others), by DMA of the pages or skb it
# already has, never by another CPU copy; nobody changed the file, so the receiver gets
# it exactly.

# %%
plain = {r.path: r for r in cold}
lossy = [iosim.simulate(p, SIZE, profile=PROFILE, loss=0.02, seed=1) for p in iosim.PATHS]
for r in lossy:
    print(f"{r.path:16} retransmits {r.retransmits:3} ({r.retransmit_bytes} B), "
          f"integrity {r.integrity}")
    assert r.retransmits > 0 and r.integrity == "exact"
    assert r.cpu_copy_bytes == plain[r.path].cpu_copy_bytes
assert len({r.retransmit_bytes for r in lossy if r.path != "ktls_sendfile"}) == 1

# %% [markdown]
# **A writer in flight**, 100,000 page stores per second while the file is sent: stores
# into the file (`write()`, `MAP_SHARED`) reach the receiver only through paths that send
# page references (`sendfile_sg`, `splice`), where segments mix old and new data; a
# `MAP_PRIVATE` writer gets its own copy of each page it stores to (copy-on-write), so what
# is in flight keeps the old data; stores into the sender's own buffer reach the receiver
# of `msg_zerocopy`, whose NIC reads that buffer after `send()` returned.

# %%
for writer, path, verdict in [("write", "sendfile_sg", "mixed"), ("shared", "splice", "mixed"),
                              ("write", "read_write", "exact"),
                              ("private", "mmap_write", "exact"),
                              ("userbuf", "msg_zerocopy", "mixed")]:
    r = iosim.simulate(path, SIZE, profile=PROFILE, writer=writer, writer_rate=100_000,
                       seed=1)
    print(f"{writer:8} during {path:16} COW copies {r.cow_copies:2}, mixed segments "
          f"{r.mixed_version_segments:2}, integrity {r.integrity}")
    assert r.integrity == verdict
    assert (r.cow_copies > 0) == (writer == "private")

# %% [markdown]
# **Memory pressure**: reclaim asks for every page of the cache once the send has begun.
# Pages a pipe or an skb still references cannot go, so reclaim skips them: only the paths
# that pass page-cache pages through a pipe (`sendfile`, `sendfile_sg`, `splice`) make it
# skip; the others hand the socket copies (`msg_zerocopy`: its own user pages).

# %%
for path in iosim.PATHS:
    r = iosim.simulate(path, SIZE, profile=PROFILE, pressure=4096, seed=1)
    print(f"{path:16} evictions {r.evictions:3}, refaults {r.refaults:3}, skipped as "
          f"referenced {r.reclaim_busy_refs:3}")
    # kTLS's open record holds page references too; writev_sendfile's reclaim runs at the
    # header's push, before any file page is cached
    assert (r.reclaim_busy_refs > 0) == (path in ("sendfile", "sendfile_sg", "splice",
                                                  "ktls_sendfile"))

# %% [markdown]
# **Misalignment**: a file offset that is not a multiple of the page size makes the byte
# range straddle one more page, so `sendfile_sg` needs extra frags; this NIC can DMA from
# any byte, so nothing is bounce-copied.

# %%
for offset in (0, 100, 2048):
    r = iosim.simulate("sendfile_sg", SIZE, profile=PROFILE, offset_bytes=offset)
    print(f"offset {offset:4} B: {r.frags} frags in {r.skbs} skbs, "
          f"{r.unaligned_extra_frags} extra, {r.bounce_copy_bytes} B bounce-copied")
    assert (r.unaligned_extra_frags > 0) == (offset % r.profile["kernel"]["page_size_bytes"] > 0)
    assert r.bounce_copy_bytes == 0
