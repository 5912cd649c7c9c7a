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
from emulator.licensing.pool import factory_for
from emulator.reasons import Reason
from emulator.rules.admission import GLOBALS, GroupAdmission, RouteAdmission
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


class Route:
    """Calls between two given parties (b not a hunt group), with their admission compiled.

    admit(now, emergency=False, commit=True) is the one admission of a call: the unit's
    deadline (a license expiring), the IP phones' registration and licenses, the voicemail
    server, then every pool at once (licensing/pool.py PoolCode), then the count of admitted
    calls. It returns the route on success; on refusal None, with the refusal counted and in
    the table's `refusal`. release(now) gives back what an answered call holds.

    The route keeps the time sum of what its calls hold (release times minus admission
    times, once per call rather than once per pool); each pool adds it to its own area
    (CountedPool.shares), so mean use stays exact.

    Every call is admitted by its text (rules/admission.py): named calls (CallTable.offer,
    for the timeline, the network, MQTT and SIP) through admit(); the anonymous calls of
    traffic sources (runtime/traffic.py) run the same lines inline in the source's loop,
    which keeps their ends itself.
    """

    __slots__ = ("plan", "admits", "setup_vcm", "admit", "release", "time_sum")

    def __repr__(self) -> str:
        return f"<Route {self.plan.a.name}->{self.plan.b.name}>"


def _compile_route(route: Route, table: CallTable) -> RouteAdmission:
    code = RouteAdmission(route, table)
    factory = factory_for(code.key, code.function_source, f"<admission of a call, {len(route.admits)} pools>", GLOBALS)
    route.time_sum = 0.0
    route.admit, route.release = factory(*code.values.values())
    for pool, instances in code.shares():
        pool.shares.append((route, instances))
    return code


# An active call's record is its Route (shared: no allocation) while it needs no state of its
# own, which is the common case; a call still in SIP set-up or put on hold gets a small list
# instead: [route, set-up VCM channels held, answered, VCM on hold].
ROUTE, SETUP_VCM, ANSWERED, ON_HOLD = range(4)


