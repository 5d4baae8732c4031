"""The results table of a sweep: one flat row per run, written as CSV and Parquet.

Rows are flat so that every tool reads them: nested dicts become dotted columns
(``utilization.link``), lists become JSON text. The profile is not repeated in full: a row's
inputs already hold the profile keys the spec sets.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from iosim.atomic import write_bytes

# Result fields a row does not repeat: the inputs hold them (path, seed, scenario) or the
# swept part of them (profile).
_COVERED_BY_INPUTS = ("path", "seed", "scenario", "profile", "spec")


def make_row(inputs: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """One run's row: its inputs, its error (None if it ran), every result field, its key."""
    row = {**inputs, "error": record["error"]}
    result = record["result"] or {}
    row.update(_flatten({k: v for k, v in result.items() if k not in _COVERED_BY_INPUTS}))
    row["key"] = record["key"]
    return row


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        elif isinstance(value, list):
            out[prefix + key] = json.dumps(value)
        else:
            out[prefix + key] = value
    return out


def columns(rows: list[dict[str, Any]]) -> list[str]:
    """Every column, in order of first appearance; ``key`` last."""
    cols = list(dict.fromkeys(c for row in rows for c in row if c != "key"))
    return [*cols, "key"] if rows else []


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """Write ``rows`` as CSV; a missing value (a failed run's results) is an empty cell."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns(rows), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_bytes(path, buf.getvalue().encode())


def write_parquet(rows: list[dict[str, Any]], path: Path) -> bool:
    """Write ``rows`` as Parquet if pyarrow is installed; return whether it was."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return False
    table = pa.table({c: [row.get(c) for row in rows] for c in columns(rows)})
    buf = pa.BufferOutputStream()
    pq.write_table(table, buf)
    write_bytes(path, buf.getvalue().to_pybytes())
    return True


def to_frame(rows: list[dict[str, Any]]) -> Any:
    """A pandas DataFrame of ``rows`` if pandas is installed, else ``rows`` themselves."""
    try:
        import pandas as pd
    except ImportError:
        return rows
    return pd.DataFrame(rows, columns=columns(rows))
