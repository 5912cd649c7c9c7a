"""What a service has to tell the broker, waiting to be sent: never a wait for its callers.

Decisions and commands put messages here and return at once; the MQTT link takes them when
the broker can have them. Three kinds, each with its own bound:

- retained state (unit status, licenses, service status): latest wins, one per topic; after
  a reconnect all of it is sent again;
- events: per unit, in order, numbered from 1 (seq); sent in batches, about
  EVENTS_LINGER_S after they are queued; when more than `max_events` wait (a broker gone
  for long), the oldest are dropped and counted. With a journal every event is also written
  to a file as it is queued, so none is lost;
- replies to commands: at most `max_replies` waiting, beyond which they are dropped and
  counted.
"""

from __future__ import annotations

import asyncio
import pickle
from collections import Counter, deque
from operator import attrgetter, itemgetter

from emulator.scenario.runner import EventsFile
from emulator.telemetry.event_batches import BatchEncoder
from emulator.service.topics import Topics

BATCH_EVENTS = 2000
"""Events per message, at most, unless one batch the sink handed on is larger (a batch is
never split: under load a batch is the events of one 2 ms turn of the event loop)."""

EVENTS_LINGER_S = 0.02
"""Events wait this long (or until BATCH_EVENTS of them wait) before they are sent, so a unit
under load sends few large messages rather than many small ones."""

_unit_of = itemgetter(1)
_waiting_of = attrgetter("waiting")


class OutMessage:
    """One publish: topic, payload, retained or not, MQTT 5 correlation data (or None)."""

    __slots__ = ("topic", "payload", "retain", "correlation", "kind", "unit", "events", "first_seq", "count")

    def __init__(self, topic: str, payload: bytes | None, *, retain: bool = False, correlation: bytes | None = None,
                 kind: str = "reply", unit: str = "", events: list[bytes] | None = None, first_seq: int = 0,
                 count: int = 0) -> None:
        self.topic = topic
        self.payload = payload
        self.retain = retain
        self.correlation = correlation
        self.kind = kind  # reply, retained or events
        self.unit = unit
        self.events = events  # an events message's events (pickled lists), payload made later
        self.first_seq = first_seq  # ...numbered from first_seq
        self.count = count  # ...and how many


class UnitEvents:
    """One unit's events waiting to be sent, oldest first, as chunks [first seq, count, pickled
    lists of events]. Events are pickled as they are queued, while the batch the sink handed on
    is still fresh in the cache; they then wait as bytes, which the collector never walks, and
    the helper process that encodes them unpickles them. Within a chunk the events are numbered
    one after the other; between chunks there may be a gap (events dropped while a message was
    out and then came back). Events are dropped a whole batch at a time."""

    __slots__ = ("chunks", "next_seq", "waiting")

    def __init__(self) -> None:
        self.chunks: deque[list] = deque()
        self.next_seq = 1
        self.waiting = 0

    def add(self, events: list[tuple]) -> int:
        """Number these events and queue them; returns the first one's seq."""
        first = self.next_seq
        self.next_seq = first + len(events)
        self.chunks.append([first, len(events), [pickle.dumps(events, protocol=pickle.HIGHEST_PROTOCOL)]])
        self.waiting += len(events)
        return first

    def take(self, limit: int) -> tuple[int, int, list[bytes]]:
        """(first seq, count, pickled lists): the oldest chunks, numbered one after the other,
        up to `limit` events (at least one chunk)."""
        chunks = self.chunks
        first, count, blobs = chunks.popleft()
        while chunks and chunks[0][0] == first + count and count + chunks[0][1] <= limit:
            count += chunks[0][1]
            blobs = blobs + chunks.popleft()[2]
        self.waiting -= count
        return first, count, blobs

    def put_back(self, first: int, count: int, blobs: list[bytes]) -> None:
        self.chunks.appendleft([first, count, blobs])
        self.waiting += count

    def drop_oldest(self, count: int) -> int:
        """Drop the oldest chunks, at least `count` events; returns how many were dropped."""
        dropped = 0
        chunks = self.chunks
        while chunks and dropped < count:
            dropped += chunks.popleft()[1]
        self.waiting -= dropped
        return dropped


