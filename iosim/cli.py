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
from iosim.config import (
    DEFAULT_PROFILE,
    KERNEL_MODELS,
    SCENARIO_DEFAULTS,
    WRITER_KINDS,
    ConfigError,
    bundled_profiles,
    load_profile,
    load_scenario_file,
)
from iosim.host import cli as host_cli
from iosim.paths import PATHS
from iosim.result import DOC_HEADER, FIELDS, Result, field_table
from iosim.simulate import simulate
from iosim.sweep import run_sweep
from iosim.trace import Tracer

DEFAULT_SIZE = "256MiB"
ANIMATE_SIZE = "64KiB"  # 16 pages: every page visible, side by side


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


def _kernel(text: str) -> tuple[str, str]:
    if text not in KERNEL_MODELS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(KERNEL_MODELS)}, "
                                         f"got {text!r}")
    return "kernel.model", text


def _size(text: str) -> int:
    try:
        return units.parse_size(text)
    except units.UnitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_run_options(p: argparse.ArgumentParser, default_size: str = DEFAULT_SIZE,
                     json: bool = True) -> None:
    # scenario options default to None so that a --scenario file can fill them in
    p.add_argument("--size", dest="size_bytes",
                   help=f"bytes to send, e.g. 64KiB, 1GiB (default {default_size})")
    _add_machine_options(p, cache_default=None)
    p.add_argument("-s", "--seed", type=int, default=0, help="RNG seed (default 0)")
    p.add_argument("--buffer", dest="buffer_bytes",
                   help="user buffer / write size of read_write, mmap_write, msg_zerocopy "
                        "(default 64KiB)")
    p.add_argument("--zc-buffers", dest="zc_buffers",
                   help="buffers msg_zerocopy cycles through while waiting for completions")
    p.add_argument("--scenario", metavar="FILE.toml",
                   help="read scenario keys (failure modes, size ...) from a TOML file")
    _add_failure_options(p)
    if json:
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _add_machine_options(p: argparse.ArgumentParser, cache_default: str | None = "cold"
                         ) -> None:
    """--profile, --cache and --set: the machine a command simulates on."""
    p.add_argument("--profile", default=DEFAULT_PROFILE,
                   help="bundled profile name or a .toml file (default teaching)")
    p.add_argument("--cache", choices=("cold", "warm"), default=cache_default,
                   help="start with the file out of (cold, the default) or in the page cache")
    p.add_argument("--set", dest="overrides", type=_set_pair, action="append", default=[],
                   metavar="KEY=VALUE", help="override one profile value, e.g. nic.sg=false")
    p.add_argument("--kernel", dest="overrides", type=_kernel, action="append",
                   metavar="|".join(KERNEL_MODELS),
                   help="the kernel the mechanisms follow (as --set kernel.model=...; "
                        "default: the profile's)")


def _add_failure_options(p: argparse.ArgumentParser) -> None:
    """The failure-mode flags (scenario keys), shared by run, compare and explain."""
    f = p.add_argument_group("failure modes")
    f.add_argument("--writer", choices=WRITER_KINDS,
                   help="another task storing into the data in flight: write() or MAP_SHARED "
                        "(in place), MAP_PRIVATE (copy-on-write), userbuf (the sender's buffer)")
    f.add_argument("--writer-rate", dest="writer_rate", metavar="PAGES_PER_S",
                   help="stores per second into random bytes in flight")
    f.add_argument("--writer-at", dest="writer_at", metavar="OFFSET[,OFFSET...]",
                   help="store into these stream offsets as soon as they are queued")
    f.add_argument("--pressure", metavar="PAGES",
                   help="reclaim this many page-cache pages once data is in flight")
    f.add_argument("--pressure-interval", dest="pressure_interval_s", metavar="S",
                   help="repeat the reclaim every S (e.g. 100us)")
    f.add_argument("--pressure-reader", dest="pressure_reader", metavar="RATE",
                   help="a competing reader streams another file through the cache (2GB/s)")
    f.add_argument("--truncate-at", dest="truncate_at_s", metavar="S",
                   help="truncate and rewrite the file at this time (e.g. 1ms)")
    f.add_argument("--loss", metavar="P", help="probability that a segment is lost")
    f.add_argument("--drop", metavar="SEG[,SEG...]",
                   help="drop these segments (1 = the first segment sent)")
    f.add_argument("--offset", dest="offset_bytes", metavar="BYTES",
                   help="start the transfer at this file offset (unaligned if not a page)")
    f.add_argument("--buffer-offset", dest="buffer_offset_bytes", metavar="BYTES",
                   help="place user buffers this many bytes past a page boundary")

