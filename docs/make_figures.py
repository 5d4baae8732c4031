"""Regenerate every figure committed under docs/, with the table of numbers behind it.

    python docs/make_figures.py          # about a minute on two cores

docs/bottleneck_map.png is ``iosim experiment bottleneck_map`` (the full grid of
models/sweeps/bottleneck_map.toml); docs/bottleneck_map.csv holds its cells, each with the
``iosim.simulate`` call that replays it. tests/test_docs_figures.py replays a sample of
those rows, so a model change that moves the figure fails until this script is run again.
The notebooks' outputs have their own command: ``python notebooks/build.py``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from iosim.atomic import replacing
from iosim.experiments import run_experiment

DOCS = Path(__file__).resolve().parent
FIGURES = {"bottleneck_map": ("bottleneck_map.png", "bottleneck_map.csv")}


def main() -> int:
    """Run each figure's experiment in a scratch folder and copy its chart and table here."""
    for name, files in FIGURES.items():
        with tempfile.TemporaryDirectory(prefix=f"iosim-{name}-") as scratch:
            code = run_experiment(name, ["--out", scratch, "--quiet"])
            if code:
                return code
            for file in files:
                with (Path(scratch) / file).open("rb") as src, \
                        replacing(DOCS / file, binary=True) as dst:
                    shutil.copyfileobj(src, dst)
                print(f"wrote {DOCS / file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
