"""From call events to SMDR records: what each emulated unit would send its call logger.

Sans-IO: given the run's events (call.admitted, call.connected, call.held, call.resumed,
call.ended, call.rejected), it hands out finished records as (unit, SmdrRecord), one per
call as it ends, and one for a refused call at once (a call that never connected:
Connected Time 00:00:00, ring 0). Calls still up when a run stops have no record: a unit
writes one when the call ends.

What the records say (docs/smdr.md, "what the emulator writes"):
- each unit numbers its calls from 1000000, in the order they are offered;
- a call from a trunk is inbound (I) and its internal party is Party1; any other call is
  O, with its caller as Party1; Is Internal is 1 unless a public trunk (not an SCN line)
  takes part;
- line numbers are the unit's trunks in order (the first is line 1), channels the lowest
  free one of the line, voicemail channels the lowest free one; a refused call held no
  channel and shows channel 0;
- a call between two units of a network is written by both: each shows its own party and
  the H.323 line to the other unit;
- the emulator knows no telephone numbers beyond extensions: a trunk party's caller and
  dialled digits are empty.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence

from emulator.config import VOICEMAIL_PARTY, UnitConfig
from emulator.smdr.record import (
    FIRST_CALL_ID,
    SmdrRecord,
    extension_device,
    trunk_device,
    voicemail_device,
    whole_seconds,
)

Emit = Callable[[str, SmdrRecord], None]


class Channels:
    """The lowest free channel numbers of a line or of the voicemail."""

    __slots__ = ("free", "next")

    def __init__(self) -> None:
        self.free: list[int] = []
        self.next = 1

    def take(self) -> int:
        if self.free:
            return heapq.heappop(self.free)
        self.next += 1
        return self.next - 1

    def give(self, channel: int) -> None:
        heapq.heappush(self.free, channel)


class _Side:
    """One unit's view of a call: its two parties, as devices."""

    __slots__ = ("unit", "call_id", "internal", "other", "inbound", "channels")

    def __init__(self, unit: str, call_id: int, internal: tuple, other: tuple, inbound: bool,
                 channels: list[tuple[Channels, int]]) -> None:
        self.unit, self.call_id = unit, call_id
        self.internal, self.other = internal, other  # (device, name, number, is public trunk)
        self.inbound = inbound
        self.channels = channels


class _Call:
    __slots__ = ("start", "answered_at", "held_since", "held_s", "sides", "caller", "called")

    def __init__(self, start: float, answered: bool, sides: list[_Side], caller: str, called: str) -> None:
        self.start = start
        self.answered_at = start if answered else None
        self.held_since: float | None = None
        self.held_s = 0.0
        self.sides = sides
        self.caller, self.called = caller, called  # numbers, as Caller and Called Number give them


