"""Judging a unit's decisions from outside (emulator/external/decision_check.py), against a real
unit: every decision it makes, with its published state arriving early or late, is found
consistent; a decision or state altered in any way is caught."""

from __future__ import annotations

import asyncio
import random

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.external.decision_check import UnitCheck, parse_sample
from emulator.external.driver import _admissions
from emulator.rules.decision import ENDED
from emulator.runtime.clock import VirtualClock
from emulator.runtime.network import Network
from emulator.scenario.loader import parse_scenario
from emulator.service.commands import _decided
from emulator.service.state import unit_licenses
from tests.external.shops import SHOPS

# one shop of the fleet the external-mode tests serve, without its traffic
SHOP = SHOPS.split("\ntraffic:")[0].replace("count: 3", "count: 1")


class LiveShop:
    """A real unit, decided synchronously, with replies and published states as the service
    makes them."""

    def __init__(self, tmp_path) -> None:
        loaded = parse_scenario(SHOP, tmp_path / "shop.yaml")
        self.clock = VirtualClock(1_767_225_600.0)
        self.network = Network(loaded.units, self.clock, authority=loaded.authority)
        asyncio.run(self.network.start())
        self.unit = self.network.units["shop-1"]
        self.up: list[str] = []
        self.ids = 0

    def state(self) -> bytes:
        return orjson.dumps(unit_licenses(self.unit))

    def offer(self, b: str) -> tuple[str, str, str, dict]:
        self.ids += 1
        call_id = f"c{self.ids}"
        decision, _ = self.network.offer_call_now(call_id, "shop-1", "sip1", "shop-1", b)
        if decision.accepted:
            self.up.append(call_id)
        return call_id, "sip1", b, {"ok": True, **_decided(decision), "call_id": call_id}

    def hang_up(self, index: int) -> tuple[str, dict]:
        call_id = self.up.pop(index % len(self.up))
        self.network.hang_up_now(call_id, "shop-1")
        return call_id, {"ok": True, **_decided(ENDED), "call_id": call_id}


def drive(shop: LiveShop, steps: list[tuple[str, int]], lag: list[int], tamper=None) -> UnitCheck:
    """Apply steps to the unit; feed the check each reply at once and each published state
    `lag` replies later (states stay in order among themselves, as on their topic)."""
    check = UnitCheck("shop-1", parse_sample(shop.state()), _admissions(shop.unit.core))
    waiting: list[tuple[int, bytes]] = []
    for n, (kind, arg) in enumerate(steps):
        if kind == "offer" or not shop.up:
            call_id, a, b, reply = shop.offer("500" if arg % 3 else "201")
            if tamper is not None:
                reply = tamper(n, reply)
            check.offer_decided(call_id, a, b, reply)
        else:
            call_id, reply = shop.hang_up(arg)
            check.hang_up_decided(call_id, reply)
        if arg % 4 == 0:  # the service publishes now and then
            due = n + lag[n % len(lag)]
            waiting.append((max(due, waiting[-1][0] if waiting else 0), shop.state()))
        while waiting and waiting[0][0] <= n:
            check.state_published(parse_sample(waiting.pop(0)[1]))
    while shop.up:
        call_id, reply = shop.hang_up(0)
        check.hang_up_decided(call_id, reply)
    for _, state in waiting:
        check.state_published(parse_sample(state))
    check.state_published(parse_sample(shop.state()))
    return check


STEPS = st.lists(st.tuples(st.sampled_from(["offer", "offer", "hang_up"]), st.integers(0, 50)),
                 min_size=1, max_size=120)


@settings(max_examples=60, deadline=None)
@given(steps=STEPS, lag=st.lists(st.integers(-3, 12), min_size=1, max_size=8))
def test_a_truthful_unit_is_found_consistent_whenever_its_states_arrive(tmp_path_factory, steps, lag):
    shop = LiveShop(tmp_path_factory.mktemp("shop-1"))
    check = drive(shop, steps, lag)
    assert check.settled
    verdict = check.finish()
    assert verdict.violations == 0, verdict.findings
    offers = shop.ids
    assert verdict.judged + sum(n for why, n in verdict.not_judged.items() if why.startswith("refused")) == offers
    assert verdict.states_matched >= 1


def test_a_call_refused_while_licenses_were_free_is_caught(tmp_path):
    def tamper(n, reply):
        if n == 0:  # the first call: nothing is in use
            return {"ok": True, "outcome": "rejected", "accepted": False, "reason": "license_exhausted",
                    "detail": "sip_trunk_channels", "call_id": reply["call_id"]}
        return reply

    check = drive(LiveShop(tmp_path), [("offer", 1), ("offer", 2)], [0], tamper)
    findings = check.finish().findings
    assert any("refused by sip_trunk_channels (license_exhausted) although it had room (0 of 4 in use)" in f
               for f in findings), findings


def test_a_call_admitted_over_the_limit_is_caught(tmp_path):
    shop = LiveShop(tmp_path)
    check = UnitCheck("shop-1", parse_sample(shop.state()), _admissions(shop.unit.core))
    for _ in range(4):
        check.offer_decided(*shop.offer("500"))
    call_id, a, b, reply = shop.offer("500")  # the fifth: refused by the unit
    assert reply["outcome"] == "rejected"
    check.offer_decided(call_id, a, b, {**reply, "outcome": "admitted", "accepted": True, "reason": None,
                                        "detail": None})
    assert any("admitted although sip_trunk_channels was full (4 of 4 in use)" in f
               for f in check.verdict.findings), check.verdict.findings


