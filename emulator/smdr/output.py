"""Where a run's SMDR records go: files (ipo-emu run --smdr FILE) and live TCP feeds (a unit's
`smdr` destination, on the wall clock). One recorder makes the records; this sends each to
its unit's file and feed."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from collections.abc import Sequence

from emulator.config import UnitConfig
from emulator.smdr.link import SmdrLink
from emulator.smdr.record import SmdrRecord, format_record
from emulator.smdr.recorder import SmdrRecorder
from emulator.telemetry.events import Event

UNIT_PLACEHOLDER = "{unit}"


class SmdrFileError(OSError):
    """--smdr could not be written (the message names the file and the cause)."""


def smdr_file_for(pattern: Path, unit: str) -> Path:
    return Path(str(pattern).replace(UNIT_PLACEHOLDER, unit))


class SmdrOutput:
    def __init__(self, units: Sequence[UnitConfig], *, file_pattern: Path | None = None, live: bool = False) -> None:
        """file_pattern: write each unit's records here ({unit} is replaced by its name).
        live: open the units' `smdr` TCP feeds (only on the wall clock)."""
        self.recorder = SmdrRecorder(units, self._emit)
        self.files: dict[str, tuple[Path, int]] = {}
        self.links: dict[str, SmdrLink] = {}
        self.written: dict[str, int] = {}
        for unit in units:
            if file_pattern is not None:
                path = smdr_file_for(file_pattern, unit.name)
                try:
                    self.files[unit.name] = (path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
                except OSError as exc:
                    self.close_files()
                    raise SmdrFileError(exc.errno, f"--smdr {path}: cannot open: {exc.strerror}") from None
                self.written[unit.name] = 0
            if live and unit.smdr is not None:
                self.links[unit.name] = SmdrLink(unit.name, unit.smdr.host, unit.smdr.port, unit.smdr.buffer)

    def add_events(self, events: list[tuple]) -> None:
        """The run's events as the sink hands them on (telemetry/events.py EventSink)."""
        record = self.recorder
        for row in events:
            record(Event(*row))

    def start(self) -> None:
        for link in self.links.values():
            link.start()

    def _emit(self, unit: str, record: SmdrRecord) -> None:
        line = format_record(record).encode("utf-8")
        opened = self.files.get(unit)
        if opened is not None:
            path, fd = opened
            view = memoryview(line)
            try:
                while view:
                    view = view[os.write(fd, view):]
            except OSError as exc:
                raise SmdrFileError(exc.errno, f"--smdr {path}: cannot write: {exc.strerror}") from None
            self.written[unit] += 1
        link = self.links.get(unit)
        if link is not None:
            link.put(line)

    async def close(self, drain_s: float = 3.0) -> None:
        for link in self.links.values():
            await link.close(drain_s)
        self.close_files()

    def close_files(self) -> None:
        for _, fd in self.files.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self.files = {}

    def summary(self) -> dict:
        return {"records": self.recorder.records, "calls_up_at_end": self.recorder.open_calls,
                "files": [{"unit": unit, "records": n} for unit, n in self.written.items()],
                "feeds": [link.summary() for link in self.links.values()]}
