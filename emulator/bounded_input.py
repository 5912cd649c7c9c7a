"""Reading what users give us, within bounds: regular files only, and at most a documented size.

A FIFO given as a scenario would block for ever, and /dev/zero would grow until memory runs
out; so every file the emulator reads on a user's word goes through here. The limits are
documented in docs/scenarios.md ("Limits").
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

SCENARIO_MAX_BYTES = 8 * 1024 * 1024
KEYS_FILE_MAX_BYTES = 1024 * 1024
SECRET_FILE_MAX_BYTES = 4096
EVENTS_LINE_MAX_BYTES = 1024 * 1024


class InputError(ValueError):
    """A file cannot be read as asked; the message is one line naming it."""


def regular_file(path: Path, what: str) -> os.stat_result:
    """The file's status, if it is a regular file (following links)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{what} {path}: cannot read: no such file") from None
    except OSError as exc:
        raise InputError(f"{what} {path}: cannot read: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file (a FIFO, device or socket)"
        raise InputError(f"{what} {path}: {kind}")
    return info


def read_bytes(path: Path, what: str, limit: int) -> bytes:
    """The whole file, if it is a regular file of at most `limit` bytes ('-': standard input)."""
    if str(path) == "-":
        data = sys.stdin.buffer.read(limit + 1)
    else:
        info = regular_file(path, what)
        if info.st_size > limit:
            raise InputError(f"{what} {path}: {info.st_size:,} bytes, more than the {limit:,} allowed")
        try:
            with open(path, "rb") as fh:
                data = fh.read(limit + 1)
        except OSError as exc:
            raise InputError(f"{what} {path}: cannot read: {exc.strerror}") from None
    if len(data) > limit:
        raise InputError(f"{what} {path}: more than the {limit:,} bytes allowed")
    return data


def read_text(path: Path, what: str, limit: int) -> str:
    """read_bytes, as UTF-8 text (a clear error naming the byte that is not)."""
    data = read_bytes(path, what, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {path}: not UTF-8 text (byte {exc.start})") from None
