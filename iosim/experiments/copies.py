"""Copies, syscalls and switches per path, cold and warm cache: the textbook table as a chart.

The textbook counts 4 copies for read+write and 2 for sendfile with SG; this runs every
path with the file on disk (cold cache) and in memory (warm) and plots what the model
counts, DMA and CPU copies apart.
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

NAME = "copies"
PROFILE = "teaching"
KIB = 1024  # bytes per KiB
SIZE_BYTES, QUICK_SIZE_BYTES = 1024 * KIB, 256 * KIB  # 16 or 4 buffers of 64 KiB
CACHES = ("cold", "warm")


def main(argv: Sequence[str] | None = None) -> int:
    """Run every path cold and warm; write copies.csv and copies.png/.svg."""
    args = parse_args(NAME, __doc__, argv, PROFILE, "file size (default 1MiB, 256KiB with "
                                                    "--quick)")
    size_bytes = args.size_bytes or (QUICK_SIZE_BYTES if args.quick else SIZE_BYTES)
    plan = [Planned(Case(path, size_bytes, args.profile, overrides=overrides(args),
                         scenario={"cache": cache}), {"cache": cache})
            for cache in CACHES for path in PATHS]
    done = execute(args, plan)
    by_cache = {c: [d.result for d in done if d.labels["cache"] == c] for c in CACHES}
    files = [args.out / f"{NAME}.csv"]
    files += charts.save_figure(charts.copies_chart(by_cache["cold"], by_cache["warm"]),
                                args.out / NAME)
    announce(files)
    return 0


if __name__ == "__main__":
    sys.exit(entry_point(main)())
