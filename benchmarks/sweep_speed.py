"""Sweep throughput (not a test): runs per second of a 1,000-run sweep of small transfers.

    python benchmarks/sweep_speed.py               # 1,000 runs of 1 MiB, best of 3
    python benchmarks/sweep_speed.py --size 4MiB --runs 400 --repeat 5

Measures 1 and 2 local worker processes and, if Dask is installed, a Dask LocalCluster of 2
workers (started before the clock, so its start-up is not counted). Each measurement starts
from an empty store, so every run is computed. Target (issue #7): >= 1.8x from 1 to 2 local
workers on a machine with 2 free cores: other load on the machine shows in the figures, so
the load average is printed first.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
import time

from iosim.executors import available_cores
from iosim.sweep import run_sweep

PATHS = ["read_write", "sendfile_sg", "splice", "msg_zerocopy"]


def spec(runs: int, size: str) -> dict:
    """A sweep of ``runs`` runs: each path with enough seeds."""
    return {"base": {"size": size, "cache": "warm"},
            "grid": {"path": PATHS, "seed": {"start": 0, "stop": runs // len(PATHS) - 1,
                                             "step": 1}}}


def measure(runs: int, size: str, repeat: int = 1, **where: object) -> float:
    """Runs per second of a sweep into a fresh store: the best of ``repeat`` sweeps, the one
    least slowed by whatever else the machine was doing."""
    best_s = float("inf")
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            report = run_sweep(spec(runs, size), out, progress=False, **where)
            best_s = min(best_s, time.perf_counter() - start)
        assert report.computed == len(report.rows) and report.failed == 0
    return len(report.rows) / best_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--size", default="1MiB", help="bytes per transfer (default 1MiB)")
    parser.add_argument("--repeat", type=int, default=3, help="sweeps per figure, best kept")
    args = parser.parse_args(argv)
    measure(len(PATHS), args.size, workers=1)  # warm-up: imports, first profile load
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{args.runs} runs of {args.size} (warm cache) on {available_cores()} cores "
          f"(load average before: {load}), runs per second:")
    one = measure(args.runs, args.size, args.repeat, workers=1)
    print(f"  1 local worker:             {one:8.1f}")
    two = measure(args.runs, args.size, args.repeat, workers=2)
    print(f"  2 local workers:            {two:8.1f}   speedup {two / one:.2f}x (target 1.8x)")
    if importlib.util.find_spec("distributed") is None:
        print("  Dask LocalCluster:          skipped (pip install 'iosim[dask]')")
        return 0
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        dask = measure(args.runs, args.size, args.repeat, scheduler=cluster.scheduler_address)
    print(f"  Dask LocalCluster, 2 workers: {dask:6.1f}   speedup {dask / one:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
