"""Accuracy of the model against this host's kernel (issue #5); a figure, not a test.

    python benchmarks/validate_accuracy.py                    # calibrate, then 4/64/256 MiB
    python benchmarks/validate_accuracy.py --profile host.toml --sizes 16MiB --repeats 9

Calibrates this host (unless --profile is given), runs every path for real over 127.0.0.1
and simulated with the calibrated constants only, and prints measured against predicted.
Goal: every path's throughput ratio to read_write within 10 % of the measured ratio, every
absolute throughput within 25 %. The figures depend on the host and on how busy it is.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from iosim.config import load_profile
from iosim.host.calibrate import calibrate
from iosim.host.cli import parse_size_list, positive_int, write_atomically
from iosim.host.validate import DEFAULT_REPEATS, DEFAULT_SIZES, accuracy_goal_met, validate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", help="a calibrated profile (default: calibrate now)")
    parser.add_argument("--sizes", type=parse_size_list, default=DEFAULT_SIZES)
    parser.add_argument("--repeats", type=positive_int, default=DEFAULT_REPEATS)
    args = parser.parse_args()

    def progress(message: str) -> None:
        print(f"  {message}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="iosim-accuracy-") as tmp:
        path = Path(args.profile) if args.profile else Path(tmp) / "host.toml"
        if not args.profile:
            write_atomically(path, calibrate(progress=progress).to_profile_toml())
        result = validate(load_profile(path), args.sizes, repeats=args.repeats,
                          progress=progress)
    print(result.table())
    print(f"goal (ratios within 10 %, throughput within 25 %): "
          f"{'met' if accuracy_goal_met(result) else 'not met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
