"""The notebooks are generated from notebooks/make_notebooks.py, carry no outputs, and run."""

import importlib.util
import json
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def _generator():
    spec = importlib.util.spec_from_file_location("make_notebooks",
                                                  ROOT / "notebooks" / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_numbered_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == ["01-zero-copy-tour.ipynb",
                                           "02-what-if-hardware.ipynb"]


def test_committed_notebooks_are_the_generators_output(tmp_path, capsys):
    _generator().main(tmp_path)
    for nb in NOTEBOOKS:
        assert (tmp_path / nb.name).read_text() == nb.read_text(), nb.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_no_outputs(path):
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    # the kernel must import this tree's iosim, whatever is installed
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    images = sum("image/png" in out.get("data", {}) for cell in nb.cells
                 for out in cell.get("outputs", []))
    assert images >= 5
    pages = [out["data"]["text/html"] for cell in nb.cells for out in cell.get("outputs", [])
             if "text/html" in out.get("data", {}) and "iosim animation" in
             out["data"]["text/html"]]
    if path.name.startswith("01-"):  # the tour embeds an animation of two paths
        assert len(pages) == 1 and "read_write vs sendfile_sg" in pages[0]
