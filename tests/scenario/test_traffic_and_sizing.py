"""Traffic is statistically faithful; sizing agrees with Erlang-B."""

from __future__ import annotations

import asyncio
import math

import pytest

from emulator.config import UnitConfig
from emulator.runtime import ControlUnit, VirtualClock
from emulator.runtime.draws import Draws
from emulator.runtime.traffic import CallSource, holding_sampler, poisson_calls
from emulator.scenario.sizing import batch_means_interval, channels_for, erlang_b, size, student_t_quantile
from tests.conftest import T0
from tests.rules.helpers import keys

ERLANG_B_TABLE = [(1, 1.0, 0.5), (10, 5.0, 0.01838), (30, 20.3, 0.009820), (27, 20.0, 0.02681), (128, 100.0, 0.0009676)]  # values from ../shared/bench/erlang.py


@pytest.mark.parametrize(("channels", "erlangs", "blocking"), ERLANG_B_TABLE)
def test_erlang_b(channels, erlangs, blocking):
    assert erlang_b(channels, erlangs) == pytest.approx(blocking, rel=2e-3)


def test_channels_for_a_grade_of_service():
    assert channels_for(20.0, 0.02) == 28  # B(27, 20) = 0.0268 > 0.02 >= B(28, 20) = 0.0188
    assert channels_for(20.3, 0.01) == 30
    advice = size(20.3, 0.01, vcm_share=0.5)
    assert (advice.sip_channels, advice.vcm_channels) == (30, 18)


def test_t_quantile():
    assert student_t_quantile(0.995, 19) == pytest.approx(2.861, abs=2e-3)
    assert student_t_quantile(0.975, 10) == pytest.approx(2.228, abs=2e-3)


def run_mmnn(channels: int, erlangs: float, calls: int, seed: int, anonymous: bool = False):
    async def go():
        code_keys = keys(("sip_trunk_channels", channels))
        config = UnitConfig(licenses=code_keys, vcm_modules=[{"type": "vcm64"}],
                            trunks=[{"name": "sip1", "type": "sip", "channels": 64}],
                            users=[{"name": f"op{i}", "extension": str(201 + i), "phone": "analog"} for i in range(40)],
                            groups=[{"name": "ops", "extension": "500", "hunting": "rotary",
                                     "members": [str(201 + i) for i in range(40)]}])
        clock = VirtualClock(T0)
        unit = ControlUnit(config, clock)
        await unit.start()
        offer, hang_up, _ = unit.call_functions()
        source = poisson_calls(clock, offer, hang_up, "sip1", "500", rate_per_s=erlangs / 180.0, mean_hold_s=180.0,
                               calls=calls, seed=seed, record=True, unit_calls=unit.anonymous_calls() if anonymous else None)
        source.start()
        await clock.run()
        return source
    return asyncio.run(go())


def test_poisson_blocking_agrees_with_erlang_b_within_a_99_percent_batch_means_interval():
    source = run_mmnn(30, 20.3, 400_000, seed=20261127)
    mean, low, high = batch_means_interval(source.outcomes, batches=20, confidence=0.99)
    assert low <= erlang_b(30, 20.3) <= high, (low, high)
    assert high - low < 0.004  # an interval narrow enough to mean something


@pytest.mark.parametrize("anonymous", [False, True], ids=["named calls", "anonymous calls"])
def test_the_sample_path_is_the_reference_models(anonymous):
    """The reference draws: inter-arrival, then holding time if admitted, from the seed's
    exponentials; the source blocks exactly the calls the reference model does, whether its
    calls are named (events) or anonymous."""
    source = run_mmnn(30, 20.3, 50_000, seed=1, anonymous=anonymous)
    exponential = Draws(1).exponential
    ia, busy_until, blocked, t = 180.0 / 20.3, [], [], T0
    for i in range(50_000):
        t += exponential() * ia
        busy_until = [end for end in busy_until if end > t]
        if len(busy_until) < 30:
            busy_until.append(t + exponential() * 180.0)
        else:
            blocked.append(i)
    assert [i for i, b in enumerate(source.outcomes) if b] == blocked


