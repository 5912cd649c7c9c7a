"""Events with stable names, and the sink that hands them to whoever listens.

Building an event costs more than making most decisions, so nothing is built unless a
subscriber is attached: callers test `sink.active` first. Counting decisions is the
runtime's job and happens always.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import NamedTuple

# Stable names. A name is never changed or reused; new ones are added. Documented in docs/events.md.
EVENT_NAMES: dict[str, str] = {
    "call.admitted": "a call was admitted (every pool it needs was free)",
    "call.rejected": "a call was refused; reason says why, detail which pool or party",
    "call.connected": "a call was answered (set-up VCM released for direct media)",
    "call.held": "a party was put on hold and hears music",
    "call.hold_rejected": "music on hold needed a VCM channel and none was free",
    "call.resumed": "a held call resumed",
    "call.ended": "a call ended and released what it held",
    "conference.joined": "a party joined a conference",
    "conference.rejected": "a party could not join a conference",
    "conference.left": "a party left a conference",
    "endpoint.registered": "an IP phone registered with its license",
    "endpoint.registered_unlicensed": "an Avaya IP phone registered without a license: emergency calls only",
    "endpoint.rejected": "a registration was refused",
    "endpoint.unregistered": "an IP phone unregistered",
    "endpoint.licensed": "a waiting unlicensed phone got a freed license",
    "endpoint.license_reserved": "a Reserve License extension took its license",
    "application.started": "an application started with its license",
    "application.fallback": "an application started without its license (e.g. Phone Manager Lite)",
    "application.rejected": "an application could not start",
    "application.stopped": "an application stopped",
    "feature.licensed": "a configured feature (Mobility, CCC agent) got its license",
    "feature.unlicensed": "a configured feature lost or could not get its license",
    "feature.rejected": "a configured feature cannot run on this control unit (e.g. Mobile Call Control off an IP500)",
    "voicemail_pro_server.running": "the Voicemail Pro server is licensed and running",
    "voicemail_pro_server.stopped": "the Voicemail Pro server stopped (no valid license)",
    "voicemail_lite.running": "the voicemail server runs as the free Voicemail Lite (no valid Voicemail Pro license)",
    "voicemail_lite.stopped": "Voicemail Lite stopped (Voicemail Pro licensed, or no server)",
    "embedded_voicemail.running": "the unit's embedded voicemail runs (no license needed)",
    "embedded_voicemail.stopped": "the unit's embedded voicemail stopped",
    "delta_server.running": "the Delta Server is licensed and running",
    "delta_server.stopped": "the Delta Server stopped (no valid license)",
    "license.valid": "a license key became Valid",
    "license.invalid": "a license key became Invalid (wrong serial, altered, malformed, key absent)",
    "license.expired": "a license key expired (e.g. a trial on day 60)",
    "license.dormant": "a license key is Dormant (a license it needs is not valid)",
    "license.obsolete": "a license key is Obsolete (not used by this release or unit)",
    "license.unknown": "a license key was entered before any feature key was read",
    "pool.limit_changed": "a pool's licensed or effective size changed",
    "contactstore.running": "ContactStore is licensed and recording",
    "contactstore.stopped": "ContactStore stopped (no valid license)",
    "expansion_modules.running": "the unit's expansion modules run (IP500: Professional Edition licensed)",
    "expansion_modules.stopped": "the expansion modules stopped (IP500: no Standard to Professional upgrade)",
    "feature_key.present": "the feature key answered with its serial",
    "feature_key.absent": "the feature key stopped answering; the grace period starts",
    "feature_key.grace_expired": "the grace period ran out: licenses are invalid",
    "feature_key.error": "the feature key answered something unusable",
}


CALL_FIELDS = ("call", "a", "b", "reason", "detail", "answered")
CALL_LAYOUTS: dict[int, tuple[str, ...]] = {1: ("call",), 6: CALL_FIELDS, 7: (*CALL_FIELDS, "group")}
"""The fields of an event given as a tuple, by its length: the call events of the hot path
(call.admitted, call.rejected, call.ended) are emitted as tuples, which cost a fraction of a
dict to make, to send to another process and to keep; they read as dicts like any other."""


class Event(NamedTuple):
    at: float
    unit: str
    name: str
    fields: dict | tuple
    """The event's own fields: a dict, or a tuple laid out as CALL_LAYOUTS says."""

    @property
    def data(self) -> dict:
        return fields_dict(self.fields)


def fields_dict(fields: dict | tuple) -> dict:
    """An event's fields as a dict, whichever way they were given."""
    if type(fields) is dict:
        return fields
    return dict(zip(CALL_LAYOUTS[len(fields)], fields, strict=True))


_OUTCOMES = {name: name.rpartition(".")[2] for name in EVENT_NAMES}


