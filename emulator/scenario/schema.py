"""The scenario file format: units, a timeline of events, traffic, expectations (pydantic).

`ipo-emu schema` writes this as JSON Schema, so editors can autocomplete scenario files.
Times and durations are written as seconds or with a unit: 90s, 15m, 2h, 60d.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from emulator.config import Digits, PhoneManagerMode, UnitConfig, digits_as_text
from emulator.licensing import KeyFormatError, normalize_key_text
from emulator.reasons import Reason
from emulator.rules.applications import APPLICATIONS

_DURATION = re.compile(r"^\s*(-?[0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|min|h|d)?\s*$", re.ASCII)
DAY = 86_400.0
MAX_SAMPLES = 100_000
"""Samples per pool a run may keep for the plot (sample_interval is bounded by it)."""
YEAR = 365 * DAY
_UNIT_SECONDS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> float:
    """Seconds from 90, 90.5, '90s', '15m', '2h', '60d' (negative allowed where a field says so).

    Digits are ASCII only, and the result is a finite number of at most 100 years either way
    (each field bounds it further)."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 90s, 15m, 2h or 60d")
    seconds: float | None = None
    if isinstance(value, int | float):
        seconds = float(value) if abs(value) < 1e300 else math.inf
    elif isinstance(value, str) and len(value) <= 40:
        match = _DURATION.match(value)
        if match:
            seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds is None:
        raise ValueError(f"{str(value)[:40]!r} is not a duration such as 90s, 15m, 2h or 60d")
    if not math.isfinite(seconds) or abs(seconds) > 100 * YEAR:
        raise ValueError(f"{str(value)[:40]!r} is not a duration of at most 100 years")
    return seconds


_UNITS = "(ms|s|m|min|h|d)?"


def _duration_schema(sign: str, number: dict) -> WithJsonSchema:
    """In JSON Schema a duration is a number of seconds or a string with a unit."""
    return WithJsonSchema({"anyOf": [{"type": "number", **number},
                                     {"type": "string", "pattern": rf"^\s*{sign}\d+(\.\d+)?\s*{_UNITS}\s*$"}]})


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=-20 * YEAR, le=20 * YEAR),
                     _duration_schema("-?", {"minimum": -20 * YEAR, "maximum": 20 * YEAR})]
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0, le=10 * YEAR),
                             _duration_schema("", {"exclusiveMinimum": 0, "maximum": 10 * YEAR})]
Offset = Annotated[float, BeforeValidator(parse_duration), Field(ge=0, le=10 * YEAR),
                   _duration_schema("", {"minimum": 0, "maximum": 10 * YEAR})]
HoldingTime = Annotated[float, BeforeValidator(parse_duration), Field(gt=0, le=30 * DAY),
                        _duration_schema("", {"exclusiveMinimum": 0, "maximum": 30 * DAY})]


Party = Annotated[str, BeforeValidator(digits_as_text),
                  WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]})]
