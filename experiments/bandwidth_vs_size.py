"""Goodput and CPU cost per path from 4 KiB to 4 GiB: where zero-copy stops paying.

Small transfers are dominated by fixed costs (syscalls, the ACK round trip, pinning and
completion notifications), so the zero-copy paths only pull ahead once enough bytes share
them; MSG_ZEROCOPY in particular costs more CPU than read+write below a few tens of KiB.
Warm cache on the 2024 server profile: the file is served from memory, as by a web server.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from iosim import PATHS, charts
from iosim.experiment import Case, announce, parse_args, row, write_csv
from iosim.units import format_size

NAME = "bandwidth_vs_size"
PROFILE = "nvme-100g-2024"
CACHE = "warm"
KIB = 1024  # bytes per KiB


def sizes_bytes(quick: bool) -> list[int]:
    """Powers of two from 4 KiB to 4 GiB (to 256 KiB with ``--quick``)."""
    top_bytes = 256 * KIB if quick else 4 * KIB**3  # 4 GiB = 4 * 1024^3 bytes
    step = 4 if quick else 2
    out, size = [], 4 * KIB
    while size <= top_bytes:
        out.append(size)
        size *= step
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Sweep the transfer size for every path; write the CSV and the chart."""
    args = parse_args(NAME, __doc__, argv)
    results, rows = [], []
    for size in sizes_bytes(args.quick):
        for path in PATHS:
            case = Case(path, size, profile=PROFILE, scenario={"cache": CACHE})
            result = case.run()
            results.append(result)
            rows.append(row(case, result, size=format_size(size)))
    files = [write_csv(rows, args.out / f"{NAME}.csv")]
    files += charts.save_figure(charts.size_chart(results), args.out / NAME)
    announce(files)
    cross = charts.zerocopy_crossover_bytes(results)
    if cross is not None:
        print(f"MSG_ZEROCOPY uses less CPU than read+write from {format_size(cross)} up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
