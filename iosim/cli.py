"""The ``iosim`` command: run one path, compare all paths, sweep a grid, list profiles.

Bad input never shows a traceback: one line saying what was wrong, exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from iosim import units
from iosim.config import ConfigError, bundled_profiles, load_profile
from iosim.metrics import Result
from iosim.paths import PATHS
from iosim.simulate import simulate
from iosim.sweep import run_sweep

DEFAULT_SIZE = "256MiB"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _set_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE like nic.rate=25Gbit/s, "
                                         f"got {text!r}")
    low = value.strip().lower()
    parsed: object = {"true": True, "false": False}.get(low, value.strip())
    if isinstance(parsed, str):
        try:
            parsed = int(parsed)
        except ValueError:
            with contextlib.suppress(ValueError):
                parsed = float(parsed)
    return key.strip(), parsed


def _size(text: str) -> int:
    try:
        return units.parse_size(text)
    except units.UnitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", type=_size, default=_size(DEFAULT_SIZE),
                   help=f"bytes to send, e.g. 64KiB, 1GiB (default {DEFAULT_SIZE})")
    p.add_argument("--profile", default="teaching",
                   help="bundled profile name or a .toml file (default teaching)")
    p.add_argument("--cache", choices=("cold", "warm"), default="cold",
                   help="start with the file out of (cold) or in (warm) the page cache")
    p.add_argument("-s", "--seed", type=int, default=0, help="RNG seed (default 0)")
    p.add_argument("--set", dest="overrides", type=_set_pair, action="append", default=[],
                   metavar="KEY=VALUE", help="override one profile value, e.g. nic.sg=false")
    p.add_argument("--buffer", dest="buffer_bytes", type=_size, default=64 * 1024,
                   help="user buffer / write size of read_write, mmap_write, msg_zerocopy")
    p.add_argument("--zc-buffers", type=int, default=8,
                   help="buffers msg_zerocopy cycles through while waiting for completions")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``iosim`` command."""
    parser = _Parser(prog="iosim", description="Simulate how Linux moves a file to a socket.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="simulate one path and print its result")
    run.add_argument("path", help=f"one of: {', '.join(PATHS)}")
    _add_run_options(run)
    compare = sub.add_parser("compare", help="simulate every path and compare them")
    _add_run_options(compare)
    sweep = sub.add_parser("sweep", help="simulate every point of a grid (docs/sweep.md)")
    sweep.add_argument("spec", help="sweep spec: a TOML file with [base] and [grid]")
    sweep.add_argument("--out", metavar="DIR", help="output folder (default sweeps/SPEC_NAME)")
    sweep.add_argument("--workers", type=int, metavar="N",
                       help="local processes, or LocalCluster workers (default: all cores)")
    sweep.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on Dask: tcp://HOST:PORT, or 'local' for a LocalCluster")
    sub.add_parser("profiles", help="list the bundled hardware profiles")
    paths = sub.add_parser("paths", help="list the paths")
    paths.set_defaults()
    return parser


def _simulate(args: argparse.Namespace, path: str) -> Result:
    return simulate(path, args.size, profile=args.profile, seed=args.seed,
                    overrides=dict(args.overrides) or None, cache=args.cache,
                    buffer_bytes=args.buffer_bytes, zc_buffers=args.zc_buffers)


def _echo(argv: Sequence[str]) -> None:
    print("iosim " + " ".join(argv))


def format_result(r: Result) -> str:
    """A readable, aligned record of one run."""
    cpu = ", ".join(f"{k} {units.format_time(v)}" for k, v in r.cpu_time_by_category.items()
                    if v > 0 and k != "idle")
    util = ", ".join(f"{k} {v:.0%}" for k, v in r.utilization.items())
    rows = [
        ("path", f"{r.path}: {PATHS[r.path].summary}"),
        ("profile", f"{r.profile['name']}   cache: {r.scenario['cache']}   seed: {r.seed}"),
        ("bytes", f"{units.format_size(r.bytes_delivered)} delivered of "
                  f"{units.format_size(r.bytes_requested)} requested"),
        ("time", f"{units.format_time(r.sim_time_s)}   goodput "
                 f"{units.format_rate(r.goodput_bps / 8)}"),  # bits -> bytes for the formatter
        ("copies", f"{r.copies:.2f} per byte = {r.cpu_copies:.2f} CPU + {r.dma_copies:.2f} DMA"
                   f"   ({units.format_size(r.cpu_copy_bytes)} CPU, "
                   f"{units.format_size(r.dma_copy_bytes)} DMA)"),
        ("memory bus", units.format_size(r.membus_bytes)),
        ("syscalls", f"{r.syscalls}   mode switches {r.mode_switches}   context switches "
                     f"{r.context_switches}   page faults {r.page_faults}   irqs {r.irqs}"),
        ("sk_buffs", f"{r.skbs}   page frags {r.frags}   disk requests {r.disk_requests}"),
        ("cpu time", f"{units.format_time(r.cpu_time_s)} ({cpu})"),
        ("utilisation", util),
        ("bottleneck", r.bottleneck),
        ("invariants", "all hold" if not r.invariant_violations
         else "; ".join(r.invariant_violations)),
    ]
    return "\n".join(f"{k:>12}: {v}" for k, v in rows)


def format_table(results: list[Result]) -> str:
    """All paths side by side, one row each."""
    head = ("path", "copies", "CPU", "DMA", "syscalls", "mode sw", "ctx sw", "faults",
            "membus", "CPU time", "time", "goodput", "bottleneck")
    rows = [head]
    for r in results:
        rows.append((r.path, f"{r.copies:.2f}", f"{r.cpu_copies:.2f}", f"{r.dma_copies:.2f}",
                     str(r.syscalls), str(r.mode_switches), str(r.context_switches),
                     str(r.page_faults), units.format_size(r.membus_bytes),
                     units.format_time(r.cpu_time_s), units.format_time(r.sim_time_s),
                     units.format_rate(r.goodput_bps / 8), r.bottleneck))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                       enumerate(zip(row, widths, strict=True))) for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    bad = [f"{r.path}: {v}" for r in results for v in r.invariant_violations]
    lines.append("invariants: " + ("all hold" if not bad else "; ".join(bad)))
    return "\n".join(lines)


