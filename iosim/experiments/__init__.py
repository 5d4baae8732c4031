"""The experiments: each a module here that runs the model and writes a CSV and charts.

    iosim experiment copies --quick              # or: python -m iosim.experiments.copies
    iosim experiment whatif_hardware --profile host.toml --set nic.rate=25Gbit/s

Every experiment writes under ``out/NAME`` (``--out`` to change it) and takes the options
of ``harness.parse_args``. They ship with the package, so an installed iosim has them.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence

from iosim.config import ConfigError

NOT_EXPERIMENTS = frozenset({"harness"})


def available() -> list[str]:
    """The experiments, by name."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__)
                  if not m.name.startswith("_") and m.name not in NOT_EXPERIMENTS)


def run_experiment(name: str, argv: Sequence[str]) -> int:
    """Run the experiment ``name`` with its command-line arguments ``argv``."""
    if name not in available():
        raise ConfigError(f"unknown experiment {name!r}: expected one of "
                          f"{', '.join(available())}")
    return importlib.import_module(f"{__name__}.{name}").main(list(argv))
