"""Judging a served unit's decisions from outside, against the state it publishes.

`ipo-emu load --target` drives units it does not run. Each reply says admitted or refused,
and by which pool; the unit's retained `licenses` state says, every few hundred
milliseconds, each pool's limit and use and its decision counters. From the unit's own
configuration we know which pools a call between two parties takes, in which order (the
call plans of emulator/rules). With those three, every decision can be judged:

- a call admitted must have found room in every pool it takes;
- a call refused by a pool must have found that pool full, and every pool taken before it
  with room (admission is all-or-nothing, in order);
- each published state is a point in the sequence of our decisions: the one where the
  unit's counters (calls admitted, refused, up) equal ours. There, every pool's use must be
  exactly what the baseline plus our calls hold. A state that matches no point means the
  unit did something we did not ask (other traffic, or a lost or extra decision);
- at the end, with our calls hung up, every pool is back to the baseline, and the unit's
  refusal counters grew by exactly the refusals we were told of.

The replies are fed in the order the unit decided them: the service answers one command at
a time and publishes its replies in order to one topic, which MQTT keeps in order. Sans-IO:
given replies and states, it returns findings; it never waits or reads a clock.

Call appearances (`ext:` pools) are not published, so a refusal by one (a busy extension), or
by a party rule (an IP phone not registered), is counted as not judged, by reason; so is a
call to a hunt group whose members take different pools, or a call to another unit.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from emulator.rules.unit_core import APPEARANCE_POOL

_NOT_OURS = object()

MAX_HISTORY = 1_000_000
"""Points kept for published states still on their way (a unit publishes every 250 ms)."""

MAX_FINDINGS = 100
"""Violations kept per unit (all are counted)."""

Admissions = Callable[[str, str], list[tuple[tuple[str, ...], tuple[str, ...]]] | None]
"""(a, b) -> for each party the call can reach, (pools taken at admission in order, pools held
once answered); None when the pair cannot be judged from this unit alone."""


@dataclass(slots=True)
class Sample:
    """One published `licenses` state, reduced to what judging needs."""

    time: float
    admitted: int
    rejected: int
    up: int
    effective: dict[str, int]
    in_use: dict[str, int]
    peak: dict[str, int]
    refused: dict[tuple[str, str], int]
    """(pool, reason) -> refusals since the unit started."""


def parse_sample(payload: bytes) -> Sample:
    """A UnitLicenses payload (docs/mqtt.md); ValueError naming the field at fault."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"licenses state: not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise ValueError("licenses state: not a JSON object")

    def number(where: dict, key: str, kind: type = int):
        value = where.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or (kind is int and value != int(value)):
            raise ValueError(f"licenses state: {key}: expected a number, got {value!r}")
        return kind(value)

    effective: dict[str, int] = {}
    in_use: dict[str, int] = {}
    peak: dict[str, int] = {}
    refused: dict[tuple[str, str], int] = {}
    pools = body.get("pools")
    if not isinstance(pools, list):
        raise ValueError("licenses state: pools: expected a list")
    for pool in pools:
        if not isinstance(pool, dict) or not isinstance(pool.get("pool"), str):
            raise ValueError("licenses state: pools: each entry needs a pool name")
        name = pool["pool"]
        effective[name] = number(pool, "effective")
        in_use[name] = number(pool, "in_use")
        peak[name] = number(pool, "peak")
        by_reason = pool.get("refused") or {}
        if not isinstance(by_reason, dict):
            raise ValueError(f"licenses state: pools.{name}.refused: expected an object")
        for reason in by_reason:
            refused[(name, reason)] = number(by_reason, reason)
    return Sample(number(body, "time", float), number(body, "calls_admitted"), number(body, "calls_rejected"),
                  number(body, "calls_up"), effective, in_use, peak, refused)


