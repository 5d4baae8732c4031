"""Goodput and CPU cost per path from 4 KiB to 4 GiB: when zero-copy starts paying.

Small transfers are dominated by fixed costs (syscalls, the ACK round trip, pinning and
completion notifications), so the zero-copy paths only pull ahead once enough bytes share
them; MSG_ZEROCOPY in particular (pinning, completion notifications) costs more CPU than
read+write until transfers reach megabytes: the chart marks the size where it stops.
Warm cache on the 2024 server profile: the file is served from memory, as by a web server.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from iosim import charts
from iosim.experiments.harness import (
    Case,
    Planned,
    announce,
    entry_point,
    execute,
    overrides,
    parse_args,
)
from iosim.paths import PATHS
from iosim.units import format_size

NAME = "bandwidth_vs_size"
PROFILE = "nvme-100g-2024"
CACHE = "warm"
KIB = 1024  # bytes per KiB
SMALLEST_BYTES = 4 * KIB
LARGEST_BYTES, QUICK_LARGEST_BYTES = 4 * KIB**3, 256 * KIB  # 4 GiB = 4 * 1024^3 bytes


def sizes_bytes(largest_bytes: int, quick: bool) -> list[int]:
    """Powers of two (of four with ``--quick``) from 4 KiB up to ``largest_bytes``."""
    step = 4 if quick else 2
    out, size = [], SMALLEST_BYTES
    while size <= largest_bytes:
        out.append(size)
        size *= step
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Sweep the transfer size for every path; write the CSV and the chart."""
    args = parse_args(NAME, __doc__, argv, PROFILE,
                      "largest transfer size (default 4GiB, 256KiB with --quick); sizes "
                      "double from 4KiB up to it")
    largest = args.size_bytes or (QUICK_LARGEST_BYTES if args.quick else LARGEST_BYTES)
    plan = [Planned(Case(path, size, args.profile, overrides=overrides(args),
                         scenario={"cache": CACHE}), {"size": format_size(size)})
            for size in sizes_bytes(largest, args.quick) for path in PATHS]
    results = [d.result for d in execute(args, plan)]
    files = [args.out / f"{NAME}.csv"]
    files += charts.save_figure(charts.size_chart(results), args.out / NAME)
    announce(files)
    cross = charts.zerocopy_crossover_bytes(results)
    if cross is not None:
        print(f"MSG_ZEROCOPY uses less CPU than read+write from {format_size(cross)} up")
    return 0


if __name__ == "__main__":
    sys.exit(entry_point(main)())