class Outbox:
    def __init__(self, topics: Topics, start: float, *, max_events: int = 200_000, max_replies: int = 10_000,
                 journal: EventsFile | None = None, encoder: BatchEncoder | None = None,
                 linger_s: float = EVENTS_LINGER_S) -> None:
        self.topics = topics
        self.linger_s = linger_s
        self.start = start
        self.max_events = max_events
        self.max_replies = max_replies
        self.journal = journal
        self.encoder = encoder or BatchEncoder(helper=False)
        self.counters: Counter[str] = Counter()
        self._retained: dict[str, bytes] = {}
        self._dirty: dict[str, None] = {}  # topics whose latest value is not yet sent (ordered)
        self._events: dict[str, UnitEvents] = {}
        self._waiting_events = 0
        self._events_due = False  # waiting events may be sent now (they lingered, or are many)
        self._linger: asyncio.TimerHandle | None = None
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

    def add_events(self, events: list[tuple]) -> None:
        """An EventSink batch listener: numbers each unit's events and queues them. Records
        and JSON are made in batches when sent (by the encoder, in a helper process when the
        service has one), so an event costs a decision little more than its tuple: a batch
        of one unit's events (the common case) is numbered and queued as a whole."""
        if not events:
            return
        units = set(map(_unit_of, events))
        if len(units) == 1:
            unit = events[0][1]
            first = self._unit(unit).add(events)
            if self.journal is not None:
                self.journal.add(list(enumerate(events, first)))
        else:
            by_unit: dict[str, list[tuple]] = {}
            for event in events:
                by_unit.setdefault(event[1], []).append(event)
            firsts = {unit: self._unit(unit).add(part) for unit, part in by_unit.items()}
            if self.journal is not None:  # in the order they happened
                numbered = []
                for event in events:
                    seq = firsts[event[1]]
                    firsts[event[1]] = seq + 1
                    numbered.append((seq, event))
                self.journal.add(numbered)
        self.changed_units.update(dict.fromkeys(units))
        self._waiting_events += len(events)
        if self._waiting_events > self.max_events:
            self._drop_oldest(units)
        self._events_waiting()

    def _events_waiting(self) -> None:
        """Events wait: they may go once BATCH_EVENTS wait, or linger_s after the wait began."""
        if self._events_due:
            return  # the sender is already busy or awake
        if self._waiting_events >= BATCH_EVENTS or not self.linger_s:
            self.send_events_now()
        elif self._linger is None:
            try:
                self._linger = asyncio.get_running_loop().call_later(self.linger_s, self.send_events_now)
            except RuntimeError:  # no event loop: nobody sends, so nothing is late
                self._events_due = True

    def send_events_now(self) -> None:
        """The waiting events may go now (they lingered long enough, there are many, or the
        service stops)."""
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if self._waiting_events:
            self._events_due = True
            self.wakeup.set()

    def _unit(self, unit: str) -> UnitEvents:
        queue = self._events.get(unit)
        if queue is None:
            queue = self._events[unit] = UnitEvents()
        return queue

    def _drop_oldest(self, units) -> None:
        """Too many events wait (a broker gone for long): these units lose their oldest
        waiting ones, the longest queue first (gaps in their seq)."""
        queues = [self._events[unit] for unit in units]
        while self._waiting_events > self.max_events:
            longest = max(queues, key=_waiting_of)
            dropped = longest.drop_oldest(self._waiting_events - self.max_events)
            if not dropped:
                break
            self._waiting_events -= dropped
            self.counters["events_dropped"] += dropped

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
        taken = False
        for unit, queue in self._events.items():
            if len(out) >= limit or not self._events_due:
                break
            if not queue.waiting:
                continue
            first, count, blobs = queue.take(BATCH_EVENTS)
            self._waiting_events -= count
            out.append(OutMessage(self.topics.events(unit), None, kind="events", unit=unit, events=blobs,
                                  first_seq=first, count=count))
            taken = True
        if taken:  # what is left (or comes next) starts a new wait
            self._events_due = False
            if self._waiting_events:
                self._events_waiting()
        if not (self._replies or self._dirty or self._events_due):
            self.wakeup.clear()
        return out

    async def encode(self, messages: list[OutMessage]) -> None:
        """Give the events messages among these their payloads (EventsBatch JSON)."""
        waiting = [m for m in messages if m.payload is None]
        if waiting:
            payloads = await self.encoder.encode_all([(m.unit, self.start, m.first_seq, m.events) for m in waiting])
            for message, payload in zip(waiting, payloads, strict=True):
                message.payload = payload

    def sent(self, message: OutMessage) -> None:
        if message.kind == "events":
            self.counters["events_published"] += message.count
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
            self._events[message.unit].put_back(message.first_seq, message.count, message.events)
            self._waiting_events += message.count
            if self._waiting_events > self.max_events:
                self._drop_oldest([message.unit])
            self._events_due = bool(self._waiting_events)
        self.wakeup.set()

    def resend_retained(self) -> None:
        """After a reconnect: the broker may have lost it all (a restarted mosquitto has)."""
        self._dirty = dict.fromkeys(self._retained)
        if self._dirty:
            self.wakeup.set()

    @property
    def events_made(self) -> int:
        """Every event numbered so far (the numbers count them)."""
        return sum(queue.next_seq - 1 for queue in self._events.values())

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

    async def aclose(self) -> None:
        await self.encoder.aclose()
        if self.journal is not None:
            self.journal.close()