def test_ramps_change_the_rate_in_steps():
    async def go():
        clock = VirtualClock(T0)
        arrivals = []

        def offer(call_id, a, b, now):
            arrivals.append(now)
            from emulator.rules.decision import ADMITTED
            return ADMITTED

        source = CallSource(clock, offer, lambda call_id, now: None, from_mix=[("a", 1)], to_mix=[("b", 1)],
                            rate_steps=[(T0, 10 / 3600), (T0 + 3600, 100 / 3600), (T0 + 7200, 0.0)],
                            mean_hold_s=60, seed=3)
        source.start()
        await clock.run(until=T0 + 4 * 3600)
        return arrivals

    arrivals = asyncio.run(go())
    first = sum(1 for t in arrivals if t < T0 + 3600)
    second = sum(1 for t in arrivals if T0 + 3600 <= t < T0 + 7200)
    assert 2 <= first <= 25 and 70 <= second <= 130
    assert not [t for t in arrivals if t >= T0 + 7200]  # rate 0 from then on


@pytest.mark.parametrize(("distribution", "stdev"), [("fixed", None), ("exponential", None), ("lognormal", 60.0)])
def test_holding_time_distributions_have_their_mean(distribution, stdev):
    draw = holding_sampler(Draws(5), distribution, 180.0, stdev)
    samples = [draw() for _ in range(40_000)]
    assert sum(samples) / len(samples) == pytest.approx(180.0, rel=0.02)
    if distribution == "lognormal":
        var = sum((s - 180.0) ** 2 for s in samples) / len(samples)
        assert math.sqrt(var) == pytest.approx(60.0, rel=0.05)


def test_call_mix_follows_its_weights():
    async def go():
        clock = VirtualClock(T0)
        seen = []

        def offer(call_id, a, b, now):
            seen.append(b)
            from emulator.rules.decision import ADMITTED
            return ADMITTED

        CallSource(clock, offer, lambda call_id, now: None, from_mix=[("sip1", 1)], to_mix=[("x", 3), ("y", 1)],
                   rate_steps=[(T0, 1.0)], mean_hold_s=10, max_calls=20_000, seed=4).start()
        await clock.run()
        return seen

    seen = asyncio.run(go())
    assert seen.count("x") / len(seen) == pytest.approx(0.75, abs=0.02)


def test_blocking_is_judged_from_a_tally_that_grows_by_a_pair_per_1024_attempts():
    """Memory per attempt stays flat: a run keeps (blocked, attempts) every 1,024 attempts,
    not an outcome per attempt; the blocking after the warm-up equals the one counted from
    every outcome (record=True keeps those, for diagnostics)."""
    source = run_mmnn(30, 20.3, 102_400, seed=7)
    assert len(source.tally) == 100
    measured, used = source.blocking_after(0.05)
    start = source.tally[4][1]  # the first tally point past 5 % of the attempts
    outcomes = source.outcomes[start:]
    assert used == len(outcomes) and measured == pytest.approx(sum(outcomes) / len(outcomes), abs=1e-12)


def test_traffic_that_rings_first_holds_its_set_up_vcm_until_answered(tmp_path):
    """A SIP call to an IP phone needs a VCM channel while it is set up (then direct media):
    traffic with answer_after holds it for the ringing, as a timeline call does."""
    from emulator.scenario.loader import parse_scenario
    from emulator.scenario.runner import RunOptions, ScenarioRunner

    text = """
name: ringing SIP calls to IP phones
duration: 1h
units:
  - name: office
    licenses: [{feature: sip_trunk_channels, instances: 50}]
    vcm_modules: [{type: vcm32}]
    trunks: [{name: sip1, type: sip, channels: 50}]
    users: [{name: ip1, extension: "231", phone: "9620"}, {name: ip2, extension: "232", phone: "9620"}]
events:
  - {at: 0s, register: ["231", "232"]}
traffic:
  - {name: in, from: sip1, to: ["231", "232"], calls_per_hour: 60, holding: {distribution: fixed, mean: 30s},
     answer_after: 10s}
expect:
  - peak: {pool: vcm_channels}
    equals: 1
"""
    loaded = parse_scenario(text, tmp_path / "ring.yaml")
    result = asyncio.run(ScenarioRunner(loaded, RunOptions(events_path=tmp_path / "e.jsonl")).run())
    vcm = next(p for p in result.data["units"][0]["pools"] if p["pool"] == "vcm_channels")
    admitted = result.data["traffic"][0]["admitted"]
    assert admitted > 20 and vcm["peak"] >= 1
    # held for the 10 s of ringing of each admitted call (to within the calls still ringing at the end)
    assert abs(vcm["mean_in_use"] * 3600 - admitted * 10) <= 10
