"""The SMDR record, both ways: one CSV line per call segment, as IP Office writes it.

Pure text in, text out (no I/O): the live feed, the --smdr file and the replay all use it.
The fields and their meaning are in docs/smdr.md, after Avaya's "IP Office SMDR Fields" and
"SMDR Examples" pages:

- fields separated by commas, no quoting (no field may hold a comma), each record ended by
  CR LF;
- Call Start as YYYY/MM/DD HH:MM:SS (the system's clock); Connected Time as HH:MM:SS; Ring,
  Hold and Park Time in whole seconds, rounded up;
- a call of several segments repeats its Call ID and Call Start, with Continuation 1 on
  every record but the last;
- device codes E<extension>, T<9000 + line> named "Line <line>.<channel>", V<9500 +
  channel> named "VM Channel <channel>".

Releases differ in how many fields follow the first 17 (none in early releases, the
charging and targeting fields from 4.x, server addresses and unique ids in later ones): a
record of 17 to 35 fields is read, its first 17 checked, the rest kept as text. Records are
written with 30 fields, as release 4.2 to 8.x units write them.
"""

from __future__ import annotations

import math
import re
from calendar import timegm
from dataclasses import dataclass
from datetime import UTC, datetime

FIELD_NAMES: tuple[str, ...] = (
    "Call Start", "Connected Time", "Ring Time", "Caller", "Direction", "Called Number", "Dialled Number",
    "Account", "Is Internal", "Call ID", "Continuation", "Party1Device", "Party1Name", "Party2Device",
    "Party2Name", "Hold Time", "Park Time", "AuthValid", "AuthCode", "User Charged", "Call Charge", "Currency",
    "Amount at Last User Change", "Call Units", "Units at Last User Change", "Cost per Unit", "Mark Up",
    "External Targeting Cause", "External Targeter Id", "External Targeted Number",
    "Calling Party Server IP Address", "Unique Call ID for the Caller Extension", "Called Party Server IP Address",
    "Unique Call ID for the Called Extension", "SMDR Record Time",
)
CORE_FIELDS = 17
"""Fields every release writes; the replay needs no others."""
WRITTEN_FIELDS = 30
MAX_FIELDS = len(FIELD_NAMES)
MAX_LINE_BYTES = 4096
"""A longer line is not a record (real ones are under 400 bytes)."""
FIRST_CALL_ID = 1_000_000
"""IP Office numbers calls from here, one more for each call."""
TRUNK_DEVICE_BASE = 9000
VOICEMAIL_DEVICE_BASE = 9500
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


class SmdrLineError(ValueError):
    """A line that is not an SMDR record; the message names the field and the value."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.reason = message


@dataclass(frozen=True, slots=True)
class SmdrRecord:
    """One call segment. Times are whole seconds; call_start is the written wall-clock time as
    seconds since 1970 (read as UTC: SMDR carries no time zone)."""

    call_start: int
    connected_s: int
    ring_s: int
    caller: str
    direction: str
    """I (inbound) or O (outbound, and internal calls)."""
    called_number: str
    dialled_number: str
    account: str
    is_internal: bool
    call_id: int
    continuation: bool
    """True when more records of this call follow."""
    party1_device: str
    party1_name: str
    party2_device: str
    party2_name: str
    hold_s: int = 0
    park_s: int = 0
    extra: tuple[str, ...] = ()
    """Fields 18 onwards, as written (charging, targeting, server addresses); () when empty."""

    @property
    def lost(self) -> bool:
        """Never connected: Connected Time 00:00:00."""
        return self.connected_s == 0

    @property
    def total_s(self) -> int:
        """The segment's length: ring + connected + hold + park time."""
        return self.ring_s + self.connected_s + self.hold_s + self.park_s


# -- devices ------------------------------------------------------------------------------

def extension_device(extension: str) -> str:
    return f"E{extension}"


