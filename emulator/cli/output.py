"""Rendering for the CLI: rich tables for people, --json for programs, one-line errors."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table



class UserError(Exception):
    """Bad input from the user: reported as one line, exit code 2."""


def console() -> Console:
    out = Console(soft_wrap=False, highlight=False)
    if not out.is_terminal:
        out = Console(soft_wrap=False, highlight=False, width=160)
    return out


MAX_ERROR_CHARS = 1000


def error_line(message: str) -> None:
    """One line: a value echoed from hostile input is cut, never a megabyte on stderr."""
    message = " ".join(message.splitlines())
    if len(message) > MAX_ERROR_CHARS:
        message = message[:MAX_ERROR_CHARS] + f"… ({len(message) - MAX_ERROR_CHARS:,} more characters)"
    print(f"ipo-emu: error: {message}", file=sys.stderr)


def note(message: str) -> None:
    print(f"ipo-emu: {message}", file=sys.stderr)


told: set[str] = set()
DEVELOPMENT_ISSUER_NOTE = ("keys checked or issued with the public development issuer secret: anyone can make "
                           "them; set $IPO_EMU_ISSUER_SECRET for real use ($IPO_EMU_REQUIRE_SECRET=1 refuses it)")
DEVELOPMENT_DONGLE_NOTE = ("dongles authenticated with the public development dongle secret: set "
                           "$IPO_EMU_DONGLE_SECRET for real use ($IPO_EMU_REQUIRE_SECRET=1 refuses it)")


def tell_once(message: str) -> None:
    """A note said once per process (the development-secret warnings)."""
    if message not in told:
        told.add(message)
        note(message)


def print_json(data: Any, stream: Any = None) -> None:
    """Indented JSON (orjson: a fleet's report is megabytes; non-JSON values as their text)."""
    import orjson

    try:
        text = orjson.dumps(data, default=str, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # beyond what orjson takes (an integer over 64 bits): the standard library's
        text = json.dumps(data, indent=2, sort_keys=False, default=str)
    (stream or sys.stdout).write(text + "\n")


_NO_WRAP = frozenset({"key", "old key", "replaced_by", "license"})


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> Table:
    tbl = Table(title=title, title_justify="left", show_lines=False)
    for col in columns:
        tbl.add_column(col, overflow="fold", no_wrap=col in _NO_WRAP)
    for row in rows:
        tbl.add_row(*("" if cell is None else str(cell) for cell in row))
    return tbl


def parse_time(text: str, option: str) -> int:
    """ISO 8601 date or date-time (UTC unless an offset is given) -> Unix seconds."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UserError(f"{option}: {text!r} is not an ISO 8601 date or date-time (e.g. 2026-12-01T09:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def utc(unix_seconds: float | None) -> str | None:
    from emulator.licensing import utc_text

    return None if unix_seconds is None else utc_text(unix_seconds)
