"""Random acquire/release/limit sequences against the pool invariants (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from emulator.licensing import KeyAuthority, LicensePool
from emulator.licensing.key_codec import DAY_S
from emulator.reasons import Reason
from firmware_models import load_release
from tests.conftest import SERIAL, T0, make_engine, make_key


@given(
    licensed=st.integers(0, 300),
    capacity=st.one_of(st.none(), st.integers(0, 200)),
    ops=st.lists(st.tuples(st.booleans(), st.integers(1, 5)), max_size=300),
)
def test_in_use_never_exceeds_min_licensed_capacity_and_returns_to_zero(licensed, capacity, ops):
    pool = LicensePool("p", "while_in_use", capacity)
    pool.set_limit(licensed, 0, Reason.NOT_LICENSED)
    limit = licensed if capacity is None else min(licensed, capacity)
    held: list[int] = []
    area = 0.0  # the integral of in_use, kept independently
    for now, (is_acquire, count) in enumerate(ops):
        area += sum(held) * (1 if now else 0)
        if is_acquire:
            if pool.try_acquire(now, count) is None:
                held.append(count)
        elif held:
            pool.release(now, held.pop())
        assert 0 <= pool.in_use <= limit
        assert pool.in_use == sum(held)
        assert pool.area_until(now) == area
    end = len(ops)
    area += sum(held) * (1 if end else 0)
    assert pool.area_until(end) == area
    for count in held:
        pool.release(end, count)
    assert pool.in_use == 0
    assert pool.peak <= limit


class EngineMachine(RuleBasedStateMachine):
    """Keys come and go, the feature key is pulled and returned, trials expire, calls come and go.

    Invariant: nothing is ever granted beyond min(licensed, capacity) at the moment of the
    grant; instances held across a drop are only ever released; all release back to zero.
    """

    def __init__(self) -> None:
        super().__init__()
        self.authority = KeyAuthority.development()
        self.release = load_release("6.0")
        self.engine = make_engine(self.release, self.authority)
        self.now = float(T0)
        self.held: list[str] = []
        self.pools = ("softconsole", "sip_trunk_channels", "voicemail_pro_ports")

    @rule(pool=st.sampled_from(["softconsole", "sip_trunk_channels", "voicemail_pro", "voicemail_pro_additional_ports"]),
          n=st.integers(1, 200), trial=st.booleans(), age=st.integers(0, 70))
    def install(self, pool, n, trial, age):
        trial = trial and pool != "voicemail_pro_additional_ports"
        key = make_key(self.authority, pool, n, trial=trial, issued_at=int(self.now) - age * DAY_S)
        self.engine.install(key, self.now)

    @rule(pool=st.sampled_from(["softconsole", "sip_trunk_channels", "voicemail_pro_ports"]))
    def acquire(self, pool):
        p = self.engine.pool(pool)
        before_in_use = p.in_use
        self.engine.advance(self.now)
        if self.engine.acquire(pool, self.now) is None:
            assert before_in_use + 1 <= p.effective <= (p.capacity if p.capacity is not None else p.effective)
            self.held.append(pool)

    @precondition(lambda self: self.held)
    @rule(index=st.integers(0, 1000))
    def hang_up(self, index):
        pool = self.held.pop(index % len(self.held))
        self.engine.release_instances(pool, self.now)

    @rule(seconds=st.integers(0, 20 * DAY_S))
    def time_passes(self, seconds):
        self.now += seconds
        self.engine.advance(self.now)

    @rule()
    def pull_key(self):
        self.engine.feature_key_lost(self.now)

    @rule()
    def return_key(self):
        self.engine.feature_key_read(SERIAL, self.now)

    @invariant()
    def in_use_matches_holders(self):
        for pool in self.pools:
            assert self.engine.pool(pool).in_use == self.held.count(pool)

    def teardown(self):
        while self.held:
            self.engine.release_instances(self.held.pop(), self.now)
        for pool in self.pools:
            assert self.engine.pool(pool).in_use == 0


TestEngineMachine = EngineMachine.TestCase
TestEngineMachine.settings = settings(max_examples=60, stateful_step_count=60, deadline=None)


@settings(deadline=None)
@given(issued_offset=st.integers(0, 200 * DAY_S), probe=st.integers(-3 * DAY_S, 3 * DAY_S))
def test_trial_boundary_is_exact_to_the_second(issued_offset, probe):
    """Valid strictly before issue + 60 days, Expired from that second on, wherever the clock stands."""
    authority = KeyAuthority.development()
    release = load_release("6.0")
    issued = T0 - issued_offset
    key = make_key(authority, "mobility_features", 3, trial=True, issued_at=issued)
    end = issued + 60 * DAY_S
    now = max(T0, end + probe)
    engine = make_engine(release, authority, keys=[key], now=T0)
    engine.advance(now)
    expected = Reason.LICENSE_EXPIRED if now >= end else None
    assert engine.acquire("mobility_features", now) is expected


@given(limits=st.lists(st.integers(0, 3), min_size=1, max_size=4), repeats=st.lists(st.integers(1, 3), min_size=4, max_size=4),
       attempts=st.integers(1, 6))
def test_take_all_is_all_or_nothing_even_with_a_pool_listed_twice(limits, repeats, attempts):
    """A codec-mismatch call lists the VCM pool twice: a refusal must undo every take."""
    from emulator.licensing import CountedPool, give_all, take_all

    pools = [CountedPool(f"p{i}", limit) for i, limit in enumerate(limits)]
    plan = tuple(p for p, n in zip(pools, repeats, strict=False) for _ in range(n))
    granted = 0
    for now in range(attempts):
        before = [(p.in_use, p.peak, p.area_until(now)) for p in pools]
        if take_all(plan, now) is None:
            granted += 1
            assert all(p.peak == max(b[1], p.in_use) for p, b in zip(pools, before, strict=True))
        else:
            # all or nothing, peaks included: a refused admission leaves no trace but the refusal
            assert [(p.in_use, p.peak, p.area_until(now)) for p in pools] == before
        assert all(p.in_use <= p.effective for p in pools)
        assert all(p.peak <= p.effective for p in pools)
    for _ in range(granted):
        give_all(plan, attempts)
    assert all(p.in_use == 0 for p in pools)


@given(limits=st.lists(st.integers(0, 4), min_size=2, max_size=4),
       ops=st.lists(st.tuples(st.booleans(), st.integers(0, 3), st.integers(0, 5)), max_size=200))
def test_peak_is_the_highest_in_use_ever_seen_and_never_above_the_limit(limits, ops):
    """Calls take several pools at once (trunk, license, VCM); a later pool refusing must not
    leave an earlier pool's peak raised. Checked against the in-use values actually reached."""
    from emulator.licensing import CountedPool, give_all, take_all

    pools = [CountedPool(f"p{i}", limit) for i, limit in enumerate(limits)]
    routes = [tuple(pools[j] for j in range(len(pools)) if (i >> j) & 1 or j == i % len(pools))
              for i in range(4)]
    up: list[tuple] = []
    seen = [0] * len(pools)
    now = 0.0
    for is_offer, which, gap in ops:
        now += gap
        if is_offer:
            route = routes[which]
            if take_all(route, now) is None:
                up.append(route)
        elif up:
            give_all(up.pop(which % len(up)), now)
        for i, pool in enumerate(pools):
            seen[i] = max(seen[i], pool.in_use)
            assert pool.peak == seen[i] <= pool.effective
