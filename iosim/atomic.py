"""Writing output files whole or not at all: a temporary name beside the target, then a rename;
and telling before any work whether an output path can be written at all.

Every file iosim writes (charts, CSV, JSON, traces, profiles, stored sweep runs) goes
through ``replacing``, so an error or Ctrl-C half-way leaves the old file, or none, and no
temporary behind. (No fsync: this guards against a killed process, not a power cut.)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def replacing(path: str | Path, binary: bool = False, **open_kwargs: Any) -> Iterator[IO]:
    """Open a new temporary file beside ``path``; on success it replaces ``path``.

    The temporary is created inside the ``try``, so an interrupt right after its creation
    still removes it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("xb" if binary else "x", **open_kwargs) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> None:
    """``path`` holds ``data``, whole."""
    with replacing(path, binary=True) as fh:
        fh.write(data)


def write_text(path: str | Path, text: str) -> None:
    """``path`` holds ``text``, whole."""
    with replacing(path) as fh:
        fh.write(text)


def unwritable(path: str | Path, directory: bool = False) -> str | None:
    """Why ``path`` (a file, or with ``directory`` a folder) cannot be written, or None.

    Checked before any work starts and leaving nothing behind: the path must not be the
    other kind, and a probe file must be creatable (then is removed) in the folder that
    will hold it, or in its nearest existing ancestor.
    """
    path = Path(path)
    if path.exists():
        if directory and not path.is_dir():
            return "is a file; expected a folder"
        if not directory and path.is_dir():
            return "is a folder; expected a file name"
    folder = path if directory else path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is a file, not a folder"
    probe = folder / f".iosim-probe-{uuid.uuid4().hex}"
    try:
        probe.open("x").close()
    except OSError as exc:
        return f"cannot create files in {folder}: {exc.strerror}"
    probe.unlink()
    return None