FAILURE_FLAGS = ("writer", "writer_rate", "writer_at", "pressure", "pressure_interval_s",
                 "pressure_reader", "truncate_at_s", "loss", "drop", "offset_bytes",
                 "buffer_offset_bytes")
SCENARIO_FLAGS = ("size_bytes", "cache", "buffer_bytes", "zc_buffers", *FAILURE_FLAGS)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``iosim`` command."""
    parser = _Parser(prog="iosim", description="Simulate how Linux moves a file to a socket.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="simulate one path and print its result")
    run.add_argument("path", help=f"one of: {', '.join(PATHS)}")
    _add_run_options(run)
    run.add_argument("--trace", metavar="FILE.json",
                     help="write a Chrome trace-event file (open in Perfetto)")
    run.add_argument("--trace-text", action="store_true",
                     help="print every event of the run as a line")
    run.add_argument("--watch-page", type=int, default=None, metavar="N",
                     help="log the refcount of file page N over its life (default: page 0 "
                          "when tracing)")
    compare = sub.add_parser("compare", help="simulate every path and compare them")
    _add_run_options(compare)
    sweep = sub.add_parser("sweep", help="simulate every point of a grid (docs/sweep.md)")
    sweep.add_argument("spec", help="sweep spec: a TOML file with [base] and [grid]")
    sweep.add_argument("--out", metavar="DIR", help="output folder (default sweeps/SPEC_NAME)")
    sweep.add_argument("--workers", type=int, metavar="N",
                       help="local processes, or LocalCluster workers (default: all cores)")
    sweep.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on Dask: tcp://HOST:PORT, or 'local' for a LocalCluster")
    host_cli.add_parsers(sub)
    sub.add_parser("profiles", help="list the bundled hardware profiles")
    sub.add_parser("paths", help="list the paths")
    fields = sub.add_parser("fields", help="the fields of a run's result and what they mean")
    fields.add_argument("--markdown", action="store_true", help="as docs/results.md holds them")
    _add_teaching_commands(sub)
    _add_chart_commands(sub)
    return parser


def _scenario(args: argparse.Namespace, default_size: str = DEFAULT_SIZE) -> dict:
    """Scenario keys: built-in defaults < the --scenario file < command-line flags."""
    scenario = load_scenario_file(args.scenario) if args.scenario else {}
    scenario.pop("path", None)
    scenario.setdefault("size_bytes", default_size)
    for key in SCENARIO_FLAGS:
        value = getattr(args, key)
        if value is not None:
            scenario[key] = value
    return scenario


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


def _chart_command(args: argparse.Namespace) -> int:
    """Run `iosim experiment` or `iosim diagram`."""
    if args.command == "experiment":
        from iosim.experiments import run_experiment

        return run_experiment(args.name, args.options)
    from iosim import charts
    from iosim.teach import flowgraph

    if args.path not in PATHS:
        raise ConfigError(f"unknown path {args.path!r}: expected one of {', '.join(PATHS)}")
    if args.out and not args.out.lower().endswith((".png", ".svg", ".pdf")):
        raise ConfigError(f"{args.out}: expected a .png, .svg or .pdf file name")
    graph, _ = flowgraph.trace_flow(args.path, args.size, profile=args.profile,
                                    overrides=dict(args.overrides) or None, cache=args.cache)
    print(flowgraph.render_text(graph))
    if args.out:
        try:
            print(f"wrote {charts.save_as(flowgraph.draw(graph), args.out)}")
        except OSError as exc:
            raise ConfigError(f"{args.out}: cannot write the diagram: {exc.strerror}"
                              ) from None
    return 0
# --- end of chart commands ---


def _simulate(args: argparse.Namespace, path: str, tracer: Tracer | None = None) -> Result:
    scenario = _scenario(args)
    watch = getattr(args, "watch_page", None)
    if watch is None and tracer is not None:
        watch = 0
    if watch is not None:
        scenario["watch_page"] = watch
    size = scenario.pop("size_bytes")
    return simulate(path, size, profile=args.profile, seed=args.seed,
                    overrides=dict(args.overrides) or None, tracer=tracer,
                    origin="command line", **scenario)


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
        *_failure_rows(r),
        ("utilisation", util),
        ("bottleneck", r.bottleneck),
        ("invariants", "all hold" if not r.invariant_violations
         else "; ".join(r.invariant_violations)),
    ]
    return "\n".join(f"{k:>12}: {v}" for k, v in rows)


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


FAILURE_COLUMNS = (
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
    extra = [(name, get) for name, get in FAILURE_COLUMNS
             if any(get(r) not in (0, "0", "exact") for r in results)]
    if extra:
        rows[0] = (*rows[0], *(name for name, _ in extra))
        for i, r in enumerate(results, 1):
            rows[i] = (*rows[i], *(str(get(r)) for _, get in extra))
    head = rows[0]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                       enumerate(zip(row, widths, strict=True))) for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    bad = [f"{r.path}: {v}" for r in results for v in r.invariant_violations]
    lines.append("invariants: " + ("all hold" if not bad else "; ".join(bad)))
    lines.append("copies = bytes moved (CPU + DMA) per byte delivered; mode sw = 2 per "
                 "syscall; ctx sw = times the sender blocked; bottleneck: see docs/model.md")
    return "\n".join(lines)


# --- teaching: iosim explain, iosim quiz (issue #6) ----------------------------------------

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
                         default=SCENARIO_DEFAULTS["buffer_bytes"],
                         help="user buffer / write size (default 64KiB)")
    explain.add_argument("-s", "--seed", type=int, default=0, help="RNG seed (default 0)")
    _add_failure_options(explain)
    quiz = sub.add_parser("quiz", help="OSTEP-style problems; -c prints worked answers")
    quiz.add_argument("-s", "--seed", type=int, default=0, help="problem seed (default 0)")
    quiz.add_argument("-c", "--compute", action="store_true", help="print the worked answers")
    quiz.add_argument("--kind", choices=("all", *KINDS), default="all",
                      help="what to ask about (default all: a mix)")
    quiz.add_argument("-n", "--count", type=int, default=4, help="problems (default 4)")
    quiz.add_argument("--profile", default=DEFAULT_PROFILE,
                      help=f"profile (default {DEFAULT_PROFILE})")
    quiz.add_argument("--kernel", dest="overrides", type=_kernel, action="append", default=[],
                      metavar="|".join(KERNEL_MODELS),
                      help="the kernel the answers follow (default: the profile's)")


def _animate(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Write the animation page of one path or two."""
    from iosim.teach import animate

    paths = [args.path] + ([args.path2] if args.path2 else [])
    for path in paths:
        if path not in PATHS:
            raise ConfigError(f"unknown path {path!r}: expected one of {', '.join(PATHS)}")
    if not args.out.lower().endswith((".html", ".htm")):
        raise ConfigError(f"{args.out}: expected a .html file name")
    scenario = _scenario(args, ANIMATE_SIZE)
    size = scenario.pop("size_bytes")
    runs = [animate.trace(p, size, profile=args.profile, seed=args.seed,
                          overrides=dict(args.overrides) or None, origin="command line",
                          **scenario) for p in paths]
    page = animate.Animation(animate.document(runs, args.fold))
    try:
        page.save(args.out)
    except OSError as exc:
        raise ConfigError(f"{args.out}: cannot write the page: {exc.strerror}") from None
    _echo(argv)
    steps = sum(len(r["steps"]) for r in page.doc["runs"])
    print(f"wrote {args.out}: {steps} steps; open it in a browser (keys: space, arrows, ?), "
          f"{args.out}#end shows the totals")
    return 0