"""A party: an extension (YAML may read `202` as a number), a trunk, 'voicemail', or 'unit/party'."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True, allow_inf_nan=False)


# -- licenses ------------------------------------------------------------------------------

class LicenseSpec(_Strict):
    """A license issued when the scenario loads, for the unit's feature key (or `serial`)."""

    feature: str
    """A license id (ipo-emu models show IP500) or a license set id such as ucsb_20."""
    instances: int | None = Field(default=None, ge=1, le=65535)
    """How many instances (users, channels, ports) the key gives; default 1."""
    trial: bool = False
    """A trial key: valid for 60 days from its issue time, once per feature and serial."""
    validity_days: int = Field(default=0, ge=0, le=4095)
    """Days a non-trial key stays valid (0: permanent)."""
    issued: Duration = 0.0
    """Issue time relative to the scenario start (e.g. -59d for a trial that ends on day 1)."""
    serial: Digits | None = None
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

    grace_period_s: Annotated[float, BeforeValidator(parse_duration), Field(ge=0, le=YEAR),
                              _duration_schema("", {"minimum": 0, "maximum": YEAR})] | None = None
    """How long licenses stay valid after the feature key is removed (default: the release's)."""
    licenses: list[LicenseEntry] = Field(default_factory=list)
    """Licenses installed at the start: key texts, or {feature, instances, trial...} issued for this unit."""
    count: int | None = Field(default=None, ge=1, le=100_000)
    """A fleet: this many copies of the unit, named <name>-1 … <name>-N (zero-padded), each with its
    own virtual feature key (this one's serial + 0, + 1, …) and its licenses issued for it. Events,
    traffic and expectations naming the unit apply to every copy (counts add up, peaks are the
    highest of any copy)."""

    @model_validator(mode="after")
    def _a_fleet_stands_alone(self) -> ScenarioUnit:
        if self.count is None:
            return self
        interface, _, serial = self.feature_key.partition(":")
        if interface.lower() != "virtual" or not serial.strip().isdigit():
            raise ValueError("count: a fleet needs a virtual feature key with a numeric serial (virtual:30000000): "
                             "each copy gets the next serial")
        for j, entry in enumerate(self.licenses):
            if isinstance(entry, str):
                raise ValueError(f"licenses[{j}]: a key text is bound to one serial; with count, give "
                                 "{feature, instances} entries, issued for each copy")
            if entry.serial is not None:
                raise ValueError(f"licenses[{j}].serial: with count each copy's licenses are issued for its own serial")
        if any(t.type == "h323_scn" for t in self.trunks) or (self.voicemail is not None and self.voicemail.central):
            raise ValueError("count: copies of a unit are standalone systems (no h323_scn lines, no central voicemail)")
        return self

    def to_config(self, keys: list[str]) -> UnitConfig:
        return UnitConfig(**self.model_dump(exclude={"licenses", "count"}), licenses=keys)


# -- the timeline ------------------------------------------------------------------------------

class CallAction(_Strict):
    from_: Party = Field(alias="from")
    """A party: extension, trunk, 'voicemail'; in a network 'unit/party'."""
    to: Party
    """The called party: extension, trunk, 'voicemail'; in a network 'unit/party'."""
    duration: PositiveDuration | None = None
    """Hang up after this long (else it stays up until the end, or a hang_up event)."""
    answer_after: Offset = 0.0
    """Ring this long before the call is answered (SIP set-up VCM channels are held until then)."""
    emergency: bool = False
    """An emergency call: allowed from an IP phone registered without an endpoint license."""
    id: str | None = None
    """Name the call to refer to it later (hold, resume, hang_up)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True,
                              allow_inf_nan=False)


class CallRef(_Strict):
    id: str
    """The id given to the call when it was offered."""


class HoldAction(_Strict):
    id: str
    """The id given to the call when it was offered."""
    party: Party
    """The party put on hold (who hears the music)."""


class ConferenceAction(_Strict):
    conference: str
    """A name for the conference; the first party to join opens it."""
    party: Party
    """The party joining or leaving: an extension or a trunk."""


class ApplicationAction(_Strict):
    app: Literal[APPLICATIONS]  # type: ignore[valid-type]
    """The PC application: phone_manager, softconsole, ccc_wallboard, ccc_reporter or compact_business_center."""
    user: str
    """The user (by name) who runs it."""


class KeyAction(_Strict):
    serial: str | None = None
    """insert_feature_key: fit a key with another serial (default: put the same one back)."""


class Event(_Strict):
    """One timeline entry: `at` (offset from the start), the unit, and exactly one action."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True,
                              allow_inf_nan=False)

    at: Offset
    """When, as an offset from the scenario start, e.g. 0s, 15m, 59d."""
    unit: str | None = None
    """Which unit (optional when the scenario has one)."""
    call: CallAction | None = None
    """Offer a call between two parties."""
    hang_up: CallRef | None = None
    """End a call offered with an id."""
    hold: HoldAction | None = None
    """Put a party of a call on hold (music on hold: a VCM channel for an IP party)."""
    resume: CallRef | None = None
    """Take a call off hold."""
    join_conference: ConferenceAction | None = None
    """Add a party to a conference (one VCM channel per IP party)."""
    leave_conference: ConferenceAction | None = None
    """Take a party out of a conference."""
    register_: Party | list[Party] | None = Field(default=None, alias="register")
    """Register IP phones (an extension or a list of them)."""
    unregister: Party | list[Party] | None = None
    """Unregister IP phones (an extension or a list of them)."""
    start_application: ApplicationAction | None = None
    """Start a PC application for a user (it takes its license while it runs)."""
    stop_application: ApplicationAction | None = None
    """Stop a PC application."""
    pull_feature_key: KeyAction | None = None
    """Remove the unit's (virtual) feature key: licenses go Invalid after the grace period."""
    insert_feature_key: KeyAction | None = None
    """Put the feature key back, or fit one with another serial."""
    install_license: LicenseEntry | None = None
    """Install a license: a key as text, or a license issued for the unit's feature key."""

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
    """How holding times are drawn: fixed, exponential (the Erlang-B assumption) or lognormal."""
    mean: HoldingTime
    """The mean holding time, e.g. 3m."""
    stdev: HoldingTime | None = None
    """lognormal only: the standard deviation of the holding time."""

    @model_validator(mode="after")
    def _stdev_for_lognormal(self) -> Holding:
        if self.distribution == "lognormal" and self.stdev is None:
            raise ValueError("a lognormal holding time needs 'stdev'")
        if self.distribution != "lognormal" and self.stdev is not None:
            raise ValueError("'stdev' only applies to lognormal holding times")
        return self