class SmdrRecorder:
    def __init__(self, units: Sequence[UnitConfig], emit: Emit) -> None:
        self.emit = emit
        self.units = {u.name: u for u in units}
        self._next_id = {u.name: FIRST_CALL_ID for u in units}
        self._lines = {u.name: {t.name: (i, t) for i, t in enumerate(u.trunks, 1)} for u in units}
        self._users = {u.name: {x.extension: x.name for x in u.users} for u in units}
        self._channels: dict[tuple[str, str], Channels] = {}
        self.calls: dict[object, _Call] = {}
        self.records = 0

    @property
    def open_calls(self) -> int:
        """Calls admitted and not yet ended: they have no record yet."""
        return len(self.calls)

    def __call__(self, event) -> None:
        """An event of the run (telemetry/events.py Event: at, unit, name, data)."""
        name = event.name
        if not name.startswith("call."):
            return
        data = event.data
        if name == "call.admitted":
            self._admitted(event.at, event.unit, data)
        elif name == "call.rejected":
            self._rejected(event.at, event.unit, data)
        else:
            call = self.calls.get(data.get("call"))
            if call is None:
                return
            if name == "call.connected":  # (traffic that rings first says so here, even if offered answered)
                call.answered_at = event.at
            elif name == "call.held":
                if call.held_since is None:
                    call.held_since = event.at
            elif name == "call.resumed":
                if call.held_since is not None:
                    call.held_s += event.at - call.held_since
                    call.held_since = None
            elif name == "call.ended":
                self._ended(event.at, data["call"])

    # -- building a call's sides ---------------------------------------------------------------

    def _party(self, unit: str, party: str, *, take: bool) -> tuple[tuple, list[tuple[Channels, int]]]:
        """((device, name, number, public trunk), channels taken) of a party on its unit."""
        if party in self._lines[unit]:
            line, trunk = self._lines[unit][party]
            channel = self._take(unit, party) if take else None
            device, name = trunk_device(line, channel[1] if channel else 0)
            return (device, name, "", trunk.type != "h323_scn"), [channel] if channel else []
        if party == VOICEMAIL_PARTY:
            channel = self._take(unit, VOICEMAIL_PARTY) if take else None
            device, name = voicemail_device(channel[1] if channel else 0)
            return (device, name, "", False), [channel] if channel else []
        return (extension_device(party), self._users[unit].get(party, party), party, False), []

    def _take(self, unit: str, what: str) -> tuple[Channels, int]:
        channels = self._channels.get((unit, what))
        if channels is None:
            channels = self._channels[(unit, what)] = Channels()
        return channels, channels.take()

    def _scn_line(self, unit: str, peer: str, take: bool) -> tuple[tuple, list]:
        trunk = next((t.name for t in self.units[unit].trunks if t.type == "h323_scn" and t.peer == peer), None)
        if trunk is None:
            return ("", "", "", False), []
        return self._party(unit, trunk, take=take)

    def _sides(self, unit: str, a: str, b: str, take: bool) -> list[_Side]:
        a_unit, _, a_name = a.rpartition("/")
        b_unit, _, b_name = b.rpartition("/")
        a_unit, b_unit = a_unit or unit, b_unit or unit
        sides = []
        if a_unit == b_unit:
            pa, ca = self._party(a_unit, a_name, take=take)
            pb, cb = self._party(a_unit, b_name, take=take)
            inbound = a_name in self._lines[a_unit]
            internal, other = (pb, pa) if inbound else (pa, pb)
            sides.append(_Side(a_unit, self._call_id(a_unit), internal, other, inbound, ca + cb))
            return sides
        pa, ca = self._party(a_unit, a_name, take=take)
        line_a, cla = self._scn_line(a_unit, b_unit, take)
        sides.append(_Side(a_unit, self._call_id(a_unit), pa, line_a, False, ca + cla))
        if take:  # a refused call is written by the caller's unit only
            pb, cb = self._party(b_unit, b_name, take=take)
            line_b, clb = self._scn_line(b_unit, a_unit, take)
            sides.append(_Side(b_unit, self._call_id(b_unit), pb, line_b, True, cb + clb))
        return sides

    def _call_id(self, unit: str) -> int:
        call_id = self._next_id[unit]
        self._next_id[unit] = call_id + 1
        return call_id

    # -- the events ------------------------------------------------------------------------------

    def _admitted(self, at: float, unit: str, data: dict) -> None:
        self.calls[data["call"]] = _Call(at, bool(data.get("answered", True)),
                                         self._sides(unit, data["a"], data["b"], True), self._number(unit, data["a"]),
                                         self._number(unit, data.get("group") or data["b"]))

    def _rejected(self, at: float, unit: str, data: dict) -> None:
        call = _Call(at, False, self._sides(unit, data["a"], data["b"], False), self._number(unit, data["a"]),
                     self._number(unit, data["b"]))
        self._write(call, at)

    def _number(self, unit: str, party: str) -> str:
        """A party's number as SMDR gives it: an extension or group number; VoiceMail for
        the voicemail; nothing for a trunk (the emulator dials no digits)."""
        party_unit, _, name = party.rpartition("/")
        if name == VOICEMAIL_PARTY:
            return "VoiceMail"
        return "" if name in self._lines[party_unit or unit] else name

    def _ended(self, at: float, call_id: object) -> None:
        call = self.calls.pop(call_id)
        if call.held_since is not None:
            call.held_s += at - call.held_since
        self._write(call, at)
        for side in call.sides:
            for channels, channel in side.channels:
                channels.give(channel)

    def _write(self, call: _Call, end: float) -> None:
        start = call.start
        if call.answered_at is None:  # never answered: it rang until it ended (0 when refused)
            ring, connected, held = whole_seconds(end - start), 0, 0
        else:
            ring = whole_seconds(call.answered_at - start)
            held = whole_seconds(call.held_s)
            connected = whole_seconds(end - call.answered_at - call.held_s)
        for side in call.sides:
            internal, other = side.internal, side.other
            public = internal[3] or other[3]
            self.records += 1
            self.emit(side.unit, SmdrRecord(
                call_start=int(start), connected_s=connected, ring_s=ring, caller=call.caller,
                direction="I" if side.inbound else "O", called_number=call.called,
                dialled_number="" if side.inbound else call.called, account="", is_internal=not public,
                call_id=side.call_id, continuation=False, party1_device=internal[0], party1_name=internal[1],
                party2_device=other[0], party2_name=other[1], hold_s=held, park_s=0))
