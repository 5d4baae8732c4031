"""The source tree as a reader gets it: no file keeps a merge's conflict markers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MARKERS = ("<<<<<<< ", ">>>>>>> ")


def tracked_text_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout (an installed package)")
    return [ROOT / name for name in out.splitlines()
            if name.endswith((".py", ".md", ".toml", ".txt", ".cfg", ".html", ".csv"))]


def test_no_file_keeps_conflict_markers():
    found = [f"{path.relative_to(ROOT)}:{n}" for path in tracked_text_files() if path.is_file()
             for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
             if line.startswith(MARKERS)]
    assert found == []
