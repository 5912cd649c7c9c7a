"""What `ipo-emu watch` knows about served units, built from what the broker delivers.

Plain Python fed with (topic, payload) pairs: no client, no terminal, so it is tested on its
own and the terminal view only draws it. A unit is shown online while its status says so
and its service's status (whose Last Will says offline) does too.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

import orjson

from emulator.service.topics import Topics

REFUSAL_WINDOW_S = 60.0
"""Refusals are counted over the last minute of the unit's own (simulated) time."""
REFUSAL_EVENTS = {"call.rejected", "endpoint.rejected", "application.rejected", "conference.rejected",
                  "call.hold_rejected", "feature.rejected"}


@dataclass
class UnitView:
    name: str
    status: dict | None = None
    licenses: dict | None = None
    refusals: deque = field(default_factory=deque)  # (time, reason)
    last_time: float = 0.0
    events: int = 0
    lost_events: int = 0
    """Events missing from the numbering (published by nobody, or dropped by the service)."""
    _next_seq: int = 0

    def refusals_last_minute(self) -> Counter[str]:
        horizon = self.last_time - REFUSAL_WINDOW_S
        while self.refusals and self.refusals[0][0] < horizon:
            self.refusals.popleft()
        return Counter(reason for _, reason in self.refusals)

    def grace_left_s(self) -> float | None:
        if not self.status or self.status.get("grace_ends_at") is None:
            return None
        return max(0.0, self.status["grace_ends_at"] - self.last_time)


class FleetView:
    def __init__(self, topics: Topics, units: list[str] | None = None) -> None:
        self.topics = topics
        self.only = set(units) if units else None
        self.units: dict[str, UnitView] = {}
        self.services: dict[str, bool] = {}
        self.ignored = 0

    def unit(self, name: str) -> UnitView:
        view = self.units.get(name)
        if view is None:
            view = self.units[name] = UnitView(name)
        return view

    def online(self, view: UnitView) -> bool:
        status = view.status
        return bool(status and status.get("online") and self.services.get(status.get("service"), True))

    def feed(self, topic: str, payload: bytes) -> None:
        service = self.topics.parse_service(topic)
        try:
            body = orjson.loads(payload) if payload else None
        except orjson.JSONDecodeError:
            self.ignored += 1
            return
        if service is not None:
            if isinstance(body, dict):
                self.services[service] = bool(body.get("online"))
            return
        parsed = self.topics.parse(topic)
        if parsed is None or not isinstance(body, dict):
            self.ignored += 1
            return
        name, kind, _ = parsed
        if self.only is not None and name not in self.only:
            return
        view = self.unit(name)
        if kind == "status":
            view.status = body
            view.last_time = max(view.last_time, float(body.get("time") or 0))
        elif kind == "licenses":
            view.licenses = body
            view.last_time = max(view.last_time, float(body.get("time") or 0))
        elif kind == "events":
            self._events(view, body)

    def _events(self, view: UnitView, batch: dict) -> None:
        events = batch.get("events") or []
        first = batch.get("first_seq")
        if isinstance(first, int) and view._next_seq and first > view._next_seq:
            view.lost_events += first - view._next_seq
        for event in events:
            if not isinstance(event, dict):
                continue
            view.events += 1
            at = event.get("time")
            if isinstance(at, (int, float)):
                view.last_time = max(view.last_time, float(at))
            if event.get("kind") in REFUSAL_EVENTS:
                view.refusals.append((view.last_time, event.get("reason") or "refused"))
            seq = event.get("seq")
            if isinstance(seq, int):
                view._next_seq = seq + 1
