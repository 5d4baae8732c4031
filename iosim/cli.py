"""The ``iosim`` command: run one path, compare all paths, sweep a grid, list what exists.

Bad input never shows a traceback: one line naming the file or flag, the key and what was
expected, exit status 2, checked before any work starts and with nothing left on disk. A run
whose invariants fail, or that stops at one of its bounds (``iosim.limits``), exits 1 and
says which run; Ctrl-C exits 130 and keeps what finished. Progress bars go to stderr, only
on a terminal, only for work that lasts more than two seconds, never with ``--quiet``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import signal
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from tqdm import tqdm

from iosim import atomic, limits, units
from iosim._version import model_version
from iosim.config import (
    BODY_KINDS,
    CHOICES,
    DEFAULT_PROFILE,
    KERNEL_MODELS,
    REUSE_KINDS,
    SCENARIO_DEFAULTS,
    SCHEMA,
    WRITER_KINDS,
    ConfigError,
    Profile,
    Scenario,
    bundled_profiles,
    bundled_scenarios,
    load_profile,
    load_scenario_file,
    make_scenario,
    profile_value_text,
    scenario_file,
)
from iosim.host import cli as host_cli
from iosim.paths import PATHS
from iosim.result import DOC_HEADER, FIELDS, Result, field_table
from iosim.server import result as server_result
from iosim.server.result import ServerResult
from iosim.server.run import run as run_server
from iosim.server.spec import load_spec, make_spec
from iosim.simulate import simulate
from iosim.sweep import run_sweep
from iosim.trace import Tracer

DEFAULT_SIZE = "256MiB"
ANIMATE_SIZE = "64KiB"  # 16 pages: every page visible, side by side
TABLE_WIDTH = 100  # columns a table may take unless --wide
PROGRESS_DELAY_S = 2.0  # a bar appears only for work that lasts longer
MAX_QUIZ_PROBLEMS = 100
EXIT_BROKEN_RUN = 1  # invariants failed, or the run stopped at a bound
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_CLOSED_PIPE = 141  # 128 + SIGPIPE, what a shell reports for `| head`

EPILOG = ("exit status: 0 ok, 1 a run broke its invariants or stopped at a bound, 2 bad "
          "input, 130 interrupted. `iosim keys` lists the profile keys --set takes; "
          "`iosim scenarios` the bundled scenario files.")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _set_pair(text: str) -> tuple[str, str]:
    """``KEY=VALUE``; the value stays text: the profile parses it as its key's kind."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE like nic.rate=25Gbit/s, "
                                         f"got {text!r}")
    return key.strip(), value.strip()


def _kernel(text: str) -> tuple[str, str]:
    if text not in KERNEL_MODELS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(KERNEL_MODELS)}, "
                                         f"got {text!r}")
    return "kernel.model", text


def _size(text: str) -> int:
    try:
        size = units.parse_size(text)
    except units.UnitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if size <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive size, got {text!r}")
    return size


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_QUIZ_PROBLEMS:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to "
                                         f"{MAX_QUIZ_PROBLEMS}, got {text!r}")
    return value


def _wall_limit(text: str) -> float:
    try:
        seconds = units.parse_time(text)
    except units.UnitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"expected a positive time, got {text!r}")
    return seconds


def _add_run_options(p: argparse.ArgumentParser, default_size: str = DEFAULT_SIZE,
                     json: bool = True) -> None:
    # scenario options default to None so that a --scenario file can fill them in
    p.set_defaults(default_size=default_size)
    p.add_argument("--size", dest="size_bytes", metavar="SIZE",
                   help=f"bytes to send, e.g. 64KiB, 1GiB (default {default_size})")
    _add_machine_options(p, cache_default=None)
    p.add_argument("-s", "--seed", metavar="N", help="RNG seed (default 0)")
    p.add_argument("--buffer", dest="buffer_bytes", metavar="SIZE",
                   help="user buffer / write size of read_write, mmap_write, msg_zerocopy "
                        "(default 64KiB)")
    p.add_argument("--zc-buffers", dest="zc_buffers", metavar="N",
                   help="buffers msg_zerocopy cycles through while waiting for completions "
                        "(default 8)")
    p.add_argument("--scenario", metavar="NAME|FILE.toml",
                   help="read scenario keys (failure modes, size ...) from a bundled scenario "
                        "(`iosim scenarios`) or a TOML file; flags override it")
    _add_failure_options(p)
    _add_path_options(p)
    if json:
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--wall-limit", type=_wall_limit, metavar="TIME",
                   help="stop a run that takes longer than this on the clock (e.g. 10min)")
    p.add_argument("--max-events", type=host_cli.positive_int, metavar="N",
                   help="stop a run after N simulation events (default: from its size, "
                        "at least 2 million)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_machine_options(p: argparse.ArgumentParser, cache_default: str | None = "cold"
                         ) -> None:
    """--profile, --cache and --set: the machine a command simulates on."""
    p.add_argument("--profile", default=DEFAULT_PROFILE,
                   help=f"bundled profile name or a .toml file (default {DEFAULT_PROFILE})")
    p.add_argument("--cache", choices=("cold", "warm"), default=cache_default,
                   help="start with the file out of (cold, the default) or in the page cache")
    p.add_argument("--set", dest="overrides", type=_set_pair, action="append", default=[],
                   metavar="KEY=VALUE", help="override one profile value, e.g. nic.sg=false "
                                             "(`iosim keys` lists them)")
    p.add_argument("--kernel", dest="overrides", type=_kernel, action="append",
                   metavar="|".join(KERNEL_MODELS),
                   help="the kernel the mechanisms follow (as --set kernel.model=...; "
                        "default: the profile's)")


