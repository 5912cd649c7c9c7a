"""The outbox never loses count: every event made is published, still waiting, or dropped
and counted; whatever the link takes and cannot send comes back in order."""

from __future__ import annotations

import asyncio
import pickle

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.service.outbox import Outbox, UnitEvents
from emulator.service.topics import Topics

STEPS = st.lists(st.one_of(
    st.tuples(st.just("event"), st.sampled_from(["a", "b", "c", "ab", "abc"]), st.integers(1, 30)),
    st.tuples(st.just("take"), st.integers(1, 5)),  # the link takes up to n messages...
    st.tuples(st.just("settle"), st.booleans()),  # ...and later they went (True) or come back
    st.tuples(st.just("reply"), st.integers(1, 3), st.booleans()),
), max_size=60)


@settings(max_examples=400, deadline=None)
@given(steps=STEPS, max_events=st.integers(5, 80))
def test_every_event_is_published_waiting_or_dropped(steps, max_events):
    async def play() -> None:
        outbox = Outbox(Topics(), 0.0, max_events=max_events, max_replies=4, linger_s=0)
        published: dict[str, list[int]] = {"a": [], "b": [], "c": []}
        made = dict.fromkeys(published, 0)
        numbered: dict[float, int] = {}
        replies_sent = 0
        in_flight: list = []
        t = 0.0
        for step in steps:
            if step[0] == "event":  # a batch as the sink hands it on: of one unit, or of several
                _, units, n = step
                batch = []
                for i in range(n):
                    t += 1.0
                    unit = units[i % len(units)]
                    made[unit] += 1
                    numbered[t] = made[unit]  # the event's seq: its unit's events so far
                    batch.append((t, unit, "call.ended", (f"c{t}",)))
                outbox.add_events(batch)
            elif step[0] == "reply":
                for _ in range(step[1]):
                    outbox.add_reply("r", b"{}")
            elif step[0] == "take":
                messages = outbox.take(step[1])
                await outbox.encode(messages)
                in_flight += messages
            else:
                up = step[1]
                for message in (in_flight if up else reversed(in_flight)):  # back in front, in order
                    if up:
                        outbox.sent(message)
                        if message.kind == "events":
                            records = orjson.loads(message.payload)["events"]
                            assert all(e["seq"] == numbered[e["time"]] and e["unit"] == message.unit for e in records)
                            published[message.unit] += [e["seq"] for e in records]
                        elif message.kind == "reply":
                            replies_sent += 1
                    else:
                        outbox.not_sent(message)
                in_flight.clear()
            counters = outbox.snapshot()
            taken = sum(m.count for m in in_flight if m.kind == "events")
            assert counters["events"] == (counters.get("events_published", 0) + outbox.waiting_events_count()
                                          + taken + counters.get("events_dropped", 0))
            assert outbox.waiting_events_count() <= max_events
            for seqs in published.values():  # each unit's events go out in order, none twice
                assert seqs == sorted(set(seqs)), seqs
        assert outbox.snapshot().get("replies_published", 0) == replies_sent
        await outbox.aclose()

    asyncio.run(play())


def test_a_message_never_spans_a_gap_in_seq():
    """Events dropped while a message was out leave a gap once it comes back: the events on
    either side go in separate messages, so each message's events are first_seq, +1, +2..."""
    queue = UnitEvents()
    queue.add(["e1", "e2"])
    first, count, blobs = queue.take(10)
    queue.add(["e3"])
    queue.add(["e4", "e5"])
    queue.add(["e6"])
    assert queue.drop_oldest(1) == 1  # e3 dropped while e1, e2 were out
    queue.put_back(first, count, blobs)
    assert unpickled(queue.take(10)) == (1, ["e1", "e2"])
    assert unpickled(queue.take(2)) == (4, ["e4", "e5"])  # whole batches, up to the limit
    assert unpickled(queue.take(10)) == (6, ["e6"]) and queue.waiting == 0


def unpickled(taken: tuple[int, int, list[bytes]]) -> tuple[int, list]:
    first, count, blobs = taken
    events = [e for blob in blobs for e in pickle.loads(blob)]
    assert len(events) == count
    return first, events
