"""Where zero-copy fails: goodput, extra copies and integrity under the four failure modes.

The seeds list four ways zero-copy breaks down: packet loss (retransmits send the pages
again, which may have changed), a writer modifying the file or buffer while it is in
flight (COW copies or stale data on the wire), memory pressure (reclaim must skip pinned
pages) and misaligned buffers (extra frags, bounce copies). Each sweep varies one of them.

The loss, writer and pressure sweeps need the failure-mode scenario keys of the core
(``loss``, ``writer``, ``pressure``); where the core does not have them yet, only the
misalignment sweeps run, and the script says so rather than invent numbers.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from iosim import PATHS, RESULT_FIELDS, charts
from iosim.config import SCENARIO_DEFAULTS
from iosim.experiment import Case, announce, parse_args, row, write_csv
from iosim.units import format_size

NAME = "failure_modes"
PROFILE = "teaching"
PAGE_BYTES = 4096  # the teaching profile's page size
HAS_FAILURE_KEYS = "loss" in SCENARIO_DEFAULTS
HAS_INTEGRITY = "integrity" in RESULT_FIELDS
MISSING_NOTE = ("loss, writer and memory-pressure sweeps skipped: this iosim core has no "
                "'loss' scenario key yet")


@dataclass(frozen=True)
class Sweep:
    """One failure sweep, one chart; each x value becomes scenario keys (and overrides)."""

    slug: str
    label: str
    x_label: str
    xs: Sequence[float]
    scenario: Callable[[float], dict[str, Any]]  # x -> scenario keys
    detail: tuple[str, str]  # the Result field that shows this failure, its axis label
    overrides: dict[str, Any] = field(default_factory=dict)


def sweeps(quick: bool) -> list[Sweep]:
    """The sweeps this core supports."""
    offsets_bytes = [0, 1024, 3072] if quick else [0, 512, 1024, 2048, 3072]
    page_aligned = {"dma.alignment": f"{PAGE_BYTES}B"}
    frags = ("extra_frags", "extra skb frags")
    out = [
        Sweep("misaligned_file", "file offset, NIC DMA from any byte", "file offset (bytes)",
              offsets_bytes, lambda x: {"offset_bytes": x}, frags),
        Sweep("misaligned_file_dma_page", "file offset, NIC DMA needs page alignment",
              "file offset (bytes)", offsets_bytes, lambda x: {"offset_bytes": x}, frags,
              page_aligned),
        Sweep("misaligned_buffer_dma_page", "user buffer offset, NIC DMA needs page alignment",
              "user buffer offset (bytes)", offsets_bytes, lambda x: {"buffer_offset_bytes": x},
              frags, page_aligned),
    ]
    if not HAS_FAILURE_KEYS:
        return out
    losses_pct = [0, 2, 5] if quick else [0, 1, 2, 3, 4, 5]
    rates_pages_s = [0, 100_000] if quick else [0, 50_000, 100_000, 150_000, 200_000]
    pressures_pages = [0, 8000] if quick else [0, 4000, 8000, 12_000, 16_000]
    failures = [Sweep("loss", "packet loss", "segments lost (%)", losses_pct,
                      lambda x: {"loss": x / 100},  # percent -> probability 0..1
                      ("retransmit_bytes", "bytes retransmitted"))]
    for kind in ("write", "shared", "private", "userbuf"):
        detail = (("cow_copies", "copy-on-write page copies") if kind == "private" else
                  ("mixed_version_segments", "segments mixing old and new data"))
        failures.append(Sweep(
            f"writer_{kind}", f"writer '{kind}' modifying the data in flight",
            "writes (pages/s)", rates_pages_s,
            lambda x, kind=kind: {"writer": kind, "writer_rate": x} if x else {}, detail))
    failures.append(Sweep("pressure", "memory pressure", "pages reclaimed", pressures_pages,
                          lambda x: {"pressure": x} if x else {},
                          ("refaults", "pages read again from disk")))
    return failures + out


def main(argv: Sequence[str] | None = None) -> int:
    """Run every sweep for every path; write the CSV and one chart per failure mode."""
    args = parse_args(NAME, __doc__, argv)
    size_bytes = (256 if args.quick else 4096) * 1024  # 256 KiB or 4 MiB, 1024 bytes per KiB
    metrics = [("goodput", "goodput (Gbit/s)"), ("extra_copies", "extra copies per byte")]
    integrity = [("integrity", "data received")] if HAS_INTEGRITY else []
    rows: list[dict[str, Any]] = []
    files = []
    note = "" if HAS_FAILURE_KEYS else MISSING_NOTE
    for sweep in sweeps(args.quick):
        points = []
        for x in sweep.xs:
            for path in PATHS:
                case = Case(path, size_bytes, PROFILE, overrides=sweep.overrides,
                            scenario={"cache": "warm", **sweep.scenario(x)})
                result = case.run()
                points.append((x, result))
                rows.append(row(case, result, sweep=sweep.slug, x=x))
        title = f"{sweep.label} ({format_size(size_bytes)}, {PROFILE})"
        fig = charts.failure_chart(points, sweep.x_label, [*metrics, sweep.detail, *integrity],
                                   title, note)
        files += charts.save_figure(fig, args.out / f"{NAME}_{sweep.slug}")
    files.insert(0, write_csv(rows, args.out / f"{NAME}.csv"))
    announce(files)
    if note:
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
