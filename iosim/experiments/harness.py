"""What every experiment shares: its options, its runs (with progress), its CSV, its output.

Each row of an experiment's CSV records the exact ``iosim.simulate`` call behind it (the
``inputs`` column, JSON) next to what that call returned, so anyone can replay a row and
get the same numbers: the charts are never further from the model than one function call.

Every experiment takes the same options: ``--quick`` (seconds), ``--out DIR`` (default
``out/NAME``), ``--profile NAME|FILE.toml``, ``--set KEY=VALUE`` (repeatable), ``--size``
and ``--quiet``. A progress bar goes to stderr when it is a terminal (after two seconds);
Ctrl-C writes the rows that finished to the CSV and stops.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from iosim import units
from iosim.atomic import replacing, unwritable
from iosim.config import DEFAULT_PROFILE, ConfigError
from iosim.events import Event
from iosim.result import Result
from iosim.simulate import simulate
from iosim.trace import Tracer

PROGRESS_DELAY_S = 2.0  # a bar appears only for work that lasts longer than this


@dataclass(frozen=True)
class Case:
    """The inputs of one ``iosim.simulate`` call."""

    path: str
    size_bytes: int
    profile: str = DEFAULT_PROFILE
    seed: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)
    scenario: dict[str, Any] = field(default_factory=dict)

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``iosim.simulate`` (JSON-ready, so a CSV row can replay)."""
        return {"path": self.path, "size_bytes": self.size_bytes, "profile": self.profile,
                "seed": self.seed, "overrides": dict(self.overrides), **self.scenario}

    def run(self, tracer: Tracer | None = None) -> Result:
        """Simulate this case."""
        return simulate(**self.kwargs(), tracer=tracer)


@dataclass(frozen=True)
class Planned:
    """One run of an experiment: its own labels (CSV columns) and the call to make."""

    case: Case
    labels: dict[str, Any] = field(default_factory=dict)


@dataclass
class Done:
    """A finished run: what was planned, what it returned, its events if traced."""

    planned: Planned
    result: Result
    events: list[Event] = field(default_factory=list)

    @property
    def labels(self) -> dict[str, Any]:
        return self.planned.labels


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during an experiment; ``kept`` says what of it was kept (it follows
    "iosim: interrupted")."""

    def __init__(self, kept: str) -> None:
        super().__init__(kept)
        self.kept = kept


def result_columns(result: Result) -> dict[str, Any]:
    """The scalar fields of a Result as CSV columns; dict fields flattened, lists left out."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        if f.name == "utilization":
            out.update({f"util_{k}": v for k, v in value.items()})
        elif f.name == "cpu_time_by_category":
            out.update({f"cpu_time_{k}_s": v for k, v in value.items()})
        elif not isinstance(value, dict | list):
            out[f.name] = value
    return out


def row(case: Case, result: Result, **labels: Any) -> dict[str, Any]:
    """One CSV row: the experiment's own labels, the result, and the replayable inputs."""
    return {**labels, **result_columns(result),
            "inputs": json.dumps(case.kwargs(), sort_keys=True)}


