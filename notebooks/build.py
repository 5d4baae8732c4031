"""Execute the notebooks' sources (``NN-name.py``, jupytext percent format) into the
``NN-name.ipynb`` beside them, outputs included, so GitHub shows the charts.

    python notebooks/build.py          # after changing a notebook or the model

Each notebook's claims are ``assert``s on the numbers it computes, so a claim that no
longer holds stops the build (and tests/test_notebooks.py, which runs the same execution
and checks that the committed outputs are what the model gives now). Cells tagged
``widgets`` (sliders) are kept but not executed here: a published page cannot move them.
Cell ids and metadata are fixed, so the same model gives the same files.
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

from iosim.atomic import replacing

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SOURCES = sorted(HERE.glob("[0-9][0-9]-*.py"))
NOT_RUN = "widgets"  # the tag of cells that need a live kernel with ipywidgets
TIMEOUT_S = 300
METADATA = {
    "jupytext": {"formats": "ipynb,py:percent"},
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


def execute(source: Path) -> nbformat.NotebookNode:
    """Run the notebook ``source`` top to bottom (this tree's iosim) and return it."""
    nb = jupytext.read(source)
    skipped = {i: cell for i, cell in enumerate(nb.cells) if NOT_RUN in cell.metadata.get(
        "tags", [])}
    run = copy.deepcopy(nb)
    run.cells = [c for i, c in enumerate(nb.cells) if i not in skipped]
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), previous) if p)
    try:
        NotebookClient(run, timeout=TIMEOUT_S, kernel_name="python3",
                       resources={"metadata": {"path": str(HERE)}}).execute()
    finally:
        if previous is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = previous
    executed = iter(run.cells)
    nb.cells = [cell if i in skipped else next(executed) for i, cell in enumerate(nb.cells)]
    return normalized(nb)


def normalized(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Stable ids and metadata, no execution timings: a rebuild changes only what changed."""
    nb.metadata = copy.deepcopy(METADATA)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
        cell.metadata.pop("execution", None)
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "text/html" in data and " object at 0x" in data.get("text/plain", ""):
                del data["text/plain"]  # an object's address, different every run
        if cell.cell_type == "code" and NOT_RUN in cell.metadata.get("tags", []):
            cell.outputs, cell.execution_count = [], None
    return nb


def target(source: Path) -> Path:
    return source.with_suffix(".ipynb")


def main() -> int:
    """Execute every notebook source and write its .ipynb (whole, or not at all)."""
    for source in SOURCES:
        nb = execute(source)
        out = target(source)
        with replacing(out, encoding="utf-8") as fh:
            nbformat.write(nb, fh)
        print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
