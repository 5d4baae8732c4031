"""Regenerate the golden outputs of ``iosim explain`` and ``iosim quiz`` in tests/golden/.

    python -m tests.regen_golden      # rewrite every file, then review: git diff tests/golden

Golden files change legitimately when the core model changes (a cost, a trace event); read
the diff before committing it, as SimPy's examples are checked against their output.
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

from iosim.cli import main as iosim

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
CASES = {  # file -> the iosim command line it holds the output of
    "explain_sendfile_sg.txt": ["explain", "sendfile_sg"],
    "explain_read_write_1MiB.txt": ["explain", "read_write", "--size", "1MiB"],
    "quiz_s1_c.txt": ["quiz", "-s", "1", "-c"],
    "quiz_s2_compare_c.txt": ["quiz", "-s", "2", "-c", "--kind", "compare", "-n", "3"],
    "quiz_s2_faults_c.txt": ["quiz", "-s", "2", "-c", "--kind", "faults", "-n", "3"],
}


def output(argv: list[str]) -> str:
    """What ``iosim ARGV`` prints."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = iosim(argv)
    if status != 0:
        raise RuntimeError(f"iosim {' '.join(argv)} exited with {status}")
    return out.getvalue()


def main() -> int:
    """Rewrite every golden file and list the ones whose content changed."""
    GOLDEN_DIR.mkdir(exist_ok=True)
    for name, argv in CASES.items():
        path = GOLDEN_DIR / name
        text = output(argv)
        changed = not path.exists() or path.read_text() != text
        path.write_text(text)
        print(f"{'changed' if changed else 'same   '}  tests/golden/{name}"
              f"  (iosim {' '.join(argv)})")
    print("review with: git diff tests/golden")
    return 0


if __name__ == "__main__":
    sys.exit(main())
