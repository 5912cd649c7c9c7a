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

from emulator.scenario.runner import EventsFile
from emulator.telemetry.event_batches import BatchEncoder
from emulator.telemetry.events import Event
from emulator.service.topics import Topics

BATCH_EVENTS = 2000
"""Events per message, at most."""


class OutMessage:
    """One publish: topic, payload, retained or not, MQTT 5 correlation data (or None)."""

    __slots__ = ("topic", "payload", "retain", "correlation", "kind", "unit", "events")

    def __init__(self, topic: str, payload: bytes | None, *, retain: bool = False, correlation: bytes | None = None,
                 kind: str = "reply", unit: str = "", events: list | None = None) -> None:
        self.topic = topic
        self.payload = payload
        self.retain = retain
        self.correlation = correlation
        self.kind = kind  # reply, retained or events
        self.unit = unit
        self.events = events  # an events message's rows (seq, time, name, fields); payload made later


class Outbox:
    def __init__(self, topics: Topics, start: float, *, max_events: int = 200_000, max_replies: int = 10_000,
                 journal: EventsFile | None = None, encoder: BatchEncoder | None = None) -> None:
        self.topics = topics
        self.start = start
        self.max_events = max_events
        self.max_replies = max_replies
        self.journal = journal
        self.encoder = encoder or BatchEncoder(helper=False)
        self.counters: Counter[str] = Counter()
        self._retained: dict[str, bytes] = {}
        self._dirty: dict[str, None] = {}  # topics whose latest value is not yet sent (ordered)
        self._events: dict[str, list] = {}  # unit -> [deque of rows (seq, time, name, fields), next seq]
        self._waiting_events = 0
        self.changed_units: dict[str, None] = {}
        """Units with events since the service last looked (it publishes their state)."""
        self._replies: deque[OutMessage] = deque()
        self.wakeup = asyncio.Event()

    # -- put (called by the service, never waits) ------------------------------------------------

    def set_retained(self, topic: str, payload: bytes) -> None:
        if self._retained.get(topic) != payload:
            self._retained[topic] = payload
            self._dirty[topic] = None
            self.wakeup.set()

    def add_event(self, event: Event) -> None:
        """An EventSink subscriber: numbers the event and keeps it as a row. Records and
        JSON are made in batches when sent (by the encoder, in a helper process when the
        service has one), so a decision pays for little more than this."""
        at, unit, name, fields = event
        state = self._events.get(unit)
        if state is None:
            state = self._events[unit] = [deque(), 1]
        seq = state[1]
        state[1] = seq + 1
        state[0].append((seq, at, name, fields))
        self.changed_units[unit] = None
        if self.journal is not None:
            self.journal((seq, event))
        waiting = self._waiting_events = self._waiting_events + 1
        if waiting > self.max_events:
            self._drop_oldest_event(state[0])
        elif waiting == 1:
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
        for unit, (queue, _) in self._events.items():
            if len(out) >= limit:
                break
            if not queue:
                continue
            rows = [queue.popleft() for _ in range(min(BATCH_EVENTS, len(queue)))]
            self._waiting_events -= len(rows)
            out.append(OutMessage(self.topics.events(unit), None, kind="events", unit=unit, events=rows))
        if not self.pending():
            self.wakeup.clear()
        return out

    async def encode(self, messages: list[OutMessage]) -> None:
        """Give the events messages among these their payloads (EventsBatch JSON)."""
        waiting = [m for m in messages if m.payload is None]
        if waiting:
            payloads = await self.encoder.encode_all([(m.unit, self.start, m.events) for m in waiting])
            for message, payload in zip(waiting, payloads, strict=True):
                message.payload = payload

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
            queue = self._events[message.unit][0]
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

    @property
    def events_made(self) -> int:
        """Every event numbered so far (the numbers count them)."""
        return sum(state[1] - 1 for state in self._events.values())

    def snapshot(self) -> dict[str, int]:
        """The counters, with events made and journaled."""
        counters = dict(self.counters)
        counters["events"] = self.events_made
        if self.journal is not None:
            counters["events_journaled"] = self.journal.lines
        if self.encoder.failures:
            counters["encoder_failures"] = self.encoder.failures
        return counters

    def pending(self) -> bool:
        return bool(self._replies or self._dirty or self._waiting_events)

    def waiting_events_count(self) -> int:
        return self._waiting_events

    def waiting(self) -> int:
        """Events, replies and retained values not yet sent."""
        return self._waiting_events + len(self._replies) + len(self._dirty)

    def _drop_oldest_event(self, queue: deque) -> None:
        """The unit whose event overflowed loses its oldest waiting one (a gap in its seq)."""
        queue.popleft()
        self._waiting_events -= 1
        self.counters["events_dropped"] += 1

    async def aclose(self) -> None:
        await self.encoder.aclose()
        if self.journal is not None:
            self.journal.close()
