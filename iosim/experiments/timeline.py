"""One small transfer per path as a Gantt chart of sender, CPU, disk, DMA and wire.

Counting copies says what each path does; the timeline shows when: the sender blocked on
the disk, CPU copies occupying a core, DMA and wire overlapping, the ACK round trip at the
end. All paths share one time axis so their lengths compare at a glance.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from iosim import charts
from iosim.events import title
from iosim.experiments.harness import (
    Case,
    Planned,
    announce,
    entry_point,
    execute,
    overrides,
    parse_args,
    write_csv,
)
from iosim.paths import PATHS

NAME = "timeline"
PROFILE = "teaching"
KIB = 1024  # bytes per KiB
SIZE_BYTES, QUICK_SIZE_BYTES = 256 * KIB, 128 * KIB  # a few 64 KiB buffers' worth


def main(argv: Sequence[str] | None = None) -> int:
    """Trace every path once; write the results, the slices and the Gantt charts."""
    args = parse_args(NAME, __doc__, argv, PROFILE,
                      "file size (default 256KiB, 128KiB with --quick)")
    size_bytes = args.size_bytes or (QUICK_SIZE_BYTES if args.quick else SIZE_BYTES)
    plan = [Planned(Case(path, size_bytes, args.profile, overrides=overrides(args),
                         scenario={"cache": "cold"})) for path in PATHS]
    done = execute(args, plan, traced=True)
    slices = [{"path": d.result.path, "track": e.track, "kind": e.kind, "name": title(e),
               "start_s": e.start_s, "end_s": e.end_s, "bytes": e.nbytes}
              for d in done for e in d.events if e.is_slice]
    files = [args.out / f"{NAME}.csv", write_csv(slices, args.out / f"{NAME}_slices.csv")]
    runs = [(d.result, d.events) for d in done]
    files += charts.save_figure(charts.timeline_grid(runs), args.out / NAME)
    t_max_s = max(r.sim_time_s for r, _ in runs)
    for result, events in runs:
        files += charts.save_figure(charts.timeline_chart(events, result, t_max_s=t_max_s),
                                    args.out / f"{NAME}_{result.path}")
    announce(files)
    return 0


if __name__ == "__main__":
    sys.exit(entry_point(main)())
