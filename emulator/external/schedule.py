"""What `ipo-emu load --target` sends, and when: calls drawn from the scenario's traffic.

The served units run the scenario's configuration; its traffic sources say who calls whom
on which unit (a fleet's source on every copy) and for how long. External mode offers calls
at one total rate, on the wall clock, as Poisson arrivals spread over the sources in
proportion to their rates in the scenario (a ramp counts by its first step); each call's
parties and holding time are drawn from its source, and the holding time runs `speed` times
faster, as served units at `serve --speed` do.

Sans-IO and seeded: the same seed gives the same commands in the same order.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import log

from emulator.runtime.draws import Draws
from emulator.runtime.traffic import holding_sampler, party_picker
from emulator.scenario.loader import LoadedScenario


class ScheduleError(ValueError):
    """The scenario gives external mode nothing to send (one line, for the user)."""


@dataclass(frozen=True, slots=True)
class Route:
    """One traffic source on one unit."""

    unit: str
    source: str
    rate: float
    """Its rate in the scenario (calls a second): the route's share of the total."""
    pick_a: Callable[[], str]
    pick_b: Callable[[], str]
    hold: Callable[[], float]
    """A holding time, in simulated seconds."""


@dataclass(frozen=True, slots=True)
class PlannedCall:
    due: float
    """Seconds from the start of sending."""
    call_id: str
    unit: str
    source: str
    a: str
    b: str
    hold_s: float
    """Wall seconds to hold it once admitted."""


def routes_of(loaded: LoadedScenario, units: Sequence[str] = (), *, seed: int) -> list[Route]:
    """A route per traffic source and unit it runs on (optionally only on `units`: unit or
    fleet names)."""
    scenario = loaded.scenario
    wanted: set[str] | None = None
    if units:
        wanted = set()
        for name in units:
            if name not in loaded.copies and name not in {u.name for u in loaded.units}:
                raise ScheduleError(f"--units: no unit or fleet named {name!r} in {loaded.path.name}")
            wanted.update(loaded.units_named(name))
    routes = []
    for traffic in scenario.traffic:
        name = scenario.unit_name(traffic.unit)
        first = next((r for _, r in traffic.rate_steps() if r > 0), 0.0)
        if not first:
            continue
        from_mix, to_mix = traffic.mixes()
        for unit in loaded.units_named(name):
            if wanted is not None and unit not in wanted:
                continue
            draws = Draws(seed=f"{seed}/{traffic.name}/{unit}")
            holding = traffic.holding
            routes.append(Route(unit, traffic.name, first, party_picker(draws, from_mix), party_picker(draws, to_mix),
                                holding_sampler(draws, holding.distribution, holding.mean, holding.stdev)))
    if not routes:
        where = f" on {', '.join(units)}" if units else ""
        raise ScheduleError(f"{loaded.path.name}: no traffic{where} to send: external mode draws its calls from the "
                            "scenario's traffic sources")
    return routes


class CommandSchedule:
    """Calls to offer in time order: Poisson arrivals at `rate_per_s` over the routes."""

    def __init__(self, routes: Sequence[Route], rate_per_s: float, *, seed: int, speed: float = 1.0,
                 until_s: float = float("inf"), max_calls: int | None = None, id_prefix: str = "load") -> None:
        if rate_per_s <= 0:
            raise ScheduleError("--rate must be above 0")
        self.routes = list(routes)
        self.rate = rate_per_s
        self.speed = speed
        self.until_s = until_s
        self.max_calls = max_calls
        self._rng = random.Random(f"{seed}/arrivals")
        self._cumulative = list(itertools.accumulate(r.rate for r in self.routes))
        self._ids = itertools.count(1)
        self._id_prefix = id_prefix
        self._t = 0.0
        self.planned = 0

    def scenario_rate(self) -> float:
        """Calls a second the routes make in the scenario (at speed 1)."""
        return self._cumulative[-1]

    def next(self) -> PlannedCall | None:
        """The next call, or None once `until_s` or `max_calls` is reached."""
        if self.max_calls is not None and self.planned >= self.max_calls:
            return None
        rand = self._rng.random
        self._t += -log(1.0 - rand()) / self.rate
        if self._t >= self.until_s:
            return None
        route = self.routes[bisect.bisect_right(self._cumulative, rand() * self._cumulative[-1])] \
            if len(self.routes) > 1 else self.routes[0]
        self.planned += 1
        a, b = route.pick_a(), route.pick_b()
        return PlannedCall(self._t, f"{self._id_prefix}-{next(self._ids)}", route.unit, route.source, a, b,
                           route.hold() / self.speed)
