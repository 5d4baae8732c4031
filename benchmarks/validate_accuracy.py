"""Accuracy of the model against this host's kernel (issues #5, #13); a figure, not a test.

    python benchmarks/validate_accuracy.py                    # calibrate, then 4/64/256 MiB
    python benchmarks/validate_accuracy.py --profile host.toml --sizes 16MiB --repeats 9
    python benchmarks/validate_accuracy.py --from validation/validate.json   # a past run
    python benchmarks/validate_accuracy.py --from validation/validate.json --profile host.toml
        # a past run's measurements against the model as it is now: errors before and after
    python benchmarks/validate_accuracy.py --campaigns
        # every campaign kept in benchmarks/campaigns/ (its validate.json and the host.toml
        # calibrated with it), against the model as it is now: does a model change help?

Calibrates this host (unless --profile is given), runs every path for real over 127.0.0.1
and simulated with the calibrated constants only, in both placements (sender and receiver
on one CPU, on two) and under the host's congestion controllers (cubic, bbr), and prints
measured against predicted, then the ratio errors per placement and controller.
Goal: every path's throughput ratio to read_write within 10 % of the measured ratio, every
absolute throughput within 25 %. The figures depend on the host and on how busy it is.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from iosim.config import load_profile
from iosim.host.calibrate import calibrate
from iosim.host.cli import (
    parse_congestion,
    parse_placement,
    parse_size_list,
    positive_int,
    write_atomically,
)
from iosim.host.validate import (
    DEFAULT_REPEATS,
    DEFAULT_SIZES,
    PLACEMENTS,
    accuracy_goal_met,
    repredict,
    validate,
)

CAMPAIGNS = Path(__file__).resolve().parent / "campaigns"


def ratio_table(report: dict) -> str:
    """Measured and predicted ratio to read_write, and the ratio error, of each path: one
    column per placement and congestion controller, one line per path and size. Read from
    validate.json's rows (``placement``, ``congestion``, keys with ``ratio`` and ``err``)."""
    rows = [r for r in report["rows"] if r["skipped"] is None]
    cases = list(dict.fromkeys((r["placement"], r["congestion"]) for r in rows))
    lines = [f"{'path':14s} {'size':>8s}  " + "  ".join(f"{p + ' ' + str(c):>22s}"
                                                         for p, c in cases)]
    for key in dict.fromkeys((r["path"], r["size_bytes"]) for r in rows):
        cells = []
        for case in cases:
            row = next((r for r in rows if (r["path"], r["size_bytes"]) == key
                        and (r["placement"], r["congestion"]) == case), None)
            if row is None or row["ratio_error"] is None:
                cells.append(f"{'-':>22s}")
                continue
            mark = "!" if row["disturbed"] else " "
            cells.append(f"{row['measured_ratio']:5.2f} {row['predicted_ratio']:5.2f} "
                         f"{row['ratio_error']:+6.0%}{mark}".rjust(22))
        lines.append(f"{key[0]:14s} {key[1] / (1 << 20):6.0f}MiB  " + "  ".join(cells))
    lines.append("each cell: measured ratio to read_write, predicted, error (! disturbed: "
                 f"no clean run); load average {report['load_average']}")
    return "\n".join(lines)


def error_summary(report: dict) -> str:
    """Per placement and controller: the median and the worst absolute ratio and throughput
    errors over the rows that had clean runs."""
    rows = [r for r in report["rows"] if r["skipped"] is None and not r["disturbed"]]
    lines = []
    for case in dict.fromkeys((r["placement"], r["congestion"]) for r in rows):
        mine = [r for r in rows if (r["placement"], r["congestion"]) == case
                and r["path"] != "read_write"]
        ratio = sorted(abs(r["ratio_error"]) for r in mine)
        tput = sorted(abs(r["throughput_error"]) for r in mine)
        within = sum(abs(r["ratio_error"]) <= 0.10 for r in mine)
        noise = sum(r["measured_ratio_low"] <= r["predicted_ratio"] <= r["measured_ratio_high"]
                    for r in mine)
        if ratio:
            lines.append(f"{case[0]:5s} {case[1] or 'default':7s} ratio error median "
                         f"{ratio[len(ratio) // 2]:4.0%} worst {ratio[-1]:4.0%} ({within}/"
                         f"{len(mine)} within 10 %, {noise}/{len(mine)} inside the measured "
                         f"quartiles); throughput error median {tput[len(tput) // 2]:4.0%} "
                         f"worst {tput[-1]:4.0%}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", help="a calibrated profile (default: calibrate now)")
    parser.add_argument("--sizes", type=parse_size_list, default=DEFAULT_SIZES)
    parser.add_argument("--repeats", type=positive_int, default=DEFAULT_REPEATS)
    parser.add_argument("--placement", type=parse_placement, default=PLACEMENTS)
    parser.add_argument("--cc", type=parse_congestion, default=None,
                        help="congestion controllers (default: the host's, cubic, bbr)")
    parser.add_argument("--from", dest="source", metavar="JSON",
                        help="print the tables of a validate.json instead of measuring")
    parser.add_argument("--campaigns", action="store_true",
                        help="hold every kept campaign (benchmarks/campaigns/*/) against the "
                             "model as it is now, each with its own calibrated profile")
    args = parser.parse_args()
    if args.campaigns:
        for folder in sorted(CAMPAIGNS.glob("*/")):
            before = json.loads((folder / "validate.json").read_text())
            after = repredict(before, load_profile(folder / "host.toml")).to_dict()
            print(f"{folder.name} ({before['host']}, {before['kernel']}, {before['date']}): "
                  "as recorded")
            print(error_summary(before))
            print("the model as it is now:")
            print(error_summary(after))
        return 0
    if args.source:
        before = json.loads(Path(args.source).read_text())
        if args.profile is None:
            print(ratio_table(before))
            print(error_summary(before))
            return 0
        after = repredict(before, load_profile(args.profile)).to_dict()
        print(ratio_table(after))
        print("errors as recorded:")
        print(error_summary(before))
        print("errors of the model as it is now, on the same measurements:")
        print(error_summary(after))
        return 0

    def progress(message: str) -> None:
        print(f"  {message}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="iosim-accuracy-") as tmp:
        path = Path(args.profile) if args.profile else Path(tmp) / "host.toml"
        if not args.profile:
            write_atomically(path, calibrate(progress=progress).to_profile_toml())
        result = validate(load_profile(path), args.sizes, repeats=args.repeats,
                          progress=progress, placements=args.placement,
                          congestion=args.cc)
    print(result.table())
    print()
    print(ratio_table(result.to_dict()))
    print(f"goal (ratios within 10 %, throughput within 25 %): "
          f"{'met' if accuracy_goal_met(result) else 'not met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