def trunk_device(line: int, channel: int) -> tuple[str, str]:
    """(device, name) of a line's channel: T9001, "Line 1.2". Channel 0: no channel was held
    (the call was refused)."""
    return f"T{TRUNK_DEVICE_BASE + line}", f"Line {line}.{channel}"


def voicemail_device(channel: int) -> tuple[str, str]:
    return f"V{VOICEMAIL_DEVICE_BASE + channel}", f"VM Channel {channel}"


def line_of_device(device: str) -> int | None:
    """The line number of a trunk device (T9001 -> 1), else None."""
    if len(device) > 1 and device[0] == "T" and device[1:].isdigit() and device[1:].isascii():
        number = int(device[1:]) - TRUNK_DEVICE_BASE
        return number if number > 0 else None
    return None


# -- writing ------------------------------------------------------------------------------

_day_text: dict[int, str] = {}


def format_time(epoch_s: int) -> str:
    """YYYY/MM/DD HH:MM:SS of a time in seconds (shown as UTC)."""
    day, second = divmod(int(epoch_s), 86_400)
    text = _day_text.get(day)
    if text is None:
        text = _day_text[day] = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y/%m/%d")
    hours, rest = divmod(second, 3600)
    return f"{text} {hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def format_duration(seconds: int) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def whole_seconds(seconds: float) -> int:
    """A duration as SMDR writes it: rounded up to the whole second (a tiny float error is not
    a second more)."""
    return max(0, math.ceil(round(seconds, 6)))


def format_record(record: SmdrRecord) -> str:
    """The record as one line, CR LF included."""
    for name in ("caller", "called_number", "dialled_number", "account", "party1_device", "party1_name",
                 "party2_device", "party2_name"):
        value = getattr(record, name)
        if "," in value or _CONTROL.search(value):
            raise ValueError(f"{name}: {value!r} holds a comma or a control character, which SMDR cannot carry")
    extra = record.extra or ("",) * (WRITTEN_FIELDS - CORE_FIELDS)
    fields = (format_time(record.call_start), format_duration(record.connected_s), str(record.ring_s),
              record.caller, record.direction, record.called_number, record.dialled_number, record.account,
              "1" if record.is_internal else "0", str(record.call_id), "1" if record.continuation else "0",
              record.party1_device, record.party1_name, record.party2_device, record.party2_name,
              str(record.hold_s), str(record.park_s), *extra)
    return ",".join(fields) + "\r\n"


def header_line(fields: int = WRITTEN_FIELDS) -> str:
    """The field names as a first line (as the Delta Server's SMDR files have)."""
    return ",".join(FIELD_NAMES[:fields]) + "\r\n"


# -- reading ------------------------------------------------------------------------------

_day_epoch: dict[str, int] = {}


def _field_error(line: int, index: int, value: str, wanted: str) -> SmdrLineError:
    shown = value if len(value) <= 40 else value[:39] + "…"
    return SmdrLineError(line, f"field {index + 1} ({FIELD_NAMES[index]}): {shown!r} is not {wanted}")


def _seconds(fields: list[str], index: int, line: int) -> int:
    value = fields[index]
    if not (value.isdigit() and value.isascii() and len(value) <= 9):
        raise _field_error(line, index, value, "a whole number of seconds")
    return int(value)


def _flag(fields: list[str], index: int, line: int) -> bool:
    value = fields[index]
    if value not in ("0", "1"):
        raise _field_error(line, index, value, "0 or 1")
    return value == "1"