class Weighted(_Strict):
    party: Party
    """A party: extension, trunk, voicemail; in a network unit/party."""
    weight: float = Field(gt=0, le=1e6)
    """Relative share of calls to (or from) this party."""


Mix = Annotated[Party | Annotated[list[Party | Weighted], Field(min_length=1)], Field()]


class RampStep(_Strict):
    at: Offset
    """From this offset (relative to the start) the rate is:"""
    calls_per_hour: float = Field(ge=0, le=1e10)
    """The arrival rate from this step on."""


class Traffic(_Strict):
    """Poisson call arrivals between `from` and `to` parties (or weighted mixes of them)."""

    name: str
    """A name for this source, used by expectations and in the report."""
    unit: str | None = None
    """Which unit the calls start on (optional when the scenario has one)."""
    from_: Mix = Field(alias="from")
    """Calling parties: one, a list, or weighted {party, weight} entries."""
    to: Mix
    """Called parties: one, a list, or weighted {party, weight} entries."""
    calls_per_hour: float | None = Field(default=None, gt=0, le=1e10)
    """Arrival rate; or give busy_hour_calls (the same thing), erlangs, or ramp."""
    busy_hour_calls: float | None = Field(default=None, gt=0, le=1e10)
    """Calls in an hour (the same as calls_per_hour)."""
    erlangs: float | None = Field(default=None, gt=0, le=1e5)
    """Offered load: calls_per_hour = erlangs x 3600 / mean holding time."""
    ramp: list[RampStep] | None = None
    """Rate steps: [{at, calls_per_hour}], in time order."""
    holding: Holding
    """The holding time distribution of admitted calls."""
    answer_after: Offset = 0.0
    """Ring this long before each call is answered."""
    start: Offset = 0.0
    """Start offering calls at this offset."""
    stop: Offset | None = None
    """Stop offering calls at this offset (default: the end of the scenario)."""
    max_calls: int | None = Field(default=None, ge=1, le=10**12)
    """Stop after this many attempts."""
    all_refused: bool = False
    """Every call of this source is meant to be refused (it shows a refusal). Otherwise a
    run where all of them are refused is flagged: it usually means a broken plan."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True,
                              allow_inf_nan=False)

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

    def mixes(self) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        """(calling parties, called parties), each as [(party, weight)]."""
        pairs = []
        for mix in (self.from_, self.to):
            entries = [mix] if isinstance(mix, str) else mix
            pairs.append([(e, 1.0) if isinstance(e, str) else (e.party, e.weight) for e in entries])
        return pairs[0], pairs[1]

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
    """Which unit (optional when the scenario has one, or when a traffic source is named)."""


class CallsSelector(_Selector):
    outcome: Literal["admitted", "rejected", "offered"] = "admitted"
    """Count admitted calls, rejected calls, or every call offered."""
    reason: Reason | None = None
    """Only rejections with this reason code (docs/reason-codes.md)."""
    detail: str | None = None
    """Only rejections with this detail: the pool or party that refused, e.g. sip_trunk_channels."""
    traffic: str | None = None
    """Only calls from this traffic source (default: every call of the unit)."""


class PeakSelector(_Selector):
    pool: str
    """A license pool or resource: e.g. sip_trunk_channels, vcm_channels, trunk:sip1."""


class LicenseSelector(_Selector):
    feature: str
    """Every installed key of this feature must have the status."""


class EventSelector(_Selector):
    name: str
    """The event name, e.g. call.rejected, license.expired (docs/events.md)."""
    fields: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    """Only events whose fields have these values, e.g. {reason: vpnremote_unsupported_model}."""


class BlockingSelector(_Strict):
    traffic: str
    """The traffic source (by name) whose blocking ratio is judged."""
    step: int | None = Field(default=None, ge=1, le=10_000)
    """A ramp's step, from 1: the blocking of the calls offered during that step alone
    (Erlang-B at that step's load)."""


class Expectation(_Strict):
    """Exactly one of calls / peak / license / events / blocking, and how to judge it."""

    calls: CallsSelector | None = None
    """Count calls by outcome, reason, detail or traffic source."""
    peak: PeakSelector | None = None
    """The highest number of instances of a pool in use at once."""
    license: LicenseSelector | None = None
    """The status of every installed key of a license."""
    events: EventSelector | None = None
    """Count events by name and fields."""
    blocking: BlockingSelector | None = None
    """The blocking ratio of a traffic source, against a value or Erlang-B."""
    equals: float | None = None
    """The count must equal this (blocking: the ratio, within tolerance)."""
    at_least: float | None = None
    """The count must be at least this."""
    at_most: float | None = None
    """The count must be at most this."""
    status: Literal["Valid", "Invalid", "Expired", "Dormant", "Obsolete", "Unknown"] | None = None
    """license: the status every key of the license must have."""
    erlang_b: int | None = Field(default=None, ge=1, le=10_000)
    """blocking: compare with Erlang-B for this many channels at the offered load."""
    tolerance: float | None = Field(default=None, ge=0, le=1)
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


# -- replaying a site's calls -----------------------------------------------------------------------

class Replay(_Strict):
    """Calls from an SMDR file, offered again when they started (docs/smdr.md)."""

    file: str
    """The SMDR file (relative to this file): one record per call segment, as IP Office writes them."""
    unit: str | None = None
    """The unit whose calls these are (optional when the scenario has one)."""
    lines: dict[Annotated[int, Field(ge=1, le=999)], str] = Field(default_factory=dict)
    """SMDR line number (trunk device T9000+line) -> the trunk of the plan it is; by default
    line 1 is the unit's first trunk, line 2 its second, and so on."""
    register_phones: bool = True
    """Register the unit's IP phones before the first call (they were registered when the
    calls were made); false to register them in the timeline instead."""


# -- the scenario -------------------------------------------------------------------------------

class Sizing(_Strict):
    grade_of_service: float = Field(default=0.01, gt=0, lt=1)
    """Target blocking for the recommended channel counts (Erlang-B)."""


class Scenario(_Strict):
    name: str
    """A short title, shown at the top of the report."""
    description: str = ""
    """What the scenario shows, in a few sentences (printed under the title)."""
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    """Virtual time at offset 0 (license dates are counted from it)."""
    duration: PositiveDuration | None = None
    """How long to run, e.g. 1h, 90m, 2d (simulated time). With `replay`, the calls' span instead."""
    seed: int = Field(default=1, ge=0, lt=2**63)
    """Seed of the random draws (arrivals, parties, holding times): the same seed gives the same run."""
    sample_interval: PositiveDuration | None = None
    """How often pools are sampled for the plot and utilisation (default: duration / 500)."""
    units: list[ScenarioUnit] = Field(min_length=1)
    """The control units, each with its feature key, licenses, lines and users."""
    events: list[Event] = Field(default_factory=list)
    """The timeline: calls, registrations, applications, feature key and license changes at given offsets."""
    traffic: list[Traffic] = Field(default_factory=list)
    """Poisson call sources, offered for the whole run or from start to stop."""
    expect: list[Expectation] = Field(default_factory=list)
    """What must hold at the end; a failed expectation makes `ipo-emu run` exit 1."""
    sizing: Sizing = Sizing()
    """Erlang-B sizing settings for the report."""
    replay: list[Replay] = Field(default_factory=list)
    """SMDR files whose calls are offered again: the run starts at the first call and ends
    when the last one ends (so give neither start nor duration)."""

    @field_validator("start")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        if self.replay:
            given = [k for k in ("start", "duration") if k in self.model_fields_set]
            if given:
                raise ValueError(f"{given[0]}: with replay the run starts at the first recorded call and ends with "
                                 "the last; leave out start and duration")
            for i, replay in enumerate(self.replay):
                self._unit_ref(replay.unit, f"replay[{i}].unit")
            return self._timeline_references()
        if self.duration is None:
            raise ValueError("duration: how long to run, e.g. 1h (or replay a file of calls)")
        return self._timeline_references()

    def _timeline_references(self) -> Scenario:
        if self.duration is not None and self.sample_interval is not None and self.sample_interval < self.duration / MAX_SAMPLES:
            raise ValueError(f"sample_interval: at least duration / {MAX_SAMPLES:,} "
                             f"({self.duration / MAX_SAMPLES:g} s here), so a run keeps at most {MAX_SAMPLES:,} samples")
        names = [u.name for u in self.units]
        if len(set(names)) != len(names):
            raise ValueError("units: unit names must be unique")
        for i, event in enumerate(self.events):
            if self.duration is not None and event.at > self.duration:
                raise ValueError(f"events[{i}].at: {event.at:g} s is past the end of the scenario ({self.duration:g} s)")
            self._unit_ref(event.unit, f"events[{i}].unit")
        traffic_names = [t.name for t in self.traffic]
        if len(set(traffic_names)) != len(traffic_names):
            raise ValueError("traffic: traffic names must be unique")
        for i, traffic in enumerate(self.traffic):
            self._unit_ref(traffic.unit, f"traffic[{i}].unit")
            if self.duration is not None and traffic.start > self.duration:
                raise ValueError(f"traffic[{i}].start: past the end of the scenario")
        for i, expectation in enumerate(self.expect):
            selector = getattr(expectation, expectation.kind)
            traffic_ref = getattr(selector, "traffic", None)
            if hasattr(selector, "unit") and (traffic_ref is None or selector.unit is not None):
                self._unit_ref(selector.unit, f"expect[{i}].{expectation.kind}.unit")
            if traffic_ref is not None and traffic_ref not in traffic_names:
                raise ValueError(f"expect[{i}].{expectation.kind}.traffic: no traffic named {traffic_ref!r}")
            step = getattr(selector, "step", None)
            if step is not None:
                ramp = next(t for t in self.traffic if t.name == traffic_ref).ramp
                if ramp is None or step > len(ramp):
                    raise ValueError(f"expect[{i}].blocking.step: traffic {traffic_ref!r} has "
                                     + (f"{len(ramp)} ramp steps" if ramp else "no ramp"))
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


__all__ = ["ACTIONS", "Event", "Expectation", "LicenseSpec", "PhoneManagerMode", "Replay", "Scenario", "ScenarioUnit",
           "Traffic", "parse_duration"]