class CallTable:
    def __init__(self, core: UnitCore) -> None:
        self.core = core
        self.vcm = core.vcm
        self.active: dict[object, Route | list] = {}
        self.admitted = 0
        self.rejections: Counter[tuple[str, str]] = Counter()  # (reason, detail) -> count
        self.refusal: Decision | None = None
        """The last refusal (what a route's admit answered None for)."""
        self.conferences: dict[object, dict[str, tuple[CountedPool, ...]]] = {}
        self.holders: list = []
        """Traffic sources holding anonymous calls (whose ends they keep themselves): each has
        held_routes(), the route of every call it holds. held() and active_count() count them."""
        self._routes: dict[tuple[str, str], Route | GroupRoute] = {}
        self.refuse, self.refuse_pool = self._refuse_quietly, self._refuse_pool
        """What admissions call when they refuse (kept: a bound method is made at each access)."""
        self.offer = self._make_offer()
        self.hang_up = self._make_hang_up()

    def route(self, a: str, b: str) -> Route | GroupRoute:
        """What admits calls from a to b (admit(now) returns the Route that then holds them)."""
        return self._routes.get((a, b)) or self._route(a, b)

    def admission_code(self, a: str, b: str) -> RouteAdmission | GroupAdmission:
        """The text of admitting calls from a to b, for a caller that runs it inline (a traffic
        source's loop, runtime/traffic.py): the same text route(a, b).admit is compiled from."""
        return self._route_and_code(a, b)[1]

    def plan(self, a: str, b: str) -> CallPlan:
        """What a call between a and b takes (b not a hunt group: its member is chosen per call)."""
        route = self.route(a, b)
        if isinstance(route, GroupRoute):
            raise ValueError(f"{b!r} is a hunt group: the plan depends on the member reached")
        return route.plan

    def admissions(self, a: str, b: str) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
        """For each party a call from a to b can reach (b itself, or each member of hunt group
        b): (the pool ids admission takes, in the order it takes them; those the call holds
        once answered). What an outside observer needs to judge a decision from pool counts."""
        pb = self.core.party(b)
        reached = [m for m in pb.members if m.name != a] if pb.kind == GROUP else [pb]
        out = []
        for party in reached:
            route = self.route(a, party.name)
            out.append((tuple(p.pool_id for p in route.admits), tuple(p.pool_id for p in route.plan.pools)))
        return out

    def pools_used(self) -> set[str]:
        """Every pool a call offered so far needed (or would have): what sizing looks at."""
        return {pool.pool_id for route in self._routes.values() if isinstance(route, Route) for pool in route.admits}

    def held(self) -> Counter[str]:
        """Instances of each pool the active calls and conference members hold, from their own
        records: what the pools' in_use must equal (an invariant a run checks at its end)."""
        held: Counter[str] = Counter()
        routes: list[Route] = []
        for call in self.active.values():
            if type(call) is list:
                if call[SETUP_VCM] + call[ON_HOLD]:
                    held[self.vcm.pool_id] += call[SETUP_VCM] + call[ON_HOLD]
                routes.append(call[ROUTE])
            else:
                routes.append(call)
        for holder in self.holders:
            routes.extend(holder.held_routes())
        for route in routes:
            for pool in route.plan.pools:
                held[pool.pool_id] += 1
        for members in self.conferences.values():
            for pools in members.values():
                for pool in pools:
                    held[pool.pool_id] += 1
        return held

    def active_count(self) -> int:
        """Calls up: named ones and the traffic sources' anonymous ones."""
        return len(self.active) + sum(holder.holding() for holder in self.holders)

    def reached(self, call_id: object) -> str:
        """The party a call reached (for a call to a hunt group: the member)."""
        return self.plan_of(call_id).b.name

    def _route(self, a: str, b: str) -> Route | GroupRoute:
        return self._route_and_code(a, b)[0]

    def _route_and_code(self, a: str, b: str) -> tuple[Route | GroupRoute, RouteAdmission | GroupAdmission]:
        """The route from a to b, made if it is not yet, and the text of its admission."""
        route = self._routes.get((a, b))
        if route is not None:
            return route, route.code if isinstance(route, GroupRoute) else RouteAdmission(route, self)
        if a == b:
            raise ValueError(f"a call needs two different parties, got {a!r} twice")
        pa, pb = self.core.party(a), self.core.party(b)
        if pa.kind == GROUP:
            raise ValueError(f"a hunt group cannot make calls ({a!r})")
        if pb.kind == GROUP:  # the member is chosen at each call
            route = GroupRoute(self, pa, pb)
            code: RouteAdmission | GroupAdmission = route.code
        else:
            setup, connected = vcm_need(pa, pb)
            route = Route()
            route.plan = CallPlan(pa, pb, pa.line_pools + pb.line_pools + (self.vcm,) * connected, setup - connected,
                                  connected, tuple(p for p in (pa, pb) if p.needs_registration),
                                  VOICEMAIL in (pa.kind, pb.kind))
            route.setup_vcm = route.plan.setup_vcm
            route.admits = route.plan.pools + (self.vcm,) * route.setup_vcm  # set-up channels go last, as refusals do
            code = _compile_route(route, self)
        self._routes[(a, b)] = route
        return route, code

    def _make_offer(self) -> Callable[..., Decision]:
        """offer(call_id, a, b, now, answered=True, emergency=False, provisional=False): a call
        between parties a and b, recorded under call_id.

        answered=False leaves it in set-up until connect(). provisional=True (with
        answered=False) admits it without raising peaks, until commit(): for a call that
        another unit must also admit. The admission is the route's (Route.admit), as for
        every call; this adds the record that hang_up, connect and hold find by id.
        """
        table, vcm, setdefault = self, self.vcm, self.active.setdefault
        routes, route_for = self._routes, self._route
        last_a = last_b = last_route = None  # one-entry cache: traffic repeats its pair

        def offer(call_id: object, a: str, b: str, now: float, answered: bool = True,
                  emergency: bool = False, provisional: bool = False) -> Decision:
            nonlocal last_a, last_b, last_route
            if a is last_a and b is last_b:
                route = last_route
            else:
                route = routes.get((a, b)) or route_for(a, b)
                last_a, last_b, last_route = a, b, route
            held = route.admit(now, emergency, not provisional)
            if held is None:
                return table.refusal
            setup = held.setup_vcm
            if setup:
                if answered:
                    vcm.release(now, setup)  # connected at once: the set-up channels are done
                    record = held
                else:
                    record = [held, setup, False, 0]
            else:
                record = held if answered else [held, 0, False, 0]
            if setdefault(call_id, record) is not record:  # a caller's bug: undo, then say so
                if record is not held:
                    vcm.release(now, setup)
                held.release(now)
                table.admitted -= 1
                raise ValueError(f"call id {call_id!r} is already in use")
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
            call.release(now)
            return ENDED

        return hang_up

    def _refuse_quietly(self, reason: Reason, detail: str) -> None:
        """A route's refusal: counted, kept in `refusal`; None is what admit returns."""
        self.refusal = self._refuse(reason, detail)

    def _refuse_pool(self, pool: CountedPool) -> None:
        self.refusal = self._refuse(pool.count_refusal(), pool.pool_id)

    def _refuse(self, reason: Reason, detail: str) -> Decision:
        self.rejections[(reason.value, detail)] += 1
        return rejected(reason, detail)

    def commit(self, call_id: object) -> None:
        """A provisional admission stands: its pools' peaks now count it."""
        raise_peaks(self._stateful(call_id)[ROUTE].admits)

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
        plan = call[ROUTE].plan
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
        return (call[ROUTE] if type(call) is list else call).plan

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


class GroupRoute:
    """Calls from one party to a hunt group: admit() hunts the first member free to take a
    call (registered, licensed, with a free call appearance, not the caller), from the top
    (sequential) or after the member who took the last call (rotary), then admits the call on
    the route to that member (the route a call holds names the member: reached()). The
    routes to the members are made with it, so the whole admission is compiled as one
    (rules/admission.py GroupAdmission)."""

    __slots__ = ("admit", "code")

    def __init__(self, table: CallTable, caller: Party, group: Party) -> None:
        made = [(None, None) if member is caller else table._route_and_code(caller.name, member.name)  # noqa: SLF001
                for member in group.members]
        self.code = GroupAdmission(table, caller, group, tuple(route for route, _ in made), [code for _, code in made])
        """The text of its admission, for a traffic source to run inline (runtime/traffic.py)."""
        factory = factory_for(self.code.key, self.code.function_source,
                              f"<admission of a call to a hunt group of {len(made)}>", GLOBALS)
        self.admit = factory(*self.code.values.values())