def cell(value: Any) -> str:
    """How a value is written to the CSV; ``repr`` of a float round-trips exactly."""
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def write_csv(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write rows (columns in first-seen order) atomically: temporary file, then rename."""
    path = Path(path)
    columns: dict[str, None] = {}
    for r in rows:
        columns.update(dict.fromkeys(r))
    with replacing(path, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns))
        writer.writeheader()
        for r in rows:
            writer.writerow({k: cell(v) for k, v in r.items()})
    return path


def _set_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE like nic.rate=25Gbit/s, "
                                         f"got {text!r}")
    return key.strip(), value.strip()


def _size(text: str) -> int:
    try:
        return units.parse_size(text)
    except units.UnitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_args(name: str, doc: str, argv: Sequence[str] | None, profile: str,
               size_help: str, more: Callable[[argparse.ArgumentParser], None] | None = None
               ) -> argparse.Namespace:
    """The options every experiment takes; ``profile`` is the experiment's default, ``more``
    adds the experiment's own.

    ``args.overrides`` is the ``--set`` pairs as a dict, ``args.size_bytes`` the ``--size``
    (None when not given: the experiment's own size, ``size_help`` says which).
    """
    parser = _Parser(prog=f"iosim experiment {name}", description=doc.strip().splitlines()[0],
                     epilog=f"python -m iosim.experiments.{name} takes the same options.")
    parser.add_argument("--quick", action="store_true",
                        help="a few small runs that finish in seconds")
    parser.add_argument("--out", type=Path, default=Path("out") / name, metavar="DIR",
                        help=f"directory for the CSV and charts (default out/{name})")
    parser.add_argument("--profile", default=profile, metavar="NAME|FILE.toml",
                        help=f"hardware profile, e.g. a calibrated host.toml (default {profile})")
    parser.add_argument("--set", dest="overrides", action="append", type=_set_pair, default=[],
                        metavar="KEY=VALUE", help="change a profile value, e.g. "
                        "nic.rate=25Gbit/s (repeatable; not a key the experiment varies)")
    parser.add_argument("--size", dest="size_bytes", type=_size, metavar="SIZE",
                        help=size_help)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    if more is not None:
        more(parser)
    args = parser.parse_args(argv)
    if problem := unwritable(args.out, directory=True):  # before any run, not after them
        raise ConfigError(f"--out {args.out}: cannot write: {problem}")
    args.overrides = dict(args.overrides)
    args.name = name
    return args


def overrides(args: argparse.Namespace, varied: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    """The user's ``--set`` values plus the ones this run varies; a clash is an error."""
    varied = varied or {}
    clash = sorted(set(args.overrides) & set(varied))
    if clash:
        raise ConfigError(f"--set {clash[0]}: this experiment varies {clash[0]} itself; "
                          f"expected another key")
    return {**args.overrides, **varied}


def progress(args: argparse.Namespace, total: int, unit: str = "run") -> tqdm:
    """A progress bar on stderr: only on a terminal, not with ``--quiet``, after 2 s."""
    return tqdm(total=total, desc=args.name, unit=unit, file=sys.stderr, leave=False,
                delay=PROGRESS_DELAY_S, disable=args.quiet or not sys.stderr.isatty())


def execute(args: argparse.Namespace, plan: Sequence[Planned], traced: bool = False,
            csv_name: str | None = None) -> list[Done]:
    """Run every planned case in order, with a progress bar; write the CSV of them all.

    On Ctrl-C the rows that finished are written to the CSV and ``Interrupted`` is raised.
    """
    done: list[Done] = []
    csv_path = args.out / f"{csv_name or args.name}.csv"
    with progress(args, len(plan)) as bar:
        try:
            for planned in plan:
                tracer = Tracer() if traced else None
                result = planned.case.run(tracer)
                done.append(Done(planned, result, tracer.sorted_events() if traced else []))
                bar.update()
        except KeyboardInterrupt:
            if not done:
                raise
            raise Interrupted(f" after {len(done)} of {len(plan)} runs; wrote them to "
                              f"{_write_rows(done, csv_path)}") from None
    _write_rows(done, csv_path)
    return done


def _write_rows(done: Iterable[Done], path: Path) -> Path:
    return write_csv([row(d.planned.case, d.result, **d.labels) for d in done], path)


def announce(files: Iterable[Path]) -> None:
    """Say where the experiment wrote its files."""
    for f in files:
        print(f"wrote {f}")


def entry_point(main: Callable[[Sequence[str] | None], int]) -> Callable[[], int]:
    """``python -m iosim.experiments.NAME``: bad input is one line and exit status 2,
    Ctrl-C says what was kept and exits 130, as ``iosim experiment NAME`` does."""

    def run() -> int:
        try:
            return main(None)
        except ConfigError as exc:
            print(f"iosim: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as exc:
            print(interrupted_message(exc), file=sys.stderr)
            return 130

    return run


def interrupted_message(exc: KeyboardInterrupt) -> str:
    """What an interrupted experiment kept."""
    return f"iosim: interrupted{exc.kept}" if isinstance(exc, Interrupted) else (
        "iosim: interrupted")
