"""The ControlUnit shell: async API, clocks, timers, the feature key, events."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import structlog

from emulator.config import UnitConfig
from emulator.reasons import Reason
from emulator.runtime import ControlUnit, VirtualClock, WallClock
from emulator.runtime.traffic import poisson_calls
from emulator.telemetry import EVENT_NAMES, EventSink
from emulator.telemetry.logging import LogSubscriber
from hardware.feature_keys import FeatureKey, FeatureKeyAbsentError
from tests.conftest import SERIAL, T0
from tests.rules.helpers import keys, sip, user

DAY = 86_400


def config(**kw) -> UnitConfig:
    base = dict(licenses=keys(("sip_trunk_channels", 2)), trunks=[sip()], vcm_modules=[{"type": "vcm32"}],
                users=[user("201"), user("202", "9620"), user("203", phone_manager="pro", name="pm")])
    base.update(kw)
    return UnitConfig(**base)


async def started(cfg=None, clock=None, sink=None, **kw):
    unit = ControlUnit(cfg or config(), clock or VirtualClock(T0), sink=sink, **kw)
    await unit.start()
    return unit


async def test_async_api_returns_decisions_with_reasons():
    unit = await started()
    assert (await unit.offer_call("sip1", "201")).accepted
    assert (await unit.offer_call("sip1", "201")).accepted
    third = await unit.offer_call("sip1", "201")
    assert (third.accepted, third.reason) == (False, Reason.LICENSE_EXHAUSTED)
    assert (await unit.register("202")).outcome == "registered"
    assert (await unit.start_application("phone_manager", "pm")).outcome == "fallback"
    assert unit.stats.calls_admitted == 2 and unit.stats.call_rejections[("license_exhausted", "sip_trunk_channels")] == 1


async def test_calls_with_a_duration_end_by_themselves():
    clock = VirtualClock(T0)
    unit = await started(clock=clock)
    await unit.offer_call("sip1", "201", duration=120)
    await unit.offer_call("sip1", "201", duration=60)
    await clock.run(until=T0 + 61)
    assert len(unit.core.calls.active) == 1
    await clock.run()
    assert not unit.core.calls.active and unit.core.engine.pool("sip_trunk_channels").in_use == 0


async def test_a_trial_expires_on_the_clock_at_its_exact_second_without_traffic():
    issued = int(T0) - 59 * DAY
    sink, events = EventSink(), []
    sink.subscribe(events.append)
    clock = VirtualClock(T0)
    unit = await started(config(licenses=keys(("sip_trunk_channels", 2, {"trial": True, "issued_at": issued}))),
                         clock=clock, sink=sink)
    await clock.run(until=T0 + 2 * DAY)
    expired = [e for e in events if e.name == "license.expired"]
    assert len(expired) == 1 and expired[0].at == issued + 60 * DAY
    assert (await unit.offer_call("sip1", "201")).reason is Reason.LICENSE_EXPIRED


async def test_pulling_and_returning_the_virtual_key():
    sink, events = EventSink(), []
    sink.subscribe(events.append)
    clock = VirtualClock(T0)
    unit = await started(clock=clock, sink=sink)
    await unit.remove_feature_key()
    await clock.run(until=T0 + 7199)
    assert (await unit.offer_call("sip1", "201", duration=10)).accepted  # within the grace period
    await clock.run(until=T0 + 7200)
    assert (await unit.offer_call("sip1", "201")).reason is Reason.FEATURE_KEY_ABSENT
    assert await unit.insert_feature_key() == SERIAL
    assert (await unit.offer_call("sip1", "201")).accepted
    absent = [e for e in events if e.name == "feature_key.absent"]
    assert absent and absent[0].data["reason"] == "removed"  # why the key was judged absent
    names = [e.name for e in events]
    for name in ("feature_key.absent", "feature_key.grace_expired", "feature_key.present", "license.invalid"):
        assert name in names
    await unit.insert_feature_key("99990000")
    assert (await unit.offer_call("sip1", "201")).reason is Reason.LICENSE_INVALID


async def test_installing_a_license_through_the_api():
    unit = await started(config(licenses=[]))
    assert (await unit.offer_call("sip1", "201")).reason is Reason.NOT_LICENSED
    lic = await unit.install_license(keys(("sip_trunk_channels", 1))[0])
    assert lic.status.value == "Valid"
    assert (await unit.offer_call("sip1", "201")).accepted


class FileFeatureKey(FeatureKey):
    """A polled key whose serial is the content of a file: present while the file exists."""

    interface = "file"

    async def read_serial(self) -> str:
        try:
            return Path(self.channel).read_text().strip()
        except FileNotFoundError:
            raise FeatureKeyAbsentError(f"{self.channel} is gone") from None


async def test_a_polled_key_is_checked_every_interval(tmp_path):
    path = tmp_path / "dongle"
    path.write_text(SERIAL)
    clock = VirtualClock(T0)
    unit = await started(clock=clock, feature_key=FileFeatureKey(str(path)))
    await clock.run(until=T0 + 30)
    path.unlink()
    await clock.run(until=T0 + 61)  # the check at T0 + 60 notices
    assert unit.core.engine.feature_key_state == "absent"
    path.write_text(SERIAL)
    await clock.run(until=T0 + 121)
    assert unit.core.engine.feature_key_state == "present"
    path.write_text("xx")  # a malformed serial: treated as no key, and said so
    await clock.run(until=T0 + 181)
    assert unit.core.engine.feature_key_state == "absent"
    await unit.stop()


async def test_only_a_virtual_key_can_be_pulled_by_the_emulator(tmp_path):
    (tmp_path / "k").write_text(SERIAL)
    unit = await started(feature_key=FileFeatureKey(str(tmp_path / "k")))
    with pytest.raises(TypeError, match="only a virtual feature key"):
        await unit.remove_feature_key()


async def test_every_event_name_is_documented():
    sink, events = EventSink(), []
    sink.subscribe(events.append)
    clock = VirtualClock(T0)
    unit = await started(config(users=[user("201"), user("202", "9620"), user("203", phone_manager="pro", name="pm"),
                                       user("204", mobility=True, name="mo")],
                                licenses=keys(("sip_trunk_channels", 1), ("mobility_features", 1))),
                         clock=clock, sink=sink)
    await unit.register("202")
    await unit.register("201")
    await unit.offer_call("sip1", "202", duration=5)
    await unit.offer_call("sip1", "201")
    await unit.start_application("phone_manager", "pm")
    await unit.stop_application("phone_manager", "pm")
    await unit.remove_feature_key()
    await clock.run(until=T0 + 8000)
    assert {e.name for e in events} <= set(EVENT_NAMES)
    assert {"call.admitted", "call.rejected", "call.ended", "endpoint.registered", "endpoint.rejected",
            "application.fallback", "application.stopped", "feature.licensed", "license.valid",
            "pool.limit_changed"} <= {e.name for e in events}
    assert all(e.unit == "unit1" for e in events)


async def test_events_go_to_structlog_under_their_names():
    out = io.StringIO()
    structlog.configure(processors=[structlog.processors.JSONRenderer()],
                        logger_factory=structlog.PrintLoggerFactory(file=out))
    try:
        sink = EventSink()
        sink.subscribe(LogSubscriber())
        unit = await started(sink=sink)
        await unit.offer_call("sip1", "201")
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        admitted = [line for line in lines if line["event"] == "call.admitted"]
        assert admitted and admitted[0]["unit"] == "unit1" and admitted[0]["b"] == "201"
    finally:
        structlog.reset_defaults()


async def test_without_subscribers_nothing_is_built_but_everything_is_counted():
    sink = EventSink()
    unit = await started(sink=sink)
    offer, hang_up, _ = unit.call_functions()
    assert offer is unit.core.calls.offer  # the rules' own function: no event wrapper
    unsubscribe = sink.subscribe(lambda e: None)
    assert unit.call_functions()[0] == unit.offer_call_now
    unsubscribe()
    assert not sink.active
    offer(1, "sip1", "201", T0)
    assert unit.stats.calls_admitted == 1


async def run_traffic(seed: int) -> list:
    sink, events = EventSink(), []
    sink.subscribe(lambda e: events.append((e.at, e.name, e.data.get("reason"))))
    clock = VirtualClock(T0)
    unit = await started(config(licenses=keys(("sip_trunk_channels", 5))), clock=clock, sink=sink)
    offer, hang_up, _ = unit.call_functions()
    poisson_calls(clock, offer, hang_up, "sip1", "201", rate_per_s=0.05, mean_hold_s=120, calls=500, seed=seed).start()
    await clock.run()
    return events


async def test_the_same_seed_gives_the_same_event_stream():
    first, again, other = await run_traffic(3), await run_traffic(3), await run_traffic(4)
    assert first == again and len(first) > 500
    assert first != other


async def test_wall_clock_unit_admits_with_low_latency():
    clock = WallClock(T0, speed=1.0)
    unit = await started(clock=clock)
    import asyncio
    import time

    runner = asyncio.create_task(clock.run(until=T0 + 0.3))
    latencies = []
    for _ in range(50):
        started_at = time.perf_counter()
        decision = await unit.offer_call("201", "sip1", duration=0.01)
        latencies.append(time.perf_counter() - started_at)
        assert decision.accepted or decision.reason is Reason.LICENSE_EXHAUSTED
        await asyncio.sleep(0.002)
    await runner
    assert sorted(latencies)[len(latencies) // 2] < 0.005  # a decision never waits for the clock
