"""Virtual and wall clocks: order, limits, streams, cancellation, speed."""

from __future__ import annotations

import asyncio
import time

import pytest

from emulator.runtime.clock import INF, VirtualClock, WallClock

T0 = 1_800_000_000.0


class Ticker:
    """A stream firing every `period` seconds, `count` times."""

    def __init__(self, clock, period, count, log):
        self.clock, self.period, self.left, self.log = clock, period, count, log
        self.next_time = clock.time() + period

    def advance(self, before, budget):
        ticks = 0
        while self.next_time < before and ticks < budget:
            self.last_time = self.next_time
            self.log.append(("tick", self.next_time))
            self.left -= 1
            self.next_time = self.next_time + self.period if self.left else INF
            ticks += 1
        return ticks


async def test_virtual_clock_runs_in_time_order_and_fifo_on_ties():
    clock, log = VirtualClock(T0), []
    for delay, name in ((5, "c"), (1, "a"), (5, "d"), (3, "b")):
        clock.call_later(delay, log.append, name)
    await clock.run()
    assert log == ["a", "b", "c", "d"] and clock.now == T0 + 5


async def test_until_stops_and_stands_at_the_limit():
    clock, log = VirtualClock(T0), []
    clock.call_later(10, log.append, "early")
    clock.call_later(100, log.append, "late")
    await clock.run(until=T0 + 50)
    assert log == ["early"] and clock.now == T0 + 50
    await clock.run(until=T0 + 100)
    assert log == ["early", "late"]


async def test_cancelled_callbacks_do_not_run():
    clock, log = VirtualClock(T0), []
    handle = clock.call_later(1, log.append, "x")
    handle.cancel()
    assert handle.cancelled
    await clock.run()
    assert log == []


async def test_streams_merge_with_the_heap_and_the_heap_wins_ties():
    clock, log = VirtualClock(T0), []
    clock.add_stream(Ticker(clock, 10, 3, log))
    clock.call_later(10, log.append, ("timer", T0 + 10))
    clock.call_later(25, log.append, ("timer", T0 + 25))
    await clock.run()
    assert log == [("timer", T0 + 10), ("tick", T0 + 10), ("tick", T0 + 20), ("timer", T0 + 25), ("tick", T0 + 30)]


async def test_two_streams_interleave():
    clock, log = VirtualClock(T0), []
    clock.add_stream(Ticker(clock, 2, 3, log))
    clock.add_stream(Ticker(clock, 3, 2, log))
    await clock.run()
    assert [t - T0 for _, t in log] == [2, 3, 4, 6, 6]


async def test_stream_stops_at_until():
    clock, log = VirtualClock(T0), []
    clock.add_stream(Ticker(clock, 1, 100, log))
    await clock.run(until=T0 + 10)
    assert len(log) == 10
    await clock.run(until=T0 + 20)
    assert len(log) == 20


async def test_async_callbacks_are_awaited_in_order():
    clock, log = VirtualClock(T0), []

    async def slow(name):
        await asyncio.sleep(0)
        log.append(name)

    clock.call_later(1, slow, "first")
    clock.call_later(2, log.append, "second")
    await clock.run()
    assert log == ["first", "second"]


async def test_a_long_virtual_run_lets_other_tasks_run():
    clock = VirtualClock(T0, yield_every=100)
    for i in range(5000):
        clock.call_later(i, int)
    seen = []

    async def watcher():
        while True:
            seen.append(clock.now)
            await asyncio.sleep(0)

    task = asyncio.create_task(watcher())
    await clock.run()
    task.cancel()
    assert len(seen) >= 40 and clock.callbacks_run == 5000


async def test_scheduling_in_the_past_runs_now():
    clock, log = VirtualClock(T0), []
    await clock.run(until=T0 + 10)
    clock.call_at(T0, log.append, "late")
    await clock.run()
    assert log == ["late"] and clock.now == T0 + 10


async def test_wall_clock_follows_real_time_at_the_given_speed():
    loop = asyncio.get_running_loop()
    clock, log = WallClock(T0, speed=100.0), []
    clock.call_later(5, lambda: log.append(loop.time()))  # 5 virtual s = 50 ms real
    start = loop.time()
    await clock.run(until=T0 + 6)
    assert len(log) == 1 and 0.04 <= log[0] - start < 0.5
    assert clock.max_lateness < 0.2
    assert clock.time() >= T0 + 6


async def test_wall_clock_wakes_for_an_earlier_event_scheduled_while_it_sleeps():
    loop = asyncio.get_running_loop()
    clock, log = WallClock(T0, speed=100.0), []
    clock.call_later(50, log.append, "far")  # 0.5 s real

    async def add_soon():
        await asyncio.sleep(0.01)
        clock.call_at(T0 + 1.5, log.append, "near")

    task = asyncio.create_task(add_soon())
    start = loop.time()
    await clock.run(until=T0 + 2)
    await task
    assert log == ["near"] and loop.time() - start < 0.3