@dataclass
class UnitVerdict:
    unit: str
    judged: int = 0
    """Decisions judged against the pools."""
    not_judged: Counter[str] = field(default_factory=Counter)
    """Decisions that could not be judged from outside, by why."""
    states_matched: int = 0
    """Published states that matched a point of our decisions (and were compared)."""
    violations: int = 0
    findings: list[str] = field(default_factory=list)
    """The first MAX_FINDINGS violations, each one line."""

    def as_dict(self) -> dict:
        return {"unit": self.unit, "judged": self.judged, "not_judged": dict(sorted(self.not_judged.items())),
                "states_matched": self.states_matched, "violations": self.violations, "findings": self.findings}


class UnitCheck:
    """What our commands hold on one unit, pool by pool, and whether its decisions and
    published states agree with it."""

    def __init__(self, unit: str, baseline: Sample, admissions: Admissions) -> None:
        self.unit = unit
        self.baseline = baseline
        self._admissions = admissions
        self._plans: dict[tuple[str, str], tuple | None] = {}
        self.in_use: dict[str, int] = dict(baseline.in_use)
        self.effective: dict[str, int] = dict(baseline.effective)
        self.admitted = 0
        self.rejected = 0
        self.calls: dict[str, tuple[str, ...] | None] = {}
        """Our calls up: call id -> the published pools they hold (None: not known from outside)."""
        self._unknown_up = 0
        self.refusals: Counter[tuple[str, str]] = Counter()
        """(pool, reason) -> our calls refused by a published pool."""
        self.verdict = UnitVerdict(unit)
        self._pending: deque[Sample] = deque()
        """Published states our replies have not reached yet, in order."""
        self._history: deque[tuple] = deque()
        """Our points (admitted, refused, up, pools in use, unknown calls up) since the last
        published state that matched one."""
        self.blind: str | None = None
        """Set when our view of the unit was lost (a reply never came): judging stops."""
        self.last_sample = baseline
        self._history.append(self._point())

    # -- what the unit decided -------------------------------------------------------------------

    def offer_decided(self, call_id: str, a: str, b: str, reply: dict) -> None:
        """The reply to our offer_call(a, b)."""
        if self.blind:
            return
        if not reply.get("ok"):
            self.verdict.not_judged[f"error:{(reply.get('error') or {}).get('code', '?')}"] += 1
            return
        plan = self._plan(a, b)
        accepted = reply.get("outcome") == "admitted"
        reason, detail = reply.get("reason") or "", reply.get("detail") or ""
        if plan is None:
            self.verdict.not_judged["pair not judged (another unit, or a hunt group of unlike members)"] += 1
        elif self._unknown_up:
            self.verdict.not_judged["while calls of an unknown plan were up"] += 1
        else:
            admit, held = plan
            self._judge(call_id, admit, accepted, reason, detail)
        if accepted:
            self.admitted += 1
            held_pools = plan[1] if plan is not None else None
            self.calls[call_id] = held_pools
            if held_pools is None:
                self._unknown_up += 1
                held_pools = ()
            for pool in held_pools:
                self.in_use[pool] = self.in_use.get(pool, 0) + 1
        else:
            self.rejected += 1
            if not detail.startswith(APPEARANCE_POOL) and detail in self._admits(plan):
                self.refusals[(detail, reason)] += 1
        self._moved()

    def hang_up_decided(self, call_id: str, reply: dict) -> None:
        if self.blind:
            return
        held = self.calls.pop(call_id, _NOT_OURS)
        if held is _NOT_OURS:
            return
        if held is None:
            self._unknown_up -= 1
            held = ()
        if reply.get("outcome") != "ended":
            self._violation(f"hang_up {call_id}: the unit answered {_said(reply)}, not ended, for a call it "
                            "admitted")
            return
        for pool in held:
            self.in_use[pool] -= 1
        self._moved()

    def reply_lost(self, what: str) -> None:
        """A command got no reply: from here on we do not know what the unit holds."""
        if not self.blind:
            self.blind = what
            self._violation(f"{what}: no reply; decisions after it are not judged")

    def state_published(self, sample: Sample) -> None:
        if self.blind:
            return
        if self._pending or not self._place(sample):
            self._pending.append(sample)

    # -- the end ---------------------------------------------------------------------------------------

    @property
    def settled(self) -> bool:
        """The latest published state is the one of our last decision (nothing left to match)."""
        return self.blind is not None or (not self._pending and self._at(self.last_sample))

    def finish(self) -> UnitVerdict:
        """Once our calls are hung up and the unit published its state after them."""
        if self.blind:
            return self.verdict
        for sample in self._pending:
            self._violation(f"state at t={sample.time:.3f} matches no point of our decisions "
                            f"({_counts(sample)} against ours {self._our_counts()}): "
                            "the unit did something it was not asked")
        self._pending.clear()
        last = self.last_sample
        if not self._at(last):
            self._violation(f"the unit's last published state ({_counts(last)}) is not that of our last decision "
                            f"({self._our_counts()}): its state after our commands was not published in time (is serve's "
                            "--state-interval over 3 s?)")
            return self.verdict
        for (pool, reason), ours in sorted(self.refusals.items()):
            theirs = last.refused.get((pool, reason), 0) - self.baseline.refused.get((pool, reason), 0)
            if theirs != ours:
                self._violation(f"{pool} counted {theirs} refusals ({reason}) during the run; it refused "
                                f"{ours} of our calls")
        for (pool, reason), count in sorted(last.refused.items()):
            grown = count - self.baseline.refused.get((pool, reason), 0)
            if grown and (pool, reason) not in self.refusals and not pool.startswith(APPEARANCE_POOL):
                self._violation(f"{pool} counted {grown} refusals ({reason}) during the run; it refused none "
                                "of our calls")
        return self.verdict

    # -- inside ----------------------------------------------------------------------------------------

    def _plan(self, a: str, b: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """(published pools taken at admission, in order, with appearance pools kept for their
        position; published pools held); None when it cannot be known from outside."""
        key = (a, b)
        if key not in self._plans:
            options = self._admissions(a, b)
            plan = None
            if options and len(options) == 1:
                admit, held = options[0]
                plan = (admit, _published_only(held))
            elif options:  # members of a hunt group usually differ in their appearance pools only
                comparable = {(_published_only(admit), _published_only(held)) for admit, held in options}
                if len(comparable) == 1:
                    plan = comparable.pop()
            self._plans[key] = plan
        return self._plans[key]

    @staticmethod
    def _admits(plan: tuple | None) -> tuple[str, ...]:
        return plan[0] if plan is not None else ()

    def _judge(self, call_id: str, admit: tuple[str, ...], accepted: bool, reason: str, detail: str) -> None:
        """Admission as take_all does it, on our counts: the first pool found full refuses."""
        taken: Counter[str] = Counter()
        full_at = None
        detail_at = None
        for position, pool in enumerate(admit):
            if pool == detail and detail_at is None:
                detail_at = position
            if pool.startswith(APPEARANCE_POOL):
                continue
            if full_at is None and self.in_use.get(pool, 0) + taken[pool] >= self.effective.get(pool, 0):
                full_at = position
            taken[pool] += 1
        verdict = self.verdict
        full = admit[full_at] if full_at is not None else None
        if accepted:
            verdict.judged += 1
            if full is not None:
                self._violation(f"call {call_id} admitted although {full} was full "
                                f"({self.in_use.get(full, 0)} of {self.effective.get(full, 0)} in use)")
            return
        if detail_at is None:  # refused before admission, by a party rule
            verdict.not_judged[f"refused: {reason}"] += 1
            return
        if detail.startswith(APPEARANCE_POOL):  # a busy extension: only the order can be judged
            verdict.not_judged[f"refused: {reason}"] += 1
            if full_at is not None and full_at < detail_at:
                self._violation(f"call {call_id} refused by {detail} ({reason}) although {full}, taken before it, "
                                "was full and should have refused it")
            return
        verdict.judged += 1
        if full is None:
            self._violation(f"call {call_id} refused by {detail} ({reason}) although it had room "
                            f"({self.in_use.get(detail, 0)} of {self.effective.get(detail, 0)} in use)")
        elif full != detail:
            self._violation(f"call {call_id} refused by {detail} ({reason}) although {full}, taken before it, was "
                            "full and should have refused it")

    def _moved(self) -> None:
        """Our view changed: remember the point (a published state may arrive after replies
        to later commands: the service sends replies before state), and place the published
        states that were waiting for it."""
        history = self._history
        history.append(self._point())
        if len(history) > MAX_HISTORY:
            history.popleft()
        pending = self._pending
        while pending:
            sample = pending[0]
            if self._at(sample):
                self._compare(sample, history[-1])
                while len(history) > 1:
                    history.popleft()
            elif self._past(sample):
                self._unmatched(sample)
            else:
                return
            pending.popleft()

    def _place(self, sample: Sample) -> bool:
        """Compare a published state with the point of ours it shows; False when our replies
        have not reached that point yet."""
        base = self.baseline
        key = (sample.admitted - base.admitted, sample.rejected - base.rejected, sample.up - base.up)
        history = self._history
        for i, point in enumerate(history):
            if point[:3] == key:
                self._compare(sample, point)
                for _ in range(i):  # published states come in order: none will match before this
                    history.popleft()
                return True
        if not self._past(sample):
            return False
        self._unmatched(sample)
        return True

    def _point(self) -> tuple:
        return (self.admitted, self.rejected, len(self.calls), dict(self.in_use), self._unknown_up)

    def _unmatched(self, sample: Sample) -> None:
        self._violation(f"state at t={sample.time:.3f} matches no point of our decisions "
                        f"({_counts(sample)}; ours now {self._our_counts()}): the unit did something it was "
                        "not asked")

    def _at(self, sample: Sample) -> bool:
        base = self.baseline
        return (sample.admitted - base.admitted == self.admitted and sample.rejected - base.rejected == self.rejected
                and sample.up - base.up == len(self.calls))

    def _past(self, sample: Sample) -> bool:
        """Our decisions have gone beyond this state: it can no longer match."""
        base = self.baseline
        their_a, their_r = sample.admitted - base.admitted, sample.rejected - base.rejected
        if their_a < self.admitted or their_r < self.rejected:
            return True
        return their_a == self.admitted and their_r == self.rejected and sample.up - base.up > len(self.calls)

    def _compare(self, sample: Sample, point: tuple) -> None:
        self.verdict.states_matched += 1
        self.last_sample = sample
        self.effective = dict(sample.effective)  # limits from here on (a license may have changed)
        in_use, unknown_up = point[3], point[4]
        if unknown_up:
            self.verdict.not_judged["state compared by its counters only (calls of an unknown plan up)"] += 1
            return
        for pool in sorted(set(sample.in_use) | {p for p, n in in_use.items() if n}):
            theirs, ours = sample.in_use.get(pool, 0), in_use.get(pool, 0)
            if theirs != ours:
                self._violation(f"state at t={sample.time:.3f}: {pool} {theirs} in use; the baseline and our "
                                f"calls hold {ours}")
            limit = sample.effective.get(pool, 0)
            if theirs > limit and theirs > self.baseline.in_use.get(pool, 0):
                self._violation(f"state at t={sample.time:.3f}: {pool} {theirs} in use, above its limit {limit}")

    def _our_counts(self) -> str:
        base = self.baseline
        return (f"admitted {base.admitted + self.admitted}, refused {base.rejected + self.rejected}, "
                f"up {base.up + len(self.calls)}")

    def _violation(self, text: str) -> None:
        verdict = self.verdict
        verdict.violations += 1
        if len(verdict.findings) < MAX_FINDINGS:
            verdict.findings.append(f"{self.unit}: {text}")


def _published_only(pools: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(p for p in pools if not p.startswith(APPEARANCE_POOL))


def _counts(sample: Sample) -> str:
    return f"admitted {sample.admitted}, refused {sample.rejected}, up {sample.up}"


def _said(reply: dict) -> str:
    if not reply.get("ok"):
        return f"error {(reply.get('error') or {}).get('code', '?')}"
    return str(reply.get("outcome"))
