"""Random extreme scenarios (not a test): how many finish, stop at a bound or are refused.

    python benchmarks/extremes.py                 # 10,000 scenarios on every core
    python benchmarks/extremes.py -n 500 --seed 7 --workers 2

Each scenario takes a path, a size and up to six profile keys and three failure modes, each
at one end of its range (tests/strategies.py: EXTREME_PROFILE, EXTREME_SCENARIO), and runs
through the command line in-process, as `iosim run ... --json --max-events N --wall-limit 10s`
would. Every one must end with exit 0 and its invariants holding, exit 1 and one line
saying where it stopped, or exit 2 and one line saying what to change; anything else (a
traceback, a broken run, two lines, non-JSON output) is counted as a failure and printed,
and the script exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.strategies import (  # after the path insert
    EXTREME_PROFILE,
    EXTREME_SCENARIO,
    EXTREME_SIZES,
    scenario_keys,
)
from tests.test_extremes import MAX_EVENTS, argv_of

PATHS = ("read_write", "mmap_write", "sendfile", "sendfile_sg", "splice", "msg_zerocopy")


def draw(rng: random.Random) -> tuple[str, int, dict, dict]:
    """One random extreme scenario: path, size, profile overrides, scenario keys."""
    keys = rng.sample(sorted(EXTREME_PROFILE), rng.randint(0, 6))
    overrides = {k: rng.choice(EXTREME_PROFILE[k]) for k in keys}
    scenario: dict = {}
    for key in rng.sample(sorted(EXTREME_SCENARIO), rng.randint(0, 3)):
        scenario.update(scenario_keys(key, rng.choice(EXTREME_SCENARIO[key])))
    return rng.choice(PATHS), rng.choice(EXTREME_SIZES), overrides, scenario


def judge(argv: list[str], size: int) -> tuple[str, float, str]:
    """(outcome, wall seconds, detail) of one command line run in this process."""
    from iosim.cli import main

    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except BaseException as exc:  # a crash is what this looks for
        return "failure", time.perf_counter() - start, f"{type(exc).__name__}: {exc}"
    wall_s = time.perf_counter() - start
    out_text, err_text = out.getvalue(), err.getvalue()
    one_line = err_text.count("\n") == 1 and "Traceback" not in err_text
    if code == 0:
        try:
            r = json.loads(out_text, parse_constant=lambda c: 1 / 0)
        except (ValueError, ZeroDivisionError):
            return "failure", wall_s, "not strict JSON"
        if r["invariant_violations"] or r["bytes_delivered"] != size or err_text:
            return "failure", wall_s, f"broken run: {r['invariant_violations'][:2]}"
        return "finished", wall_s, ""
    if code == 1 and one_line and err_text.startswith("iosim: stopped: "):
        bound = err_text.split(" stopped after ", 1)[1].split(":", 1)[0]
        bound = ("events without delivery" if "without" in bound else
                 "simulated time" if "simulated" in bound else
                 "wall clock" if "wall-clock" in bound else "events")
        return f"stopped ({bound})", wall_s, ""
    if code == 2 and one_line and err_text.startswith("iosim: error: "):
        key = err_text.split("key ", 1)[1].split(":", 1)[0] if "key " in err_text else "?"
        return f"refused {key}", wall_s, ""
    return "failure", wall_s, f"exit {code}: {err_text.strip()[:300]}"


def _one(seed: int) -> tuple[str, float, str, list[str]]:
    path, size, overrides, scenario = draw(random.Random(seed))
    argv = argv_of(path, size, overrides, scenario)
    outcome, wall_s, detail = judge(argv, size)
    return outcome, wall_s, detail, argv


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="scenarios (default 10,000)")
    parser.add_argument("--seed", type=int, default=0, help="first scenario seed")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    counts: Counter[str] = Counter()
    failures = []
    slowest = (0.0, [])
    start = time.perf_counter()
    with multiprocessing.Pool(args.workers) as pool:
        for outcome, wall_s, detail, argv in pool.imap_unordered(
                _one, range(args.seed, args.seed + args.n), chunksize=8):
            counts["refused" if outcome.startswith("refused") else outcome] += 1
            if outcome.startswith("refused"):
                counts["  " + outcome] += 1
            if outcome == "failure":
                failures.append((detail, argv))
            slowest = max(slowest, (wall_s, argv))
    total_s = time.perf_counter() - start
    print(f"{args.n:,} extreme scenarios (seeds {args.seed}..{args.seed + args.n - 1}), "
          f"max {MAX_EVENTS:,} events each, {args.workers} workers, {total_s:.0f} s")
    for outcome, count in sorted(counts.items(), key=lambda kv: (kv[0].startswith(" "), kv)):
        print(f"  {outcome:40} {count:7,}")
    print(f"slowest run: {slowest[0]:.2f} s: iosim {' '.join(slowest[1])}")
    for detail, argv in failures[:20]:
        print(f"FAILURE: {detail}\n  iosim {' '.join(argv)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
