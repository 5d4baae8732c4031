"""The package version, and the model version: the package version plus a hash of the model's
source, so that stored results (the sweep run store) never mix two versions of the model.

The hash covers every module of the package except the front-ends, which read results but do
not make them: a change to a chart or a command-line message keeps stored sweeps valid, a
change to the model (or a new module) invalidates them.
"""

import hashlib
from functools import lru_cache
from pathlib import Path

__version__ = "0.4.2"

PACKAGE_DIR = Path(__file__).resolve().parent
FRONT_ENDS = ("cli.py", "__main__.py", "charts.py", "experiment.py", "teach", "host", "sweep")
MODEL_HASH_HEX_DIGITS = 12


@lru_cache(maxsize=1)
def model_hash() -> str:
    """SHA-256 over the model's source files (names and bytes), first 12 hex digits."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        relative = path.relative_to(PACKAGE_DIR)
        if relative.parts[0] in FRONT_ENDS:
            continue
        digest.update(relative.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:MODEL_HASH_HEX_DIGITS]


def model_version() -> str:
    """``0.2.0+3f2a9c1b7d4e``: what a stored result was computed with."""
    return f"{__version__}+{model_hash()}"
