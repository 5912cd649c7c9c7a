"""A site's call history, rebuilt from an SMDR file: which calls started when, for how long,
between which devices.

Records are written when a segment ends, so a file is in order of call ends, and a call of
several segments (a transfer, a call sent on to voicemail) is several records sharing its
Call ID and Call Start, all but the last marked Continuation 1. Here they are grouped back
into calls. A segment lasts its ring + connected + hold + park time, and a call's segments
follow one another. A call's caller is the trunk on an inbound call (Party2 there), else
Party1.

A million-record month must fit comfortably, so calls are kept in flat arrays of numbers
and devices as indexes into one list of distinct device codes. Lines that are not records
are counted and the first MAX_KEPT_ERRORS kept with their line numbers; they never stop
the reading.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from pathlib import Path

from emulator.bounded_input import InputError, regular_file
from emulator.smdr.record import MAX_LINE_BYTES, SmdrLineError, decode_line, is_header, parse_record

MAX_KEPT_ERRORS = 100


@dataclass
class CallHistory:
    path: str
    devices: list[str] = field(default_factory=list)
    """Distinct device codes (E201, T9001, V9501…), indexed by the segment arrays."""
    starts: array = field(default_factory=lambda: array("q"))
    """Call Start of each call (seconds, the written time read as UTC)."""
    call_ids: array = field(default_factory=lambda: array("q"))
    lines: array = field(default_factory=lambda: array("q"))
    """The line of each call's first record."""
    first_segment: array = field(default_factory=lambda: array("q"))
    segment_count: array = field(default_factory=lambda: array("i"))
    callers: array = field(default_factory=lambda: array("i"))
    called: array = field(default_factory=lambda: array("i"))
    rings: array = field(default_factory=lambda: array("q"))
    talks: array = field(default_factory=lambda: array("q"))
    """Connected + hold + park time of each segment."""
    lines_read: int = 0
    records: int = 0
    headers: int = 0
    blank: int = 0
    malformed: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    """(line, what is wrong) of the first MAX_KEPT_ERRORS malformed lines."""
    incomplete: int = 0
    """Calls whose last record (Continuation 0) is not in the file."""
    _device_index: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def calls(self) -> int:
        return len(self.starts)

    def segments(self, call: int) -> range:
        first = self.first_segment[call]
        return range(first, first + self.segment_count[call])

    def duration(self, call: int) -> int:
        return sum(self.rings[s] + self.talks[s] for s in self.segments(call))

    def span(self) -> tuple[int, int]:
        """(the first call's start, the last call's end), in seconds."""
        if not self.calls:
            raise ValueError(f"{self.path}: no call records")
        return min(self.starts), max(self.starts[c] + self.duration(c) for c in range(self.calls))

    def order(self) -> list[int]:
        """Calls in the order they started (ties: by Call ID, then as written)."""
        starts, ids = self.starts, self.call_ids
        return sorted(range(self.calls), key=lambda c: (starts[c], ids[c]))

    def _device(self, code: str) -> int:
        index = self._device_index.get(code)
        if index is None:
            index = self._device_index[code] = len(self.devices)
            self.devices.append(code)
        return index

    def add_text_lines(self, lines) -> None:
        """Read records from (line number, raw bytes) pairs; see read_history."""
        pending: dict[tuple[int, int], list[tuple]] = {}
        for number, raw in lines:
            self.lines_read += 1
            try:
                if len(raw) > MAX_LINE_BYTES:
                    raise SmdrLineError(number, f"longer than {MAX_LINE_BYTES:,} bytes: not a record")
                text = decode_line(raw, number)
                if not text.strip():
                    self.blank += 1
                    continue
                if is_header(text):
                    self.headers += 1
                    continue
                record = parse_record(text, number)
            except SmdrLineError as exc:
                self.malformed += 1
                if len(self.errors) < MAX_KEPT_ERRORS:
                    self.errors.append((number, exc.reason))
                continue
            self.records += 1
            dev1, dev2 = self._device(record.party1_device), self._device(record.party2_device)
            caller, called = (dev2, dev1) if record.direction == "I" else (dev1, dev2)
            segment = (number, caller, called, record.ring_s, record.connected_s + record.hold_s + record.park_s)
            key = (record.call_id, record.call_start)
            if record.continuation:
                pending.setdefault(key, []).append(segment)
                continue
            earlier = pending.pop(key, None)
            self._add_call(record.call_start, record.call_id, [*earlier, segment] if earlier else [segment])
        for (call_id, start), segments in pending.items():  # the file ends before their last record
            self.incomplete += 1
            self._add_call(start, call_id, segments)

    def _add_call(self, start: int, call_id: int, segments: list[tuple]) -> None:
        self.starts.append(start)
        self.call_ids.append(call_id)
        self.lines.append(segments[0][0])
        self.first_segment.append(len(self.rings))
        self.segment_count.append(len(segments))
        for _, caller, called, ring, talk in segments:
            self.callers.append(caller)
            self.called.append(called)
            self.rings.append(ring)
            self.talks.append(talk)


def read_history(path: str | Path) -> CallHistory:
    """Every call of an SMDR file. Raises InputError only when the file cannot be read at
    all; lines that are not records are counted in the history (see CallHistory.errors)."""
    path = Path(path)
    regular_file(path, "SMDR file")
    history = CallHistory(str(path))
    try:
        with open(path, "rb") as fh:
            history.add_text_lines(_numbered_lines(fh))
    except OSError as exc:
        raise InputError(f"SMDR file {path}: cannot read: {exc.strerror or exc}") from None
    return history


def _numbered_lines(fh):
    """(number, bytes) per line; a line longer than MAX_LINE_BYTES is cut there (and reported)."""
    number = 0
    readline = fh.readline
    limit = MAX_LINE_BYTES + 1
    while True:
        raw = readline(limit)
        if not raw:
            return
        number += 1
        if len(raw) == limit and not raw.endswith(b"\n"):
            while True:  # skip the rest of the overlong line
                more = readline(1 << 16)
                if not more or more.endswith(b"\n"):
                    break
        yield number, raw


__all__ = ["CallHistory", "MAX_KEPT_ERRORS", "read_history"]
