"""``iosim calibrate`` and ``iosim validate``: the commands that measure the host they run on.

Apart from ``cli.py`` because they run real transfers over 127.0.0.1 (bounded in size and
time; children and temporary files are removed on every exit) instead of simulating. Progress
goes to stderr, one line per step, on a terminal and without --quiet; results to stdout
and to files, written atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from iosim import atomic, units
from iosim.config import ConfigError, load_profile
from iosim.host import realpaths
from iosim.host.calibrate import calibrate
from iosim.host.validate import (
    DEFAULT_REPEATS,
    DEFAULT_SIZES,
    PLACEMENTS,
    PREFERRED_CONGESTION,
    QUICK_REPEATS,
    QUICK_SIZES,
    REAL_TO_SIM,
    accuracy_goal_met,
    repredict,
    validate,
    write_chart,
)

COMMANDS = ("calibrate", "validate")
SIM_TO_REAL = {sim: real for real, sim in REAL_TO_SIM.items()}


def parse_size_list(text: str) -> tuple[int, ...]:
    """``1MiB,16MiB``: sizes a real transfer may have (argparse type)."""
    sizes = []
    for part in text.split(","):
        try:
            size = units.parse_size(part.strip())
        except units.UnitError as exc:
            raise argparse.ArgumentTypeError(f"{part.strip()!r}: {exc}") from None
        if not 0 < size <= realpaths.MAX_SIZE_BYTES:
            raise argparse.ArgumentTypeError(f"{part.strip()!r}: expected a size from 1 byte "
                                             "to 1GiB (the file must fit the page cache)")
        sizes.append(size)
    return tuple(sizes)


def _paths(text: str) -> tuple[str, ...]:
    paths = []
    for part in (p.strip() for p in text.split(",")):
        real = part if part in realpaths.PATHS else SIM_TO_REAL.get(part)
        if real is None:
            raise argparse.ArgumentTypeError(
                f"unknown path {part!r}: expected some of {', '.join(realpaths.PATHS)}")
        paths.append(real)
    return tuple(dict.fromkeys(paths))


def parse_placement(text: str) -> tuple[str, ...]:
    """``same``, ``split`` or ``both`` (argparse type)."""
    if text == "both":
        return PLACEMENTS
    if text in PLACEMENTS:
        return (text,)
    raise argparse.ArgumentTypeError(f"{text!r}: expected same, split or both")


def parse_congestion(text: str) -> tuple[str, ...]:
    """``cubic,bbr``: congestion controllers by name (argparse type); ``default``: the
    host's default, not set on the socket."""
    names = tuple(dict.fromkeys(p.strip() for p in text.split(",")))
    if names == ("default",):
        return ()
    for name in names:
        if not name or len(name) >= realpaths.TCP_CA_NAME_MAX or not name.replace(
                "_", "").isalnum():
            raise argparse.ArgumentTypeError(f"{name!r}: expected congestion controller "
                                             "names like cubic,bbr, or default")
    return names


def positive_int(text: str) -> int:
    """A whole number of at least 1 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _size(text: str) -> int:
    try:
        size = units.parse_size(text)
    except units.UnitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not 0 < size <= realpaths.MAX_BUFFER_BYTES:
        raise argparse.ArgumentTypeError(f"expected a size from 1 byte to 64MiB, got {text!r}")
    return size


def _size_list(sizes: tuple[int, ...]) -> str:
    return ",".join(units.format_size(s).replace(" ", "") for s in sizes)


def add_parsers(sub) -> None:
    """Add ``calibrate`` and ``validate`` to the ``iosim`` subcommands."""
    cal = sub.add_parser("calibrate", help="measure this host and write its hardware profile")
    cal.add_argument("--out", default="host.toml", metavar="FILE",
                     help="profile to write (default host.toml in the current directory)")
    cal.add_argument("--quick", action="store_true",
                     help="smaller sizes and fewer repeats: seconds instead of a minute")
    cal.add_argument("--quiet", action="store_true", help="no progress lines")
    val = sub.add_parser("validate", help="run real transfers on this host and hold the "
                                          "model's predictions against them")
    val.add_argument("--profile", metavar="FILE",
                     help="calibrated profile of this host (default: calibrate first)")
    val.add_argument("--sizes", type=parse_size_list, metavar="SIZES",
                     help=f"comma-separated file sizes (default {_size_list(DEFAULT_SIZES)}; "
                          f"with --quick {_size_list(QUICK_SIZES)})")
    val.add_argument("--paths", type=_paths, default=realpaths.PATHS, metavar="PATHS",
                     help=f"comma-separated, some of {', '.join(realpaths.PATHS)} (default all)")
    val.add_argument("--placement", type=parse_placement, metavar="WHERE",
                     help="same (sender and receiver on one CPU), split (on two) or both "
                          "(default both; with --quick same)")
    val.add_argument("--cc", type=parse_congestion, metavar="NAMES",
                     help="comma-separated congestion controllers, set per socket "
                          "(TCP_CONGESTION); one the host cannot load is reported, not run "
                          f"(default: the host's and {', '.join(PREFERRED_CONGESTION)} where "
                          "available; with --quick, or 'default', the host's)")
    val.add_argument("--buffer", type=_size, default=64 * 1024, metavar="SIZE",
                     help="read/send size per call, real and simulated (default 64KiB)")
    val.add_argument("--repeats", type=positive_int, metavar="N",
                     help=f"real runs per path and size (default {DEFAULT_REPEATS}; with "
                          f"--quick {QUICK_REPEATS})")
    val.add_argument("--json", action="store_true", help="print the report as JSON")
    val.add_argument("--out", default="validation", metavar="DIR",
                     help="directory for the table (CSV, JSON), the chart (PNG, SVG) and a "
                          "profile calibrated on the way (default ./validation)")
    val.add_argument("--quick", action="store_true",
                     help="small sizes, fewer repeats, quick calibration")
    val.add_argument("--from", dest="from_file", metavar="FILE",
                     help="measure nothing: hold the measurements of an earlier validate.json "
                          "against the model as it is now, under --profile")
    val.add_argument("--quiet", action="store_true", help="no progress lines")


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _silent(message: str) -> None:
    """Progress with --quiet, or when stderr is no terminal: nothing."""


def _say(args: argparse.Namespace):
    """Where progress lines go: stderr on a terminal, unless --quiet."""
    return _progress if not args.quiet and sys.stderr.isatty() else _silent


def _unwritable(path: Path, flag: str, directory: bool = False) -> None:
    """Refuse an output path before any measurement (a minute of work) is spent."""
    if problem := atomic.unwritable(path, directory):
        raise ConfigError(f"{flag} {path}: cannot write: {problem}")


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` whole (``atomic``); a failure is one line naming the file."""
    try:
        atomic.write_text(path, text)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror}") from None


