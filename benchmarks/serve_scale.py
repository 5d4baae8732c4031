"""Speed and memory of a big server run (not a test): the issue-14 scale target.

    python benchmarks/serve_scale.py            # the target run, 3 repeats
    python benchmarks/serve_scale.py --quick    # 10x fewer requests, 1 repeat
    python benchmarks/serve_scale.py --scaling  # wall time and peak RSS vs request count

Target (issue 14): ``iosim serve --path sendfile_sg --connections 1000 --requests 100000
--file-size 64KiB --json`` simulated in <= 30 s here, with memory bounded by in-flight state
(not by the request count). Each repeat is the CLI in a fresh interpreter; the figure is
the minimum (and median) wall time, with the child's peak RSS; the load average is printed
before and after, since the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

TARGET_S = 30.0


def command(requests: int) -> list[str]:
    """The CLI run of the target, with ``requests`` requests."""
    return [sys.executable, "-m", "iosim", "serve", "--path", "sendfile_sg", "--connections",
            "1000", "--requests", str(requests), "--file-size", "64KiB", "--json"]


def once(requests: int) -> tuple[float, float, dict]:
    """(wall seconds, peak RSS in MB of the child, its result) of one fresh run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    done = subprocess.run(command(requests), capture_output=True, text=True, check=True)
    wall_s = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: KiB
    # ru_maxrss of children is the largest child so far: runs go from small to large
    return wall_s, max(peak_kib, before) / 1024, json.loads(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--scaling", action="store_true")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    if args.scaling:
        for requests in (10_000, 30_000, 100_000):
            wall_s, rss_mb, r = once(requests)
            print(f"{requests:>7} requests: {wall_s:6.1f} s wall, peak RSS {rss_mb:6.0f} MB, "
                  f"{r['requests_per_s']:,.0f} req/s simulated, bottleneck {r['bottleneck']}")
    else:
        requests = 10_000 if args.quick else 100_000
        repeats = 1 if args.quick else 3
        walls = []
        for _ in range(repeats):
            wall_s, rss_mb, r = once(requests)
            walls.append(wall_s)
            print(f"run: {wall_s:.1f} s wall, peak RSS {rss_mb:.0f} MB; simulated "
                  f"{r['requests']} responses in {r['sim_time_s'] * 1e3:.1f} ms, "
                  f"{r['goodput_bps'] / 1e9:.2f} Gbit/s, p99 {r['latency_p99_s'] * 1e3:.2f} ms,"
                  f" bottleneck {r['bottleneck']}, violations {len(r['invariant_violations'])}")
        best = min(walls)
        print(f"{requests} requests: min {best:.1f} s, median {statistics.median(walls):.1f} s "
              f"(target <= {TARGET_S:.0f} s for 100000: "
              f"{'met' if requests < 100_000 or best <= TARGET_S else 'NOT met'})")
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
