"""Event batches encoded in the helper process are byte for byte those encoded in place; a
helper that dies costs nothing but a counted failure."""

from __future__ import annotations

import pickle

import orjson

from emulator.telemetry.event_batches import BatchEncoder, encode_batch, encode_pickled
from emulator.telemetry.events import Event, event_record, fields_dict

EVENTS = [(100.0, "office", "call.admitted", ("c1", "sip1", "201", None, "", True)),
          (101.5, "office", "call.admitted", ("c2", "sip1", "202", None, "", True, "500")),
          (102.0, "office", "call.rejected", ("c3", "sip1", "203", "license_exhausted", "sip_trunk_channels", True)),
          (103.0, "office", "call.ended", ("c1",)),
          (104.0, "office", "feature_key.absent", {"serial": "12345678", "reason": "removed"})]


def test_tuple_fields_read_as_the_dicts_they_stand_for():
    event = Event(1.0, "office", "call.admitted", ("c2", "sip1", "202", None, "", True, "500"))
    assert event.data == {"call": "c2", "a": "sip1", "b": "202", "reason": None, "detail": "", "answered": True,
                          "group": "500"}
    assert list(event_record(event, 0.0, 7)) == ["time", "t", "unit", "kind", "outcome", "reason", "detail", "call",
                                                 "a", "b", "answered", "group", "seq"]
    assert event_record(Event(1.0, "u", "call.ended", ("c1",)), 0.0) == event_record(
        Event(1.0, "u", "call.ended", {"call": "c1"}), 0.0)


def test_call_events_written_out_are_the_records_their_layout_gives():
    """event_record writes the call events' records out (most events are calls'): the same
    keys, in the same order, with the same values as their fields read as a dict."""
    for at, unit, name, fields in EVENTS[:4]:
        fast = event_record(Event(at, unit, name, fields), 90.0, 3)
        generic = event_record(Event(at, unit, name, fields_dict(fields)), 90.0, 3)
        assert list(fast.items()) == list(generic.items())


async def test_the_helper_encodes_exactly_as_in_place():
    encoder = BatchEncoder()
    await encoder.start()
    try:
        assert encoder.in_helper
        batches = [("office", 90.0, 1, [pickle.dumps(EVENTS[:3]), pickle.dumps(EVENTS[3:])]),
                   ("branch", 90.0, 7, [pickle.dumps(EVENTS[:2])]), ("empty", 90.0, 1, [])]
        assert await encoder.encode_all(batches) == [encode_pickled(*b) for b in batches]
        assert encode_pickled(*batches[0]) == encode_batch("office", 90.0, 1, EVENTS)
        decoded = orjson.loads(encode_batch("office", 90.0, 1, EVENTS))
        assert decoded["first_seq"] == 1 and [e["seq"] for e in decoded["events"]] == [1, 2, 3, 4, 5]
        assert decoded["events"][2]["reason"] == "license_exhausted" and decoded["events"][0]["detail"] is None
    finally:
        await encoder.aclose()
    assert encoder.failures == 0


async def test_a_dead_helper_is_replaced_by_encoding_in_place():
    encoder = BatchEncoder()
    await encoder.start()
    encoder._proc.kill()  # noqa: SLF001 - the helper dies
    await encoder._proc.wait()  # noqa: SLF001
    assert await encoder.encode_all([("office", 90.0, 1, [pickle.dumps(EVENTS)])]) == [encode_batch("office", 90.0, 1, EVENTS)]
    assert encoder.failures == 1 and not encoder.in_helper
    await encoder.aclose()


async def test_an_interrupt_to_the_process_group_leaves_the_helper_to_the_service():
    """Ctrl-C in a terminal signals every process of the group; the helper ignores it and
    ends when the service closes its input."""
    import os
    import signal

    encoder = BatchEncoder()
    await encoder.start()
    await encoder.encode_all([("office", 90.0, 1, [pickle.dumps(EVENTS)])])  # the helper has started and set itself up
    os.kill(encoder._proc.pid, signal.SIGINT)  # noqa: SLF001
    assert await encoder.encode_all([("office", 90.0, 1, [pickle.dumps(EVENTS)])]) == [encode_batch("office", 90.0, 1, EVENTS)]
    assert encoder.failures == 0 and encoder.in_helper
    await encoder.aclose()