def _add_failure_options(p: argparse.ArgumentParser) -> None:
    """The failure-mode flags (scenario keys), shared by run, compare and explain."""
    f = p.add_argument_group("failure modes")
    f.add_argument("--writer", choices=WRITER_KINDS,
                   help="another task storing into the data in flight: write() or MAP_SHARED "
                        "(in place), MAP_PRIVATE (copy-on-write), userbuf (the sender's "
                        "buffer); needs --writer-rate or --writer-at")
    f.add_argument("--writer-rate", dest="writer_rate", metavar="PAGES_PER_S",
                   help="stores per second into random bytes in flight (at most 1e9)")
    f.add_argument("--writer-at", dest="writer_at", metavar="OFFSET[,OFFSET...]",
                   help="store into these stream offsets as soon as they are queued")
    f.add_argument("--pressure", metavar="PAGES",
                   help="reclaim this many page-cache pages once data is in flight")
    f.add_argument("--pressure-interval", dest="pressure_interval_s", metavar="TIME",
                   help="repeat the reclaim every TIME (e.g. 100us; at least 1ns)")
    f.add_argument("--pressure-reader", dest="pressure_reader", metavar="RATE",
                   help="a competing reader streams another file through the cache (2GB/s)")
    f.add_argument("--truncate-at", dest="truncate_at_s", metavar="TIME",
                   help="truncate and rewrite the file at this time (e.g. 1ms)")
    f.add_argument("--loss", metavar="P", help="probability that a segment is lost")
    f.add_argument("--drop", metavar="SEG[,SEG...]",
                   help="drop these segments (1 = the first segment sent)")
    f.add_argument("--offset", dest="offset_bytes", metavar="BYTES",
                   help="start the transfer at this file offset (unaligned if not a page)")
    f.add_argument("--buffer-offset", dest="buffer_offset_bytes", metavar="BYTES",
                   help="place user buffers this many bytes past a page boundary")


