"""An emulated control unit in the asyncio shell: the rules core, its feature key, a clock.

Two ways in:
- the async API (offer_call, register, start_application, remove_feature_key, ...) for
  scenario playback, the CLI, MQTT commands: each returns the rules' Decision;
- the *_now methods, plain functions for callbacks running on the clock (traffic
  generators), where an await per call would cost more than the decision.

Every decision is counted. Events are built only while someone subscribes to the sink.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping
from typing import NamedTuple

from emulator.config import UnitConfig
from emulator.licensing import InstalledLicense, KeyAuthority, SerialNumberError
from emulator.rules import Decision, UnitCore
from emulator.rules.calls import CallTable
from emulator.rules.decision import ADMITTED, ENDED
from emulator.rules.parties import GROUP
from emulator.runtime.clock import Clock, TimerHandle, VirtualClock
from emulator.telemetry import EventSink
from emulator.rules.unit_core import APPEARANCE_POOL
from hardware.feature_keys import FeatureKey, FeatureKeyAbsentError, FeatureKeyError, open_feature_key
from hardware.feature_keys.virtual import VirtualFeatureKey


def worth_reporting(pool_id: str, pool) -> bool:
    """A license pool or resource a report shows: used, refused, licensed or sized (call
    appearances, the ext:<n> pools, are reported apart, per busy user)."""
    return not pool_id.startswith(APPEARANCE_POOL) and bool(pool.peak or pool.effective or pool.refusals
                                                     or getattr(pool, "licensed", 0))


class UnitStats:
    """Decisions counted by kind, outcome and reason: the accounting behind every report.

    Calls are counted by the rules' call table itself (admitted, refusals by reason and
    detail), so the fastest path still counts; offered = admitted + refused.
    """

    __slots__ = ("_calls", "decisions")

    def __init__(self, calls: CallTable) -> None:
        self._calls = calls
        self.decisions: Counter[tuple[str, str, str]] = Counter()  # (kind, outcome, reason) -> count

    @property
    def calls_admitted(self) -> int:
        return self._calls.admitted

    @property
    def call_rejections(self) -> Counter[tuple[str, str]]:
        return self._calls.rejections

    @property
    def calls_rejected(self) -> int:
        return sum(self.call_rejections.values())

    @property
    def calls_offered(self) -> int:
        return self.calls_admitted + self.calls_rejected

    def count(self, kind: str, decision: Decision) -> None:
        self.decisions[(kind, decision.outcome, decision.reason.value if decision.reason else "")] += 1


class UnitCalls(NamedTuple):
    """What a traffic source needs to run a unit's calls itself (runtime/traffic.py): the
    unit's call table and, while someone listens to the unit's events, its name and sink
    (the source then appends the events offer_call_now and hang_up_now would)."""

    table: CallTable
    unit: str
    sink: EventSink | None


class ControlUnit:
    def __init__(self, config: UnitConfig, clock: Clock, *, authority: KeyAuthority | None = None,
                 feature_key: FeatureKey | None = None, sink: EventSink | None = None,
                 revoked: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.name = config.name
        self.clock = clock
        self.sink = sink or EventSink()
        self.core = UnitCore(config, authority or KeyAuthority.development(), now=clock.time(), revoked=revoked)
        self.feature_key = feature_key or open_feature_key(config.feature_key)
        self.stats = UnitStats(self.core.calls)
        self._ids = itertools.count(1)
        self._deadline_handle: TimerHandle | None = None
        self._scheduled_deadline = float("inf")
        self._presence_handle: TimerHandle | None = None
        self.check_interval_s = float(config.feature_key_check_s or self.core.release.feature_key.check_interval_s.value)
        self._offer = self.core.calls.offer  # bound once: these run for every call
        self._hang_up = self.core.calls.hang_up
        self._groups = frozenset(name for name, party in self.core.parties.items() if party.kind == GROUP)
        self._started = False  # the core's first events wait for start(), when subscribers are attached
        self._check_task: asyncio.Future | None = None
        self.serial_owner: Callable[[str, str], str | None] | None = None
        """Set by a Network: the other unit already validating against a serial, if any."""

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Read the feature key, and keep checking it if it must be polled."""
        if self._started:
            return
        self._started = True
        await self.check_feature_key()
        if self.feature_key.polled:
            self._presence_handle = self.clock.call_later(self.check_interval_s, self._periodic_check)

    async def stop(self) -> None:
        self._started = False
        for handle in (self._presence_handle, self._deadline_handle):
            if handle is not None:
                handle.cancel()
        if self._check_task is not None:
            await asyncio.gather(self._check_task, return_exceptions=True)
        await self.feature_key.close()

    def _periodic_check(self) -> Coroutine | None:
        """Read the key again, and plan the next reading.

        On the wall clock the reading runs in a task of its own, so calls and timers never
        wait for a device. In virtual time it takes no simulated time: the clock awaits it
        (the returned coroutine), which keeps a run deterministic.
        """
        if self._started:
            self._presence_handle = self.clock.call_later(self.check_interval_s, self._periodic_check)
        if isinstance(self.clock, VirtualClock):
            return self.check_feature_key()
        if self._check_task is None or self._check_task.done():
            self._check_task = asyncio.ensure_future(self.check_feature_key())
        return None

    async def check_feature_key(self) -> str | None:
        """Read the key now; returns its serial, or None when it did not answer."""
        now = self.clock.time()
        try:
            serial = await self.feature_key.read_serial()
        except FeatureKeyAbsentError as exc:
            self.core.feature_key_lost(self.clock.time(), exc.cause)
            self._after_change()
            return None
        except FeatureKeyError as exc:
            self._event(now, "feature_key.error", {"error": str(exc)})
            self.core.feature_key_lost(self.clock.time(), exc.cause)
            self._after_change()
            return None
        # Keys given by serial were checked when the network was built; a device only now
        owner = (self.serial_owner(serial, self.name)
                 if self.serial_owner is not None and self.feature_key.printed_serial is None else None)
        if owner is not None:
            self._event(now, "feature_key.error", {"error": f"serial {serial} is already the feature key of unit "
                                                            f"{owner}: each unit needs its own [S1]"})
            self.core.feature_key_lost(self.clock.time(), "wrong_serial")
            self._after_change()
            return None
        try:
            self.core.feature_key_read(serial, self.clock.time())
        except SerialNumberError as exc:
            self._event(now, "feature_key.error", {"error": str(exc)})
            self.core.feature_key_lost(self.clock.time(), "wrong_serial")
            serial = None
        self._after_change()
        return serial

    # -- the sync fast path ----------------------------------------------------------------

    def offer_call_now(self, call_id: object, a: str, b: str, now: float | None = None, answered: bool = True, *,
                       emergency: bool = False) -> Decision:
        """Offer a call at `now` (default: the clock's time). Plain function: for clock callbacks.

        Its event is a tuple appended to the sink's rows (telemetry/events.py CALL_LAYOUTS):
        this runs once per call attempt of every traffic source that has listeners."""
        if now is None:
            now = self.clock.time()
        decision = self._offer(call_id, a, b, now, answered, emergency)
        sink = self.sink
        if sink.active:
            rows = sink.rows
            if decision is ADMITTED:
                if b in self._groups:  # b: the member who took it, and the group
                    rows.append((now, self.name, "call.admitted",
                                 (call_id, a, self.core.calls.reached(call_id), None, "", answered, b)))
                else:
                    rows.append((now, self.name, "call.admitted", (call_id, a, b, None, "", answered)))
            else:
                rows.append((now, self.name, "call.rejected",
                             (call_id, a, b, decision.reason.value, decision.detail, answered)))
            if len(rows) == 1:
                sink.started()
        core = self.core
        if core.events or core.deadline != self._scheduled_deadline:
            self._after_change()
        return decision

    def hang_up_now(self, call_id: object, now: float | None = None) -> None:
        """Hang up (a clock callback, hence no return value to inspect)."""
        if now is None:
            now = self.clock.time()
        self._hang_up(call_id, now)
        sink = self.sink
        if sink.active:
            rows = sink.rows
            rows.append((now, self.name, "call.ended", (call_id,)))
            if len(rows) == 1:
                sink.started()

    def connect_now(self, call_id: object, now: float | None = None) -> Decision:
        """The call is answered (a clock callback, like hang_up_now)."""
        now = self.clock.time() if now is None else now
        decision = self.core.calls.connect(call_id, now)
        if self.sink.active:
            self._event(now, "call.connected", {"call": call_id, "reason": None, "detail": ""})
        return decision

    def call_functions(self) -> tuple[Callable[..., Decision], Callable[..., object], Callable[..., object]]:
        """(offer(call_id, a, b, now), hang_up(call_id, now), connect(call_id, now)) for traffic
        running on the clock, when every party is on this unit (Network.call_functions decides).

        While nobody subscribes to events these are the rules' own functions: a traffic
        source then costs nothing beyond the decisions, which are still counted. The
        engine's deadlines stay exact because the deadline timer runs before any later
        event. Subscribe before asking, since the choice is made here.
        """
        if self.sink.active:
            return self.offer_call_now, self.hang_up_now, self.connect_now
        return self._offer, self._hang_up, self.core.calls.connect

    def anonymous_calls(self) -> UnitCalls:
        """The unit's calls, for traffic that runs them itself (runtime/traffic.py CallSource
        calls=), with the sink its calls' events go to while someone listens (else None).
        Subscribe before asking, as for call_functions."""
        return UnitCalls(self.core.calls, self.name, self.sink if self.sink.active else None)

    def new_call_id(self) -> int:
        return next(self._ids)

    # -- the async API -----------------------------------------------------------------------

    async def offer_call(self, a: str, b: str, *, call_id: object = None, duration: float | None = None,
                         answered: bool = True, emergency: bool = False) -> Decision:
        """Offer a call between two parties; with a duration it hangs up by itself."""
        call_id = self.new_call_id() if call_id is None else call_id
        decision = self.offer_call_now(call_id, a, b, answered=answered, emergency=emergency)
        if decision.accepted and duration is not None:
            self.clock.call_later(duration, self.hang_up_now, call_id)
        return decision

    async def connect(self, call_id: object) -> Decision:
        return self.connect_now(call_id)

    async def hold(self, call_id: object, held_party: str) -> Decision:
        decision = self._decide("call", None, None, lambda now: self.core.calls.hold(call_id, held_party, now))
        self._event_for("call.held" if decision.accepted else "call.hold_rejected",
                        {"call": call_id, "party": held_party}, decision)
        return decision

    async def resume(self, call_id: object) -> Decision:
        return self._decide("call", "call.resumed", {"call": call_id}, lambda now: self.core.calls.resume(call_id, now))

    async def hang_up(self, call_id: object) -> Decision:
        self.hang_up_now(call_id)
        return ENDED

    async def join_conference(self, conference_id: object, party: str, *, emergency: bool = False) -> Decision:
        decision = self._decide("conference", None, None, lambda now: self.core.calls.join_conference(
            conference_id, party, now, emergency=emergency))
        self._event_for("conference.joined" if decision.accepted else "conference.rejected",
                        {"conference": conference_id, "party": party}, decision)
        return decision

    async def leave_conference(self, conference_id: object, party: str) -> Decision:
        return self._decide("conference", "conference.left", {"conference": conference_id, "party": party},
                            lambda now: self.core.calls.leave_conference(conference_id, party, now))

    async def register(self, extension: str) -> Decision:
        return self.register_now(extension)

    def register_now(self, extension: str) -> Decision:
        """Register an IP phone now (a plain function: for the SIP registrar)."""
        decision = self._decide("registration", None, None, lambda now: self.core.registrar.register(extension, now))
        name = f"endpoint.{decision.outcome}" if decision.accepted else "endpoint.rejected"
        self._event_for(name, {"extension": extension}, decision)
        return decision

    async def unregister(self, extension: str) -> Decision:
        return self.unregister_now(extension)

    def unregister_now(self, extension: str) -> Decision:
        return self._decide("registration", "endpoint.unregistered", {"extension": extension},
                            lambda now: self.core.registrar.unregister(extension, now))

    async def start_application(self, app: str, user: str) -> Decision:
        decision = self._decide("application", None, None, lambda now: self.core.applications.start(app, user, now))
        self._event_for(f"application.{decision.outcome}", {"application": app, "user": user}, decision)
        return decision

    async def stop_application(self, app: str, user: str) -> Decision:
        return self._decide("application", "application.stopped", {"application": app, "user": user},
                            lambda now: self.core.applications.stop(app, user, now))

    async def remove_feature_key(self) -> None:
        """Pull the feature key (virtual keys only: a real one is pulled by hand)."""
        self._virtual_key().remove()
        await self.check_feature_key()

    async def insert_feature_key(self, serial: str | None = None) -> str | None:
        """Put the key back, or fit one with another serial; returns the serial read."""
        self._virtual_key().insert(serial)
        return await self.check_feature_key()

    async def install_license(self, key: str) -> InstalledLicense:
        lic = self.core.install_license(key, self.clock.time())
        self._after_change()
        return lic

    async def remove_license(self, key: str) -> bool:
        removed = self.core.remove_license(key, self.clock.time())
        self._after_change()
        return removed

    # -- internals ---------------------------------------------------------------------------

    def _virtual_key(self) -> VirtualFeatureKey:
        if not isinstance(self.feature_key, VirtualFeatureKey):
            raise TypeError(f"unit {self.name}: only a virtual feature key can be pulled or fitted by the emulator")
        return self.feature_key

    def _decide(self, kind: str, event: str | None, data: dict | None,
                act: Callable[[float], Decision]) -> Decision:
        now = self.clock.time()
        decision = act(now)
        self.stats.count(kind, decision)
        if event is not None:
            self._event_for(event, data or {}, decision)
        self._after_change()
        return decision

    def _event_for(self, name: str, data: dict, decision: Decision) -> None:
        if self.sink.active:
            self._event(self.clock.time(), name, {**data, "reason": decision.reason and decision.reason.value,
                                                  "detail": decision.detail})

    def _event(self, at: float, name: str, data: dict) -> None:
        if self.sink.active:
            self.sink.emit(at, self.name, name, data)

    def _after_change(self) -> None:
        """Publish the core's own events and keep a timer on its next deadline."""
        self._flush()
        deadline = self.core.deadline
        if deadline != self._scheduled_deadline:
            if self._deadline_handle is not None:
                self._deadline_handle.cancel()
            self._scheduled_deadline = deadline
            self._deadline_handle = None if deadline == float("inf") else self.clock.call_at(deadline, self._on_deadline)

    def _on_deadline(self) -> None:
        self._deadline_handle = None
        self._scheduled_deadline = float("inf")
        self.core.advance(self.clock.time())
        self._after_change()

    def _flush(self) -> None:
        events = self.core.take_events()
        if events and self.sink.active:
            for event in events:
                self.sink.emit(event.at, self.name, event.name, event.data)

    # -- views ---------------------------------------------------------------------------------

    def pools(self) -> dict:
        return self.core.all_pools()
