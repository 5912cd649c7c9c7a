"""The scenario file format: units, a timeline of events, traffic, expectations (pydantic).

`ipo-emu schema` writes this as JSON Schema, so editors can autocomplete scenario files.
Times and durations are written as seconds or with a unit: 90s, 15m, 2h, 60d.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from emulator.config import PhoneManagerMode, UnitConfig
from emulator.licensing import KeyFormatError, normalize_key_text
from emulator.reasons import Reason
from emulator.rules.applications import APPLICATIONS

_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_UNIT_SECONDS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> float:
    """Seconds from 90, 90.5, '90s', '15m', '2h', '60d' (negative allowed where a field says so)."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 90s, 15m, 2h or 60d")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    raise ValueError(f"{value!r} is not a duration such as 90s, 15m, 2h or 60d")


Duration = Annotated[float, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
Offset = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- licenses ------------------------------------------------------------------------------

class LicenseSpec(_Strict):
    """A license issued when the scenario loads, for the unit's feature key (or `serial`)."""

    feature: str
    """A license id (ipo-emu models show IP500) or a license set id such as ucsb_20."""
    instances: int | None = Field(default=None, ge=1, le=65535)
    trial: bool = False
    validity_days: int = Field(default=0, ge=0, le=4095)
    issued: Duration = 0.0
    """Issue time relative to the scenario start (e.g. -59d for a trial that ends on day 1)."""
    serial: str | None = None
    """Issue for another feature key (e.g. to show that another unit's key is Invalid)."""


def _check_key(value: object) -> object:
    if isinstance(value, str):
        try:
            normalize_key_text(value)
        except KeyFormatError as exc:
            raise ValueError(f"malformed license key: {exc}") from None
    return value


LicenseEntry = Annotated[str | LicenseSpec, BeforeValidator(_check_key)]


class ScenarioUnit(UnitConfig):
    """A control unit's configuration (emulator/config.py) with readable license entries."""

    grace_period_s: Duration | None = None
    licenses: list[LicenseEntry] = Field(default_factory=list)

    def to_config(self, keys: list[str]) -> UnitConfig:
        return UnitConfig(**self.model_dump(exclude={"licenses"}), licenses=keys)


# -- the timeline ------------------------------------------------------------------------------

class CallAction(_Strict):
    from_: str = Field(alias="from")
    """A party: extension, trunk, 'voicemail'; in a network 'unit/party'."""
    to: str
    duration: PositiveDuration | None = None
    """Hang up after this long (else it stays up until the end, or a hang_up event)."""
    answer_after: Offset = 0.0
    emergency: bool = False
    id: str | None = None
    """Name the call to refer to it later (hold, resume, hang_up)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CallRef(_Strict):
    id: str


class HoldAction(_Strict):
    id: str
    party: str


class ConferenceAction(_Strict):
    conference: str
    party: str


class ApplicationAction(_Strict):
    app: Literal[APPLICATIONS]  # type: ignore[valid-type]
    user: str


class KeyAction(_Strict):
    serial: str | None = None
    """insert_feature_key: fit a key with another serial (default: put the same one back)."""


class Event(_Strict):
    """One timeline entry: `at` (offset from the start), the unit, and exactly one action."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    at: Offset
    unit: str | None = None
    """Which unit (optional when the scenario has one)."""
    call: CallAction | None = None
    hang_up: CallRef | None = None
    hold: HoldAction | None = None
    resume: CallRef | None = None
    join_conference: ConferenceAction | None = None
    leave_conference: ConferenceAction | None = None
    register_: str | list[str] | None = Field(default=None, alias="register")
    unregister: str | list[str] | None = None
    start_application: ApplicationAction | None = None
    stop_application: ApplicationAction | None = None
    pull_feature_key: KeyAction | None = None
    insert_feature_key: KeyAction | None = None
    install_license: LicenseEntry | None = None

    @model_validator(mode="after")
    def _exactly_one_action(self) -> Event:
        given = [name for name in ACTIONS if getattr(self, _field(name)) is not None]
        if len(given) != 1:
            listed = ", ".join(given) if given else "none"
            raise ValueError(f"an event needs exactly one action ({', '.join(ACTIONS)}); got {listed}")
        return self

    @property
    def action(self) -> str:
        return next(name for name in ACTIONS if getattr(self, _field(name)) is not None)

    def value(self, action: str) -> object:
        return getattr(self, _field(action))


def _field(action: str) -> str:
    return "register_" if action == "register" else action


ACTIONS = ("call", "hang_up", "hold", "resume", "join_conference", "leave_conference", "register", "unregister",
           "start_application", "stop_application", "pull_feature_key", "insert_feature_key", "install_license")


# -- traffic --------------------------------------------------------------------------------------

class Holding(_Strict):
    distribution: Literal["fixed", "exponential", "lognormal"] = "exponential"
    mean: PositiveDuration
    stdev: PositiveDuration | None = None
    """lognormal only: the standard deviation of the holding time."""

    @model_validator(mode="after")
    def _stdev_for_lognormal(self) -> Holding:
        if self.distribution == "lognormal" and self.stdev is None:
            raise ValueError("a lognormal holding time needs 'stdev'")
        if self.distribution != "lognormal" and self.stdev is not None:
            raise ValueError("'stdev' only applies to lognormal holding times")
        return self


class Weighted(_Strict):
    party: str
    weight: float = Field(gt=0)


Mix = Annotated[str | list[str | Weighted], Field()]


class RampStep(_Strict):
    at: Offset
    """From this offset (relative to the start) the rate is:"""
    calls_per_hour: float = Field(ge=0)


class Traffic(_Strict):
    """Poisson call arrivals between `from` and `to` parties (or weighted mixes of them)."""

    name: str
    unit: str | None = None
    from_: Mix = Field(alias="from")
    to: Mix
    calls_per_hour: float | None = Field(default=None, gt=0)
    """Arrival rate; or give busy_hour_calls (the same thing), erlangs, or ramp."""
    busy_hour_calls: float | None = Field(default=None, gt=0)
    erlangs: float | None = Field(default=None, gt=0)
    """Offered load: calls_per_hour = erlangs x 3600 / mean holding time."""
    ramp: list[RampStep] | None = None
    holding: Holding
    answer_after: Offset = 0.0
    start: Offset = 0.0
    stop: Offset | None = None
    """Stop offering calls at this offset (default: the end of the scenario)."""
    max_calls: int | None = Field(default=None, ge=1)
    all_refused: bool = False
    """Every call of this source is meant to be refused (it shows a refusal). Otherwise a
    run where all of them are refused is flagged: it usually means a broken plan."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_rate(self) -> Traffic:
        given = [k for k in ("calls_per_hour", "busy_hour_calls", "erlangs", "ramp") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of calls_per_hour, busy_hour_calls, erlangs or ramp")
        if self.ramp is not None:
            if not self.ramp:
                raise ValueError("ramp: give at least one step")
            offsets = [step.at for step in self.ramp]
            if offsets != sorted(offsets) or len(set(offsets)) != len(offsets):
                raise ValueError("ramp: steps must be in strictly increasing 'at' order")
        return self

    def rate_steps(self) -> list[tuple[float, float]]:
        """[(offset, calls per second)] from this source's start."""
        if self.ramp is not None:
            return [(step.at, step.calls_per_hour / 3600.0) for step in self.ramp]
        if self.erlangs is not None:
            return [(self.start, self.erlangs / self.holding.mean)]
        per_hour = self.calls_per_hour if self.calls_per_hour is not None else self.busy_hour_calls
        return [(self.start, per_hour / 3600.0)]


# -- expectations ---------------------------------------------------------------------------------

class _Selector(_Strict):
    unit: str | None = None


class CallsSelector(_Selector):
    outcome: Literal["admitted", "rejected", "offered"] = "admitted"
    reason: Reason | None = None
    detail: str | None = None
    traffic: str | None = None
    """Only calls from this traffic source (default: every call of the unit)."""


class PeakSelector(_Selector):
    pool: str


class LicenseSelector(_Selector):
    feature: str
    """Every installed key of this feature must have the status."""


class EventSelector(_Selector):
    name: str
    fields: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    """Only events whose fields have these values, e.g. {reason: vpnremote_unsupported_model}."""


class BlockingSelector(_Strict):
    traffic: str


class Expectation(_Strict):
    """Exactly one of calls / peak / license / events / blocking, and how to judge it."""

    calls: CallsSelector | None = None
    peak: PeakSelector | None = None
    license: LicenseSelector | None = None
    events: EventSelector | None = None
    blocking: BlockingSelector | None = None
    equals: float | None = None
    at_least: float | None = None
    at_most: float | None = None
    status: Literal["Valid", "Invalid", "Expired", "Dormant", "Obsolete", "Unknown"] | None = None
    erlang_b: int | None = Field(default=None, ge=1)
    """blocking: compare with Erlang-B for this many channels at the offered load."""
    tolerance: float | None = Field(default=None, ge=0)
    """blocking: how far the measured ratio may be from `equals` or from Erlang-B."""

    @model_validator(mode="after")
    def _well_formed(self) -> Expectation:
        kinds = [k for k in ("calls", "peak", "license", "events", "blocking") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("an expectation needs exactly one of calls, peak, license, events, blocking")
        kind = kinds[0]
        numbers = [k for k in ("equals", "at_least", "at_most") if getattr(self, k) is not None]
        if kind == "license":
            if self.status is None or numbers:
                raise ValueError("a license expectation takes 'status' (and no numbers)")
        elif kind == "blocking":
            if self.tolerance is None or (self.erlang_b is None) == (self.equals is None) or len(numbers) > 1:
                raise ValueError("a blocking expectation takes 'tolerance' and one of 'equals' or 'erlang_b'")
        elif not numbers or self.status is not None or self.erlang_b is not None:
            raise ValueError(f"a {kind} expectation takes equals, at_least and/or at_most")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("calls", "peak", "license", "events", "blocking") if getattr(self, k) is not None)


# -- the scenario -------------------------------------------------------------------------------

class Sizing(_Strict):
    grade_of_service: float = Field(default=0.01, gt=0, lt=1)
    """Target blocking for the recommended channel counts (Erlang-B)."""


class Scenario(_Strict):
    name: str
    description: str = ""
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    """Virtual time at offset 0 (license dates are counted from it)."""
    duration: PositiveDuration
    seed: int = 1
    sample_interval: PositiveDuration | None = None
    """How often pools are sampled for the plot and utilisation (default: duration / 500)."""
    units: list[ScenarioUnit] = Field(min_length=1)
    events: list[Event] = Field(default_factory=list)
    traffic: list[Traffic] = Field(default_factory=list)
    expect: list[Expectation] = Field(default_factory=list)
    sizing: Sizing = Sizing()

    @field_validator("start")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        names = [u.name for u in self.units]
        if len(set(names)) != len(names):
            raise ValueError("units: unit names must be unique")
        for i, event in enumerate(self.events):
            if event.at > self.duration:
                raise ValueError(f"events[{i}].at: {event.at:g} s is past the end of the scenario ({self.duration:g} s)")
            self._unit_ref(event.unit, f"events[{i}].unit")
        traffic_names = [t.name for t in self.traffic]
        if len(set(traffic_names)) != len(traffic_names):
            raise ValueError("traffic: traffic names must be unique")
        for i, traffic in enumerate(self.traffic):
            self._unit_ref(traffic.unit, f"traffic[{i}].unit")
            if traffic.start > self.duration:
                raise ValueError(f"traffic[{i}].start: past the end of the scenario")
        for i, expectation in enumerate(self.expect):
            selector = getattr(expectation, expectation.kind)
            traffic_ref = getattr(selector, "traffic", None)
            if hasattr(selector, "unit") and (traffic_ref is None or selector.unit is not None):
                self._unit_ref(selector.unit, f"expect[{i}].{expectation.kind}.unit")
            if traffic_ref is not None and traffic_ref not in traffic_names:
                raise ValueError(f"expect[{i}].{expectation.kind}.traffic: no traffic named {traffic_ref!r}")
        return self

    def _unit_ref(self, name: str | None, where: str) -> None:
        names = [u.name for u in self.units]
        if name is None:
            if len(names) > 1:
                raise ValueError(f"{where}: name the unit (this scenario has {', '.join(names)})")
        elif name not in names:
            raise ValueError(f"{where}: no unit named {name!r} (units: {', '.join(names)})")

    def unit_name(self, name: str | None) -> str:
        return name if name is not None else self.units[0].name


__all__ = ["ACTIONS", "Event", "Expectation", "LicenseSpec", "PhoneManagerMode", "Scenario", "ScenarioUnit",
           "Traffic", "parse_duration"]
