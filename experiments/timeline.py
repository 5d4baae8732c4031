"""One small transfer per path as a Gantt chart of sender, CPU, disk, DMA and wire.

Counting copies says what each path does; the timeline shows when: the sender blocked on
the disk, CPU copies occupying a core, DMA and wire overlapping, the ACK round trip at the
end. All paths share one time axis so their lengths compare at a glance.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from iosim import PATHS, charts
from iosim.experiment import Case, announce, parse_args, row, write_csv
from iosim.trace import Tracer

NAME = "timeline"


def main(argv: Sequence[str] | None = None) -> int:
    """Trace every path once; write the results, the slices and the Gantt charts."""
    args = parse_args(NAME, __doc__, argv)
    size_bytes = (128 if args.quick else 256) * 1024  # a few 64 KiB buffers' worth
    runs, rows, slices = [], [], []
    for path in PATHS:
        case = Case(path, size_bytes, scenario={"cache": "cold"})
        tracer = Tracer()
        result = case.run(tracer)
        events = tracer.sorted_events()
        runs.append((result, events))
        rows.append(row(case, result))
        slices += [{"path": path, "track": e.track, "name": e.name, "start_s": e.start_s,
                    "end_s": e.end_s, "bytes": e.args.get("bytes", "")}
                   for e in events if e.kind == "slice"]
    files = [write_csv(rows, args.out / f"{NAME}.csv"),
             write_csv(slices, args.out / f"{NAME}_slices.csv")]
    files += charts.save_figure(charts.timeline_grid(runs), args.out / NAME)
    t_max_s = max(r.sim_time_s for r, _ in runs)
    for result, events in runs:
        files += charts.save_figure(charts.timeline_chart(events, result, t_max_s=t_max_s),
                                    args.out / f"{NAME}_{result.path}")
    announce(files)
    return 0


if __name__ == "__main__":
    sys.exit(main())
