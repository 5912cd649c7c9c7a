"""Calls on one unit: admission, connect, hold (music), conferences, hang-up.

Admission is all-or-nothing: every pool a call needs (trunk channels, SIP Trunk Channel or
Voice Networking licenses, voicemail ports, VCM channels) is taken at once, or none is and
the first refusal's reason is returned. What a given pair of parties needs is worked out
once and kept as a plan, so admitting a call is a handful of counter operations.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from emulator.licensing import CountedPool, give_all, raise_peaks, take_all
from emulator.reasons import Reason
from emulator.rules.decision import (
    ADMITTED,
    CONNECTED,
    ENDED,
    HELD,
    JOINED,
    LEFT,
    RESUMED,
    Decision,
    rejected,
)
from emulator.rules.parties import GROUP, VOICEMAIL, Party
from emulator.rules.vcm import vcm_need

if TYPE_CHECKING:
    from emulator.rules.unit_core import UnitCore


class CallPlan(NamedTuple):
    a: Party
    b: Party
    pools: tuple[CountedPool, ...]
    """Held for the whole call: line pools, plus the VCM pool once per channel needed when connected."""
    setup_vcm: int
    """Extra VCM channels held only until the call connects (SIP set-up with direct media after)."""
    connected_vcm: int
    checks: tuple[Party, ...]  # IP phones that must be registered (and licensed)
    voicemail: bool


# The hot path works on a plain tuple per party pair, (pools, set-up VCM, checks, voicemail,
# plan, pools taken at admission): CPython 3.11 specialises unpacking and indexing of exact
# tuples only, not of NamedTuples. An active call is that tuple (it already exists: no
# allocation) while it needs no state of its own, which is the common case; a call still in
# SIP set-up or put on hold gets a small list instead: [route, set-up VCM channels held,
# answered, VCM on hold].
ROUTE, SETUP_VCM, ANSWERED, ON_HOLD = range(4)
_POOLS, _PLAN, _ADMIT = 0, 4, 5


class CallTable:
    def __init__(self, core: UnitCore) -> None:
        self.core = core
        self.vcm = core.vcm
        self.active: dict[object, tuple | list] = {}
        self.admitted = 0
        self.rejections: Counter[tuple[str, str]] = Counter()  # (reason, detail) -> count
        self.hunted: str | None = None
        """The member the last call admitted to a hunt group reached (its event names it)."""
        self.conferences: dict[object, dict[str, tuple[CountedPool, ...]]] = {}
        self._routes: dict[tuple[str, str], tuple] = {}
        self.offer = self._make_offer()
        self.hang_up = self._make_hang_up()

    def plan(self, a: str, b: str) -> CallPlan:
        """What a call between a and b takes (b not a hunt group: its member is chosen per call)."""
        plan = self._route(a, b)[_PLAN]
        if not isinstance(plan, CallPlan):
            raise ValueError(f"{b!r} is a hunt group: the plan depends on the member reached")
        return plan

    def admissions(self, a: str, b: str) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
        """For each party a call from a to b can reach (b itself, or each member of hunt group
        b): (the pool ids admission takes, in the order it takes them; those the call holds
        once answered). What an outside observer needs to judge a decision from pool counts."""
        pb = self.core.party(b)
        reached = [m for m in pb.members if m.name != a] if pb.kind == GROUP else [pb]
        out = []
        for party in reached:
            route = self._route(a, party.name)
            out.append((tuple(p.pool_id for p in route[_ADMIT]), tuple(p.pool_id for p in route[_POOLS])))
        return out

    def pools_used(self) -> set[str]:
        """Every pool a call offered so far needed (or would have): what sizing looks at."""
        return {pool.pool_id for route in self._routes.values() for pool in route[_ADMIT] or ()}

    def held(self) -> Counter[str]:
        """Instances of each pool the active calls and conference members hold, from their own
        records: what the pools' in_use must equal (an invariant a run checks at its end)."""
        held: Counter[str] = Counter()
        for call in self.active.values():
            if type(call) is list:
                route = call[ROUTE]
                if call[SETUP_VCM] + call[ON_HOLD]:
                    held[self.vcm.pool_id] += call[SETUP_VCM] + call[ON_HOLD]
            else:
                route = call
            for pool in route[_POOLS]:
                held[pool.pool_id] += 1
        for members in self.conferences.values():
            for pools in members.values():
                for pool in pools:
                    held[pool.pool_id] += 1
        return held

    def reached(self, call_id: object) -> str:
        """The party a call reached (for a call to a hunt group: the member)."""
        return self.plan_of(call_id).b.name

    def _route(self, a: str, b: str) -> tuple:
        route = self._routes.get((a, b))
        if route is None:
            if a == b:
                raise ValueError(f"a call needs two different parties, got {a!r} twice")
            pa, pb = self.core.party(a), self.core.party(b)
            if pa.kind == GROUP:
                raise ValueError(f"a hunt group cannot make calls ({a!r})")
            if pb.kind == GROUP:  # the member is chosen at each call: see offer()
                route = self._routes[(a, b)] = ((), 0, (), False, pb, None)
                return route
            setup, connected = vcm_need(pa, pb)
            plan = CallPlan(pa, pb, pa.line_pools + pb.line_pools + (self.vcm,) * connected, setup - connected,
                            connected, tuple(p for p in (pa, pb) if p.needs_registration),
                            VOICEMAIL in (pa.kind, pb.kind))
            admit = plan.pools + (self.vcm,) * plan.setup_vcm  # set-up channels go last, as refusals do
            route = self._routes[(a, b)] = (plan.pools, plan.setup_vcm, plan.checks, plan.voicemail, plan, admit)
        return route

    def _make_offer(self) -> Callable[..., Decision]:
        """offer(call_id, a, b, now, answered=True, emergency=False, provisional=False): a call
        between parties a and b.

        answered=False leaves it in set-up until connect(). provisional=True (with
        answered=False) admits it without raising peaks, until commit(): for a call that
        another unit must also admit. Built as a closure over the
        table's state because it runs once per call attempt; the pools are taken by
        take_all, the one admission path (licensing/pool.py).
        """
        table, core, vcm, setdefault = self, self.core, self.vcm, self.active.setdefault
        routes, route_for, refuse = self._routes, self._route, self._refuse
        last_a = last_b = last_route = None  # one-entry cache: traffic repeats its pair

        def offer(call_id: object, a: str, b: str, now: float, answered: bool = True,
                  emergency: bool = False, provisional: bool = False) -> Decision:
            nonlocal last_a, last_b, last_route
            if now >= core.deadline:
                core.advance(now)
            if a is last_a and b is last_b:
                route = last_route
            else:
                route = routes.get((a, b)) or route_for(a, b)
                last_a, last_b, last_route = a, b, route
            _, setup, checks, voicemail, group, admit = route
            if admit is None:  # a call to a hunt group: to its first free member
                member = group.hunt(a)
                if member is None:
                    return refuse(Reason.EXTENSION_BUSY, group.name)
                route = routes.get((a, member.name)) or route_for(a, member.name)
                _, setup, checks, voicemail, _, admit = route
                table.hunted = member.name
            for party in checks:
                if not party.registered:
                    return refuse(Reason.NOT_REGISTERED, party.name)
                if not (party.endpoint_licensed or emergency):
                    return refuse(Reason.ENDPOINT_UNLICENSED, party.name)
            if voicemail and not core.voicemail_running:
                return refuse(Reason.VOICEMAIL_NOT_RUNNING, "")
            refusing = take_all(admit, now, not provisional)
            if refusing is not None:
                return refuse(refusing._refusal, refusing.pool_id)
            if setup:
                if answered:
                    vcm.release(now, setup)  # connected at once: the set-up channels are done
                    record = route
                else:
                    record = [route, setup, False, 0]
            else:
                record = route if answered else [route, 0, False, 0]
            if setdefault(call_id, record) is not record:  # a caller's bug: undo, then say so
                give_all(admit if record is not route else route[_POOLS], now)
                raise ValueError(f"call id {call_id!r} is already in use")
            table.admitted += 1
            return ADMITTED

        return offer

    def _make_hang_up(self) -> Callable[[object, float], Decision]:
        """hang_up(call_id, now): release everything the call holds."""
        active, vcm = self.active, self.vcm

        def hang_up(call_id: object, now: float) -> Decision:
            try:
                call = active.pop(call_id)
            except KeyError:
                raise LookupError(f"no active call {call_id!r}") from None
            if type(call) is list:
                held = call[SETUP_VCM] + call[ON_HOLD]
                if held:
                    vcm.release(now, held)
                call = call[ROUTE]
            give_all(call[_POOLS], now)
            return ENDED

        return hang_up

    def _refuse(self, reason: Reason, detail: str) -> Decision:
        self.rejections[(reason.value, detail)] += 1
        return rejected(reason, detail)

    def commit(self, call_id: object) -> None:
        """A provisional admission stands: its pools' peaks now count it."""
        raise_peaks(self._stateful(call_id)[ROUTE][_ADMIT])

    def cancel(self, call_id: object, now: float) -> None:
        """Undo an admission that never became a call (the far end of an SCN call refused)."""
        self.hang_up(call_id, now)
        self.admitted -= 1

    def _stateful(self, call_id: object) -> list:
        """The call's record as a list (made on first need: connect, hold)."""
        call = self.active.get(call_id)
        if call is None:
            raise LookupError(f"no active call {call_id!r}")
        if type(call) is not list:
            call = self.active[call_id] = [call, 0, True, 0]
        return call

    def connect(self, call_id: object, now: float) -> Decision:
        """The call is answered: IP parties with the same codec now talk directly."""
        call = self._stateful(call_id)
        if not call[ANSWERED]:
            call[ANSWERED] = True
            if call[SETUP_VCM]:
                self.vcm.release(now, call[SETUP_VCM])
                call[SETUP_VCM] = 0
        return CONNECTED

    def hold(self, call_id: object, held_party: str, now: float) -> Decision:
        """held_party hears music on hold: from the TDM bus, so an IP party needs a VCM channel."""
        call = self._stateful(call_id)
        plan = call[ROUTE][_PLAN]
        party = plan.a if held_party == plan.a.name else plan.b if held_party == plan.b.name else None
        if party is None:
            raise LookupError(f"{held_party!r} is not a party to call {call_id!r}")
        if call[ON_HOLD]:
            return HELD
        if party.is_ip:
            reason = self.vcm.try_acquire(now)
            if reason is not None:
                return rejected(reason, self.vcm.pool_id)
            call[ON_HOLD] = 1
        return HELD

    def resume(self, call_id: object, now: float) -> Decision:
        call = self._stateful(call_id)
        if call[ON_HOLD]:
            self.vcm.release(now, call[ON_HOLD])
            call[ON_HOLD] = 0
        return RESUMED

    def plan_of(self, call_id: object) -> CallPlan:
        call = self.active[call_id]
        return (call[ROUTE] if type(call) is list else call)[_PLAN]

    # -- conferences: one VCM channel per IP party [S12] ---------------------------------

    def join_conference(self, conference_id: object, party_name: str, now: float, *,
                        emergency: bool = False) -> Decision:
        core = self.core
        if now >= core.deadline:
            core.advance(now)
        party = core.party(party_name)
        members = self.conferences.setdefault(conference_id, {})
        if party_name in members:
            return JOINED
        if party.needs_registration:
            if not party.registered:
                return rejected(Reason.NOT_REGISTERED, party.name)
            if not (party.endpoint_licensed or emergency):
                return rejected(Reason.ENDPOINT_UNLICENSED, party.name)
        pools = party.line_pools + ((self.vcm,) if party.is_ip else ())  # one VCM channel per IP party
        refusing = take_all(pools, now)
        if refusing is not None:
            self._drop_if_empty(conference_id)
            return rejected(refusing.refusal_reason, refusing.pool_id)
        members[party_name] = pools
        return JOINED

    def leave_conference(self, conference_id: object, party_name: str, now: float) -> Decision:
        members = self.conferences.get(conference_id, {})
        if party_name not in members:
            raise LookupError(f"{party_name!r} is not in conference {conference_id!r}")
        give_all(members.pop(party_name), now)
        self._drop_if_empty(conference_id)
        return LEFT

    def _drop_if_empty(self, conference_id: object) -> None:
        if not self.conferences.get(conference_id, True):
            del self.conferences[conference_id]