def _calibrate(args: argparse.Namespace) -> int:
    out = Path(args.out)
    _unwritable(out, "--out")
    say = _say(args)
    say(f"calibrating this host{' (quick)' if args.quick else ''}:")
    report = calibrate(progress=say, quick=args.quick)
    write_atomically(out, report.to_profile_toml())
    print(report.summary())
    print(f"wrote {out} ({report.elapsed_s:.1f} s of measurements)")
    return 0


def _load_report(path: str) -> dict:
    """An earlier validate.json; a file that is not one is one line naming it."""
    try:
        with open(path, encoding="utf-8") as fh:
            report = json.load(fh)
    except OSError as exc:
        raise ConfigError(f"--from {path}: cannot read: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--from {path}: not JSON: {exc}") from None
    if not isinstance(report, dict) or not isinstance(report.get("rows"), list):
        raise ConfigError(f"--from {path}: expected an iosim validate report (validate.json) "
                          "with a 'rows' list")
    return report


def _write_report(result, out: Path, args: argparse.Namespace) -> int:
    try:
        result.write_json(out / "validate.json")
        result.write_csv(out / "validate.csv")
        charts = write_chart(result, out / "validate")
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write the report: {exc.strerror}") from None
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    print(result.table())
    goal = "met" if accuracy_goal_met(result) else "not met"
    print(f"goal (ratios within 10 %, throughput within 25 %): {goal}")
    print(f"wrote {out / 'validate.csv'}, {out / 'validate.json'}, "
          f"{', '.join(str(c) for c in charts)}")
    return 0


def _repredict(args: argparse.Namespace) -> int:
    if not args.profile:
        raise ConfigError("--from needs --profile FILE: the profile to predict with")
    profile = load_profile(args.profile)
    report = _load_report(args.from_file)
    out = Path(args.out)
    if (out / "validate.json").resolve() == Path(args.from_file).resolve():
        raise ConfigError(f"--out {out}: would overwrite --from {args.from_file}; name "
                          "another directory")
    _unwritable(out, "--out", directory=True)
    try:
        result = repredict(report, profile)
    except ValueError as exc:
        raise ConfigError(f"--from {args.from_file}: {exc}") from None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot create the output directory: {exc.strerror}"
                          ) from None
    return _write_report(result, out, args)


def _validate(args: argparse.Namespace) -> int:
    if args.from_file:
        return _repredict(args)
    out = Path(args.out)
    profile = load_profile(args.profile) if args.profile else None  # bad input: fail first
    _unwritable(out, "--out", directory=True)
    say = _say(args)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot create the output directory: {exc.strerror}"
                          ) from None
    if profile is None:
        say(f"calibrating this host first{' (quick)' if args.quick else ''}:")
        path = out / "host.toml"
        write_atomically(path, calibrate(progress=say, quick=args.quick).to_profile_toml())
        say(f"wrote {path}")
        profile = load_profile(path)
    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    repeats = args.repeats or (QUICK_REPEATS if args.quick else DEFAULT_REPEATS)
    say("real transfers over 127.0.0.1 and their simulation:")
    placements = args.placement or (("same",) if args.quick else PLACEMENTS)
    congestion = args.cc if args.cc is not None else (() if args.quick else None)
    result = validate(profile, sizes, args.paths, args.buffer, repeats, progress=say,
                      placements=placements, congestion=congestion)
    return _write_report(result, out, args)


def run(args: argparse.Namespace) -> int:
    """Carry out ``iosim calibrate`` or ``iosim validate``."""
    return _calibrate(args) if args.command == "calibrate" else _validate(args)
