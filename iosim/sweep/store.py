"""Finished runs on disk, one JSON file per run, named by a hash of the run's inputs.

The key covers everything that decides a result (the effective profile, the scenario and
the model version: the package version plus a hash of the model's source), so a stored run
is reused by any sweep that asks for the same inputs, however its spec spells them, and
never by one that asks for different ones or runs another model. Files are written to a
temporary name and renamed into place, so a sweep killed at any moment leaves only whole
records behind.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from iosim.atomic import write_bytes

KEY_HEX_DIGITS = 32  # 128 bits of SHA-256: collisions are not a practical concern



def run_key(profile: dict[str, Any], scenario: dict[str, Any], version: str) -> str:
    """Hash of the canonical JSON of a run's effective inputs and the model version."""
    text = json.dumps({"iosim": version, "profile": profile, "scenario": scenario},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_HEX_DIGITS]


class RunStore:
    """A directory of finished runs, ``KEY.json`` each; created by the first ``put``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def _file(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored record of ``key``, or None if it was never stored (or is unreadable)."""
        try:
            return json.loads(self._file(key).read_bytes())
        except (OSError, ValueError):
            return None

    def put(self, key: str, record: dict[str, Any]) -> None:
        """Store ``record`` under ``key``, atomically."""
        write_bytes(self._file(key), json.dumps(record).encode())
