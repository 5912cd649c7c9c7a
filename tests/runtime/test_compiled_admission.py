"""A traffic source's anonymous calls run their route's admission inline, compiled from the
same text as Route.admit and GroupRoute.admit (rules/admission.py). Every shape that text
takes must decide exactly as named calls do (offer() and hang_up() on the clock): single
parties with and without registration checks, set-up VCM, voicemail, hunt groups whose
members are alike (written out) or not (the member's route admits), rotary and sequential,
a caller who is a member of the group it calls. Compared: the source's figures, every
pool's peak, refusals, in use and mean use, the unit's counts by reason; and, while someone
listens, the events (rows) the calls make."""

from __future__ import annotations

import pytest

from emulator.config import UnitConfig
from emulator.runtime import ControlUnit, VirtualClock
from emulator.runtime.traffic import CallSource
from emulator.telemetry import EventSink
from tests.conftest import T0
from tests.rules.helpers import keys, sip, user

HOUR = 3600.0


def unit_config(hunting: str = "rotary", members: tuple[str, ...] = ("201", "202", "203")) -> UnitConfig:
    return UnitConfig(
        licenses=keys(("sip_trunk_channels", 6), ("voicemail_pro", 1), ("avaya_ip_endpoints", 2)),
        trunks=[sip(channels=8)], vcm_modules=[{"type": "vcm32"}], voicemail={},
        users=[user("201", call_appearances=2), user("202", call_appearances=2), user("203", call_appearances=2),
               user("301", "9620", call_appearances=2), user("302", "9620", call_appearances=2),
               user("303", "9620", call_appearances=2)],
        groups=[{"name": "sales", "extension": "500", "hunting": hunting, "members": list(members)}])


async def run(cfg: UnitConfig, a: str, b: str, anonymous: bool, *, events: bool = False, erlangs: float = 5.0,
              hold: float = 120.0) -> tuple:
    clock = VirtualClock(T0)
    sink, rows = EventSink(), []
    if events:
        sink.subscribe_batches(rows.extend)
    unit = ControlUnit(cfg, clock, sink=sink)
    await unit.start()
    for phone in ("301", "302"):  # 303 stays unregistered: hunting passes it over
        assert (await unit.register(phone)).accepted
    offer, hang_up, _ = unit.call_functions()
    source = CallSource(clock, offer, hang_up, from_mix=[(a, 1.0)], to_mix=[(b, 1.0)],
                        rate_steps=[(T0, erlangs / hold)], mean_hold_s=hold, max_calls=3_000, seed=11,
                        observe_until=T0 + 6 * HOUR, calls=unit.anonymous_calls() if anonymous else None)
    assert (source.advance.__name__ == "advance") is anonymous  # the path asked for is the path taken
    source.start()
    await clock.run(until=T0 + 6 * HOUR)
    table = unit.core.calls
    held, pools = table.held(), unit.pools()
    assert {p: held[p] for p in table.pools_used()} == {p: pools[p].in_use for p in table.pools_used()}
    await clock.run()
    pools = {pool_id: (pool.in_use, pool.peak, dict(pool.refusals), pool.area_until(T0 + 30 * HOUR))
             for pool_id, pool in unit.pools().items()}
    figures = (source.attempts, source.rejected, source.busy, source.carried_s, dict(source.rejections), source.tally)
    sink.flush()
    return figures, pools, table.admitted, dict(table.rejections), table.active_count(), table.pools_used(), rows


SHAPES = {
    "one analog party": ("sip1", "201", {}),
    "an IP phone (registration checked, set-up VCM)": ("sip1", "301", {}),
    "an unregistered IP phone": ("sip1", "303", {}),
    "voicemail": ("sip1", "voicemail", {}),
    "a rotary group of analog phones (written out)": ("sip1", "500", {}),
    "a sequential group of analog phones (written out)": ("sip1", "500", {"hunting": "sequential"}),
    "a group of analog and IP phones (the members' routes admit)": ("sip1", "500", {"members": ("201", "301", "303", "202")}),
    "a group of IP phones, one unregistered": ("sip1", "500", {"members": ("301", "302", "303")}),
    "a member calling its own group": ("201", "500", {"members": ("201", "202", "203")}),
}


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_anonymous_calls_decide_as_named_calls(shape):
    a, b, group = SHAPES[shape]
    cfg = unit_config(**group)
    anonymous = await run(cfg, a, b, anonymous=True)
    named = await run(cfg, a, b, anonymous=False)
    assert anonymous == named
    # with someone listening, the loop makes the events ControlUnit's call functions make
    anonymous_events = await run(cfg, a, b, anonymous=True, events=True)
    named_events = await run(cfg, a, b, anonymous=False, events=True)
    assert anonymous_events == named_events and anonymous_events[:-1] == anonymous[:-1]
    rows = anonymous_events[-1]
    assert len([r for r in rows if r[2].startswith("call.")]) == 2 * anonymous[2] + anonymous[0][1]
    (attempts, rejected, _busy, _carried, _reasons, _tally), pools, admitted, _, active, used, _ = anonymous
    assert attempts == 3_000 and admitted == attempts - rejected and active == 0
    assert all(pools[pool_id][0] == 0 for pool_id in used)
    if "unregistered IP phone" in shape:
        assert admitted == 0
    else:
        assert 0 < rejected < attempts  # the limits were reached, and calls got through


async def test_the_text_is_shared_by_units_alike():
    """Compiled once per shape: a second unit alike reuses the first one's code."""
    cfg = unit_config()
    clock = VirtualClock(T0)
    units = [ControlUnit(cfg.model_copy(update={"name": f"u{i}"}), clock) for i in range(2)]
    routes = []
    for unit in units:
        await unit.start()
        routes.append(unit.core.calls.route("sip1", "500"))
    assert routes[0] is not routes[1]
    assert routes[0].admit.__code__ is routes[1].admit.__code__


async def test_a_source_makes_its_routes_when_it_is_made():
    """Named calls too (a mix of parties: not M/M/N/N): a run, on the wall clock above all,
    never stops to compile a route."""
    clock = VirtualClock(T0)
    unit = ControlUnit(unit_config(), clock)
    await unit.start()
    offer, hang_up, _ = unit.call_functions()
    assert not unit.core.calls.pools_used()
    source = CallSource(clock, offer, hang_up, from_mix=[("sip1", 1.0)], to_mix=[("201", 0.5), ("500", 0.5)],
                        rate_steps=[(T0, 0.1)], mean_hold_s=60.0, max_calls=10, seed=1, calls=unit.anonymous_calls())
    assert source.advance.__name__ == "_one_at_a_time"
    assert {"ext:201", "ext:202", "ext:203", "trunk:sip1"} <= unit.core.calls.pools_used()
