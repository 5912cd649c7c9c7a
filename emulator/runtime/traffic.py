"""Call sources that run on the clock as plain callbacks (no task per call).

PoissonCalls is the M/M/N/N source: Poisson arrivals, exponential holding times. It draws
from one random.Random in the reference models' order (inter-arrival, then the holding time
only if the call is admitted), so equal seeds follow the same sample path as
../shared/bench's SimPy and heapq models.
"""

from __future__ import annotations

import random
from math import log as _log
from collections.abc import Callable

from emulator.rules import Decision
from emulator.runtime.clock import INF, Clock


class PoissonCalls:
    def __init__(self, clock: Clock, offer: Callable[[object, str, str, float], Decision],
                 hang_up: Callable[[object, float], object], a: str, b: str, *, rate_per_s: float,
                 mean_hold_s: float, calls: int, seed: int | None = None,
                 rng: random.Random | None = None, record: bool = False) -> None:
        if rate_per_s <= 0 or mean_hold_s <= 0:
            raise ValueError("rate and mean holding time must be > 0")
        self.clock = clock
        self.offer = offer
        self.hang_up = hang_up
        self.a, self.b = a, b
        self.mean_interval = 1.0 / rate_per_s
        self.mean_hold = mean_hold_s
        self.limit = calls
        self.rng = rng or random.Random(seed)
        self.attempts = 0
        self.rejected = 0
        self.arrivals: list[float] | None = [] if record else None
        self.blocked: list[int] | None = [] if record else None
        self.next_time = INF
        self.step = self._make_step()

    def start(self) -> None:
        """Draw the first arrival and join the clock as a stream."""
        if self.limit > 0:
            self.next_time = self.clock.time() - _log(1.0 - self.rng.random()) * self.mean_interval
            self.clock.add_stream(self)

    def _make_step(self) -> Callable[[], None]:
        """The per-arrival function, with everything it touches bound to locals (this runs per call)."""
        offer, hang_up = self.offer, self.hang_up
        push, next_seq = self.clock.pusher()
        rand, a, b = self.rng.random, self.a, self.b
        mean_hold, mean_interval, limit = self.mean_hold, self.mean_interval, self.limit
        arrivals, blocked = self.arrivals, self.blocked

        def step() -> None:
            """One arrival at next_time: offer it, schedule its end if admitted, draw the next."""
            now = self.next_time
            index = self.attempts
            self.attempts = index + 1
            if arrivals is not None:
                arrivals.append(now)
            if offer(index, a, b, now)[0]:
                end = now - _log(1.0 - rand()) * mean_hold
                push((end, next_seq(), hang_up, (index, end)))
            else:
                self.rejected += 1
                if blocked is not None:
                    blocked.append(index)
            self.next_time = now - _log(1.0 - rand()) * mean_interval if index + 1 < limit else INF

        return step

    @property
    def admitted(self) -> int:
        return self.attempts - self.rejected
