"""Replacing a file in one step, so no reader ever sees it half-written.

The bytes go to a temporary file in the same directory, are flushed to disk, take the
intended permission bits and are renamed over the target with ``os.replace``.  A
symlinked target is followed, so the link itself survives (dotfile managers rely on it).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

NEW_FILE_MODE = 0o644


def replace_file(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Make ``path`` hold exactly ``data``; raises OSError and leaves ``path`` as it was.

    ``mode`` defaults to the current file's permission bits, or ``NEW_FILE_MODE``.
    Missing parent directories are created.
    """
    target = Path(os.path.realpath(path))
    if mode is None:
        mode = file_mode(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as temp:
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise


def file_mode(path: Path) -> int:
    """Permission bits of ``path``, or ``NEW_FILE_MODE`` when it does not exist."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return NEW_FILE_MODE