def event_record(event: Event | tuple, start: float, seq: int | None = None) -> dict:
    """An event as the documented JSON object (docs/events.md): written by --events, the
    MQTT events topic and the service journal alike. Keys in a fixed order: time, t, unit,
    kind, outcome, reason, detail (null when empty), then the event's own fields, then seq
    when given (MQTT and the journal number events per unit)."""
    at, unit, name, fields = event
    outcome = _OUTCOMES.get(name) or name.rpartition(".")[2]
    if type(fields) is tuple and len(fields) >= 6:  # a call's (CALL_LAYOUTS), written out: most events are
        record = {"time": at, "t": at - start, "unit": unit, "kind": name, "outcome": outcome, "reason": fields[3],
                  "detail": fields[4] or None, "call": fields[0], "a": fields[1], "b": fields[2], "answered": fields[5]}
        if len(fields) == 7:
            record["group"] = fields[6]
    elif type(fields) is tuple and len(fields) == 1:
        record = {"time": at, "t": at - start, "unit": unit, "kind": name, "outcome": outcome, "reason": None,
                  "detail": None, "call": fields[0]}
    else:
        record = {"time": at, "t": at - start, "unit": unit, "kind": name, "outcome": outcome, "reason": None,
                  "detail": None}
        record.update(fields if type(fields) is dict else zip(CALL_LAYOUTS[len(fields)], fields, strict=True))
        if not record["detail"]:
            record["detail"] = None
    if seq is not None:
        record["seq"] = seq
    return record


class EventSink:
    """The events of a run, in order, handed to whoever listens; inactive (and free) while
    nobody does.

    Events are kept in `rows`, in the order they happen, as plain (at, unit, name, fields)
    tuples, and handed on when the sink is flushed. Two kinds of listeners:

    - `subscribe(fn)`: fn(Event) for each event, as it happens (the sink flushes at every
      event while one is attached): for tests and loggers;
    - `subscribe_batches(fn)`: fn(rows) with the events made since the last flush, as plain
      tuples, soon after they happen: the first event of a batch asks the event loop to
      flush at its next turn (a wall clock running behind lets it in every 2 ms, a virtual
      clock every `yield_every` callbacks), and whoever reads what the listeners hold
      flushes first. This is how the
      files, the broker and the counters listen: an event then costs a tuple and a list
      append where it is made, and the rest runs once per batch.

    The hot paths (ControlUnit's call functions) append to `rows` themselves and call
    `started()` when they made the first row of a batch, exactly as emit() does.
    """

    __slots__ = ("_each", "_batches", "active", "rows", "_soon", "failure", "on_failure")

    def __init__(self) -> None:
        self._each: list[Callable[[Event], None]] = []
        self._batches: list[Callable[[list[tuple]], None]] = []
        self.active = False
        self.rows: list[tuple] = []
        """Events made and not yet handed on. Never replaced (hot paths hold its append)."""
        self._soon = False  # a flush is asked of the event loop
        self.failure: BaseException | None = None
        """The first error a listener raised in a flush the event loop ran (nobody waits for
        that call to raise it to): on_failure(error) is told, to end the run with it, and
        whoever runs the clock next raises it."""
        self.on_failure: Callable[[BaseException], None] | None = None

    def subscribe(self, subscriber: Callable[[Event], None]) -> Callable[[], None]:
        """Add a listener told of each event as it happens; returns the function that removes it."""
        return self._add(self._each, subscriber)

    def subscribe_batches(self, subscriber: Callable[[list[tuple]], None]) -> Callable[[], None]:
        """Add a listener given the events in batches, in order, as (at, unit, name, fields)
        tuples; returns the function that removes it."""
        return self._add(self._batches, subscriber)

    def _add(self, listeners: list, subscriber: Callable) -> Callable[[], None]:
        self.flush()  # what was made before belongs to the listeners before
        listeners.append(subscriber)
        self.active = bool(self._each or self._batches)

        def unsubscribe() -> None:
            self.flush()
            if subscriber in listeners:
                listeners.remove(subscriber)
            self.active = bool(self._each or self._batches)

        return unsubscribe

    def emit(self, at: float, unit: str, name: str, fields: dict | tuple) -> None:
        rows = self.rows
        rows.append((at, unit, name, fields))
        if len(rows) == 1:
            self.started()

    def started(self) -> None:
        """The first event of a batch was made: hand it on now (a listener wants each event)
        or at the event loop's next turn."""
        if self._each:
            self.flush()
        elif not self._soon:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no event loop: whoever reads the listeners flushes first
            self._soon = True
            loop.call_soon(self._flush_soon)

    def _flush_soon(self) -> None:
        try:
            self.flush()
        except Exception as exc:
            if self.failure is None:
                self.failure = exc
            if self.on_failure is not None:
                self.on_failure(exc)

    def flush(self) -> None:
        """Hand every event made so far to the listeners."""
        self._soon = False
        rows = self.rows
        if not rows:
            return
        batch = rows[:]
        rows.clear()
        for subscriber in self._batches:
            subscriber(batch)
        for subscriber in self._each:
            for row in batch:
                subscriber(_new_event(Event, row))


_new_event = tuple.__new__
