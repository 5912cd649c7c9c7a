"""Property tests over random operation sequences on a unit (hypothesis)."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from emulator.licensing import LicensePool
from tests.conftest import SERIAL, T0
from tests.rules.helpers import build, keys, sip, user

PARTIES = ["sip1", "pri1", "201", "202", "203", "204", "205", "voicemail"]
IP_PHONES = ["202", "203", "205"]


class UnitMachine(RuleBasedStateMachine):
    """Calls, registrations, applications, time, the feature key: whatever happens,

    - nothing is granted beyond a pool's limit at the moment of the grant;
    - the unit's own count of held instances matches what the model holds;
    - when every call ends, every phone unregisters and every application stops, every pool
      is back at its configured baseline.
    """

    def __init__(self) -> None:
        super().__init__()
        self.now = float(T0)
        trial = {"trial": True, "issued_at": int(T0) - 58 * 86_400}
        self.core = build(
            licenses=keys(("sip_trunk_channels", 3), ("sip_trunk_channels", 2, trial), ("voicemail_pro", 1),
                          ("avaya_ip_endpoints", 1), ("phone_manager_pro", 1), ("softconsole", 2)),
            trunks=[sip(channels=4), {"name": "pri1", "type": "pri", "channels": 10}],
            users=[user("201", name="a"), user("202", "9620", name="b", phone_manager="pro", softconsole=True),
                   user("203", "9640", name="c", codec="g729a", softconsole=True), user("204", name="d"),
                   user("205", "3701", name="e", phone_manager="pro", softconsole=True)],
            vcm=["ip400_vcm5"], voicemail={})
        self.calls: list[int] = []
        self.next_id = 0
        self.apps: set[tuple[str, str]] = set()

    def _grant_check(self, before: dict[str, int]) -> None:
        for pid, pool in self.core.all_pools().items():
            if pool.in_use > before[pid]:
                assert pool.in_use <= pool.effective, pid
                if isinstance(pool, LicensePool) and pool.capacity is not None:
                    assert pool.in_use <= min(pool.licensed + pool.free, pool.capacity), pid

    def _snapshot(self) -> dict[str, int]:
        return {pid: p.in_use for pid, p in self.core.all_pools().items()}

    @rule(a=st.sampled_from(PARTIES), b=st.sampled_from(PARTIES), answered=st.booleans())
    def offer(self, a, b, answered):
        if a == b:
            return
        before = self._snapshot()
        if self.core.calls.offer(self.next_id, a, b, self.now, answered).accepted:
            self.calls.append(self.next_id)
        self.next_id += 1
        self._grant_check(before)

    @precondition(lambda self: self.calls)
    @rule(i=st.integers(0, 99), action=st.sampled_from(["hang_up", "connect", "hold", "resume"]))
    def act_on_call(self, i, action):
        call_id = self.calls[i % len(self.calls)]
        before = self._snapshot()
        if action == "hang_up":
            self.core.calls.hang_up(call_id, self.now)
            self.calls.remove(call_id)
        elif action == "connect":
            self.core.calls.connect(call_id, self.now)
        elif action == "hold":
            plan = self.core.calls.plan_of(call_id)
            self.core.calls.hold(call_id, plan.b.name, self.now)
        else:
            self.core.calls.resume(call_id, self.now)
        self._grant_check(before)

    @rule(ext=st.sampled_from(IP_PHONES), register=st.booleans())
    def registration(self, ext, register):
        before = self._snapshot()
        if register:
            self.core.registrar.register(ext, self.now)
        else:
            self.core.registrar.unregister(ext, self.now)
        self._grant_check(before)

    @rule(app=st.sampled_from(["phone_manager", "softconsole"]), who=st.sampled_from(["b", "c", "e"]))
    def application(self, app, who):
        before = self._snapshot()
        if (app, who) in self.apps:
            self.core.applications.stop(app, who, self.now)
            self.apps.discard((app, who))
        elif self.core.applications.start(app, who, self.now).accepted:
            self.apps.add((app, who))
        self._grant_check(before)

    @rule(seconds=st.sampled_from([1, 60, 3600, 2 * 86_400]))
    def time_passes(self, seconds):
        self.now += seconds
        self.core.advance(self.now)

    @rule(present=st.booleans())
    def feature_key(self, present):
        if present:
            self.core.feature_key_read(SERIAL, self.now)
        else:
            self.core.feature_key_lost(self.now)

    @invariant()
    def peaks_are_reached_and_never_above_the_limit(self):
        """A pool's peak is the highest in-use value it really reached: a call that one pool
        grants and a later one refuses leaves no trace in the first pool's peak."""
        seen = self.__dict__.setdefault("seen", {})
        for pid, pool in self.core.all_pools().items():
            top_in_use, top_limit = seen.get(pid, (0, 0))
            top_in_use, top_limit = max(top_in_use, pool.in_use), max(top_limit, pool.effective)
            seen[pid] = (top_in_use, top_limit)
            if pid == "vcm_channels":  # SIP set-up holds channels for an instant inside offer()
                assert top_in_use <= pool.peak <= max(top_limit, top_in_use), pid
            else:
                assert pool.peak == top_in_use, pid

    @invariant()
    def vcm_and_licenses_are_counted_exactly(self):
        calls = self.core.calls.active
        assert set(calls) == set(self.calls)
        plans = [self.core.calls.plan_of(c) for c in calls]
        sip_held = sum(1 for p in plans if "sip1" in (p.a.name, p.b.name))
        assert self.core.engine.pool("sip_trunk_channels").in_use == sip_held

    def teardown(self):
        for call_id in list(self.calls):
            self.core.calls.hang_up(call_id, self.now)
        for app, who in list(self.apps):
            self.core.applications.stop(app, who, self.now)
        for ext in IP_PHONES:
            if self.core.parties[ext].registered:
                self.core.registrar.unregister(ext, self.now)
        baseline = self.core.configured.baseline()
        assert self._snapshot() == {pid: baseline.get(pid, 0) for pid in self.core.all_pools()}


TestUnitMachine = UnitMachine.TestCase
TestUnitMachine.settings = settings(max_examples=80, stateful_step_count=50, deadline=None)
