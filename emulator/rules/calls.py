"""Calls on one unit: admission, connect, hold (music), conferences, hang-up.

Admission is all-or-nothing: every pool a call needs (trunk channels, SIP Trunk Channel or
Voice Networking licenses, voicemail ports, VCM channels) is taken at once, or none is and
the first refusal's reason is returned. What a given pair of parties needs is worked out
once and kept as a plan, so admitting a call is a handful of counter operations.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, NamedTuple

from emulator.licensing import CountedPool, give_all, take_all
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
from emulator.rules.parties import VOICEMAIL, Party
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


# An active call is a small list, the cheapest mutable record CPython builds:
# [pools held, set-up VCM channels still held, answered, VCM channels playing music on hold, plan].
POOLS, SETUP_VCM, ANSWERED, ON_HOLD, PLAN = range(5)


class CallTable:
    def __init__(self, core: UnitCore) -> None:
        self.core = core
        self.vcm = core.vcm
        self.active: dict[object, list] = {}
        self.admitted = 0
        self.rejections: Counter[tuple[str, str]] = Counter()  # (reason, detail) -> count
        self.conferences: dict[object, dict[str, tuple[tuple[CountedPool, ...], int]]] = {}
        self._plans: dict[tuple[str, str], CallPlan] = {}
        self._last: tuple[str, str, CallPlan] | None = None  # one-entry cache: traffic repeats its pair

    def plan(self, a: str, b: str) -> CallPlan:
        plan = self._plans.get((a, b))
        if plan is None:
            if a == b:
                raise ValueError(f"a call needs two different parties, got {a!r} twice")
            pa, pb = self.core.party(a), self.core.party(b)
            setup, connected = vcm_need(pa, pb)
            plan = self._plans[(a, b)] = CallPlan(
                pa, pb, pa.line_pools + pb.line_pools + (self.vcm,) * connected, setup - connected, connected,
                tuple(p for p in (pa, pb) if p.needs_registration),
                VOICEMAIL in (pa.kind, pb.kind))
        return plan

    def offer(self, call_id: object, a: str, b: str, now: float,
              answered: bool = True, emergency: bool = False) -> Decision:
        """A call between parties a and b. answered=False leaves it in set-up until connect()."""
        core = self.core
        if now >= core.deadline:
            core.advance(now)
        last = self._last
        if last is not None and last[0] is a and last[1] is b:
            plan = last[2]
        else:
            plan = self._plans.get((a, b)) or self.plan(a, b)
            self._last = (a, b, plan)
        _, _, pools, setup, _, checks, voicemail = plan  # one unpack beats five attribute reads
        for party in checks:
            if not party.registered:
                return self._refuse(Reason.NOT_REGISTERED, party.name)
            if not (party.endpoint_licensed or emergency):
                return self._refuse(Reason.ENDPOINT_UNLICENSED, party.name)
        if voicemail and not core.voicemail_running:
            return self._refuse(Reason.VOICEMAIL_NOT_RUNNING, "")
        refusing = take_all(pools)
        if refusing is not None:
            return self._refuse(refusing.refusal_reason, refusing.pool_id)
        if setup:
            reason = self.vcm.try_acquire(setup)
            if reason is not None:
                give_all(pools)
                return self._refuse(reason, self.vcm.pool_id)
            if answered:
                self.vcm.release(setup)
                setup = 0
        record = [pools, setup, answered, 0, plan]
        if self.active.setdefault(call_id, record) is not record:
            give_all(pools)
            if setup:
                self.vcm.release(setup)
            raise ValueError(f"call id {call_id!r} is already in use")
        self.admitted += 1
        return ADMITTED

    def _refuse(self, reason: Reason, detail: str) -> Decision:
        self.rejections[(reason.value, detail)] += 1
        return rejected(reason, detail)

    def cancel(self, call_id: object, now: float) -> None:
        """Undo an admission that never became a call (the far end of an SCN call refused)."""
        self.hang_up(call_id, now)
        self.admitted -= 1

    def connect(self, call_id: object, now: float) -> Decision:
        """The call is answered: IP parties with the same codec now talk directly."""
        call = self._call(call_id)
        if not call[ANSWERED]:
            call[ANSWERED] = True
            if call[SETUP_VCM]:
                self.vcm.release(call[SETUP_VCM])
                call[SETUP_VCM] = 0
        return CONNECTED

    def hold(self, call_id: object, held_party: str, now: float) -> Decision:
        """held_party hears music on hold: from the TDM bus, so an IP party needs a VCM channel."""
        call = self._call(call_id)
        plan = call[PLAN]
        party = plan.a if held_party == plan.a.name else plan.b if held_party == plan.b.name else None
        if party is None:
            raise LookupError(f"{held_party!r} is not a party to call {call_id!r}")
        if call[ON_HOLD]:
            return HELD
        if party.is_ip:
            reason = self.vcm.take()
            if reason is not None:
                return rejected(reason)
            call[ON_HOLD] = 1
        return HELD

    def resume(self, call_id: object, now: float) -> Decision:
        call = self._call(call_id)
        if call[ON_HOLD]:
            self.vcm.release(call[ON_HOLD])
            call[ON_HOLD] = 0
        return RESUMED

    def hang_up(self, call_id: object, now: float) -> Decision:
        try:
            call = self.active.pop(call_id)
        except KeyError:
            raise LookupError(f"no active call {call_id!r}") from None
        give_all(call[POOLS])
        held = call[SETUP_VCM] + call[ON_HOLD]
        if held:
            self.vcm.release(held)
        return ENDED

    def _call(self, call_id: object) -> list:
        call = self.active.get(call_id)
        if call is None:
            raise LookupError(f"no active call {call_id!r}")
        return call

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
        pools = party.line_pools
        for i, pool in enumerate(pools):
            reason = pool.try_acquire()
            if reason is not None:
                for taken in pools[:i]:
                    taken.release()
                self._drop_if_empty(conference_id)
                return rejected(reason, pool.pool_id)
        vcm = 1 if party.is_ip else 0
        if vcm:
            reason = self.vcm.try_acquire()
            if reason is not None:
                for taken in pools:
                    taken.release()
                self._drop_if_empty(conference_id)
                return rejected(reason)
        members[party_name] = (pools, vcm)
        return JOINED

    def leave_conference(self, conference_id: object, party_name: str, now: float) -> Decision:
        members = self.conferences.get(conference_id, {})
        if party_name not in members:
            raise LookupError(f"{party_name!r} is not in conference {conference_id!r}")
        pools, vcm = members.pop(party_name)
        for pool in pools:
            pool.release()
        if vcm:
            self.vcm.release(vcm)
        self._drop_if_empty(conference_id)
        return LEFT

    def _drop_if_empty(self, conference_id: object) -> None:
        if not self.conferences.get(conference_id, True):
            del self.conferences[conference_id]