async def test_wall_clock_stamps_never_go_backwards():
    clock = WallClock(T0, speed=1000.0)
    stamps = []
    for i in range(20):
        clock.call_later(i * 0.5, lambda: stamps.append(clock.time()))
    await clock.run(until=T0 + 10)
    assert stamps == sorted(stamps)


def test_bad_speed():
    with pytest.raises(ValueError):
        WallClock(T0, speed=0)


async def test_streams_also_run_on_the_wall_clock():
    clock, log = WallClock(T0, speed=1000.0), []
    clock.add_stream(Ticker(clock, 10, 3, log))
    clock.call_later(15, log.append, ("timer", T0 + 15))
    await clock.run(until=T0 + 40)
    assert [entry[0] for entry in log] == ["tick", "timer", "tick", "tick"]


async def test_cancellable_timers_and_fast_entries_share_the_heap():
    clock, log = VirtualClock(T0), []
    clock.call_later(5, log.append, "timer")
    clock.schedule(T0 + 5, lambda arg, when: log.append((arg, when)), "fast")
    clock.schedule(T0 + 3, lambda arg, when: log.append((arg, when)), "first")
    handle = clock.call_later(4, log.append, "cancelled")
    handle.cancel()
    await clock.run()
    assert log == [("first", T0 + 3), "timer", ("fast", T0 + 5)]


async def test_asking_the_time_while_behind_does_not_move_callbacks_later():
    """A command stamped between two callbacks of a run that fell behind stands at the next
    due time: the callbacks still run at their own due times (found by the MQTT benchmark,
    where state publishing asked the time and a traffic source skipped ahead)."""
    clock = WallClock(1000.0, speed=1_000_000.0)  # a callback a second: one every microsecond, real
    count = 1500  # over 30 ms of callbacks: other tasks get several turns (WallClock.YIELD_WHEN_LATE_S)
    stamps: list[float] = []
    asked: list[float] = []

    def busy() -> None:
        time.sleep(0.00002)  # slower than due: behind from the start, yielding every so often
        stamps.append(clock.now)

    for i in range(count):
        clock.call_at(1000.0 + i, busy)

    async def ask() -> None:
        while len(stamps) < count:
            asked.append(clock.time())
            await asyncio.sleep(0)

    await asyncio.gather(clock.run(until=1000.0 + count), ask())
    assert stamps == [1000.0 + i for i in range(count)]
    assert len(asked) >= 2 and asked == sorted(asked) and asked[-1] < 1000.0 + count


class CountingTicker(Ticker):
    """A Ticker with a domain, counting the stretches the clock lets it run."""

    def __init__(self, clock, period, count, log, domain):
        super().__init__(clock, period, count, log)
        self.domain, self.stretches = domain, 0

    def advance(self, before, budget):
        self.stretches += 1
        return super().advance(before, budget)


async def test_streams_of_different_domains_run_on_to_the_next_timer():
    """Independent streams (a unit each) do not wait for each other's events, only for timers:
    a timer still sees every event of every stream due before it, and none after."""
    clock, log, seen = VirtualClock(T0), [], []
    a, b = CountingTicker(clock, 1, 50, log, "unit a"), CountingTicker(clock, 1.5, 30, log, "unit b")
    clock.add_stream(a)
    clock.add_stream(b)
    clock.call_later(20.25, lambda: seen.append(sorted(t for _, t in log)))
    assert clock.independent
    await clock.run()
    assert a.stretches <= 3 and b.stretches <= 3
    every = sorted([T0 + k for k in range(1, 51)] + [T0 + 1.5 * k for k in range(1, 31)])
    assert seen == [[t for t in every if t < T0 + 20.25]]
    assert sorted(t for _, t in log) == every and clock.now == T0 + 50


async def test_streams_sharing_a_domain_see_each_others_events_in_order():
    clock, log = VirtualClock(T0), []
    a, b = CountingTicker(clock, 1, 50, log, "one unit"), CountingTicker(clock, 1.5, 30, log, "one unit")
    clock.add_stream(a)
    clock.add_stream(b)
    assert not clock.independent
    await clock.run()
    assert [t for _, t in log] == sorted(t for _, t in log)  # one time order across both
    assert a.stretches + b.stretches > 40


async def test_a_stream_that_could_touch_anything_keeps_every_stream_in_order():
    clock, log = VirtualClock(T0), []
    clock.add_stream(CountingTicker(clock, 1, 20, log, "unit a"))
    clock.add_stream(CountingTicker(clock, 1.5, 20, log, None))
    await clock.run()
    assert [t for _, t in log] == sorted(t for _, t in log)
