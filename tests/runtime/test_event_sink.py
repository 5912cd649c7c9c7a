"""The event sink: every event reaches every listener once, in the order made; batch
listeners get them at the event loop's next turn (or at an explicit flush); a listener that
fails there ends the run with its error instead of vanishing into the loop's log."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.scenario.loader import load_scenario
from emulator.scenario.runner import RunOptions, ScenarioRunner
from emulator.telemetry.events import Event, EventSink

ROW = (1.0, "office", "call.ended", ("c1",))


def test_without_an_event_loop_batches_wait_for_a_flush():
    sink, batches = EventSink(), []
    sink.subscribe_batches(batches.append)
    sink.emit(*ROW)
    sink.emit(2.0, "office", "license.valid", {"key": "k"})
    assert batches == []
    sink.flush()
    assert batches == [[ROW, (2.0, "office", "license.valid", {"key": "k"})]]
    sink.flush()
    assert len(batches) == 1


def test_a_listener_of_each_event_gets_it_at_once_and_makes_batches_come_at_once_too():
    sink, each, batches = EventSink(), [], []
    sink.subscribe_batches(batches.append)
    sink.subscribe(each.append)
    sink.emit(*ROW)
    assert each == [Event(*ROW)] and each[0].data == {"call": "c1"} and batches == [[ROW]]


async def test_with_an_event_loop_batches_come_at_its_next_turn():
    sink, batches = EventSink(), []
    sink.subscribe_batches(batches.append)
    for i in range(5):
        sink.emit(float(i), "office", "call.ended", (i,))
    assert batches == []
    await asyncio.sleep(0)
    assert [len(b) for b in batches] == [5]


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.one_of(st.integers(1, 20), st.just("flush"), st.just("subscribe")), max_size=30))
def test_every_listener_gets_every_event_made_after_it_came_once_in_order(steps):
    sink = EventSink()
    listeners: list[tuple[int, list]] = []  # (events made before it came, what it got)
    made = 0
    for step in steps:
        if step == "flush":
            sink.flush()
        elif step == "subscribe":
            got: list = []
            sink.subscribe_batches(lambda batch, got=got: got.extend(batch))
            listeners.append((made, got))
        else:
            for _ in range(step):
                sink.emit(float(made), "u", "call.ended", (made,))
                made += 1
    sink.flush()
    for before, got in listeners:
        assert [row[3][0] for row in got] == list(range(before, made))


async def test_a_listener_failing_at_a_turn_of_the_loop_ends_the_run_with_its_error(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("""
name: failing listener
duration: 1h
units:
  - name: office
    licenses: [{feature: sip_trunk_channels, instances: 4}]
    trunks: [{name: sip1, type: sip, channels: 4}]
    users: [{name: a, extension: "201"}]
traffic:
  - {name: load, from: sip1, to: "201", calls_per_hour: 3600, holding: {mean: 30s}}
""", encoding="utf-8")
    runner = ScenarioRunner(load_scenario(path), RunOptions())
    made = []

    def failing(batch: list) -> None:
        made.extend(batch)
        if len(made) > 10:
            raise OSError(28, "No space left on device")

    runner.sink.subscribe_batches(failing)  # before the traffic starts: it then makes events
    await runner.open()
    runner.clock.yield_every = 100  # turns of the loop during the run, as a long run has
    with pytest.raises(OSError, match="No space left"):
        await runner.run_clock()
    assert runner.clock.now < runner.end  # it stopped there, not at the end
