"""Copies, syscalls and switches per path, cold and warm cache: the textbook table as a chart.

The seeds count 4 copies for read+write and 2 for sendfile with SG; this runs every path on
the teaching profile and plots what the model counts, DMA and CPU copies apart.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from iosim import PATHS, charts
from iosim.experiment import Case, announce, parse_args, row, write_csv

NAME = "copies"


def main(argv: Sequence[str] | None = None) -> int:
    """Run every path cold and warm; write copies.csv and copies.png/.svg."""
    args = parse_args(NAME, __doc__, argv)
    size_bytes = 256 * 1024 if args.quick else 1024 * 1024  # 4 or 16 buffers of 64 KiB
    results: dict[str, list] = {"cold": [], "warm": []}
    rows = []
    for cache, runs in results.items():
        for path in PATHS:
            case = Case(path, size_bytes, scenario={"cache": cache})
            result = case.run()
            runs.append(result)
            rows.append(row(case, result, cache=cache))
    files = [write_csv(rows, args.out / f"{NAME}.csv")]
    files += charts.save_figure(charts.copies_chart(results["cold"], results["warm"]),
                                args.out / NAME)
    announce(files)
    return 0


if __name__ == "__main__":
    sys.exit(main())
