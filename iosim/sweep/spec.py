"""Sweep specs: a TOML file naming a base run and a grid of values to vary (docs/sweep.md).

A spec is expanded into grid points and every point's profile and scenario are built, so
a bad key or value is reported before the first run starts, in one line naming the key.
Keys are checked against ``config.SCHEMA`` and ``config.SCENARIO_DEFAULTS`` at run time,
so new profile or scenario keys are sweepable as soon as the core knows them.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iosim import units
from iosim.config import (
    DEFAULT_PROFILE,
    SCENARIO_DEFAULTS,
    SCHEMA,
    ConfigError,
    Profile,
    known_keys,
    load_profile,
    make_scenario,
    read_toml,
)
from iosim.limits import available_memory_bytes
from iosim.paths import PATHS
from iosim.server import spec as serve_spec
from iosim.sweep.store import run_key

ALIASES = {"size": "size_bytes"}
RANGE_KEYS = ("start", "stop", "num", "scale", "step", "factor")
TOP_LEVEL = ("description", "base", "grid", "run")
RUNS = ("simulate", "serve")  # what each point runs: iosim.simulate or iosim.serve
MAX_POINTS = 1_000_000  # runs in one sweep: its rows are held in memory
CLIENT_BYTES_PER_POINT = 16 * 1024  # a point, its kept record and its row (~10 KiB measured)


@dataclass(frozen=True)
class Point:
    """One run of a sweep: the arguments of ``simulate`` and the columns that describe it."""

    path: str
    size: Any
    profile: str
    """Bundled profile name or absolute path of a profile file."""
    overrides: tuple[tuple[str, Any], ...]
    scenario: tuple[tuple[str, Any], ...]
    """Scenario keys other than path and size, seed included, as the spec wrote them."""
    inputs: dict[str, Any]
    """Row columns: path, profile, every scenario key and the profile keys the spec sets."""
    key: str
    """Run-store key: hash of the effective profile, scenario and iosim version."""
    serve: bool = False
    """A server run (``run = "serve"``): ``scenario`` holds ServeSpec keys, path included."""

    def build(self, origin: str = "sweep", loaded: dict[str, Profile] | None = None
              ) -> tuple[Profile, Any]:
        """The effective profile (before the path's own overrides) and scenario of this run.

        ``loaded`` keeps base profiles between calls; a caller holds it for one sweep or
        batch only, so an edited profile file is read afresh by the next sweep.
        """
        loaded = {} if loaded is None else loaded
        if self.profile not in loaded:
            loaded[self.profile] = load_profile(self.profile)
        profile = loaded[self.profile]
        if self.overrides:
            profile = profile.with_overrides(dict(self.overrides), origin=origin)
        if self.serve:
            return profile, serve_spec.make_spec(PATHS, origin, profile=self.profile,
                                                 **dict(self.scenario))
        scenario = make_scenario(self.path, self.size, PATHS, origin=origin,
                                 **dict(self.scenario))
        return profile, scenario


@dataclass(frozen=True)
class SweepSpec:
    """A parsed spec: fixed values and grid axes, keys in canonical form."""

    name: str
    source: str
    base: dict[str, Any]
    axes: dict[str, list[Any]]
    """Key -> values, in spec order; the first axis varies slowest."""
    directory: Path
    """Where relative profile paths are resolved: the spec file's folder."""
    serve: bool = False
    """Points are ``iosim.serve`` runs (``run = "serve"``)."""

    def points(self, version: str) -> list[Point]:
        """Every grid point, in grid order, each validated by building its inputs."""
        loaded: dict[str, Profile] = {}
        profiles: dict[tuple, dict[str, Any]] = {}  # built once per distinct profile
        return [self._point(dict(zip(self.axes, combo, strict=True)), loaded, profiles,
                            version)
                for combo in itertools.product(*self.axes.values())]

    def _point(self, chosen: dict[str, Any], loaded: dict[str, Profile],
               profiles: dict[tuple, dict[str, Any]], version: str) -> Point:
        values = {**self.base, **chosen}
        if self.serve:
            return self._serve_point(values, chosen, loaded, profiles, version)
        for key, what in (("path", "path"), ("size_bytes", "size")):
            if key not in values:
                raise ConfigError(f"{self.source}: no {what}: set {what!r} in [base] or [grid]")
        origin, profile_name, ref, overrides = self._where(values, chosen)
        options = tuple((k, v) for k, v in values.items()
                        if k not in ("path", "profile", "size_bytes") and "." not in k)
        point = Point(values["path"], values["size_bytes"], ref, overrides, options, {}, "")
        try:
            if (ref, overrides) not in profiles:
                profiles[ref, overrides] = point.build(origin, loaded)[0].to_dict()
            scenario = make_scenario(point.path, point.size, PATHS, origin=origin,
                                     **dict(options))
        except ConfigError as exc:
            text = str(exc)
            raise ConfigError(text if text.startswith(self.source) else
                              f"{self.source}: {text}") from None
        profile_dict, scenario_dict = profiles[ref, overrides], scenario.to_dict()
        inputs = {"path": point.path, "profile": profile_name,
                  **{k: v for k, v in scenario_dict.items() if k != "path"},
                  **dict(_profile_column(profile_dict, k) for k, _ in overrides)}
        return dataclasses.replace(point, inputs=inputs,
                                   key=run_key(profile_dict, scenario_dict, version))


    def _where(self, values: dict[str, Any], chosen: dict[str, Any]
               ) -> tuple[str, str, str, tuple[tuple[str, Any], ...]]:
        """A point's origin for messages, its profile name, the profile's reference (a file
        resolved against the spec's folder) and its profile overrides."""
        origin = self.source + (" (" + ", ".join(f"{k}={v!r}" for k, v in chosen.items()) + ")"
                                if chosen else "")
        profile_name = values.get("profile", DEFAULT_PROFILE)
        if not isinstance(profile_name, str):
            raise ConfigError(f"{origin}: key 'profile': expected a profile name or a .toml "
                              f"file, got {profile_name!r}")
        ref = str((self.directory / profile_name).resolve()) if profile_name.endswith(
            ".toml") else profile_name
        return origin, profile_name, ref, tuple((k, v) for k, v in values.items() if "." in k)

    def _serve_point(self, values: dict[str, Any], chosen: dict[str, Any],
                     loaded: dict[str, Profile], profiles: dict[tuple, dict[str, Any]],
                     version: str) -> Point:
        """A server run's point: ServeSpec keys and profile keys."""
        origin, profile_name, ref, overrides = self._where(values, chosen)
        options = tuple((k, v) for k, v in values.items() if k != "profile" and "." not in k)
        point = Point(dict(options).get("path", serve_spec.DEFAULTS["path"]), None, ref,
                      overrides, options, {}, "", serve=True)
        try:
            if (ref, overrides) not in profiles:
                profiles[ref, overrides] = point.build(origin, loaded)[0].to_dict()
            built = serve_spec.make_spec(PATHS, origin, profile=ref, **dict(options))
        except ConfigError as exc:
            text = str(exc)
            raise ConfigError(text if text.startswith(self.source) else
                              f"{self.source}: {text}") from None
        spec_dict = built.to_dict()
        inputs = {"path": built.path, "profile": profile_name,
                  **{k: v for k, v in spec_dict.items() if k not in ("path", "profile")},
                  **dict(_profile_column(profiles[ref, overrides], k) for k, _ in overrides)}
        return dataclasses.replace(point, inputs=inputs,
                                   key=run_key(profiles[ref, overrides], spec_dict, version))


def _profile_column(profile_dict: dict[str, Any], dotted: str) -> tuple[str, Any]:
    """``nic.rate`` -> (``nic.rate_bytes_per_s``, value): the field name carries the unit.

    ``Profile.to_dict()`` lists each section's fields in ``SCHEMA`` order.
    """
    section, key = dotted.split(".")
    fields = profile_dict[section]
    field = list(fields)[list(SCHEMA[section]).index(key)]
    return f"{section}.{field}", fields[field]


def load_spec(spec: str | Path | Mapping[str, Any]) -> SweepSpec:
    """Parse a spec file (or an already-parsed mapping) and check its keys and shapes."""
    if isinstance(spec, Mapping):
        data, source, name, directory = dict(spec), "sweep spec", "sweep", Path.cwd()
    else:
        path = Path(spec)
        source, name, directory = str(path), path.stem, path.parent
        data = read_toml(path, "sweep spec")
    for key in data:
        if key not in TOP_LEVEL:
            raise ConfigError(f"{source}: unknown top-level key {key!r}; expected "
                              f"{', '.join(TOP_LEVEL)}")
    run = data.get("run", "simulate")
    if run not in RUNS:
        raise ConfigError(f"{source}: key 'run': expected one of {', '.join(RUNS)}, got "
                          f"{run!r}")
    serve = run == "serve"
    base = _table(data, "base", source, serve)
    grid = _table(data, "grid", source, serve)
    for key, value in base.items():
        if isinstance(value, list | dict):
            raise ConfigError(f"{source}: [base] key {key!r}: expected one value, got "
                              f"{value!r}; lists and ranges go in [grid]")
        _check_scalar(value, f"{source}: [base] key {key!r}")
    axes: dict[str, list[Any]] = {}
    for key, value in grid.items():
        if key in base:
            raise ConfigError(f"{source}: key {key!r} is in both [base] and [grid]")
        axes[key] = _axis_values(key, value, source)
    points = math.prod(len(values) for values in axes.values())
    if points > MAX_POINTS:
        raise ConfigError(f"{source}: the grid has {points:,} points; at most {MAX_POINTS:,} "
                          f"per sweep: split it into several specs")
    free = available_memory_bytes()
    if free is not None and points * CLIENT_BYTES_PER_POINT > free:
        raise ConfigError(f"{source}: the grid has {points:,} points; their rows need about "
                          f"{units.format_size(points * CLIENT_BYTES_PER_POINT)} of memory "
                          f"({CLIENT_BYTES_PER_POINT // 1024} KiB each) and this machine has "
                          f"{units.format_size(free)} available: split it into several specs")
    return SweepSpec(name, source, base, axes, directory, serve)


def _check_scalar(value: Any, where: str) -> None:
    if not isinstance(value, str | int | float | bool):
        raise ConfigError(f"{where}: expected a string, a number or true/false, "
                          f"got {value!r}")


def _table(data: Mapping[str, Any], table: str, source: str, serve: bool = False
           ) -> dict[str, Any]:
    """The [base] or [grid] table with canonical keys; ``[grid.nic] rate`` -> ``nic.rate``."""
    raw = data.get(table, {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {table!r}: expected a [{table}] table")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in SCHEMA and isinstance(value, dict):
            for sub, subvalue in value.items():
                out[_check_key(f"{key}.{sub}", table, source)] = subvalue
        else:
            out[_check_key(key, table, source, serve)] = value
    return out


def _check_key(key: str, table: str, source: str, serve: bool = False) -> str:
    if serve:
        key = serve_spec.ALIASES.get(key, key)
        if key in serve_spec.DEFAULTS or key in known_keys():
            return key
        close = difflib.get_close_matches(key, [*serve_spec.DEFAULTS, *known_keys()], n=3)
        hint = (f"did you mean {' or '.join(close)}?" if close else
                f"expected a serve key ({', '.join(serve_spec.DEFAULTS)}) or a profile key "
                f"like nic.rate")
        raise ConfigError(f"{source}: [{table}] unknown key {key!r}; {hint}")
    key = ALIASES.get(key, key)
    scenario_keys = ["size_bytes", *SCENARIO_DEFAULTS]
    if key in ("path", "profile") or key in scenario_keys or key in known_keys():
        return key
    known = ["path", "profile", "size", *scenario_keys, *known_keys()]
    close = difflib.get_close_matches(key, known, n=3)
    hint = (f"did you mean {' or '.join(close)}?" if close else
            f"expected path, profile, a scenario key ({', '.join(scenario_keys)}) or a "
            f"profile key like nic.rate")
    raise ConfigError(f"{source}: [{table}] unknown key {key!r}; {hint}")


def _axis_values(key: str, value: Any, source: str) -> list[Any]:
    where = f"{source}: [grid] key {key!r}"
    if key == "path" and value == "all":
        return list(PATHS)
    if isinstance(value, list):
        if not value:
            raise ConfigError(f"{where}: expected at least one value, got []")
        for item in value:
            _check_scalar(item, where)
        return value
    if isinstance(value, dict):
        return _range(key, value, where)
    raise ConfigError(f"{where}: expected a list or a range table like "
                      f"{{start=..., stop=..., num=...}}, got {value!r}")


def _unit(key: str) -> tuple[Any, bool] | None:
    """(parser, whole numbers only) for a key's values, from its schema kind or name."""
    if "." in key:
        section, name = key.split(".")
        kind = SCHEMA[section][name][0]
        return {"time": (units.parse_time, False), "size": (units.parse_size, True),
                "rate": (units.parse_rate, False), "count": (_number, True)}.get(kind)
    if key in ("path", "profile", "cache", "model", "arrival"):
        return None
    if key.endswith("_bytes"):
        return units.parse_size, True
    if key.endswith("_s"):
        return units.parse_time, False
    default = SCENARIO_DEFAULTS.get(key, serve_spec.DEFAULTS.get(key))
    return _number, key == "seed" or (isinstance(default, int) and not isinstance(default, bool))


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise units.UnitError(f"expected a number, got {value!r}")
    return value


def _range(key: str, table: dict[str, Any], where: str) -> list[Any]:
    """Expand ``{start, stop, num [, scale]}``, ``{start, stop, step}`` or ``{..., factor}``."""
    unit = _unit(key)
    if unit is None:
        raise ConfigError(f"{where}: a range needs a numeric key; list the values instead")
    parse, whole = unit
    for k in table:
        if k not in RANGE_KEYS:
            raise ConfigError(f"{where}: unknown range key {k!r}; expected start, stop and "
                              f"one of num (with scale), step or factor")
    how = [k for k in ("num", "step", "factor") if k in table]
    if "start" not in table or "stop" not in table or len(how) != 1:
        raise ConfigError(f"{where}: a range needs start, stop and one of num, step or factor")
    if "scale" in table and how != ["num"]:
        raise ConfigError(f"{where}: 'scale' goes with 'num'")
    try:
        start, stop = parse(table["start"]), parse(table["stop"])
        step = parse(table["step"]) if how == ["step"] else None
        count = _number(table["num"]) if how == ["num"] else None
        factor = _number(table["factor"]) if how == ["factor"] else None
    except units.UnitError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if stop < start:
        raise ConfigError(f"{where}: expected stop >= start")
    if count is not None:
        scale = table.get("scale", "linear")
        if count != int(count) or count < 1:
            raise ConfigError(f"{where}: 'num' must be a whole number >= 1, got {count!r}")
        if scale not in ("linear", "log"):
            raise ConfigError(f"{where}: 'scale' must be 'linear' or 'log', got {scale!r}")
        if scale == "log" and start <= 0:
            raise ConfigError(f"{where}: a log scale needs start > 0")
        n = _range_length(int(count), where)
        values = [start if n == 1 else
                  start * (stop / start) ** (i / (n - 1)) if scale == "log" else
                  start + (stop - start) * i / (n - 1) for i in range(n)]
    elif step is not None:
        if step <= 0:
            raise ConfigError(f"{where}: 'step' must be positive")
        n = _range_length(math.floor((stop - start) / step + 1e-9) + 1, where)
        values = [start + i * step for i in range(n)]
    else:
        if factor <= 1 or start <= 0:
            raise ConfigError(f"{where}: 'factor' needs factor > 1 and start > 0")
        n = _range_length(math.floor(math.log(stop / start, factor) + 1e-9) + 1,
                          where)  # counted before a value is built
        values = [start * factor ** i for i in range(n)]
    # Round away float noise (1.2499999999e9) so equal values hash to the same stored run.
    rounded = [round(v) if whole else float(f"{v:.12g}") for v in values]
    if parse is units.parse_rate:  # a rate keeps its unit: a bare number would be refused
        return list(dict.fromkeys(f"{v!r}B/s" for v in rounded))
    return list(dict.fromkeys(rounded))


def _range_length(n: int, where: str) -> int:
    if n > MAX_POINTS:
        raise ConfigError(f"{where}: the range has {n:,} values; at most {MAX_POINTS:,}")
    return n
