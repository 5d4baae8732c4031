"""What every script in ``experiments/`` shares: its arguments, its runs, its CSV, its output.

Each row of an experiment's CSV records the exact ``iosim.simulate`` call behind it (the
``inputs`` column, JSON) next to what that call returned, so anyone can replay a row and
get the same numbers: the charts are never further from the model than one function call.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import importlib.util
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iosim.atomic import replacing
from iosim.config import DEFAULT_PROFILE, ConfigError
from iosim.result import Result
from iosim.simulate import simulate
from iosim.trace import Tracer

EXPERIMENTS_DIR = Path(__file__).resolve().parent.parent / "experiments"
_after_run: list[Callable[[], None]] = []  # called after every Case.run: progress bars


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
        result = simulate(**self.kwargs(), tracer=tracer)
        for hook in _after_run:
            hook()
        return result


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


def parse_args(name: str, doc: str, argv: Sequence[str] | None) -> argparse.Namespace:
    """``--quick`` (seconds, for tests) and ``--out DIR`` (default ``out/NAME``)."""
    parser = argparse.ArgumentParser(prog=f"experiments/{name}.py",
                                     description=doc.strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a few small runs that finish in seconds")
    parser.add_argument("--out", type=Path, default=Path("out") / name,
                        help=f"directory for the CSV and charts (default out/{name})")
    return parser.parse_args(argv)


def announce(files: Iterable[Path]) -> None:
    """Say where the experiment wrote its files."""
    for f in files:
        print(f"wrote {f}")


def available() -> list[str]:
    """The experiments of this source tree, by name."""
    return sorted(p.stem for p in EXPERIMENTS_DIR.glob("[a-z]*.py"))


def check_name(name: str) -> None:
    """Refuse anything but the name of a listed experiment (never a path to some .py)."""
    known = available()
    if name not in known:
        listed = ", ".join(known) or f"none: {EXPERIMENTS_DIR} is missing"
        raise ConfigError(f"unknown experiment {name!r}: expected one of {listed}")


def run_experiment(name: str, argv: Sequence[str],
                   on_run: Callable[[], None] | None = None) -> int:
    """Run ``experiments/NAME.py`` with ``argv``; the scripts live outside the package.

    ``on_run`` is called after each of its simulations (a progress bar counts them).
    """
    check_name(name)
    script = EXPERIMENTS_DIR / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"iosim_experiment_{name}", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    if on_run is not None:
        _after_run.append(on_run)
    try:
        spec.loader.exec_module(module)
        return module.main(list(argv))
    finally:
        if on_run is not None:
            _after_run.remove(on_run)
