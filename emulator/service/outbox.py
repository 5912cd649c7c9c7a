"""What a service has to tell the broker, waiting to be sent: never a wait for its callers.

Decisions and commands put messages here and return at once; the MQTT link takes them when
the broker can have them. Three kinds, each with its own bound:

- retained state (unit status, licenses, service status): latest wins, one per topic; after
  a reconnect all of it is sent again;
- events: per unit, in order, numbered from 1 (seq); sent in batches; when more than
  `max_events` wait (a broker gone for long), the oldest are dropped and counted. With a
  journal every event is also written to a file as it happens, so none is lost;
- replies to commands: at most `max_replies` waiting, beyond which they are dropped and
  counted.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque

import orjson

from emulator.scenario.runner import EventsFile
from emulator.telemetry.events import Event, event_record
from emulator.service.topics import Topics

BATCH_EVENTS = 2000
"""Events per message, at most."""


class OutMessage:
    """One publish: topic, payload, retained or not, MQTT 5 correlation data (or None)."""

    __slots__ = ("topic", "payload", "retain", "correlation", "kind", "unit", "events")

    def __init__(self, topic: str, payload: bytes, *, retain: bool = False, correlation: bytes | None = None,
                 kind: str = "reply", unit: str = "", events: list | None = None) -> None:
        self.topic = topic
        self.payload = payload
        self.retain = retain
        self.correlation = correlation
        self.kind = kind  # reply, retained or events
        self.unit = unit
        self.events = events  # the (seq, event) pairs of an events message, to put back if unsent


class Journal(EventsFile):
    """--journal: every event as the JSON line --events writes, plus its per-unit seq.
    Given (seq, event) pairs as they happen; encoded in batches like --events."""

    def _encode(self, numbered: list) -> bytes:
        dumps, option, start = orjson.dumps, orjson.OPT_APPEND_NEWLINE, self.start
        return b"".join(dumps(numbered_record(seq, event, start), default=str, option=option)
                        for seq, event in numbered)


def numbered_record(seq: int, event: Event, start: float) -> dict:
    record = event_record(event, start)
    record["seq"] = seq
    return record


class Outbox:
    def __init__(self, topics: Topics, start: float, *, max_events: int = 200_000, max_replies: int = 10_000,
                 journal: Journal | None = None) -> None:
        self.topics = topics
        self.start = start
        self.max_events = max_events
        self.max_replies = max_replies
        self.journal = journal
        self.counters: Counter[str] = Counter()
        self._retained: dict[str, bytes] = {}
        self._dirty: dict[str, None] = {}  # topics whose latest value is not yet sent (ordered)
        self._events: dict[str, deque] = {}  # unit -> deque of (seq, event) waiting
        self._waiting_events = 0
        self._seq: dict[str, int] = {}
        self.changed_units: dict[str, None] = {}
        """Units with events since the service last looked (it publishes their state)."""
        self.events_made = 0
        self._replies: deque[OutMessage] = deque()
        self.wakeup = asyncio.Event()

    # -- put (called by the service, never waits) ------------------------------------------------

    def set_retained(self, topic: str, payload: bytes) -> None:
        if self._retained.get(topic) != payload:
            self._retained[topic] = payload
            self._dirty[topic] = None
            self.wakeup.set()

    def retained(self, topic: str) -> bytes | None:
        return self._retained.get(topic)

    def add_event(self, event: Event) -> None:
        """An EventSink subscriber: numbers the event and keeps it. Records and JSON are made
        in batches when sent (and journaled), so a decision pays for little more than this."""
        unit = event.unit
        seq = self._seq.get(unit, 0) + 1
        self._seq[unit] = seq
        self.events_made += 1
        if self.journal is not None:
            self.journal((seq, event))
        queue = self._events.get(unit)
        if queue is None:
            queue = self._events[unit] = deque()
        self.changed_units[unit] = None
        queue.append((seq, event))
        self._waiting_events += 1
        if self._waiting_events > self.max_events:
            self._drop_oldest_event(queue)
        elif self._waiting_events == 1:
            self.wakeup.set()  # otherwise the sender is already busy or awake

    def add_reply(self, topic: str, payload: bytes, correlation: bytes | None = None) -> None:
        if len(self._replies) >= self.max_replies:
            self.counters["replies_dropped"] += 1
            return
        self._replies.append(OutMessage(topic, payload, correlation=correlation))
        self.wakeup.set()

    # -- take (the link) ----------------------------------------------------------------------------

    def take(self, limit: int = 64) -> list[OutMessage]:
        """Up to `limit` messages to send now: replies first, then retained state, then events."""
        out: list[OutMessage] = []
        while self._replies and len(out) < limit:
            out.append(self._replies.popleft())
        while self._dirty and len(out) < limit:
            topic = next(iter(self._dirty))
            del self._dirty[topic]
            out.append(OutMessage(topic, self._retained[topic], retain=True, kind="retained"))
        start, dumps = self.start, orjson.dumps
        for unit, queue in self._events.items():
            if len(out) >= limit:
                break
            if not queue:
                continue
            batch = [queue.popleft() for _ in range(min(BATCH_EVENTS, len(queue)))]
            self._waiting_events -= len(batch)
            payload = dumps({"unit": unit, "first_seq": batch[0][0],
                             "events": [numbered_record(seq, event, start) for seq, event in batch]}, default=str)
            out.append(OutMessage(self.topics.events(unit), payload, kind="events", unit=unit, events=batch))
        if not self.pending():
            self.wakeup.clear()
        return out

    def sent(self, message: OutMessage) -> None:
        if message.kind == "events":
            self.counters["events_published"] += len(message.events)
        elif message.kind == "reply":
            self.counters["replies_published"] += 1

    def not_sent(self, message: OutMessage) -> None:
        """The broker did not take it: put it back where it was (the link reconnects)."""
        if message.kind == "reply":
            self._replies.appendleft(message)
        elif message.kind == "retained":
            if message.topic not in self._dirty:
                self._dirty = {message.topic: None, **self._dirty}
        else:
            batch = message.events
            queue = self._events.setdefault(message.unit, deque())
            queue.extendleft(reversed(batch))
            self._waiting_events += len(batch)
            while self._waiting_events > self.max_events and queue:
                self._drop_oldest_event(queue)
        self.wakeup.set()

    def resend_retained(self) -> None:
        """After a reconnect: the broker may have lost it all (a restarted mosquitto has)."""
        self._dirty = dict.fromkeys(self._retained)
        if self._dirty:
            self.wakeup.set()

    def snapshot(self) -> dict[str, int]:
        """The counters, with events made and journaled."""
        counters = dict(self.counters)
        counters["events"] = self.events_made
        if self.journal is not None:
            counters["events_journaled"] = self.journal.lines
        return counters

    def pending(self) -> bool:
        return bool(self._replies or self._dirty or self._waiting_events)

    def waiting(self) -> int:
        """Events, replies and retained values not yet sent."""
        return self._waiting_events + len(self._replies) + len(self._dirty)

    def _drop_oldest_event(self, queue: deque) -> None:
        """The unit whose event overflowed loses its oldest waiting one (a gap in its seq)."""
        queue.popleft()
        self._waiting_events -= 1
        self.counters["events_dropped"] += 1

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()
