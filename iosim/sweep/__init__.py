"""Parameter sweeps: every point of a grid simulated once, in parallel, kept on disk.

``sweep(spec)`` validates every grid point first, reuses the runs already in
``OUT/runs/`` (so an interrupted sweep, run again, computes only what is missing), sends
the rest in small batches to an executor (local processes or a Dask cluster), stores each
finished run as it arrives, and returns one row per grid point in grid order. A run whose
simulation raises is stored with its error; the sweep goes on. See docs/sweep.md.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from iosim import atomic
from iosim._version import __version__, model_version
from iosim.config import ConfigError, Profile
from iosim.server.run import run as run_server
from iosim.simulate import simulate
from iosim.sweep.executors import (
    Pool,
    available_cores,
    check_pool_options,
    open_pool,
    writing,
)
from iosim.sweep.spec import Point, load_spec
from iosim.sweep.store import RunStore, run_key
from iosim.sweep.table import make_row, to_frame, write_csv, write_parquet

MAX_BATCH_RUNS = 8  # per task: amortises executor overhead, bounds the work lost on a kill
BATCHES_PER_SLOT = 4  # enough batches that every worker stays busy until the end
KEPT_RECORD_FIELDS = ("key", "error", "result")  # what a row needs of a run, in memory


@dataclass
class SweepReport:
    """A finished sweep: its rows in grid order, where they were written, what was run."""

    rows: list[dict[str, Any]]
    out_dir: Path
    files: list[Path]
    computed: int
    """Distinct runs simulated by this call, failed ones included."""
    reused: int
    """Distinct runs found in the store and not simulated again."""
    inputs: tuple[str, ...] = ()
    """The input columns of a row (the rest are results)."""
    failed: int = field(init=False)
    """Rows with an error."""

    def __post_init__(self) -> None:
        self.failed = sum(row["error"] is not None for row in self.rows)

    def table(self) -> Any:
        """The rows as a pandas DataFrame, or as a list of dicts without pandas."""
        return to_frame(self.rows)

    def describe(self, row: dict[str, Any]) -> str:
        """Which run a row is: the inputs that vary across the sweep, and its stored file."""
        inputs = [c for c in self.rows[0] if c == "path" or c in self.varied] if self.rows else []
        named = ", ".join(f"{c}={row[c]!r}" for c in inputs)
        return f"({named}) {self.out_dir / 'runs' / (row['key'] + '.json')}"

    @property
    def varied(self) -> list[str]:
        """Input columns whose values differ between rows."""
        first = self.rows[0] if self.rows else {}
        return [c for c in first if c not in ("error", "key") and c in self.inputs
                and any(row.get(c) != first[c] for row in self.rows)]


def sweep(spec: str | Path | Mapping[str, Any], out_dir: str | Path | None = None,
          workers: int | None = None, scheduler: str | None = None,
          progress: bool | None = None) -> Any:
    """Run a sweep and return its table (a DataFrame with pandas, else a list of dicts).

    ``spec`` is a TOML file or the same structure as a mapping; see ``run_sweep`` for the
    other arguments. Raises ``ConfigError`` on a bad spec, before any run.
    """
    return run_sweep(spec, out_dir, workers, scheduler, progress=progress).table()


def run_sweep(spec: str | Path | Mapping[str, Any], out_dir: str | Path | None = None,
              workers: int | None = None, scheduler: str | None = None,
              executor: Executor | None = None, progress: bool | None = None,
              on_start: Callable[[], None] | None = None) -> SweepReport:
    """Run a sweep and report its rows and how many runs were computed and reused.

    Results go to ``out_dir`` (default ``sweeps/SPEC_NAME``): ``runs/`` holds one file per
    run, ``results.csv`` (and ``results.parquet`` with pyarrow) the table. Runs execute on
    ``executor`` if given, else on ``workers`` local processes (default: all cores), else on
    the Dask cluster at ``scheduler`` (``tcp://HOST:PORT``, or ``local``). ``progress``
    shows a bar (default: when stderr is a terminal). ``on_start`` is called once every
    input is checked and the workers are up, before the first run.
    """
    if executor is None:
        check_pool_options(workers, scheduler)
    parsed = load_spec(spec)
    out = Path(out_dir) if out_dir is not None else Path("sweeps") / parsed.name
    for path, directory in ((out, True), (out / "runs", True), (out / "results.csv", False)):
        if problem := atomic.unwritable(path, directory):
            raise ConfigError(f"--out {path}: cannot write: {problem}")
    points = parsed.points(model_version())
    start = on_start or (lambda: None)
    store = RunStore(out / "runs")  # created when the first run is stored
    records = {p.key: _kept(r) for p in points if (r := store.get(p.key)) is not None}
    reused = len(records)
    pending = list({p.key: p for p in points if p.key not in records}.values())
    bar = {"total": reused + len(pending), "initial": reused, "unit": "run",
           "disable": None if progress is None else not progress}
    if pending and executor is not None:
        start()
        _execute(pending, Pool(executor, workers or available_cores(), parsed.name, False),
                 store, records, {**bar, "desc": parsed.name})
    elif pending:
        with open_pool(workers, scheduler) as pool:
            start()
            _execute(pending, pool, store, records,
                     {**bar, "desc": f"{parsed.name} on {pool.description}"})
    else:
        start()
    rows = [make_row(p.inputs, records[p.key]) for p in points]
    files = [out / "results.csv"]
    try:
        write_csv(rows, files[0])
        if write_parquet(rows, out / "results.parquet"):
            files.append(out / "results.parquet")
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write the results: {exc.strerror}") from None
    inputs = tuple(points[0].inputs) if points else ()
    return SweepReport(rows, out, files, len(pending), reused, inputs)


def _kept(record: dict[str, Any]) -> dict[str, Any]:
    """The part of a stored record a row needs: its result without the profile and
    scenario the row's inputs already hold (a third of the memory of a whole record)."""
    kept = {k: record[k] for k in KEPT_RECORD_FIELDS}
    if kept["result"] is not None:
        kept["result"] = {k: v for k, v in kept["result"].items()
                          if k not in ("profile", "scenario", "spec")}
    return kept


def _execute(pending: list[Point], pool: Pool, store: RunStore,
             records: dict[str, dict[str, Any]], bar_options: dict[str, Any]) -> None:
    """Run ``pending`` in batches and store every run.

    Workers that share this machine's disk store each run the moment it finishes; for
    others this process stores a batch's runs when it returns. A batch that fails outside
    the simulation (a worker died, a cluster went away) gives its runs an error row but is
    not stored, so running the sweep again retries it. The progress bar starts after the
    batches are submitted: a process pool forks its workers then, before the bar's monitor
    thread exists.
    """
    size = max(1, min(MAX_BATCH_RUNS, len(pending) // (pool.slots * BATCHES_PER_SLOT)))
    batches = [pending[i:i + size] for i in range(0, len(pending), size)]
    try:
        store.directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {store.directory}: cannot create it: {exc.strerror}"
                          ) from None
    store_dir = str(store.directory.resolve()) if pool.same_disk else None
    futures: dict[Future, list[Point]] = {}
    try:
        for batch in batches:
            futures[pool.executor.submit(run_batch, batch, store_dir)] = batch
        with tqdm(**bar_options) as bar:
            for future in as_completed(futures):
                batch = futures.pop(future)  # forget the future: its records are big
                try:
                    done = future.result()
                except Exception as exc:  # the executor's failure, not the simulation's
                    records.update((p.key, _record(p.key, error=exc)) for p in batch)
                else:
                    for record in done:
                        if store_dir is None:
                            store.put(record["key"], record)
                        records[record["key"]] = _kept(record)
                bar.update(len(batch))
    finally:
        for future in futures:
            future.cancel()


def run_batch(points: list[Point], store_dir: str | None = None) -> list[dict[str, Any]]:
    """Simulate ``points`` one after another (in a worker), storing each run in
    ``store_dir`` as it finishes if given."""
    loaded: dict[str, Profile] = {}
    store = RunStore(store_dir) if store_dir is not None else None
    records = []
    for point in points:
        records.append(run_point(point, loaded))
        if store is not None:
            with writing():  # a SIGTERM (the sweep died) waits until the file is whole
                store.put(point.key, records[-1])
    return records


def run_point(point: Point, loaded: dict[str, Profile] | None = None) -> dict[str, Any]:
    """Simulate one point and return its store record; a simulation error is recorded."""
    profile, scenario = point.build(loaded=loaded)
    profile_dict, scenario_dict = profile.to_dict(), scenario.to_dict()
    if run_key(profile_dict, scenario_dict, model_version()) != point.key:
        raise RuntimeError(f"this worker builds other inputs for run {point.key} than the "
                           f"client (another iosim version or profile file?)")
    try:  # the spec's own values: what a file or a flag would give (rates with their unit)
        result = (run_server(profile, scenario) if point.serve else
                  simulate(point.path, point.size, profile=profile, **dict(point.scenario)))
        record = _record(point.key, profile_dict, scenario_dict, result=result.to_dict())
    except Exception as exc:
        record = _record(point.key, profile_dict, scenario_dict, error=exc)
    # JSON round trip: a computed record is exactly what a reused one will be.
    return json.loads(json.dumps(record))


def _record(key: str, profile: dict[str, Any] | None = None,
            scenario: dict[str, Any] | None = None, result: dict[str, Any] | None = None,
            error: BaseException | None = None) -> dict[str, Any]:
    """A store record: the hashed inputs, and the result or the error that replaced it."""
    return {"key": key, "iosim_version": __version__, "model": model_version(),
            "profile": profile, "scenario": scenario, "result": result,
            "error": None if error is None else f"{type(error).__name__}: {error}",
            "traceback": None if error is None else "".join(
                traceback.format_exception(error))}
