"""Events with stable names, and the sink that hands them to whoever listens.

Building an event costs more than making most decisions, so nothing is built unless a
subscriber is attached: callers test `sink.active` first. Counting decisions is the
runtime's job and happens always.
"""

from __future__ import annotations

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
        fields = self.fields
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
    record = {"time": at, "t": at - start, "unit": unit, "kind": name,
              "outcome": _OUTCOMES.get(name) or name.rpartition(".")[2], "reason": None, "detail": None}
    record.update(fields if type(fields) is dict else zip(CALL_LAYOUTS[len(fields)], fields, strict=True))
    if not record["detail"]:
        record["detail"] = None
    if seq is not None:
        record["seq"] = seq
    return record


class EventSink:
    """Fan-out of events to subscribers; inactive (and free) while nobody subscribes."""

    __slots__ = ("_subscribers", "active", "_only")

    def __init__(self) -> None:
        self._subscribers: list[Callable[[Event], None]] = []
        self.active = False
        self._only: Callable[[Event], None] | None = None  # the one subscriber, when there is one

    def subscribe(self, subscriber: Callable[[Event], None]) -> Callable[[], None]:
        """Add a subscriber; returns the function that removes it."""
        self._subscribers.append(subscriber)
        self._changed()

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)
            self._changed()

        return unsubscribe

    def _changed(self) -> None:
        self.active = bool(self._subscribers)
        self._only = self._subscribers[0] if len(self._subscribers) == 1 else None

    def emit(self, at: float, unit: str, name: str, fields: dict | tuple) -> None:
        event = _new_event(Event, (at, unit, name, fields))  # tuple.__new__: no Python-level __new__
        only = self._only
        if only is not None:
            only(event)
            return
        for subscriber in self._subscribers:
            subscriber(event)


_new_event = tuple.__new__