def _sweep(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Run a sweep; exit status 1 if some runs failed (their rows hold the error)."""
    _echo(argv)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # stop as on Ctrl-C: workers too
    try:
        report = run_sweep(args.spec, args.out, args.workers, args.scheduler)
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(f"{len(report.rows)} rows: {report.computed} runs computed, {report.reused} reused, "
          f"{report.failed} failed")
    print(f"wrote {', '.join(map(str, report.files))} (runs in {report.out_dir / 'runs'})")
    failed = [row for row in report.rows if row["error"] is not None]
    if failed:
        print(f"iosim: {len(failed)} runs failed; first: {failed[0]['path']}: "
              f"{failed[0]['error']}", file=sys.stderr)
    return 1 if failed else 0


def _interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``iosim`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        if args.command == "profiles":
            for name, path in bundled_profiles().items():
                print(f"{name:16} {load_profile(path).description}")
            return 0
        if args.command == "paths":
            for name, spec in PATHS.items():
                print(f"{name:13} {spec.summary}")
            return 0
        if args.command == "sweep":
            return _sweep(args, argv)
        if args.command == "run":
            if args.path not in PATHS:
                raise ConfigError(f"unknown path {args.path!r}: expected one of "
                                  f"{', '.join(PATHS)}")
            result = _simulate(args, args.path)
            if args.json:
                print(result.to_json())
            else:
                _echo(argv)
                print(format_result(result))
            return 0
        results = [_simulate(args, path) for path in PATHS]
        if args.json:
            print(json.dumps([r.to_dict() for r in results], indent=2))
        else:
            _echo(argv)
            print(f"profile {results[0].profile['name']}: "
                  f"{units.format_size(args.size)}, {args.cache} cache")
            print(format_table(results))
        return 0
    except ConfigError as exc:
        print(f"iosim: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("iosim: interrupted" + ("; finished runs are stored, run again to complete"
                                      if args.command == "sweep" else ""), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
