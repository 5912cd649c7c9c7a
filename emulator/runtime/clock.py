"""Clocks for the asyncio shell: one event heap, two ways to let time pass.

VirtualClock runs scheduled callbacks in time order as fast as the core allows: an hour
of traffic takes as long as its decisions. WallClock runs the same heap against the event
loop's clock, optionally sped up. Like SimPy's Environment and RealtimeEnvironment, only
the waiting differs, so the same units and traffic run under either.

Times are Unix seconds, so license dates (trial expiry) and simulated time agree.
Callbacks are plain functions. One that returns a coroutine (a feature-key check that talks
to a device) is awaited before the next runs.

The heap holds [when, seq, fn, arg] lists and runs fn(arg, when): a fixed-arity call, the
cheapest CPython makes, for the hottest entries (a call's hang-up). Callbacks with other
arguments (call_at) are wrapped once when scheduled. Every entry is a list (never a tuple):
heap entries must compare with each other, and a cancelled one has its fn set to None.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from types import CoroutineType
from typing import Any, Protocol

INF = float("inf")


class Stream(Protocol):
    """A source of events in time order (call arrivals, and the ends of the calls it keeps
    itself): cheaper than a timer per event, and run in stretches between other events."""

    next_time: float
    """When its next event is due; infinity once it has no more."""

    last_time: float
    """When the last event it handled was due."""

    domain: object | None
    """What its events read and change (a unit's call table), or None when that could be
    anything. Streams of different domains never see each other's events, so on the virtual
    clock each may run on to the next timer rather than to the next event of any stream."""

    def advance(self, before: float, budget: int) -> int:
        """Handle the event due at next_time, then any more due strictly before `before`, at
        most `budget` in all, in time order; move next_time on and return how many it handled.

        The clock calls it only when next_time < before, and `before` is the next thing that
        is not the stream's own (a timer, another stream): whatever runs at that instant sees
        every event of the stream due earlier, and none due later."""


_ENTRY_TIME, _ENTRY_FN = 0, 2


class TimerHandle:
    """What call_at returns: cancel() stops the callback if it has not run yet."""

    __slots__ = ("_entry",)

    def __init__(self, entry: list) -> None:
        self._entry = entry

    def cancel(self) -> None:
        self._entry[_ENTRY_FN] = None

    @property
    def cancelled(self) -> bool:
        return self._entry[_ENTRY_FN] is None


class Clock(ABC):
    """The heap both clocks share. `now` is the time of the callback being run."""

    def __init__(self, start: float) -> None:
        self.now = float(start)
        self.start = float(start)
        self._heap: list[list] = []
        self._seq = itertools.count()
        self.callbacks_run = 0

    def time(self) -> float:
        """The current time (Unix seconds)."""
        return self.now

    def call_at(self, when: float, fn: Callable[..., Any], *args: Any) -> TimerHandle:
        if when < self.now:
            when = self.now  # the past is now: a clock never runs anything backwards
        entry = [when, next(self._seq), _call_with_args, (fn, args)]
        heapq.heappush(self._heap, entry)
        return TimerHandle(entry)

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> TimerHandle:
        return self.call_at(self.time() + delay, fn, *args)

    def schedule(self, when: float, fn: Callable[[Any, float], Any], arg: Any = None) -> None:
        """Run fn(arg, when) at `when`; no handle (it cannot be cancelled): the cheap way.

        `when` must not be in the past: hot-path callers schedule from the current time.
        """
        heapq.heappush(self._heap, [when, next(self._seq), fn, arg])

    def add_stream(self, stream: Stream) -> None:
        """Run a stream's events in time order with everything else (through the heap here,
        one instant at a time: each when it is due)."""

        def fire() -> None:
            due = stream.next_time
            stream.advance(math.nextafter(due, INF), 1 << 62)
            if stream.next_time != INF:
                self.call_at(stream.next_time, fire)

        if stream.next_time != INF:
            self.call_at(stream.next_time, fire)

    def next_time(self) -> float | None:
        heap = self._heap
        while heap and heap[0][_ENTRY_FN] is None:
            heapq.heappop(heap)
        return heap[0][_ENTRY_TIME] if heap else None

    @abstractmethod
    async def run(self, until: float | None = None) -> None:
        """Run due callbacks up to `until` (or until none is left)."""


class VirtualClock(Clock):
    """Fast-forward time: jumps from one callback to the next without waiting.

    Streams (call sources) are kept in a heap of their own, ordered by their next event, so
    the cost of an event does not grow with the number of streams. Every `yield_every`
    callbacks it yields to the event loop, so other tasks (a progress bar, an MQTT
    publisher) keep running during a long simulation.
    """

    def __init__(self, start: float, *, yield_every: int = 20_000) -> None:
        super().__init__(start)
        self.yield_every = yield_every
        self._streams: list[list] = []  # heap of [next_time, seq, stream]
        self._in_domain: dict[int, int] = {}  # id(domain) -> its streams
        self._shared = 0  # streams whose domain is None
        self._crowded = 0  # domains with more than one stream
        self.independent = True
        """No two streams share a domain (and none could touch any): each runs on to the next
        timer. A fleet of units with a traffic source each runs so, a unit at a time between
        timers, as fast as one unit alone."""

    def add_stream(self, stream: Stream) -> None:
        """Merge a stream with the heap directly: its events never touch the timer heap."""
        if stream.next_time != INF:
            heapq.heappush(self._streams, [stream.next_time, next(self._seq), stream])
            self._count(stream, 1)

    def _count(self, stream: Stream, change: int) -> None:
        """A stream joins (1) or leaves (-1): keep `independent` up to date."""
        domain = getattr(stream, "domain", None)
        if domain is None:
            self._shared += change
        else:
            key = id(domain)
            before = self._in_domain.get(key, 0)
            after = self._in_domain[key] = before + change
            if not after:
                del self._in_domain[key]
            self._crowded += (after > 1) - (before > 1)
        self.independent = not self._shared and not self._crowded

    def next_time(self) -> float | None:
        heap_time = super().next_time()
        stream_time = self._streams[0][0] if self._streams else None
        times = [t for t in (heap_time, stream_time) if t is not None]
        return min(times, default=None)

    async def run(self, until: float | None = None) -> None:
        """Run callbacks up to and including time `until` (all of them if None), then stand at `until`.

        At equal times the heap goes before the streams: a call ending at the instant
        another arrives frees its channel first, as in the reference models. A stream runs
        on by itself until the next event that is not its own (see Stream.advance).
        """
        heap, pop, streams = self._heap, heapq.heappop, self._streams
        replace, seq, nextafter = heapq.heapreplace, self._seq, math.nextafter
        limit = INF if until is None else until
        before_limit = nextafter(limit, INF)  # a stream may handle events at `until` itself
        every = self.yield_every
        ran = 0
        yield_at = every
        while True:
            if len(streams) == 1:
                entry = streams[0]
                stream, advance = entry[2], entry[2].advance
                due = stream.next_time
                # The common case: one traffic stream and the timer heap, everything in locals.
                # `while True` on purpose: CPython 3.11 only warms code up (to specialise it) on
                # an unconditional backward jump, and this loop may be entered once per run.
                while True:
                    if due == INF:
                        break
                    if heap and heap[0][0] <= due:
                        when = heap[0][0]
                        if when > limit:
                            break
                        _, _, fn, arg = pop(heap)
                        if fn is None:
                            continue
                        self.now = when
                        result = fn(arg, when)
                        if result is not None and type(result) is CoroutineType:
                            await result
                        ran += 1
                        if len(streams) != 1:
                            break  # a callback added a stream: take the general path
                    elif due > limit:
                        break
                    else:
                        before = heap[0][0] if heap else INF
                        if before > before_limit:
                            before = before_limit
                        if due > self.now:  # (never backwards: independent streams may have run on)
                            self.now = due
                        ran += advance(before, yield_at - ran if yield_at > ran else 1)
                        if stream.last_time > self.now:
                            self.now = stream.last_time
                    due = stream.next_time
                    if ran >= yield_at:
                        yield_at = ran + every
                        await asyncio.sleep(0)
                        if len(streams) != 1:
                            break  # a stream was added meanwhile: take the general path
                entry[0] = due  # the stream's place in the stream heap
                if due == INF:
                    streams.remove(entry)
                    heapq.heapify(streams)
                    self._count(stream, -1)
                    continue
                if len(streams) == 1:
                    break  # stopped at the limit
                heapq.heapify(streams)
            # The general case: any number of streams (including none).
            head = heap[0][0] if heap else INF
            due = streams[0][0] if streams else INF
            if due < head:
                if due > limit:
                    break
                entry = streams[0]
                stream = entry[2]
                before = head  # the next event not this stream's: a timer, or the next stream
                count = len(streams)
                if count > 1 and not self.independent:
                    other = streams[1][0]
                    if count > 2 and streams[2][0] < other:
                        other = streams[2][0]
                    if other < before:
                        before = other
                if before > before_limit:
                    before = before_limit
                if before <= due:
                    before = nextafter(due, INF)  # a tie with another stream: this one's events at `due` first
                if due > self.now:
                    self.now = due
                ran += stream.advance(before, yield_at - ran if yield_at > ran else 1)
                if stream.last_time > self.now:  # (independent streams run on: the latest any reached)
                    self.now = stream.last_time
                following = stream.next_time
                if following == INF:
                    pop(streams)
                    self._count(stream, -1)
                else:  # the same entry, moved to its new place: no allocation per event
                    entry[0] = following
                    entry[1] = next(seq)
                    replace(streams, entry)
            else:
                if head > limit or head == INF:
                    break
                _, _, fn, arg = pop(heap)
                if fn is None:
                    continue
                self.now = head
                result = fn(arg, head)
                if result is not None and type(result) is CoroutineType:
                    await result
                ran += 1
            if ran >= yield_at:
                yield_at = ran + every
                await asyncio.sleep(0)
        self.callbacks_run += ran
        if until is not None and until > self.now:
            self.now = until


SPIN_S = 0.002
"""The wall clock sleeps until this long before a callback is due, then yields to other tasks
until it is: the event loop's timers wake to the millisecond, which alone would make every
callback up to a millisecond late."""


class WallClock(Clock):
    """Real time, optionally sped up: virtual seconds = start + speed x elapsed real seconds.

    Honest when it cannot keep up: callbacks always run in time order, each stamped with
    its own due time (so the decisions are those of the same events in virtual time), and
    nothing due before `until` is dropped. How late each ran, in real seconds, goes into
    `lateness` (an HDR histogram in microseconds), so a run that fell behind can say so.

    Between callbacks, time() follows the event loop's clock, so an API call made at any
    moment is stamped with the real (scaled) time, but never later than the next callback
    still due (when behind, a command is stamped where the run stands, not in its future);
    during a callback it is the callback's due time. Stamps never go backwards.
    """

    YIELD_WHEN_LATE_S = 0.002
    """Behind, callbacks run back to back for this long (real seconds) before other tasks
    get a turn: signals, commands, and whoever takes the events (the sink hands them on at
    each turn, so a turn every 2 ms keeps batches large and commands answered promptly)."""

    def __init__(self, start: float, *, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        super().__init__(start)
        from hdrh.histogram import HdrHistogram

        self.speed = speed
        self._anchor_real: float | None = None
        self._wakeup: asyncio.Event | None = None
        self._in_callback = False
        self.lateness = HdrHistogram(1, 24 * 3600 * 1_000_000, 2)  # microseconds behind, per callback
        self.admissions = HdrHistogram(1, 24 * 3600 * 1_000_000, 2)
        """Microseconds from each call's intended arrival time to its decision (record_decided):
        measured from when it was due, so a stall cannot hide the calls it delayed."""
        self.window = None
        """open_window(): the same, since its reader last reset it."""

    @property
    def max_lateness(self) -> float:
        """The worst real delay of a callback behind its due time, seconds."""
        return self.lateness.get_max_value() / 1e6

    def lateness_summary(self) -> dict[str, float | int]:
        """Percentiles of callback lateness, in milliseconds."""
        return {"callbacks": self.lateness.get_total_count(), **percentiles_ms(self.lateness)}

    def open_window(self):
        """A second histogram of admissions that its reader resets at will (a timeline's
        latency per interval)."""
        from hdrh.histogram import HdrHistogram

        self.window = HdrHistogram(1, 24 * 3600 * 1_000_000, 2)
        return self.window

    def record_decided(self, due: float) -> None:
        """A call due at `due` (virtual time) has just been decided."""
        late = max(1, int((asyncio.get_running_loop().time() - self._real(due)) * 1e6))
        self.admissions.record_value(late)
        if self.window is not None:
            self.window.record_value(late)

    def time(self) -> float:
        if self._anchor_real is not None and not self._in_callback:
            loop_now = asyncio.get_running_loop().time()
            current = self.start + (loop_now - self._anchor_real) * self.speed
            heap = self._heap
            if heap and heap[0][0] < current:
                # Behind: a callback due earlier has not run yet. Stamping this call later
                # would make that callback's decision later than its due time (and a
                # stream's next arrival with it): stand at the next due time instead.
                current = heap[0][0]
            if current > self.now:
                self.now = current
        return self.now

    def schedule(self, when: float, fn: Callable[[Any, float], Any], arg: Any = None) -> None:
        super().schedule(when, fn, arg)
        if self._wakeup is not None and self._heap[0][2] is fn and self._heap[0][0] == when:
            self._wakeup.set()  # may be earlier than the runner is sleeping towards

    def call_at(self, when: float, fn: Callable[..., Any], *args: Any) -> TimerHandle:
        handle = super().call_at(when, fn, *args)
        if self._wakeup is not None and self._heap[0] is handle._entry:
            self._wakeup.set()  # an earlier deadline than the runner is sleeping towards
        return handle

    def _real(self, when: float) -> float:
        return self._anchor_real + (when - self.start) / self.speed

    async def _sleep_until(self, real_due: float | None) -> None:
        """Sleep until the loop's clock reaches real_due (forever if None), or until woken."""
        loop = asyncio.get_running_loop()
        wakeup = self._wakeup
        wakeup.clear()
        if real_due is None:
            await wakeup.wait()
            return
        delay = real_due - loop.time()
        if delay > SPIN_S:  # (the loop's timers wake to the millisecond: sleep until just before)
            try:
                await asyncio.wait_for(wakeup.wait(), delay - SPIN_S)
            except TimeoutError:
                pass
        elif delay > 0:
            await asyncio.sleep(0)  # nearly due: let other tasks in, and look again

    async def run(self, until: float | None = None) -> None:
        """Run callbacks in time order as their real time comes, up to `until` (or forever)."""
        loop = asyncio.get_running_loop()
        if self._anchor_real is None:
            self._anchor_real = loop.time() - (self.now - self.start) / self.speed
        self._wakeup = asyncio.Event()
        heap, record = self._heap, self.lateness.record_value
        turn_every = self.YIELD_WHEN_LATE_S
        yield_at = loop.time() + turn_every
        try:
            while True:
                due = self.next_time()
                if due is None or (until is not None and due > until):
                    if until is None:
                        await self._sleep_until(None)
                        continue
                    real_until = self._real(until)
                    if loop.time() < real_until:
                        await self._sleep_until(real_until)
                        continue
                    if self.now < until:
                        self.now = until
                    return
                real_now = loop.time()
                late = real_now - self._real(due)
                if late < 0:
                    await self._sleep_until(self._real(due))
                    yield_at = loop.time() + turn_every
                    continue
                entry = heapq.heappop(heap)
                if entry[_ENTRY_FN] is None:
                    continue  # cancelled
                record(int(late * 1e6))
                if entry[_ENTRY_TIME] > self.now:
                    self.now = entry[_ENTRY_TIME]
                self._in_callback = True
                try:
                    result = entry[_ENTRY_FN](entry[3], self.now)
                    if result is not None and type(result) is CoroutineType:
                        await result
                finally:
                    self._in_callback = False
                self.callbacks_run += 1
                if real_now >= yield_at:
                    await asyncio.sleep(0)  # behind: still let signals and other tasks in
                    yield_at = loop.time() + turn_every
        finally:
            self._wakeup = None


def percentiles_ms(h) -> dict[str, float]:
    """p50, p90, p99, p99.9 and max of an HDR histogram of microseconds, in milliseconds."""
    return {"p50_ms": h.get_value_at_percentile(50) / 1000, "p90_ms": h.get_value_at_percentile(90) / 1000,
            "p99_ms": h.get_value_at_percentile(99) / 1000, "p99_9_ms": h.get_value_at_percentile(99.9) / 1000,
            "max_ms": h.get_max_value() / 1000}


def _call_with_args(callback: tuple[Callable[..., Any], tuple], when: float) -> Any:
    fn, args = callback
    return fn(*args)
