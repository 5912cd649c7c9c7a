"""Call sources: Poisson arrivals running on the clock as a stream (no task or timer per arrival).

A CallSource offers calls between parties drawn from weighted mixes, at a rate that may
change in steps (ramps), with fixed, exponential or lognormal holding times. Its random
numbers come from `seed=` (runtime/draws.py): standard exponentials, in order, for the
inter-arrival times and for exponential holding times (drawn only when a call is
admitted); uniforms for the parties, when a mix offers a choice; normals for lognormal
holding times. With single parties, exponential holding and a constant rate, the sample
path is exactly that of the reference models of M/M/N/N fed the same exponentials (a test
checks it).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from emulator.licensing.pool import factory_for, indent
from emulator.reasons import Reason
from emulator.rules import Decision
from emulator.rules.admission import GLOBALS
from emulator.runtime.clock import INF, Clock, VirtualClock
from emulator.runtime.draws import Draws

if TYPE_CHECKING:
    from emulator.rules.calls import Route
    from emulator.runtime.control_unit import UnitCalls

TALLY_EVERY = 1024
TALLY_MASK = TALLY_EVERY - 1

Offer = Callable[..., Decision]
"""offer(call_id, a, b, now[, answered]): answered=False while the call rings (until connect)."""
HangUp = Callable[[object, float], object]


def holding_sampler(draws: Draws, distribution: str, mean: float, stdev: float | None = None) -> Callable[[], float]:
    if distribution == "fixed":
        return lambda: mean
    if distribution == "exponential":
        exponential = draws.exponential
        return lambda: exponential() * mean
    if distribution == "lognormal":
        if not stdev:
            raise ValueError("a lognormal holding time needs a standard deviation")
        sigma = math.sqrt(math.log(1.0 + (stdev / mean) ** 2))
        mu = math.log(mean) - sigma * sigma / 2.0
        normal = draws.normal
        return lambda: math.exp(mu + sigma * normal())
    raise ValueError(f"unknown holding time distribution {distribution!r}")


class CallSource:
    """A stream of call attempts (runtime/clock.py Stream): `advance()` handles those due,
    and, for anonymous calls, the ends of the calls it holds; `step()` offers the one named
    call due at `next_time`."""

    def __init__(self, clock: Clock, offer: Offer, hang_up: HangUp, *,
                 from_mix: Sequence[tuple[str, float]], to_mix: Sequence[tuple[str, float]],
                 rate_steps: Sequence[tuple[float, float]], mean_hold_s: float,
                 holding: str = "exponential", hold_stdev_s: float | None = None,
                 stop_at: float = INF, max_calls: int | None = None,
                 connect: Callable[[object, float], object] | None = None, answer_after_s: float = 0.0,
                 seed: int | str | None = None, id_offset: int = 0,
                 record: bool = False, name: str = "traffic", observe_until: float = INF,
                 on_decided: Callable[[float], None] | None = None, calls: UnitCalls | None = None) -> None:
        """rate_steps: [(absolute time, calls per second)], in time order.

        calls: the unit's calls, when every party is on that unit (ControlUnit.anonymous_calls).
        An M/M/N/N source then runs its calls itself: its loop admits through the route's
        own admission (rules/admission.py), keeps the calls' ends in a list of its own and
        appends their events to the unit's sink while someone listens, without a timer per
        call; otherwise it offers named calls with offer() and hang_up() on the clock.

        Call ids are id_offset + the attempt number: give each source of a run its own offset.
        observe_until: the end of the run; an admitted call's occupancy (ringing and talk)
        counts towards carried_s only up to it, so the carried load is exact for the run.
        """
        if not rate_steps or any(rate < 0 for _, rate in rate_steps):
            raise ValueError("give at least one rate step, with rates >= 0")
        if mean_hold_s <= 0:
            raise ValueError("the mean holding time must be > 0")
        self.name = name
        self.clock = clock
        self.offer, self.hang_up, self.connect = offer, hang_up, connect
        self.answer_after = answer_after_s
        self.draws = Draws(seed)
        self.mean_hold = float(mean_hold_s)
        self.hold = holding_sampler(self.draws, holding, mean_hold_s, hold_stdev_s)
        self.exponential = holding == "exponential"
        self.from_mix, self.to_mix = list(from_mix), list(to_mix)
        self.step_times = [t for t, _ in rate_steps]
        self.step_rates = [r for _, r in rate_steps]
        self.stop_at = stop_at
        self.limit = max_calls if max_calls is not None else 1 << 62
        self.on_decided = on_decided  # e.g. the wall clock's admission latency (called with the due time)
        self.id_offset = id_offset
        self.attempts = 0
        self.rejected = 0
        self.busy = 0  # refused because the called user (or every member of the group) was busy
        self.rejections: Counter[tuple[str, str]] = Counter()
        self.carried_s = 0.0  # admitted calls' occupancy (ringing + talk) up to observe_until
        self.observe_until = observe_until
        self.exhausted_at = INF  # when max_calls ran out (the last attempt), if it did
        self.outcomes: bytearray | None = bytearray() if record else None  # 1 = blocked, per attempt
        self.tally: list[tuple[int, int]] = []
        """(blocked, attempts that reached a line) so far, every TALLY_EVERY attempts: enough to
        judge blocking after a warm-up, in memory that grows by a pair per TALLY_EVERY attempts
        (record=True keeps every attempt's outcome instead, for diagnostics)."""
        self.next_time = INF
        self.last_time = clock.time()
        self.calls = calls
        self.ends: list[float] = [INF]
        """The ends of the anonymous calls it holds, in time order, then INF (so that the next
        end is always ends[0]). A sorted list, not a heap: a unit holds at most a few hundred
        calls, and below about a thousand, inserting in place (bisect, then a memmove) costs
        less than a heap of (time, call) pairs, whose every comparison compares pairs."""
        self.records: list[int | None] = [None]
        """For each end, the member index of the route the call holds (CallTable routes)."""
        self._routes: tuple[Route | None, ...] = ()
        self._call_ids: list[int] = []
        """With events: the call id of each call held, as `ends` (less its INF)."""
        self._arrival = INF
        self.step = self._named_step()
        if calls is not None:  # every route made now, so that a run never stops to compile one (the wall
            for a, _ in self.from_mix:  # clock's admission latency)
                for b, _ in self.to_mix:
                    if a != b:
                        calls.table.route(a, b)
        anonymous = self._runs_anonymous()
        self.advance = self._anonymous() if anonymous else self._one_at_a_time
        self.domain = calls.table if anonymous and calls.sink is None else None
        """Anonymous calls touch only their unit (clock.py Stream.domain), unless their events
        go to a sink, which keeps every unit's events in one time order; named ones may cross
        the network, and their ends are the clock's timers."""

    # -- the rate (piecewise constant) ---------------------------------------------------------

    def _rate_at(self, t: float) -> tuple[float, float]:
        """(rate at t, when it next changes)."""
        i = bisect.bisect_right(self.step_times, t) - 1
        rate = self.step_rates[i] if i >= 0 else 0.0
        change = self.step_times[i + 1] if i + 1 < len(self.step_times) else INF
        return rate, change

    def _next_arrival(self, t: float) -> float:
        """The first arrival after t: exponential gaps at the current rate, redrawn at each rate
        change (memorylessness makes that exact)."""
        exponential = self.draws.exponential
        while True:
            rate, change = self._rate_at(t)
            if rate > 0:
                candidate = t + exponential() * (1.0 / rate)
                if candidate < change:
                    return candidate if candidate < self.stop_at else INF
            if change == INF or change >= self.stop_at:
                return INF
            t = change

    def start(self) -> None:
        """Draw the first arrival and join the clock as a stream."""
        self.next_time = self._arrival = self._next_arrival(self.clock.time())
        if self.next_time != INF and self.limit > 0:
            self.clock.add_stream(self)

    # -- the clock's side (runtime/clock.py Stream) ------------------------------------------

    def _one_at_a_time(self, before: float, budget: int) -> int:
        """Named calls: their ends are timers on the clock, so one arrival at a time."""
        due = self.next_time
        self.step(due)
        self.last_time = due
        return 1

    def held_routes(self) -> list[Route]:
        """The route of every anonymous call it holds (CallTable.held counts them)."""
        routes = self._routes
        return [routes[i] for i in self.records[:-1]]

    def holding(self) -> int:
        return len(self.ends) - 1

    @property
    def admitted(self) -> int:
        return self.attempts - self.rejected

    def blocking_after(self, warm_up: float) -> tuple[float, int]:
        """(blocked / attempts that reached a line, those attempts) after the first `warm_up`
        share of them, cut at a tally point (busy users are not blocking)."""
        blocked, counted = self.rejected - self.busy, self.attempts - self.busy
        skip_blocked = skip_counted = 0
        for tally_blocked, tally_counted in self.tally:
            if tally_counted >= warm_up * counted:
                skip_blocked, skip_counted = tally_blocked, tally_counted
                break
        used = counted - skip_counted
        return ((blocked - skip_blocked) / used if used else 0.0), used

    # -- the per-arrival work ---------------------------------------------------------------------

    def _simple(self) -> bool:
        """M/M/N/N: one pair of parties, exponential holding, one rate, answered at once, on
        the virtual clock (the wall clock paces each arrival, and measures it)."""
        return (len(self.from_mix) == 1 and len(self.to_mix) == 1 and self.exponential and len(self.step_times) == 1
                and self.connect is None and self.on_decided is None and isinstance(self.clock, VirtualClock))

    def _runs_anonymous(self) -> bool:
        return self.calls is not None and self._simple()

    def _anonymous(self) -> Callable[[float, int], int]:
        """advance() for anonymous M/M/N/N calls, compiled with the route's admission and release
        written inline (rules/admission.py: the text Route.admit and GroupRoute.admit are
        compiled from). A function call per admission and per release would be a third of
        the time of a call. While someone listens to the unit's events, the loop appends the
        events of its calls to the unit's sink itself, as ControlUnit.offer_call_now and
        hang_up_now would (the same rows, the same call ids: id_offset + the attempt)."""
        table, sink = self.calls.table, self.calls.sink
        a, b = self.from_mix[0][0], self.to_mix[0][0]
        code = table.admission_code(a, b)
        table.holders.append(self)
        self._routes = code.routes
        names = {"source": self, "table": table, "ends": self.ends, "records": self.records,
                 "exponentials": self.draws.exponentials, "next": next, "mean_hold": self.mean_hold,
                 "mean_interval": 1.0 / self.step_rates[0], "limit": self.limit, "stop_at": self.stop_at,
                 "observe_until": self.observe_until, "tally": self.tally, "outcomes": self.outcomes,
                 "vcm_release": table.vcm.release, "insort_at": bisect.bisect_right,
                 "emergency": False, "commit": True, "TALLY_EVERY": TALLY_EVERY, "TALLY_MASK": TALLY_MASK, "INF": INF}
        if sink is not None:
            names.update({"rows": sink.rows, "started": sink.started, "unit_name": self.calls.unit,
                          "id_offset": self.id_offset, "call_ids": self._call_ids, "party_a": a, "party_b": b,
                          "member_names": tuple(route.plan.b.name if route is not None else None
                                                for route in code.routes)})
        for name, value in code.values.items():
            if names.setdefault(name, value) is not value:
                raise AssertionError(f"the admission's {name!r} is another object than the loop's")

        def lines(some: list[str], depth: int) -> str:
            return indent(some, depth) if some else ""

        release_setup = "vcm_release(now, held.setup_vcm)  # answered at once: set-up done"
        setup_vcm = {"all": [release_setup], "some": ["if held.setup_vcm:", "    " + release_setup],
                     "none": []}[code.setup_vcm]
        first_row = ["if len(rows) == 1:", "    started()"]  # (the sink flushes at the loop's next turn)
        events = {"admitted": [], "rejected": [], "ended": []}
        if sink is not None:
            reached = "(call_id, party_a, member_names[i], None, '', True, party_b)" if code.index == "i" \
                else "(call_id, party_a, party_b, None, '', True)"
            events["admitted"] = ["call_id = id_offset + attempt - 1", "call_ids.insert(at, call_id)",
                                  f"rows.append((now, unit_name, 'call.admitted', {reached}))", *first_row]
            events["rejected"] = ["refusal = table.refusal",
                                  "rows.append((now, unit_name, 'call.rejected', (id_offset + attempt - 1, party_a, "
                                  "party_b, refusal.reason.value, refusal.detail, True)))", *first_row]
            events["ended"] = ["rows.append((now, unit_name, 'call.ended', (call_ids[0],)))", "del call_ids[0]",
                               *first_row]

        def source() -> str:
            return _LOOP.format(params=", ".join(names), defaults=", ".join(f"{name}={name}" for name in names),
                                release_3=indent(code.release_lines() + events["ended"], 3),
                                release_4=indent(code.release_lines() + events["ended"], 4),
                                admit_4=indent(code.admit_lines("held = {}; break", inline=True), 4), index=code.index,
                                setup_vcm=lines(setup_vcm, 4), admitted=lines(events["admitted"], 4),
                                rejected=lines(events["rejected"], 4),
                                record=lines(["outcomes.append(0)"] if self.outcomes is not None else [], 4),
                                load=lines(["next_member = group.next_member"] if code.rotary else [], 2),
                                store=lines(["group.next_member = next_member"] if code.rotary else [], 2))

        key = ("traffic source", code.key, code.setup_vcm, self.outcomes is not None, sink is not None)
        factory = factory_for(key, source, "<anonymous calls of a traffic source>", GLOBALS)
        return factory(*names.values())

    def _named_step(self) -> Callable[[float], None]:
        """step(now): offer the named call due at `now` with offer(); a timer ends it with
        hang_up(). Named calls are what the network, mixes, ramps, other holding times, ringing
        and the wall clock need; one step serves them all (the M/M/N/N loop is the fast one)."""
        offer, hang_up, connect, id_offset, schedule = self.offer, self.hang_up, self.connect, self.id_offset, self.clock.schedule
        pick_from, pick_to = party_picker(self.draws, self.from_mix), party_picker(self.draws, self.to_mix)
        hold, answer_after, limit, outcomes = self.hold, self.answer_after, self.limit, self.outcomes
        observe_until = self.observe_until
        decided = self.on_decided
        rings_first = connect is not None and answer_after > 0  # offered unanswered: set-up VCM is held until then

        def step(now: float) -> None:
            attempt = self.attempts
            self.attempts = attempt + 1
            call_id = id_offset + attempt
            a, b = pick_from(), pick_to()
            if a == b:
                b = pick_to() if len(self.to_mix) > 1 else b
            decision = offer(call_id, a, b, now, False) if rings_first else offer(call_id, a, b, now)
            if decided is not None:
                decided(now)
            if decision[0]:
                duration = hold()
                end = now + answer_after + duration
                # (summed as anonymous calls sum it: the same figure to the last bit)
                self.carried_s += answer_after + duration if end <= observe_until else observe_until - now
                if connect is not None and answer_after > 0:
                    schedule(now + min(answer_after, duration), connect, call_id)
                schedule(end, hang_up, call_id)
                if outcomes is not None:
                    outcomes.append(0)
            else:
                self._refused(decision)
            if not (attempt + 1) & TALLY_MASK:
                self.tally.append((self.rejected - self.busy, attempt + 1 - self.busy))
            if attempt + 1 < limit:
                self.next_time = self._next_arrival(now)
            else:
                self.next_time, self.exhausted_at = INF, now

        return step

    def _refused(self, decision: Decision) -> None:
        """Count a refusal. A busy user is not blocking: those attempts never reached a line
        or a license, so they are kept out of the blocking outcomes (docs/scenarios.md)."""
        self.rejected += 1
        self.rejections[(decision.reason.value if decision.reason else "", decision.detail)] += 1
        if decision.reason is Reason.EXTENSION_BUSY:
            self.busy += 1
        elif self.outcomes is not None:
            self.outcomes.append(1)

    def offered_erlangs(self, start: float, end: float) -> float:
        """The load offered between start and end, averaged over that window: the rate x the
        mean holding time, integrated while the source offered calls (not after stop_at, nor
        after max_calls ran out)."""
        if end <= start:
            return 0.0
        offering_until = min(end, self.stop_at, self.exhausted_at)
        total, t = 0.0, start
        while t < offering_until:
            rate, change = self._rate_at(t)
            upto = min(change, offering_until)
            total += rate * (upto - t)
            t = upto
        return total * self.mean_hold / (end - start)

    def busy_erlangs(self, start: float, end: float) -> float:
        """The highest load the source offers at any time between start and end (its busiest
        rate step x the mean holding time): what channels are sized for."""
        rates = [rate for t, rate, nxt in zip(self.step_times, self.step_rates, [*self.step_times[1:], INF], strict=True)
                 if nxt > start and t < min(end, self.stop_at)]
        return max(rates, default=0.0) * self.mean_hold


def party_picker(draws: Draws, mix: Sequence[tuple[str, float]]) -> Callable[[], str]:
    if len(mix) == 1:
        only = mix[0][0]
        return lambda: only
    parties = [p for p, _ in mix]
    cumulative = list(itertools.accumulate(w for _, w in mix))
    total = cumulative[-1]
    uniform = draws.uniform
    return lambda: parties[bisect.bisect_right(cumulative, uniform() * total)]


def poisson_calls(clock: Clock, offer: Offer, hang_up: HangUp, a: str, b: str, *, rate_per_s: float,
                  mean_hold_s: float, calls: int, seed: int | str | None = None, record: bool = False,
                  unit_calls: UnitCalls | None = None) -> CallSource:
    """The M/M/N/N source: one pair of parties, exponential holding, a constant rate
    (unit_calls: see CallSource's calls=)."""
    return CallSource(clock, offer, hang_up, from_mix=[(a, 1.0)], to_mix=[(b, 1.0)],
                      rate_steps=[(clock.time(), rate_per_s)], mean_hold_s=mean_hold_s, max_calls=calls,
                      seed=seed, record=record, calls=unit_calls)


# advance() of anonymous calls: arrivals and the ends of the calls held, in time order (an end
# at the instant of an arrival first, as on the clock), with everything in locals (default
# arguments: a call copies them, and the loop reads them as fast as it can read anything).
# `while True` with breaks: CPython 3.11 warms a loop up (to specialise it) only on an
# unconditional backward jump, and this one may run a whole simulation in one call. The
# inner `while True` runs once: its breaks are how an admission's refusal leaves it.
_LOOP = """\
def factory({params}):
    def advance(before, budget, {defaults}):
        # (carried sums up in the order the named path adds: the same figure to the last bit)
        arrival, attempt, carried, handled, last = source._arrival, source.attempts, source.carried_s, 0, source.last_time
        deadline, admitted = core.deadline, 0
        tally_at = (attempt | TALLY_MASK) + 1  # the next multiple of TALLY_EVERY
{load}\
        while True:
            if arrival >= before or handled >= budget:
                break
            while ends[0] <= arrival:
                now = ends[0]
                del ends[0]
                i = records[0]
                del records[0]
{release_4}\
                handled += 1
            last = now = arrival
            attempt += 1
            while True:
{admit_4}\
                held = route
                break
            if held is not None:
{setup_vcm}\
                hold = next(exponentials) * mean_hold
                end = now + hold
                carried += hold if end <= observe_until else observe_until - now
                at = insort_at(ends, end)
                ends.insert(at, end)
                records.insert(at, {index})
{admitted}\
{record}\
            else:
{rejected}\
                source._refused(table.refusal)
            if attempt == tally_at:  # (a comparison: CPython 3.11 specialises it, not `&`)
                tally.append((source.rejected - source.busy, attempt - source.busy))
                tally_at += TALLY_EVERY
            following = arrival + next(exponentials) * mean_interval
            if following < stop_at and attempt < limit:
                arrival = following
            else:
                if attempt >= limit:
                    source.exhausted_at = arrival
                arrival = INF
            handled += 1
        while True:  # no arrival before `before`: the calls that end before it
            now = ends[0]
            if now >= before or handled >= budget:
                break
            del ends[0]
            i = records[0]
            del records[0]
{release_3}\
            last = now
            handled += 1
        source._arrival, source.attempts, source.last_time, source.carried_s = arrival, attempt, last, carried
        table.admitted += admitted
{store}\
        source.next_time = ends[0] if ends[0] <= arrival else arrival
        return handled
    return advance
"""
