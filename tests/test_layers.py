"""The import layers: data flows one way, config -> machine -> path -> result -> front-ends.

Each module has a rank; it may import modules of a lower rank, and of its own rank only
within its own package (the hardware and the kernel know nothing of each other). No module
imports a name from the package ``__init__`` (the public face): it imports the module that
defines it. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "iosim"

RANKS: list[tuple[int, tuple[str, ...]]] = [
    (0, ("iosim._version", "iosim.units", "iosim.atomic", "iosim.net", "iosim.events",
         "iosim.result", "iosim.timers")),
    (1, ("iosim.accounting", "iosim.config", "iosim.trace")),
    (2, ("iosim.hw", "iosim.kernel")),
    (3, ("iosim.paths",)),
    (4, ("iosim.machine", "iosim.faults", "iosim.limits")),
    (5, ("iosim.simulate", "iosim.charts",  # charts: the house style other figures use
         "iosim.server")),  # many connections on one host: beside simulate, not on it
    (6, ("iosim.teach", "iosim.sweep", "iosim.host")),
    (7, ("iosim.experiments",)),  # built on the sweeps and charts
    (8, ("iosim.cli", "iosim")),
    (9, ("iosim.__main__",)),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def rank_of(module: str) -> tuple[int, str]:
    """(rank, group) of a module: the longest group name that is its prefix."""
    best = None
    for rank, groups in RANKS:
        for group in groups:
            if (module == group or module.startswith(group + ".")) and (
                    best is None or len(group) > len(best[1])):
                best = (rank, group)
    assert best is not None, f"{module} has no rank in tests/test_layers.py"
    return best


def imports_of(path: Path) -> list[tuple[str, int]]:
    """(imported iosim module, line) for every import in the file, lazy ones included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "iosim":
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.append((sub if sub in MODULES else node.module, node.lineno))
        elif isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "iosim"]
    return out


@pytest.mark.parametrize("module", [m for m in MODULES if m != "iosim"])
def test_imports_flow_one_way(module):
    rank, group = rank_of(module)
    bad = []
    for target, line in imports_of(MODULES[module]):
        if target == "iosim":
            bad.append(f"line {line}: imports the package __init__ (import the module itself)")
            continue
        t_rank, t_group = rank_of(target)
        if t_rank > rank or (t_rank == rank and t_group != group):
            bad.append(f"line {line}: {target} (rank {t_rank}) from rank {rank}")
    assert bad == []


def test_every_module_has_a_rank():
    for module in MODULES:
        rank_of(module)