def test_a_refusal_naming_the_wrong_pool_is_caught(tmp_path):
    shop = LiveShop(tmp_path)
    check = UnitCheck("shop-1", parse_sample(shop.state()), _admissions(shop.unit.core))
    for _ in range(4):
        check.offer_decided(*shop.offer("500"))
    call_id, a, b, reply = shop.offer("500")
    check.offer_decided(call_id, a, b, {**reply, "detail": "trunk:sip1", "reason": "trunk_busy"})
    assert any("refused by trunk:sip1 (trunk_busy) although sip_trunk_channels, taken before it, was full" in f
               for f in check.verdict.findings), check.verdict.findings


def test_a_unit_doing_what_it_was_not_asked_is_caught(tmp_path):
    shop = LiveShop(tmp_path)
    check = UnitCheck("shop-1", parse_sample(shop.state()), _admissions(shop.unit.core))
    check.offer_decided(*shop.offer("500"))
    shop.network.offer_call_now("foreign", "shop-1", "sip1", "shop-1", "500")  # not ours
    check.state_published(parse_sample(shop.state()))  # by counts alone, it could be ours...
    check.offer_decided(*shop.offer("500"))
    check.state_published(parse_sample(shop.state()))  # ...but the unit went on with one call more
    assert not check.settled
    verdict = check.finish()
    assert any("matches no point of our decisions" in f for f in verdict.findings), verdict.findings


def test_a_leak_shows_in_the_last_state(tmp_path):
    shop = LiveShop(tmp_path)
    check = UnitCheck("shop-1", parse_sample(shop.state()), _admissions(shop.unit.core))
    call_id, a, b, reply = shop.offer("500")
    check.offer_decided(call_id, a, b, reply)
    check.hang_up_decided(call_id, {"ok": True, "outcome": "ended", "call_id": call_id})  # but the unit holds it
    state = orjson.loads(shop.state())
    state["calls_up"] = 0  # a unit that forgot the call but not its licenses
    check.state_published(parse_sample(orjson.dumps(state)))
    verdict = check.finish()
    assert any("sip_trunk_channels 1 in use; the baseline and our calls hold 0" in f for f in verdict.findings), \
        verdict.findings


@pytest.mark.parametrize("payload, field", [(b"[]", "not a JSON object"), (b'{"pools": 3}', "pools"),
                                            (b'{"pools": [], "time": "x"}', "time"), (b"{", "not JSON")])
def test_a_malformed_state_is_named(payload, field):
    with pytest.raises(ValueError, match=field):
        parse_sample(payload)


def _reordered(tmp_path, *, numbered: bool) -> UnitCheck:
    """Replies of a real unit delivered to the load's driver with neighbours swapped, as a
    publish sent again after a late acknowledgement arrives after the next one."""
    from emulator.external.driver import ExternalLoad, TargetOptions
    from emulator.external.schedule import PlannedCall
    from emulator.scenario.loader import load_scenario
    from emulator.service.broker_address import parse_broker_url

    path = tmp_path / "shops.yaml"
    path.write_text(SHOPS, encoding="utf-8")
    shop = LiveShop(tmp_path)
    rng = random.Random(3)

    async def run() -> UnitCheck:
        load = ExternalLoad(load_scenario(path), TargetOptions(parse_broker_url("mqtt://127.0.0.1:1"), rate_per_s=1))
        check = load.checks["shop-1"] = UnitCheck("shop-1", parse_sample(shop.state()), _admissions(shop.unit.core))
        load._last_seq["shop-1"] = 0 if numbered else None
        replies, up = [], []
        for seq in range(1, 301):
            if up and rng.random() < 0.45:
                call = up.pop(rng.randrange(len(up)))
                load._send("hang_up", 0.0, call, {"call_id": call.call_id})
                shop.network.hang_up_now(call.call_id, "shop-1")
                shop.up.remove(call.call_id)
                reply = {"ok": True, **_decided(ENDED), "call_id": call.call_id}
            else:
                call_id, a, b, reply = shop.offer("500")
                call = PlannedCall(0.0, call_id, "shop-1", "customers", a, b, 3600.0)
                load._send("offer_call", 0.0, call, {"a": a, "b": b, "call_id": call_id})
                if reply["outcome"] == "admitted":
                    up.append(call)
            reply["id"] = load._ids
            if numbered:
                reply["seq"] = seq
            replies.append(reply)
        for i in range(0, len(replies) - 1, 7):  # every seventh reply overtaken by the next
            replies[i], replies[i + 1] = replies[i + 1], replies[i]
        for reply in replies:
            load._reply(orjson.dumps(reply))
        assert not load._sent and not load._in_order["shop-1"]
        check.state_published(parse_sample(shop.state()))
        return check

    return asyncio.run(run())


def test_replies_that_overtake_each_other_are_applied_in_the_units_order(tmp_path):
    verdict = _reordered(tmp_path, numbered=True).finish()
    assert verdict.violations == 0, verdict.findings
    assert verdict.judged > 100


def test_without_their_numbers_overtaking_replies_would_be_misjudged(tmp_path):
    assert _reordered(tmp_path, numbered=False).finish().violations > 0
