"""What a server run serves and how: the file set, the clients, the workers; validated once.

``make_spec`` takes what people type (``"64KiB"``, ``"100us"``, lists) from flags, a spec
TOML (``[serve]`` table) or keyword arguments and returns a frozen ``ServeSpec``, or raises
``ConfigError`` naming the key and what was expected.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iosim import units
from iosim.config import DEFAULT_PROFILE, ConfigError, read_toml

MODELS = ("loop", "threads")  # event-loop workers, or one blocking thread per connection
ARRIVALS = ("closed", "open")
MAX_FILES = 10_000_000  # the file set's state is a few objects per file
MAX_CONNECTIONS = 1_000_000  # each holds a socket, TCP state and a receiver: ~10 KB
MAX_WORKERS = 8192  # threads of one worker pool: as many as the cores Linux builds for


@dataclass(frozen=True)
class ServeSpec:
    """One server run. Sizes in bytes, times in seconds.

    Files: ``files`` of ``file_size_bytes`` each, or the sizes ``file_sizes_bytes`` (cycled
    over the files), or lognormal with median ``file_size_bytes`` and ``size_sigma`` (> 0);
    file ``i`` is requested with Zipf probability proportional to ``1 / (i + 1) ** zipf_alpha``
    (0: uniform). Clients: ``connections`` keep-alive connections of ``requests_per_connection``
    requests each (0: one connection for the whole run), in a closed loop (``think_time_s``
    between a response's last byte and the next request) or an open loop (Poisson arrivals at
    ``rate`` requests/s, spread over the connections). The run ends after ``requests``
    requests, or with the requests started before ``duration_s``.
    """

    path: str = "sendfile_sg"
    profile: str = DEFAULT_PROFILE
    connections: int = 1
    requests: int = 1
    duration_s: float | None = None
    files: int = 1
    file_size_bytes: int = 64 * 1024
    file_sizes_bytes: tuple[int, ...] = ()
    size_sigma: float = 0.0
    zipf_alpha: float = 0.0
    requests_per_connection: int = 0
    think_time_s: float = 0.0
    arrival: str = "closed"
    rate: float = 0.0
    header_bytes: int = 256
    workers: int = 0  # 0: one per core
    model: str = "loop"
    cache: str = "cold"
    buffer_bytes: int = 64 * 1024
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The effective spec, for the record."""
        out = dataclasses.asdict(self)
        out["file_sizes_bytes"] = list(self.file_sizes_bytes)
        return out


DEFAULTS = {f.name: f.default for f in dataclasses.fields(ServeSpec)}
_COUNTS = ("connections", "requests", "files", "requests_per_connection", "workers", "seed")
_SIZES = ("file_size_bytes", "header_bytes", "buffer_bytes")
_TIMES = ("duration_s", "think_time_s")
_FLOATS = ("size_sigma", "zipf_alpha", "rate")
ALIASES = {"file_size": "file_size_bytes", "file_sizes": "file_sizes_bytes",
            "header": "header_bytes", "buffer": "buffer_bytes", "duration": "duration_s",
            "think_time": "think_time_s", "think": "think_time_s"}


def _sizes(value: Any) -> tuple[int, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise units.UnitError(f"expected a list of sizes like [\"4KiB\", \"1MiB\"], got "
                              f"{units.describe(value)}")
    return tuple(units.parse_size(v.strip() if isinstance(v, str) else v) for v in items)


def _parse(key: str, value: Any) -> Any:
    if key in _COUNTS:
        return units.parse_count(value)
    if key in _SIZES:
        return units.parse_size(value)
    if key in _TIMES:
        return units.parse_time(value)
    if key in _FLOATS:
        return units.parse_number(value)
    if key == "file_sizes_bytes":
        return _sizes(value)
    if not isinstance(value, str):
        raise units.UnitError(f"expected a name, got {units.describe(value)}")
    return value.strip()


def make_spec(paths: Mapping[str, Any], origin: str = "serve",
              origins: Mapping[str, str] | None = None, **raw: Any) -> ServeSpec:
    """Validate raw serve inputs; ``origins`` names where each key came from."""
    origins = dict(origins or {})
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = ALIASES.get(key, key)
        if name not in DEFAULTS:
            known = [*DEFAULTS, *ALIASES]
            close = [k for k in known if k.startswith(key)][:1] or difflib.get_close_matches(
                key, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else (
                f"expected one of {', '.join(DEFAULTS)}")
            raise ConfigError(f"{origins.get(key, origin)}: unknown serve key {key!r}; {hint}")
        if value is None:
            continue
        try:
            values[name] = _parse(name, value)
        except units.UnitError as err:
            raise ConfigError(f"{origins.get(key, origin)}: key {key!r}: {err}") from None
        origins.setdefault(name, origins.get(key, origin))
    spec = ServeSpec(**values)
    _check(spec, paths, lambda k: origins.get(k, origin))
    return spec


def _check(s: ServeSpec, paths: Mapping[str, Any], where) -> None:
    def bad(key: str, expected: str) -> ConfigError:
        return ConfigError(f"{where(key)}: key {key!r}: expected {expected}, got "
                           f"{getattr(s, key)!r}")

    if s.path not in paths:
        raise bad("path", f"one of {', '.join(paths)}")
    for key in ("connections", "requests", "files", "file_size_bytes", "buffer_bytes"):
        if getattr(s, key) <= 0:
            raise bad(key, "a positive value")
    for key in ("requests_per_connection", "workers", "seed", "header_bytes", "think_time_s",
                "size_sigma", "zipf_alpha", "rate"):
        if getattr(s, key) < 0:
            raise bad(key, "zero or more")
    if s.files > MAX_FILES:
        raise bad("files", f"at most {MAX_FILES:,}")
    if s.connections > MAX_CONNECTIONS:
        raise bad("connections", f"at most {MAX_CONNECTIONS:,} (each holds a socket and its "
                                 f"TCP state)")
    if s.workers > MAX_WORKERS:
        raise bad("workers", f"at most {MAX_WORKERS}")
    if any(n <= 0 for n in s.file_sizes_bytes):
        raise bad("file_sizes_bytes", "positive sizes")
    if s.duration_s is not None and s.duration_s <= 0:
        raise bad("duration_s", "a positive time")
    if s.model not in MODELS:
        raise bad("model", f"one of {', '.join(MODELS)}")
    if s.arrival not in ARRIVALS:
        raise bad("arrival", f"one of {', '.join(ARRIVALS)}")
    if s.arrival == "open" and s.rate <= 0:
        raise bad("rate", "a positive request rate (requests per second) for arrival = 'open'")
    if s.cache not in ("cold", "warm"):
        raise bad("cache", "'cold' or 'warm'")


def load_spec(file: str | Path, paths: Mapping[str, Any], **overrides: Any) -> ServeSpec:
    """A spec TOML (keys at the top or in a ``[serve]`` table); flags in ``overrides`` win."""
    raw = read_toml(Path(file), "serve spec")
    table = raw.get("serve", raw)
    if not isinstance(table, dict):
        raise ConfigError(f"{file}: [serve] must be a table of keys")
    origins = {k: str(file) for k in table}
    merged = {**table, **{k: v for k, v in overrides.items() if v is not None}}
    origins.update({k: f"--{k.replace('_', '-')}" for k, v in overrides.items()
                    if v is not None})
    return make_spec(paths, str(file), origins, **merged)
