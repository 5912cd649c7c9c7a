"""Every MQTT payload as a pydantic model: commands are validated by these, and the JSON
Schemas in docs/mqtt.md are generated from them (`ipo-emu serve --schemas`).

Payloads are JSON objects encoded in UTF-8. Commands reject unknown fields, so a typo is an
error reply naming the field rather than a silently ignored option.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from emulator.config import Digits
from emulator.licensing import KeyFormatError, normalize_key_text, normalize_serial
from emulator.rules.applications import APPLICATIONS
from emulator.scenario.schema import LicenseEntry, Party, PositiveDuration

MAX_PAYLOAD_BYTES = 64 * 1024
"""Larger command payloads are refused unread (error payload_too_large)."""

Id = Annotated[str | int, Field(union_mode="left_to_right")]
Text = Annotated[str, Field(min_length=1, max_length=200)]


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True, allow_inf_nan=False)

    id: Id | None = None
    """Echoed in the reply, to match it with its request (MQTT 3.1.1 clients need it)."""
    reply_to: Text | None = None
    """Where to publish the reply on MQTT 3.1.1 (on MQTT 5 the Response Topic property wins;
    with neither the reply goes to <prefix>/<unit>/reply)."""


class OfferCall(_Command):
    """Offer a call on this unit from `a` to `b` (an extension, trunk, group, 'voicemail',
    or 'unit/party' on another unit of the network)."""

    a: Party
    b: Party
    call_id: Text | None = None
    """The call's id (default: one is made up and returned in the reply)."""
    duration: PositiveDuration | None = None
    """Hang up by itself after this long (simulated time: seconds, or 90s, 5m...)."""
    answered: bool = True
    """False: the call rings until an `answer` command (VCM set-up is held meanwhile)."""
    emergency: bool = False


class CallCommand(_Command):
    """answer or hang_up: a call this unit admitted."""

    call_id: Text


class EndpointCommand(_Command):
    """register or unregister an IP phone by its extension."""

    extension: Party


class ApplicationCommand(_Command):
    """start_application or stop_application for a user."""

    app: Literal[APPLICATIONS]  # type: ignore[valid-type]
    user: Text


class NoArguments(_Command):
    """pull_feature_key (virtual keys only) and get_state take nothing."""


def _serial(value: str | None) -> str | None:
    return None if value is None else normalize_serial(value)


class InsertFeatureKey(_Command):
    """Put the virtual feature key back, or fit one with another serial."""

    serial: Annotated[Digits | None, AfterValidator(_serial)] = None


class InstallLicense(_Command):
    """A key as text, or a license described as in scenario files (issued for this run)."""

    license: LicenseEntry


def _key_text(value: str) -> str:
    try:
        normalize_key_text(value)
    except KeyFormatError as exc:
        raise ValueError(f"malformed license key: {exc}") from None
    return value


class RemoveLicense(_Command):
    """Take an installed key out of the configuration."""

    key: Annotated[Text, AfterValidator(_key_text)]


COMMANDS: dict[str, type[_Command]] = {
    "offer_call": OfferCall,
    "answer": CallCommand,
    "hang_up": CallCommand,
    "register": EndpointCommand,
    "unregister": EndpointCommand,
    "start_application": ApplicationCommand,
    "stop_application": ApplicationCommand,
    "pull_feature_key": NoArguments,
    "insert_feature_key": InsertFeatureKey,
    "install_license": InstallLicense,
    "remove_license": RemoveLicense,
    "get_state": NoArguments,
}
"""Verbs, the last level of <prefix>/<unit>/cmd/<verb>."""

WRITE_VERBS = frozenset(COMMANDS) - {"get_state"}
"""Refused with error read_only under --read-only."""


# -- what the service publishes -----------------------------------------------------------------

class _Out(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)


ErrorCode = Literal["malformed_json", "not_an_object", "invalid_field", "unknown_verb", "payload_too_large",
                    "rate_limited", "read_only", "unknown_call", "call_id_in_use", "not_possible",
                    "internal_error"]


