"""Refactors keep results byte-identical: a fixed set of scenarios against the recorded file.

Every recorded field of every case must match exactly (floats included). A new field is
not a change. A deliberate model change regenerates the file
(``python -m tests.fixtures.make_baseline KERNEL``) and names the numbers that moved.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fixtures.make_baseline import FILES, record

RECORDS = [json.loads(line) for path in FILES.values() if path.exists()
           for line in path.read_text().splitlines()]


def differences(want: Any, got: Any, where: str = "") -> list[str]:
    """Where ``got`` differs from ``want``, for every key ``want`` has."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = []
        for key, value in want.items():
            if key not in got:
                out.append(f"{where}.{key}: missing")
            else:
                out += differences(value, got[key], f"{where}.{key}")
        return out
    return [] if want == got else [f"{where}: {want!r} -> {got!r}"]


@pytest.mark.parametrize("rec", RECORDS, ids=[r["case"]["label"] for r in RECORDS])
def test_result_unchanged(rec):
    now = record(rec["case"])
    assert differences(rec["result"], now["result"]) == []