def _run_teaching(args: argparse.Namespace) -> int:
    from iosim.teach.explain import explain
    from iosim.teach.quiz import render

    if args.command == "quiz":
        print(render(args.seed, args.count, args.kind, args.profile, args.compute,
                     dict(args.overrides) or None), end="")
        return 0
    if args.path not in PATHS:
        raise ConfigError(f"unknown path {args.path!r}: expected one of {', '.join(PATHS)}")
    scenario = {k: getattr(args, k) for k in FAILURE_FLAGS if getattr(args, k) is not None}
    print(explain(args.path, args.size, profile=args.profile, page=args.page, cache=args.cache,
                  overrides=dict(args.overrides) or None, seed=args.seed,
                  buffer_bytes=args.buffer_bytes, **scenario), end="")
    return 0


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
        if args.command in host_cli.COMMANDS:
            return host_cli.run(args)
        if args.command == "profiles":
            for name, path in bundled_profiles().items():
                print(f"{name:16} {load_profile(path).description}")
            return 0
        if args.command == "fields":
            print(DOC_HEADER + field_table() if args.markdown else "\n".join(
                f"{f.name:24} {' '.join(f.metadata['doc'].split())}" for f in FIELDS), end="")
            return 0
        if args.command == "paths":
            for name, spec in PATHS.items():
                print(f"{name:13} {spec.summary}")
            return 0
        if args.command in ("explain", "quiz"):
            return _run_teaching(args)
        if args.command == "animate":
            return _animate(args, argv)
        if args.command in ("experiment", "diagram"):
            return _chart_command(args)
        if args.command == "sweep":
            return _sweep(args, argv)
        if args.command == "run":
            if args.path not in PATHS:
                raise ConfigError(f"unknown path {args.path!r}: expected one of "
                                  f"{', '.join(PATHS)}")
            tracer = Tracer() if args.trace or args.trace_text else None
            result = _simulate(args, args.path, tracer)
            if args.trace:
                try:
                    tracer.write_chrome(args.trace)
                except OSError as exc:
                    raise ConfigError(f"{args.trace}: cannot write trace: {exc.strerror}"
                                      ) from None
            if args.trace_text:
                _echo(argv)
                for line in tracer.lines():
                    print(line)
                return 0
            if args.json:
                print(result.to_json())
            else:
                _echo(argv)
                print(format_result(result))
                if result.page_log:
                    print(f"{'page ' + str(result.scenario['watch_page']):>12}: " + " -> ".join(
                        f"{count} ({what})" for _, count, what in result.page_log))
                if args.trace:
                    print(f"{'trace':>12}: {args.trace} (open in https://ui.perfetto.dev)")
            return 0
        results = [_simulate(args, path) for path in PATHS]
        if args.json:
            print(json.dumps([r.to_dict() for r in results], indent=2))
        else:
            _echo(argv)
            sc = results[0].scenario
            print(f"profile {results[0].profile['name']}: "
                  f"{units.format_size(sc['size_bytes'])}, {sc['cache']} cache")
            print(format_table(results))
        return 0
    except ConfigError as exc:
        print(f"iosim: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        if args.command == "experiment":
            from iosim.experiments.harness import interrupted_message

            print(interrupted_message(exc), file=sys.stderr)
            return 130
        print("iosim: interrupted" + ("; finished runs are stored, run again to complete"
                                      if args.command == "sweep" else ""), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
