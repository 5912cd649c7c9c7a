"""Writing what a run produces so that a file is whole or not there: never half a report.

A report or plot is written to a temporary file beside its destination and renamed into
place. A destination that exists and is not a regular file (a FIFO, /dev/stdout, a device)
is written directly instead: renaming over it would replace the device itself.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def write_whole(path: Path, writer: Callable[[IO[Any]], object], *, binary: bool = False) -> None:
    """Run writer(file) into `path`, atomically where `path` is (or will be) a regular file.
    Raises OSError with the real cause (a full disk, a missing folder, no permission)."""
    mode = "wb" if binary else "w"
    encoding = None if binary else "utf-8"
    try:
        special = not stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        special = False
    if special:
        with open(path, mode, encoding=encoding) as fh:
            writer(fh)
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, mode, encoding=encoding) as fh:
            writer(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
