"""The notebooks: text sources (notebooks/NN-name.py, jupytext percent format), executed
copies with their outputs committed beside them, and every claim an assert.

The notebooks run here from their sources, as notebooks/build.py runs them: a claim that
stops holding fails its assert, and committed outputs that differ from what the model now
gives fail the comparison (rebuild them with ``python notebooks/build.py``).
"""

import difflib
import hashlib
import importlib.util
import itertools
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
REBUILD = "rebuild with: python notebooks/build.py"


def _build_module():
    spec = importlib.util.spec_from_file_location("notebooks_build",
                                                  ROOT / "notebooks" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = _build_module()


def _source_digest() -> str:
    """A hash of the code a notebook kernel imports (this tree's iosim, the notebooks)."""
    digest = hashlib.sha256()
    for path in sorted([*(ROOT / "iosim").rglob("*.py"), *(ROOT / "notebooks").glob("*.py")]):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


AT_COLLECTION = _source_digest()  # the kernels start minutes later, in fresh processes
SOURCES = BUILD.SOURCES
MIN_CHARTS = {"01-zero-copy-tour": 13, "02-what-if-hardware": 5}


def test_the_numbered_notebooks_exist():
    assert [p.stem for p in SOURCES] == list(MIN_CHARTS)
    assert all(BUILD.target(p).is_file() for p in SOURCES)


def _tags(cell) -> list[str]:
    return cell.metadata.get("tags", [])


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_committed_notebook_has_its_sources_cells(source):
    """Editing the .py (or the .ipynb in Jupyter, which jupytext pairs) keeps both alike."""
    text = jupytext.read(source)
    committed = nbformat.read(BUILD.target(source), as_version=4)
    assert [(c.cell_type, c.source) for c in committed.cells] == [
        (c.cell_type, c.source) for c in text.cells], REBUILD
    assert committed.metadata["jupytext"]["formats"] == "ipynb,py:percent"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_every_claim_has_an_assert_in_the_cell_that_shows_it(source):
    """A code cell that follows text makes the text's claims true or stops the notebook;
    only set-up and playground cells are tagged ``no-claims``."""
    cells = jupytext.read(source).cells
    for before, cell in itertools.pairwise(cells):
        if (cell.cell_type == "code" and before.cell_type == "markdown"
                and not {"no-claims", BUILD.NOT_RUN} & set(_tags(cell))):
            assert "assert " in cell.source, f"{source.name}: {cell.source[:60]!r}"


@pytest.fixture(scope="module")
def executed():
    return {source: BUILD.execute(source) for source in SOURCES}


def _shown(cell) -> list[tuple[str, str]]:
    """What a reader sees of a cell's outputs: texts exactly, images by kind only. A
    stream is one text however the kernel flushed it (in one piece or two), and trailing
    blank lines are not something a reader sees."""
    out = []
    for o in cell.get("outputs", []):
        if o.output_type == "stream":
            if out and out[-1][0] == o.name:
                out[-1] = (o.name, (out[-1][1] + o.text).rstrip() + "\n")
            else:
                out.append((o.name, o.text.rstrip() + "\n"))
        elif o.output_type == "error":
            out.append(("error", o.ename))
        else:
            data = o.get("data", {})
            out.append(("image", "png") if "image/png" in data else
                       ("html", data["text/html"]) if "text/html" in data else
                       ("text", data.get("text/plain", "")))
    return out


def _diff(old: list[tuple[str, str]], new: list[tuple[str, str]]) -> str:
    """The committed and fresh outputs of a cell, line by line (a failure shows all of it)."""
    def lines(shown: list[tuple[str, str]]) -> list[str]:
        return [f"{kind}: {line}" for kind, text in shown for line in text.splitlines()]
    return "\n".join(difflib.unified_diff(lines(old), lines(new), "committed", "fresh",
                                          lineterm=""))


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_committed_outputs_are_what_the_model_gives_now(source, executed):
    fresh = executed[source]
    committed = nbformat.read(BUILD.target(source), as_version=4)
    assert len(fresh.cells) == len(committed.cells), REBUILD
    for i, (new, old) in enumerate(zip(fresh.cells, committed.cells, strict=True)):
        if _shown(new) != _shown(old):
            # a kernel imports the tree as it is when it starts: an edit made while the
            # suite ran changes what it computes, not what the committed file holds
            assert _source_digest() == AT_COLLECTION, (
                "iosim or the notebooks changed on disk while the suite ran; run it again")
            assert _shown(new) == _shown(old), f"{source.stem} cell {i}: {REBUILD}\n" + _diff(
                _shown(old), _shown(new))
    images = sum(kind == "image" for c in fresh.cells for kind, _ in _shown(c))
    assert images >= MIN_CHARTS[source.stem]
    pages = [text for c in fresh.cells for kind, text in _shown(c)
             if kind == "html" and "iosim animation" in text]
    if source.stem.startswith("01-"):  # the tour embeds an animation of two paths
        assert len(pages) == 1 and "read_write vs sendfile_sg" in pages[0]
    assert not [o for c in fresh.cells for o in c.get("outputs", [])
                if o.output_type == "error"]