class CommandError(_Out):
    code: ErrorCode
    field: str | None = None
    """The payload field at fault, as a dotted path, when there is one."""
    message: str


class Reply(_Out):
    """Exactly one per command: the decision, or why the command was not carried out."""

    id: Id | None = None
    unit: str
    verb: str
    ok: bool
    """True when the command was carried out (a refused call is carried out: ok, outcome rejected)."""
    outcome: str | None = None
    """The decision: admitted, rejected, connected, ended, registered, started, fallback, ...;
    for install_license the key's status (Valid, Invalid, ...); removed/not_installed."""
    accepted: bool | None = None
    """Whether the unit granted what was asked (False for a refused call or registration)."""
    reason: str | None = None
    """The reason code of a refusal (docs/reason-codes.md)."""
    detail: str | None = None
    call_id: str | None = None
    error: CommandError | None = None
    time: float
    """Simulated time of the decision (Unix seconds)."""
    seq: int | None = None
    """The unit's replies are numbered from 1 in the order it answered: a gap, a repeat or a
    number out of order tells that replies were lost, sent twice or overtook each other on the
    way (a publish the broker did not acknowledge in time is sent again)."""
    state: dict[str, Any] | None = None
    """get_state: the unit's status and licenses payloads."""


class PoolState(_Out):
    pool: str
    licensed: int | None
    capacity: int | None
    effective: int
    in_use: int
    peak: int
    refused: dict[str, int]


class KeyState(_Out):
    key: str
    feature: str | None
    instances: int
    status: str
    detail: str
    expires_at: str | None


class UnitStatus(_Out):
    """Retained on <prefix>/<unit>/status."""

    unit: str
    online: bool
    service: str
    """The serving process's id: the unit is online only while its service is."""
    model: str
    release: str
    feature_key: str
    feature_key_state: Literal["present", "absent"]
    serial: str | None
    grace_ends_at: float | None
    """While the key is absent: when its licenses stop validating (simulated Unix seconds)."""
    time: float
    clock: str


class UnitLicenses(_Out):
    """Retained on <prefix>/<unit>/licenses: published when something changed, at most every
    --state-interval seconds of real time."""

    unit: str
    time: float
    calls_up: int
    calls_admitted: int
    calls_rejected: int
    pools: list[PoolState]
    keys: list[KeyState]


class EventsBatch(_Out):
    """On <prefix>/<unit>/events: events in the order they happened, numbered per unit from 1
    so a gap shows what was lost (and --journal holds every one)."""

    unit: str
    first_seq: int
    events: list[dict[str, Any]]
    """The same objects as `ipo-emu run --events` writes (docs/events.md), plus seq."""


class ServiceStatus(_Out):
    """Retained on <prefix>/_service/<id>/status; the Last Will sets online false."""

    service: str
    online: bool
    units: list[str]
    read_only: bool = False
    mqtt_version: str | None = None
    counters: dict[str, int] = Field(default_factory=dict)
    """Commands received and refused by error code, events published, dropped and journaled,
    reconnects (docs/mqtt.md lists them)."""


PUBLISHED = {"status": UnitStatus, "licenses": UnitLicenses, "events": EventsBatch, "reply": Reply,
             "service status": ServiceStatus}


def mqtt_json_schemas() -> dict[str, Any]:
    """A JSON Schema per payload (docs/mqtt-schemas.json): commands by verb, then what the
    service publishes, by topic."""
    commands = {}
    for verb, model in COMMANDS.items():
        schema = model.model_json_schema(by_alias=True)
        schema["title"] = f"cmd/{verb}"
        commands[verb] = schema
    published = {}
    for topic, model in PUBLISHED.items():
        schema = model.model_json_schema(by_alias=True)
        schema["title"] = topic
        published[topic] = schema
    return {"$comment": "Generated by `ipo-emu schema --mqtt`; docs/mqtt.md explains the topics.",
            "commands": commands, "published": published}