def _on_off(text: str) -> str:
    """``on``/``off`` as the scenario's ``true``/``false``."""
    value = {"on": "true", "off": "false"}.get(text.strip().lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")
    return value


def _add_path_options(p: argparse.ArgumentParser) -> None:
    """Options of one path each (scenario keys), shared by run, compare and explain."""
    g = p.add_argument_group("path options")
    g.add_argument("--header", dest="header_bytes", metavar="SIZE",
                   help="writev_sendfile: response header bytes before the file (default "
                        "256B, part of --size)")
    g.add_argument("--cork", type=_on_off, metavar="on|off",
                   help="writev_sendfile: send the header with MSG_MORE (on, the default) "
                        "or alone (off); splice: SPLICE_F_MORE on every splice to the socket "
                        "but the last (on, the default) or none (off)")
    g.add_argument("--body", choices=BODY_KINDS,
                   help="writev_sendfile: the body by sendfile() (file, the default) or "
                        "read() + writev() from a user buffer (user)")
    g.add_argument("--sq-batch", dest="sq_batch", metavar="N",
                   help="io_uring_send_zc: operations per io_uring_enter() (default 1)")
    g.add_argument("--sqpoll", action="store_const", const="true",
                   help="io_uring_send_zc: a kernel thread polls the rings (no syscalls)")
    g.add_argument("--no-zc", dest="zc", action="store_const", const="false",
                   help="io_uring_send_zc: plain IORING_OP_SEND (copies) for comparison")
    g.add_argument("--reuse", choices=REUSE_KINDS,
                   help="vmsplice_splice: refill a buffer once its bytes are ACKed (acked, "
                        "the default; on loopback the receiver may not have read them yet) "
                        "or once the receiver has read them (consumed)")


PATH_FLAGS = ("header_bytes", "cork", "body", "sq_batch", "sqpoll", "zc", "reuse")
FAILURE_FLAGS = ("writer", "writer_rate", "writer_at", "pressure", "pressure_interval_s",
                 "pressure_reader", "truncate_at_s", "loss", "drop", "offset_bytes",
                 "buffer_offset_bytes")
SCENARIO_FLAGS = ("size_bytes", "cache", "buffer_bytes", "zc_buffers", *FAILURE_FLAGS,
                  *PATH_FLAGS)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``iosim`` command."""
    parser = _Parser(prog="iosim", description="Simulate how Linux moves a file to a socket.",
                     epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"iosim {model_version()}",
                        help="the package version and the hash of the model's source")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    run = sub.add_parser("run", help="simulate one path and print its result", epilog=EPILOG)
    run.add_argument("path", help=f"one of: {', '.join(PATHS)}")
    _add_run_options(run)
    run.add_argument("--trace", metavar="FILE.json",
                     help="write a Chrome trace-event file (open in Perfetto)")
    run.add_argument("--trace-text", action="store_true",
                     help="print every event of the run as a line")
    run.add_argument("--watch-page", dest="watch_page", metavar="N",
                     help="log the refcount of file page N over its life (default: page 0 "
                          "when tracing)")
    compare = sub.add_parser("compare", help="simulate every path and compare them",
                             epilog=EPILOG)
    _add_run_options(compare)
    compare.add_argument("--wide", action="store_true",
                         help=f"every column, however wide (default: fit {TABLE_WIDTH} columns)")
    sweep = sub.add_parser("sweep", help="simulate every point of a grid (docs/sweep.md)",
                           epilog=EPILOG)
    sweep.add_argument("spec", help="sweep spec: a TOML file with [base] and [grid]")
    sweep.add_argument("--out", metavar="DIR", help="output folder (default sweeps/SPEC_NAME)")
    sweep.add_argument("--workers", type=int, metavar="N",
                       help="local processes, or LocalCluster workers (default: all cores)")
    sweep.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on Dask: tcp://HOST:PORT, or 'local' for a LocalCluster. Dask "
                            "moves pickles: connect only to a cluster you trust")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    host_cli.add_parsers(sub)
    sub.add_parser("profiles", help="list the bundled hardware profiles")
    sub.add_parser("paths", help="list the paths")
    fields = sub.add_parser("fields", help="the fields of a run's result and what they mean")
    fields.add_argument("--markdown", action="store_true", help="as docs/results.md holds them")
    fields.add_argument("--serve", action="store_true",
                        help="the fields of a server run (iosim serve; docs/server.md)")
    _add_serve_parser(sub)
    keys = sub.add_parser("keys", help="list every profile key: kind, default per bundled "
                                       "profile, meaning")
    keys.add_argument("prefix", nargs="?", default="", metavar="PREFIX",
                      help="only keys starting with this (nic, kernel.p ...)")
    sub.add_parser("scenarios", help="list the bundled scenario files (--scenario NAME)")
    _add_teaching_commands(sub)
    _add_chart_commands(sub)
    return parser


def _value_options(parser: argparse.ArgumentParser) -> set[str]:
    """Option strings that take a value, in the parser and every subcommand."""
    out: set[str] = set()
    stack = [parser]
    while stack:
        p = stack.pop()
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                stack.extend(action.choices.values())
            elif action.option_strings and action.nargs is None:
                out.update(action.option_strings)
    return out


def _join_dash_values(argv: list[str], value_options: set[str]) -> list[str]:
    """``--truncate-at -1ms`` -> ``--truncate-at=-1ms``: argparse would take ``-1ms`` for an
    option and say "expected one argument"; joined, the value's own check explains."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if (token in value_options and i + 1 < len(argv) and argv[i + 1].startswith("-")
                and argv[i + 1] not in value_options and not argv[i + 1].startswith("--")
                and len(argv[i + 1]) > 1):
            out.append(f"{token}={argv[i + 1]}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def _flag_names(parser: argparse.ArgumentParser, command: str) -> dict[str, str]:
    """dest -> the flag a user typed for it, in ``command`` (for error messages)."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: a.option_strings[-1] for a in sub.choices[command]._actions
            if a.option_strings}


# --- preparing a run: every input validated, each error naming its file or flag ---------

class Prepared:
    """A validated run: its profile, its scenario and the keyword arguments that make it."""

    def __init__(self, profile: Profile, scenario: Scenario, options: dict[str, Any]) -> None:
        self.profile = profile
        self.scenario = scenario
        self.options = options


def _load_machine(args: argparse.Namespace) -> Profile:
    profile = load_profile(args.profile)
    if args.overrides:
        profile = profile.with_overrides(dict(args.overrides), origin="--set")
    return profile


def _prepare(args: argparse.Namespace, path: str, flags: dict[str, str],
             profile: Profile | None = None) -> Prepared:
    """Scenario keys: built-in defaults < the --scenario file < command-line flags."""
    profile = profile or _load_machine(args)
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    if getattr(args, "scenario", None):
        file = scenario_file(args.scenario)
        values = load_scenario_file(file, PATHS)
        values.pop("path", None)  # the command names the path (or compares them all)
        origins = dict.fromkeys(values, str(file))
    values.setdefault("size_bytes", getattr(args, "default_size", DEFAULT_SIZE))
    for key in (*SCENARIO_FLAGS, "seed", "watch_page"):
        value = getattr(args, key, None)
        if value is not None:
            values[key] = value
            origins[key] = flags.get(key, "command line")
    size = values.pop("size_bytes")
    scenario = make_scenario(path, size, PATHS, origin="command line", origins=origins,
                             **values)
    run_profile = profile
    if PATHS[path].overrides:
        run_profile = profile.with_overrides(PATHS[path].overrides, origin=f"path {path}")
    limits.check(run_profile, scenario, "command line", origins)
    return Prepared(profile, scenario, {"size_bytes": size, **values})


def _bar(total: float | None, desc: str, quiet: bool, unit: str = "B") -> tqdm:
    """A progress bar on stderr, shown after PROGRESS_DELAY_S on a terminal only."""
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=unit == "B",
                unit_divisor=1024, delay=PROGRESS_DELAY_S, leave=False, file=sys.stderr,
                disable=quiet or not sys.stderr.isatty(), dynamic_ncols=True)


def _simulate(args: argparse.Namespace, path: str, prepared: Prepared,
              tracer: Tracer | None = None, bar: tqdm | None = None, done_bytes: int = 0
              ) -> Result:
    def progress(delivered: int) -> None:
        bar.update(done_bytes + delivered - bar.n)

    bounds = limits.Bounds(max_events=getattr(args, "max_events", None),
                           max_wall_s=getattr(args, "wall_limit", None),
                           progress=progress if bar is not None and not bar.disable else None)
    options = dict(prepared.options)
    size = options.pop("size_bytes")
    return simulate(path, size, profile=prepared.profile, tracer=tracer,
                    origin="command line", bounds=bounds, **options)


def _echo(argv: Sequence[str]) -> None:
    print("iosim " + " ".join(argv), flush=True)


def _dumps(value: Any) -> str:
    """Strict JSON (no NaN or Infinity), as every --json output is."""
    try:
        return json.dumps(value, indent=2, allow_nan=False)
    except ValueError:
        raise ConfigError("the result holds a number JSON cannot carry (NaN or infinity); "
                          "this is a model bug, please report it") from None


# --- tables -------------------------------------------------------------------------------

def _wrap_rows(rows: list[tuple[str, str]], width: int) -> str:
    """``   key: value`` rows, a long value broken after a comma or a wide gap only (never
    inside ``40 us``), its further lines indented under the first."""
    out = []
    room = width - 14
    for key, value in rows:
        lines = [""]
        for piece in re.split(r"(?<=, )|(?<=   )", value):
            if lines[-1] and len(lines[-1]) + len(piece) > room:
                lines.append("")
            lines[-1] += piece
        # a piece longer than a line (a long summary) breaks between words instead
        lines = [part for line in lines for part in (
            textwrap.wrap(line, room, break_on_hyphens=False) if len(line.rstrip()) > room
            else [line])]
        out.append(f"{key:>12}: {lines[0].rstrip()}")
        out += [" " * 14 + line.rstrip() for line in lines[1:]]
    return "\n".join(out)


def format_result(r: Result, width: int = TABLE_WIDTH) -> str:
    """A readable, aligned record of one run, wrapped to ``width`` columns."""
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
        *_failure_rows(r),
        ("utilization", util),
        ("bottleneck", r.bottleneck),
        ("invariants", "all hold" if not r.invariant_violations
         else "; ".join(r.invariant_violations)),
    ]
    return _wrap_rows(rows, width)


def _failure_rows(r: Result) -> list[tuple[str, str]]:
    """Rows for the failure modes a run showed; nothing for a clean run."""
    rows = []
    if r.lost_segments or r.retransmits:
        rows.append(("loss", f"{r.lost_segments} segments lost, {r.retransmits} retransmitted "
                             f"({units.format_size(r.retransmit_bytes)}), {r.rto_timeouts} "
                             f"timeouts, {units.format_size(r.duplicate_bytes)} duplicate"))
    if r.writer_stores or r.cow_copies:
        rows.append(("writer", f"{r.writer_stores} stores, {r.cow_copies} COW copies "
                               f"({units.format_size(r.cow_copy_bytes)})"))
    if r.evictions or r.reclaim_busy_refs or r.refaults or r.truncated_inflight_pages:
        rows.append(("reclaim", f"{r.evictions} evicted ({r.evicted_unused} never used), "
                                f"{r.reclaim_busy_refs} kept (busy references), "
                                f"{r.refaults} refaults, "
                                f"{r.truncated_inflight_pages} truncated in flight"))
    if r.unaligned_extra_frags or r.bounce_copy_bytes:
        rows.append(("unaligned", f"{r.unaligned_extra_frags} extra frags, "
                                  f"{units.format_size(r.bounce_copy_bytes)} bounce-copied"))
    detail = ""
    if r.integrity != "exact":
        detail = (f" ({units.format_size(r.changed_bytes)} changed, "
                  f"{units.format_size(r.stale_bytes)} stale, "
                  f"{r.mixed_version_segments} mixed-version segments)")
    rows.append(("integrity", r.integrity + detail))
    return rows


BASE_COLUMNS: tuple[tuple[str, Callable[[Result], str]], ...] = (
    ("path", lambda r: r.path),
    ("copies", lambda r: f"{r.copies:.2f}"),
    ("CPU", lambda r: f"{r.cpu_copies:.2f}"),
    ("DMA", lambda r: f"{r.dma_copies:.2f}"),
    ("syscalls", lambda r: str(r.syscalls)),
    ("mode sw", lambda r: str(r.mode_switches)),
    ("ctx sw", lambda r: str(r.context_switches)),
    ("faults", lambda r: str(r.page_faults)),
    ("membus", lambda r: units.format_size(r.membus_bytes)),
    ("CPU time", lambda r: units.format_time(r.cpu_time_s)),
    ("time", lambda r: units.format_time(r.sim_time_s)),
    ("goodput", lambda r: units.format_rate(r.goodput_bps / 8)),  # bits -> bytes
    ("bottleneck", lambda r: r.bottleneck),
)
FAILURE_COLUMNS: tuple[tuple[str, Callable[[Result], Any]], ...] = (
    ("integrity", lambda r: r.integrity),
    ("mixed seg", lambda r: r.mixed_version_segments),
    ("retx", lambda r: r.retransmits),
    ("COW", lambda r: r.cow_copies),
    ("evicted", lambda r: r.evictions),
    ("busy refs", lambda r: r.reclaim_busy_refs),
    ("refaults", lambda r: r.refaults),
    ("truncated", lambda r: r.truncated_inflight_pages),
    ("extra frags", lambda r: r.unaligned_extra_frags),
    ("bounce", lambda r: units.format_size(r.bounce_copy_bytes) if r.bounce_copy_bytes else 0),
)
# Columns a narrow table gives up first: derived ones (mode sw = 2 x syscalls; DMA = copies
# - CPU; membus follows from the copies), then detail; the CPU copies, which tell the paths
# apart, stay longest of the counts; the failure columns a run shows go last.
DROP_ORDER = ("mode sw", "faults", "DMA", "membus", "ctx sw", "CPU", "CPU time", "syscalls")


def format_table(results: list[Result], wide: bool = False, width: int = TABLE_WIDTH) -> str:
    """All paths side by side, one row each; without ``wide``, columns that do not fit in
    ``width`` are left out (and named)."""
    columns = list(BASE_COLUMNS) + [
        (name, lambda r, get=get: str(get(r))) for name, get in FAILURE_COLUMNS
        if any(get(r) not in (0, "0", "exact") for r in results)]
    cells = {name: [name, *(get(r) for r in results)] for name, get in columns}
    widths = {name: max(len(c) for c in column) for name, column in cells.items()}
    shown = [name for name, _ in columns]
    hidden: list[str] = []

    def total() -> int:
        return sum(widths[n] for n in shown) + 2 * (len(shown) - 1)

    droppable = [n for n in DROP_ORDER if n in shown] + [
        name for name, _ in reversed(columns) if name not in DROP_ORDER and name != "path"]
    while not wide and total() > width and droppable:
        name = droppable.pop(0)
        shown.remove(name)
        hidden.append(name)
    lines = ["  ".join(cells[n][i].ljust(widths[n]) if n == "path" else
                       cells[n][i].rjust(widths[n]) for n in shown)
             for i in range(len(results) + 1)]
    lines.insert(1, "-" * len(lines[0]))
    bad = [f"{r.path}: {v}" for r in results for v in r.invariant_violations]
    lines.append("invariants: " + ("all hold" if not bad else "; ".join(bad)))
    legend = ("copies = bytes moved (CPU + DMA) per byte delivered; mode sw = 2 per syscall; "
              "ctx sw = times the sender blocked; bottleneck: see docs/model.md")
    if hidden:
        legend += f"; not shown: {', '.join(hidden)} (--wide shows every column)"
    lines += textwrap.wrap(legend, max(width, len(lines[0])) if wide else width)
    return "\n".join(lines)


# --- listings: profiles, paths, keys, scenarios -----------------------------------------

KIND_UNITS = {
    "time": "time: ns us ms s min (bare: s)",
    "size": "size: B kB MB GB, KiB MiB GiB (bare: B)",
    "rate": "rate: Gbit/s Gbps, GB/s GiB/s (unit needed)",
    "count": "whole number",
    "bool": "true or false",
    "choice": "one of: {choices}",
}


def format_keys(prefix: str = "") -> str:
    """Every profile key starting with ``prefix``: its kind and units, its value in each
    bundled profile, and what it means (like ns-3's --PrintAttributes)."""
    profiles = {name: load_profile(path) for name, path in bundled_profiles().items()}
    out = []
    for section, spec in SCHEMA.items():
        for key, (kind, meaning) in spec.items():
            dotted = f"{section}.{key}"
            if not dotted.startswith(prefix):
                continue
            kind_text = KIND_UNITS[kind].format(choices=", ".join(CHOICES.get(dotted, ())))
            out.append(f"{dotted}  [{kind_text}]")
            out += textwrap.wrap(meaning, TABLE_WIDTH, initial_indent="    ",
                                 subsequent_indent="    ")
            defaults = "   ".join(f"{name} {profile_value_text(p, dotted)}"
                                  for name, p in profiles.items())
            out += textwrap.wrap(defaults, TABLE_WIDTH, initial_indent="    ",
                                 subsequent_indent="    ")
    if not out:
        raise ConfigError(f"keys: no profile key starts with {prefix!r}; expected a section "
                          f"({', '.join(SCHEMA)}) or a key like nic.rate")
    if not prefix:
        out += ["", *textwrap.wrap(
            "scenario keys (run/compare flags, --scenario files, sweep specs): size, "
            + ", ".join(SCENARIO_DEFAULTS), TABLE_WIDTH)]
    return "\n".join(out)


def format_scenarios() -> str:
    """The bundled scenario files: name, what each shows (its first comment), its keys."""
    out = []
    for name, path in bundled_scenarios().items():
        text = path.read_text()
        about = next((line.lstrip("# ").strip() for line in text.splitlines()
                      if line.startswith("#")), "")
        keys = ", ".join(load_scenario_file(path))
        out.append(f"{name:20} {about}")
        out.append(f"{'':20} keys: {keys}")
    return "\n".join(out)


# --- charts: `iosim experiment`, `iosim diagram` (matplotlib is imported only when used) ---
def _add_chart_commands(sub: argparse._SubParsersAction) -> None:
    from iosim.experiments import available

    exp = sub.add_parser("experiment", help="run an experiment: CSV and PNG/SVG charts",
                         epilog="iosim experiment NAME --help lists its options: --quick, "
                                "--out DIR (default out/NAME), --profile, --set KEY=VALUE, "
                                "--size, --quiet")
    exp.add_argument("name", help=f"one of: {', '.join(available())}")
    exp.add_argument("options", nargs=argparse.REMAINDER, help="the experiment's options")
    diagram = sub.add_parser("diagram", help="draw one path's data flow, measured in a run")
    diagram.add_argument("path", help=f"one of: {', '.join(PATHS)}")
    diagram.add_argument("--size", type=_size, default=_size("1MiB"),
                         help="bytes to send (default 1MiB)")
    _add_machine_options(diagram)
    diagram.add_argument("--out", metavar="FILE.png", help="also draw it to a .png/.svg file")


def _check_output(path: str | Path, flag: str, directory: bool = False) -> None:
    problem = atomic.unwritable(path, directory)
    if problem:
        raise ConfigError(f"{flag} {path}: cannot write: {problem}")


def _chart_command(args: argparse.Namespace) -> int:
    """Run `iosim experiment` or `iosim diagram`."""
    if args.command == "experiment":
        from iosim.experiments import run_experiment

        return run_experiment(args.name, args.options)
    from iosim import charts
    from iosim.teach import flowgraph

    _check_path(args.path)
    if args.out and not args.out.lower().endswith((".png", ".svg", ".pdf")):
        raise ConfigError(f"--out {args.out}: expected a .png, .svg or .pdf file name")
    if args.out:
        _check_output(args.out, "--out")
    profile = _load_machine(args)
    graph, _ = flowgraph.trace_flow(args.path, args.size, profile=profile, cache=args.cache)
    print(flowgraph.render_text(graph))
    if args.out:
        try:
            print(f"wrote {charts.save_as(flowgraph.draw(graph), args.out)}")
        except OSError as exc:
            raise ConfigError(f"--out {args.out}: cannot write the diagram: {exc.strerror}"
                              ) from None
    return 0
# --- end of chart commands ---


def _check_path(path: str) -> None:
    if path not in PATHS:
        raise ConfigError(f"unknown path {path!r}: expected one of {', '.join(PATHS)}")


# --- teaching: iosim explain, iosim quiz ---------------------------------------------------

def _add_teaching_commands(sub) -> None:
    from iosim.teach.quiz import KINDS

    animate = sub.add_parser("animate", help="write a web page that replays a run page by "
                             "page (one path, or two side by side)")
    animate.add_argument("path", help=f"one of: {', '.join(PATHS)}")
    animate.add_argument("path2", nargs="?", metavar="PATH2",
                         help="a second path, shown beside the first on one clock")
    _add_run_options(animate, ANIMATE_SIZE, json=False)
    animate.add_argument("--out", required=True, metavar="FILE.html",
                         help="the page to write (self-contained: open it offline)")
    animate.add_argument("--fold", action=argparse.BooleanOptionalAction, default=None,
                         help="hide repeated rounds (default: only in long runs)")
    explain = sub.add_parser("explain", help="narrate one small transfer step by step")
    explain.add_argument("path", help=f"one of: {', '.join(PATHS)}")
    explain.add_argument("--size", type=_size, default=_size("16KiB"),
                         help="bytes to send (default 16KiB)")
    _add_machine_options(explain)
    explain.add_argument("--page", type=int, default=0, metavar="N",
                         help="follow the refcount of page N of the transfer (default 0)")
    explain.add_argument("--buffer", dest="buffer_bytes", type=_size,
                         default=SCENARIO_DEFAULTS["buffer_bytes"], metavar="SIZE",
                         help="user buffer / write size (default 64KiB)")
    explain.add_argument("-s", "--seed", type=int, default=0, metavar="N",
                         help="RNG seed (default 0)")
    _add_failure_options(explain)
    _add_path_options(explain)
    quiz = sub.add_parser("quiz", help="OSTEP-style problems; -c prints worked answers")
    quiz.add_argument("-s", "--seed", type=int, default=0, metavar="N",
                      help="problem seed (default 0)")
    quiz.add_argument("-c", "--compute", action="store_true", help="print the worked answers")
    quiz.add_argument("--kind", choices=("all", *KINDS), default="all",
                      help="what to ask about (default all: a mix)")
    quiz.add_argument("-n", "--count", type=_positive_int, default=4, metavar="N",
                      help=f"problems, 1 to {MAX_QUIZ_PROBLEMS} (default 4)")
    quiz.add_argument("--profile", default=DEFAULT_PROFILE,
                      help=f"profile (default {DEFAULT_PROFILE})")
    quiz.add_argument("--kernel", dest="overrides", type=_kernel, action="append", default=[],
                      metavar="|".join(KERNEL_MODELS),
                      help="the kernel the answers follow (default: the profile's)")


def _animate(args: argparse.Namespace, argv: Sequence[str], flags: dict[str, str]) -> int:
    """Write the animation page of one path or two."""
    from iosim.teach import animate

    paths = [args.path] + ([args.path2] if args.path2 else [])
    for path in paths:
        _check_path(path)
    if not args.out.lower().endswith((".html", ".htm")):
        raise ConfigError(f"--out {args.out}: expected a .html file name")
    _check_output(args.out, "--out")
    prepared = [_prepare(args, path, flags) for path in paths]
    runs = []
    for path, prep in zip(paths, prepared, strict=True):
        options = dict(prep.options)
        size = options.pop("size_bytes")
        runs.append(animate.trace(path, size, profile=prep.profile, origin="command line",
                                  **options))
    page = animate.Animation(animate.document(runs, args.fold))
    try:
        page.save(args.out)
    except OSError as exc:
        raise ConfigError(f"--out {args.out}: cannot write the page: {exc.strerror}") from None
    _echo(argv)
    steps = sum(len(r["steps"]) for r in page.doc["runs"])
    print(f"wrote {args.out}: {steps} steps; open it in a browser (keys: space, arrows, ?), "
          f"{args.out}#end shows the totals")
    return 0


def _run_teaching(args: argparse.Namespace, flags: dict[str, str]) -> int:
    from iosim.teach.explain import explain
    from iosim.teach.quiz import render

    if args.command == "quiz":
        load_profile(args.profile, dict(args.overrides) or None)  # refused before any problem
        print(render(args.seed, args.count, args.kind, args.profile, args.compute,
                     dict(args.overrides) or None), end="")
        return 0
    _check_path(args.path)
    if args.page < 0:
        raise ConfigError(f"--page: expected a page number from 0, got {args.page}")
    args.size_bytes, args.zc_buffers, args.watch_page = args.size, None, args.page
    _prepare(args, args.path, flags)  # every flag checked, each error naming its flag
    scenario = {k: getattr(args, k) for k in (*FAILURE_FLAGS, *PATH_FLAGS)
                if getattr(args, k) is not None}
    print(explain(args.path, args.size, profile=args.profile, page=args.page, cache=args.cache,
                  overrides=dict(args.overrides) or None, seed=args.seed,
                  buffer_bytes=args.buffer_bytes, **scenario), end="")
    return 0


# --- sweep ---------------------------------------------------------------------------------

def _sweep(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Run a sweep; exit status 1 if some runs failed or broke invariants (named)."""
    previous = signal.signal(signal.SIGTERM, _interrupt)  # stop as on Ctrl-C: workers too
    try:
        report = run_sweep(args.spec, args.out, args.workers, args.scheduler,
                           progress=False if args.quiet else None,
                           on_start=lambda: _echo(argv))
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(f"{len(report.rows)} rows: {report.computed} runs computed, {report.reused} reused, "
          f"{report.failed} failed")
    print(f"wrote {', '.join(map(str, report.files))} (runs in {report.out_dir / 'runs'})")
    failed = [row for row in report.rows if row["error"] is not None]
    broken = [row for row in report.rows if row["error"] is None
              and json.loads(row.get("invariant_violations") or "[]")]
    if failed:
        print(f"iosim: {len(failed)} runs failed; first: {report.describe(failed[0])}: "
              f"{failed[0]['error']}", file=sys.stderr)
    if broken:
        first = json.loads(broken[0]["invariant_violations"])[0]
        print(f"iosim: {len(broken)} runs broke invariants; first: "
              f"{report.describe(broken[0])}: {first}", file=sys.stderr)
    return EXIT_BROKEN_RUN if failed or broken else 0


def _interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


# --- run and compare -----------------------------------------------------------------------

def _run(args: argparse.Namespace, argv: Sequence[str], flags: dict[str, str]) -> int:
    _check_path(args.path)
    if args.trace:
        _check_output(args.trace, "--trace")
    if (args.trace or args.trace_text) and args.watch_page is None:
        args.watch_page = 0
    prepared = _prepare(args, args.path, flags)
    if not args.json:
        _echo(argv)
    tracer = Tracer() if args.trace or args.trace_text else None
    with _bar(prepared.scenario.size_bytes, args.path, args.quiet) as bar:
        result = _simulate(args, args.path, prepared, tracer, bar)
    if args.trace:
        try:
            tracer.write_chrome(args.trace)
        except OSError as exc:
            raise ConfigError(f"--trace {args.trace}: cannot write trace: {exc.strerror}"
                              ) from None
    if args.trace_text:
        for line in tracer.lines():
            print(line)
    elif args.json:
        print(_dumps(result.to_dict()))
    else:
        print(format_result(result))
        if result.page_log:
            print(f"{'page ' + str(result.scenario['watch_page']):>12}: " + " -> ".join(
                f"{count} ({what})" for _, count, what in result.page_log))
        if args.trace:
            print(f"{'trace':>12}: {args.trace} (open in https://ui.perfetto.dev)")
    return _verdict([result])


def _verdict(results: list[Result]) -> int:
    """Exit status 1, with one line on stderr, if a run broke its invariants."""
    broken = [r for r in results if r.invariant_violations]
    if not broken:
        return 0
    names = ", ".join(f"{r.path} ({len(r.invariant_violations)})" for r in broken)
    print(f"iosim: invariants broken in {names}; first: {broken[0].path}: "
          f"{broken[0].invariant_violations[0]}", file=sys.stderr)
    return EXIT_BROKEN_RUN


def _compare(args: argparse.Namespace, argv: Sequence[str], flags: dict[str, str]) -> int:
    profile = _load_machine(args)
    prepared = {path: _prepare(args, path, flags, profile) for path in PATHS}
    if not args.json:
        _echo(argv)
    size = next(iter(prepared.values())).scenario.size_bytes
    results: list[Result] = []
    stopped: list[limits.RunStopped] = []
    interrupted = False
    with _bar(size * len(PATHS), "compare", args.quiet) as bar:
        try:
            for i, (path, prep) in enumerate(prepared.items()):
                bar.set_description(f"compare {path}")
                try:
                    results.append(_simulate(args, path, prep, bar=bar, done_bytes=i * size))
                except limits.RunStopped as exc:
                    stopped.append(exc)
                gc.collect()  # a run's cyclic garbage (gc is paused in runs) before the next
        except KeyboardInterrupt:
            interrupted = True
    if args.json:
        print(_dumps([r.to_dict() for r in results]))
    elif results:
        sc = results[0].scenario
        print(f"profile {results[0].profile['name']}: "
              f"{units.format_size(sc['size_bytes'])}, {sc['cache']} cache")
        print(format_table(results, wide=args.wide))
    if interrupted:
        raise KeyboardInterrupt
    for exc in stopped:
        print(f"iosim: stopped: {exc}", file=sys.stderr)
    status = _verdict(results)
    return EXIT_BROKEN_RUN if stopped else status


# --- serve: many connections on one host ---------------------------------------------------

SERVE_FLAGS = {  # ServeSpec key -> (flag, metavar, help)
    "path": ("--path", "PATH", f"the send method: one of {', '.join(PATHS)} (default "
                               f"sendfile_sg)"),
    "connections": ("--connections", "N", "concurrent client connections (default 1)"),
    "requests": ("--requests", "R", "responses to send in all (default 1)"),
    "duration_s": ("--duration", "TIME", "instead of --requests: start requests until this "
                                         "simulated time, e.g. 50ms"),
    "files": ("--files", "N", "files in the set (default 1)"),
    "file_size_bytes": ("--file-size", "SIZE", "size of every file, or the lognormal median "
                                               "with --size-sigma (default 64KiB)"),
    "file_sizes_bytes": ("--file-sizes", "LIST", "file sizes cycled over the set, e.g. "
                                                 "4KiB,64KiB,1MiB"),
    "size_sigma": ("--size-sigma", "X", "lognormal sigma of the file sizes (default 0: fixed)"),
    "zipf_alpha": ("--zipf", "ALPHA", "Zipf popularity exponent (default 0: uniform)"),
    "requests_per_connection": ("--keepalive", "N", "requests per connection before the "
                                                    "client reconnects (default 0: never)"),
    "think_time_s": ("--think", "TIME", "closed loop: client think time (default 0)"),
    "arrival": ("--arrival", "closed|open", "closed loop, or open loop at --rate"),
    "rate": ("--rate", "REQ/S", "open loop: Poisson arrival rate in requests per second"),
    "header_bytes": ("--header", "SIZE", "HTTP-style header per response (default 256)"),
    "workers": ("--workers", "W", "event-loop workers (default: one per core)"),
    "model": ("--model", "loop|threads", "event-loop workers (default) or one blocking thread "
                                         "per connection"),
    "buffer_bytes": ("--buffer", "SIZE", "user buffer of read_write, mmap_write, msg_zerocopy "
                                         "(default 64KiB)"),
    "seed": ("-s", "N", "RNG seed (default 0)"),
}


def _add_serve_parser(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="simulate a server: many connections sharing one "
                                         "page cache, memory bus and NIC", epilog=EPILOG)
    serve.add_argument("spec", nargs="?", metavar="SPEC.toml",
                       help="serve keys (a [serve] table); flags override them")
    for key, (flag, metavar, text) in SERVE_FLAGS.items():
        names = [flag, "--seed"] if flag == "-s" else [flag]
        serve.add_argument(*names, dest=f"serve_{key}", metavar=metavar, help=text)
    serve.add_argument("--profile", help=f"bundled profile name or a .toml file (default "
                                         f"{DEFAULT_PROFILE})")
    serve.add_argument("--cache", choices=("cold", "warm"),
                       help="start with the files out of (cold) or in the page cache")
    serve.add_argument("--set", dest="overrides", type=_set_pair, action="append", default=[],
                       metavar="KEY=VALUE", help="override one profile value (iosim keys)")
    serve.add_argument("--kernel", dest="overrides", type=_kernel, action="append",
                       metavar="|".join(KERNEL_MODELS), help="as --set kernel.model=...")
    serve.add_argument("--json", action="store_true", help="print JSON instead of a table")
    serve.add_argument("--wall-limit", type=_wall_limit, metavar="TIME",
                       help="stop a run that takes longer than this on the clock (e.g. 10min)")
    serve.add_argument("--max-events", type=host_cli.positive_int, metavar="N",
                       help="stop a run after N simulation events (default: from its "
                            "requests and sizes, at least 2 million)")


def _serve(args: argparse.Namespace, argv: Sequence[str]) -> int:
    raw = {key: getattr(args, f"serve_{key}") for key in SERVE_FLAGS}
    raw["profile"], raw["cache"] = args.profile, args.cache
    origins = {key: flag for key, (flag, _, _) in SERVE_FLAGS.items()}
    origins.update(profile="--profile", cache="--cache")
    if args.serve_requests is not None and args.serve_duration_s is not None:
        raise ConfigError("--requests and --duration: give one of them, not both")
    if args.spec:
        spec = load_spec(args.spec, PATHS, **raw)
    else:
        spec = make_spec(PATHS, "serve", origins,
                         **{k: v for k, v in raw.items() if v is not None})
    profile = load_profile(spec.profile)
    if args.overrides:
        profile = profile.with_overrides(dict(args.overrides), origin="--set")
    if not args.json:
        _echo(argv)
    result = run_server(profile, spec, limits.Bounds(max_events=args.max_events,
                                                     max_wall_s=args.wall_limit))
    print(_dumps(result.to_dict()) if args.json else format_server(result))
    if result.invariant_violations:
        print(f"iosim: invariants broken in serve {spec.path}: "
              f"{result.invariant_violations[0]}", file=sys.stderr)
        return EXIT_BROKEN_RUN
    return 0


def format_server(r: ServerResult, width: int = TABLE_WIDTH) -> str:
    """A readable record of one server run."""
    cpu = ", ".join(f"{k} {v:.0%}" for k, v in r.cpu_per_core_by_category.items()
                    if v >= 0.005)
    spec = r.spec
    rows = [
        ("server", f"{r.path} x {r.connections} connections, {r.workers} {r.model} "
                   f"worker(s) on {r.cores} cores, profile {r.profile['name']}"),
        ("files", f"{spec['files']} ({units.format_size(r.body_bytes / max(r.requests, 1))} "
                  f"per response on average), Zipf {spec['zipf_alpha']:g}, {spec['cache']} "
                  f"cache: hit ratio {r.hit_ratio:.1%}"),
        ("throughput", f"{r.requests} responses in {units.format_time(r.sim_time_s)}: "
                       f"{r.requests_per_s:,.0f}/s, goodput "
                       f"{units.format_rate(r.goodput_bps / 8)}"),  # bits -> bytes
        ("latency", f"p50 {units.format_time(r.latency_p50_s)}   p95 "
                    f"{units.format_time(r.latency_p95_s)}   p99 "
                    f"{units.format_time(r.latency_p99_s)}   max "
                    f"{units.format_time(r.latency_max_s)}"),
        ("per request", f"{r.syscalls_per_request:.2f} syscalls, "
                        f"{r.context_switches_per_request:.2f} context switches, EAGAIN "
                        f"{r.eagain}"),
        ("copies", f"{r.copies:.2f} per byte = {r.cpu_copies:.2f} CPU + {r.dma_copies:.2f} DMA;"
                   f" memory bus {r.membus_bytes_per_byte:.2f} bytes per byte"),
        ("cpu per core", cpu),
        ("utilization", f"cpu {r.cpu_utilization:.0%}   membus {r.membus_utilization:.0%}   "
                        f"link {r.link_utilization:.0%}   disk {r.disk_utilization:.0%}   "
                        f"workers {r.worker_utilization:.0%}"),
        ("bottleneck", r.bottleneck),
        ("invariants", "all hold" if not r.invariant_violations
         else "; ".join(r.invariant_violations[:3])),
    ]
    return _wrap_rows(rows, width)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``iosim`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(_join_dash_values(argv, _value_options(parser)))
    try:
        if args.command is None:
            parser.print_help()
            return 0
        flags = _flag_names(parser, args.command)
        if args.command in host_cli.COMMANDS:
            return host_cli.run(args)
        if args.command == "profiles":
            for name, path in bundled_profiles().items():
                print(f"{name:16} {load_profile(path).description}")
            return 0
        if args.command == "fields":
            mod = server_result if args.serve else None
            header, table, fields = ((mod.DOC_HEADER, mod.field_table, mod.FIELDS) if mod
                                     else (DOC_HEADER, field_table, FIELDS))
            print(header + table() if args.markdown else "\n".join(
                f"{f.name:28} {' '.join(f.metadata['doc'].split())}" for f in fields) + "\n",
                end="")
            return 0
        if args.command == "serve":
            return _serve(args, argv)
        if args.command == "paths":
            for name, spec in PATHS.items():
                print(f"{name:{max(map(len, PATHS))}}  {spec.summary}")
            return 0
        if args.command == "keys":
            print(format_keys(args.prefix))
            return 0
        if args.command == "scenarios":
            print(format_scenarios())
            return 0
        if args.command in ("explain", "quiz"):
            return _run_teaching(args, flags)
        if args.command == "animate":
            return _animate(args, argv, flags)
        if args.command in ("experiment", "diagram"):
            return _chart_command(args)
        if args.command == "sweep":
            return _sweep(args, argv)
        if args.command == "run":
            return _run(args, argv, flags)
        return _compare(args, argv, flags)
    except ConfigError as exc:
        print(f"iosim: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except limits.RunStopped as exc:
        print(f"iosim: stopped: {exc}", file=sys.stderr)
        return EXIT_BROKEN_RUN
    except KeyboardInterrupt as exc:
        if args.command == "experiment":
            from iosim.experiments.harness import interrupted_message

            print(interrupted_message(exc), file=sys.stderr)
            return EXIT_INTERRUPTED
        print("iosim: interrupted" + ("; finished runs are stored, run again to complete"
                                      if args.command == "sweep" else ""), file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_closed_stdout()
        return EXIT_CLOSED_PIPE


def _quiet_closed_stdout() -> None:
    """The reader went away (``| head``): send what is left of stdout to /dev/null, so the
    interpreter's final flush does not complain."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
