"""Where zero-copy fails: goodput, extra work and integrity under the four failure modes.

Zero-copy shares pages instead of copying them, so four things hurt it: packet loss
(retransmits send the pages again), a writer modifying the file or buffer while it is in
flight (the receiver gets newer or mixed data, or the writer pays a COW copy), memory
pressure (reclaim evicts pages before they are sent, and must skip pages the network
still holds) and misaligned data (extra frags; bounce copies on a NIC that needs aligned
DMA). Each failure mode is one chart; each panel shows one consequence.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from iosim import charts
from iosim.charts import Panel
from iosim.config import load_profile
from iosim.experiments.harness import (
    Case,
    Done,
    Planned,
    announce,
    entry_point,
    execute,
    overrides,
    parse_args,
)
from iosim.paths import PATHS
from iosim.result import Result
from iosim.units import format_size

NAME = "failure_modes"
PROFILE = "teaching"
KIB = 1024  # bytes per KiB
SIZE_BYTES, QUICK_SIZE_BYTES = 4096 * KIB, 256 * KIB
PAGE_ALIGNED = {"dma.alignment": "4KiB"}  # a NIC that DMAs only from page boundaries


@dataclass(frozen=True)
class Sweep:
    """One swept failure: each x value becomes scenario keys (and profile overrides)."""

    slug: str
    xs: Sequence[float]
    scenario: Callable[[float, int], dict[str, Any]]  # (x, file pages) -> scenario keys
    overrides: dict[str, Any] = field(default_factory=dict)


def goodput(r: Result, base: Result) -> float:
    return charts.gbit_per_s(r.goodput_bps)


def kib(field_name: str) -> Callable[[Result, Result], float]:
    """A byte counter of the run, in KiB."""
    return lambda r, base: getattr(r, field_name) / KIB


def count(field_name: str) -> Callable[[Result, Result], float]:
    return lambda r, base: float(getattr(r, field_name))


def sweeps(quick: bool) -> list[Sweep]:
    """Every failure swept; file offsets and pressure scale with the file."""
    losses_pct = [0, 0.3, 3] if quick else [0, 0.1, 0.3, 1, 3]
    rates_pages_s = [0, 100_000] if quick else [0, 50_000, 100_000, 150_000, 200_000]
    pressure_pct = [0, 50, 100] if quick else [0, 25, 50, 75, 100]
    offsets_bytes = [0, 1024, 3072] if quick else [0, 512, 1024, 2048, 3072]
    out = [Sweep("loss", losses_pct, lambda x, pages: {"loss": x / 100})]  # % -> probability
    out += [Sweep(f"writer_{kind}", rates_pages_s,
                  lambda x, pages, kind=kind: {"writer": kind, "writer_rate": x} if x else {})
            for kind in ("write", "shared", "private", "userbuf")]
    # pages reclaimed once the send starts, as a share of the file's pages
    out.append(Sweep("pressure", pressure_pct,
                     lambda x, pages: {"pressure": round(x / 100 * pages)} if x else {}))
    out += [Sweep("misaligned_file", offsets_bytes, lambda x, pages: {"offset_bytes": x},
                  PAGE_ALIGNED),
            Sweep("misaligned_buffer", offsets_bytes,
                  lambda x, pages: {"buffer_offset_bytes": x}, PAGE_ALIGNED)]
    return out


def charts_of(done: Sequence[Done], size_bytes: int, profile: str
              ) -> dict[str, tuple[str, list[Panel], str]]:
    """Each chart: its title, its panels and a note."""
    pts = {}
    for d in done:
        pts.setdefault(d.labels["sweep"], []).append((d.labels["x"], d.result))
    where = f"{format_size(size_bytes)}, {profile}, warm cache"
    gbit = "goodput (Gbit/s)"
    rate = "writes (pages/s)"
    lost = "segments lost (%)"
    out = {"loss": (f"Packet loss ({where})", [
        Panel(gbit, lost, pts["loss"], goodput, even_x=True),
        Panel("data sent again (% of the file)", lost, pts["loss"],
              lambda r, base: 100 * r.retransmit_bytes / r.bytes_requested, even_x=True)],
        "a resend is a NIC DMA of the same pages or skb, never a CPU copy")}
    for kind, what in (("write", "write() into the file"), ("shared", "MAP_SHARED stores"),
                       ("userbuf", "stores into the sender's buffer")):
        sweep = pts[f"writer_{kind}"]
        out[f"writer_{kind}"] = (f"A writer in flight: {what} ({where})", [
            Panel(gbit, rate, sweep, goodput),
            Panel("segments mixing old and new data", rate, sweep,
                  count("mixed_version_segments"), integer=True),
            Panel("data received", rate, sweep)],
            "the writer's stores share the cores with the transfer")
    out["writer_private"] = (f"A writer in flight: MAP_PRIVATE stores ({where})", [
        Panel(gbit, rate, pts["writer_private"], goodput),
        Panel("copy-on-write page copies", rate, pts["writer_private"], count("cow_copies"),
              integer=True),
        Panel("data received", rate, pts["writer_private"])],
        "each first store to a page copies it (COW); what is in flight keeps the old data")
    reclaimed = "pages reclaimed (% of the file)"
    out["pressure"] = (f"Memory pressure: reclaim as the send starts ({where})", [
        Panel(gbit, reclaimed, pts["pressure"], goodput),
        Panel("pages read again from disk", reclaimed, pts["pressure"], count("refaults"),
              integer=True),
        Panel("skipped: page still referenced", reclaimed, pts["pressure"],
              count("reclaim_busy_refs"), integer=True)],
        "a page a pipe, an skb or a pin references cannot be reclaimed")
    out["misaligned"] = (f"Misaligned data, NIC DMA from page boundaries ({where})", [
        Panel("extra skb frags", "file offset (bytes)", pts["misaligned_file"],
              count("unaligned_extra_frags"), integer=True, even_x=True),
        Panel("extra skb frags", "user buffer offset (bytes)", pts["misaligned_buffer"],
              count("unaligned_extra_frags"), integer=True, even_x=True),
        Panel("bounce-copied data (KiB)", "file offset (bytes)", pts["misaligned_file"],
              kib("bounce_copy_bytes"), even_x=True),
        Panel("bounce-copied data (KiB)", "user buffer offset (bytes)",
              pts["misaligned_buffer"], kib("bounce_copy_bytes"), even_x=True)],
        "a frag that starts or ends mid-page is bounced; skbs (MSS multiples) cut pages even at "
        "offset 0")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run every sweep for every path; write the CSV and one chart per failure mode."""
    args = parse_args(NAME, __doc__, argv, PROFILE,
                      "file size (default 4MiB, 256KiB with --quick)")
    size_bytes = args.size_bytes or (QUICK_SIZE_BYTES if args.quick else SIZE_BYTES)
    page_bytes = load_profile(args.profile).with_overrides(args.overrides).kernel.page_size_bytes
    pages = -(-size_bytes // page_bytes)  # pages of the file, the last one partly used
    plan = [Planned(Case(path, size_bytes, args.profile,
                         overrides=overrides(args, sweep.overrides),
                         scenario={"cache": "warm", **sweep.scenario(x, pages)}),
                    {"sweep": sweep.slug, "x": x})
            for sweep in sweeps(args.quick) for x in sweep.xs for path in PATHS]
    done = execute(args, plan)
    files = [args.out / f"{NAME}.csv"]
    for slug, (title, panels, note) in charts_of(done, size_bytes,
                                                 done[0].result.profile["name"]).items():
        files += charts.save_figure(charts.failure_chart(panels, title, note),
                                    args.out / f"{NAME}_{slug}")
    announce(files)
    return 0


if __name__ == "__main__":
    sys.exit(entry_point(main)())