def parse_time(value: str, line: int = 0) -> int:
    """Seconds since 1970 of YYYY/MM/DD HH:MM:SS (as UTC)."""
    day = _day_epoch.get(value[:10])
    if day is None:
        try:
            if len(value) != 19 or value[4] != "/" or value[7] != "/" or not value.isascii():
                raise ValueError
            year, month, date = int(value[:4]), int(value[5:7]), int(value[8:10])
            if not value[:4].isdigit() or not 1970 <= year <= 9999:
                raise ValueError
            datetime(year, month, date)  # 2026/02/30 is refused here
            day = timegm((year, month, date, 0, 0, 0))
        except (ValueError, OverflowError):
            raise _field_error(line, 0, value, "a date and time YYYY/MM/DD HH:MM:SS") from None
        if len(_day_epoch) < 100_000:
            _day_epoch[value[:10]] = day
    clock = value[10:]
    if (len(clock) != 9 or clock[0] != " " or clock[3] != ":" or clock[6] != ":" or not clock[1:3].isdigit()
            or not clock[4:6].isdigit() or not clock[7:9].isdigit() or not clock.isascii()):
        raise _field_error(line, 0, value, "a date and time YYYY/MM/DD HH:MM:SS")
    hours, minutes, seconds = int(clock[1:3]), int(clock[4:6]), int(clock[7:9])
    if hours > 23 or minutes > 59 or seconds > 59:
        raise _field_error(line, 0, value, "a date and time YYYY/MM/DD HH:MM:SS")
    return day + hours * 3600 + minutes * 60 + seconds


def _duration(fields: list[str], line: int) -> int:
    value = fields[1]
    parts = value.split(":")
    if (len(parts) != 3 or not all(p.isdigit() and p.isascii() for p in parts) or len(parts[0]) > 6
            or len(parts[1]) != 2 or len(parts[2]) != 2 or int(parts[1]) > 59 or int(parts[2]) > 59):
        raise _field_error(line, 1, value, "a duration HH:MM:SS")
    return int(parts[0]) * 3600 + int(parts[1]) * 60 + int(parts[2])


def is_header(text: str) -> bool:
    """The field-name line a Delta Server file starts with."""
    return text[:10].lower() == "call start" and not text[:1].isdigit()


def parse_record(text: str, line: int = 0) -> SmdrRecord:
    """One record from a line (its CR LF already removed); SmdrLineError names what is wrong."""
    fields = text.split(",")
    count = len(fields)
    if count < CORE_FIELDS or count > MAX_FIELDS:
        raise SmdrLineError(line, f"{count} field{'s' if count != 1 else ''}: a record has "
                                  f"{CORE_FIELDS} to {MAX_FIELDS}")
    direction = fields[4]
    if direction not in ("I", "O"):
        raise _field_error(line, 4, direction, "I or O")
    call_id = fields[9]
    if not (call_id.isdigit() and call_id.isascii() and len(call_id) <= 18):
        raise _field_error(line, 9, call_id, "a call number")
    return SmdrRecord(
        parse_time(fields[0], line), _duration(fields, line), _seconds(fields, 2, line), fields[3], direction,
        fields[5], fields[6], fields[7], _flag(fields, 8, line), int(call_id), _flag(fields, 10, line),
        fields[11], fields[12], fields[13], fields[14], _seconds(fields, 15, line), _seconds(fields, 16, line),
        _extra(fields))


def _extra(fields: list[str]) -> tuple[str, ...]:
    """Fields 18 onwards; () when all are empty (so a record written without them reads back equal)."""
    extra = fields[CORE_FIELDS:]
    return tuple(extra) if any(extra) else ()


def decode_line(raw: bytes, line: int) -> str:
    """A line's text: UTF-8, else Windows-1252 (older call loggers save names that way);
    control characters and undecodable bytes are refused, naming the first one's column."""
    text = raw.rstrip(b"\r\n")
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        decoded = text.decode("cp1252", errors="replace")
        undecodable = decoded.find("\ufffd")  # the five bytes Windows-1252 leaves undefined
        if undecodable >= 0:
            raise SmdrLineError(line, f"an undecodable byte at column {undecodable + 1}: not text") from None
    bad = _CONTROL.search(decoded)
    if bad is not None:
        raise SmdrLineError(line, f"control character 0x{ord(bad.group()):02x} at column {bad.start() + 1}: not text")
    return decoded
