"""Commands to live units: bytes from a topic in, exactly one reply out.

Parsing and validation never raise: every problem becomes a reply with an error code naming
the field or byte (docs/mqtt.md). What a command asks is done through the same runtime API
the scenario player uses, so a command is decided exactly as a scripted event would be.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable

import orjson
from pydantic import ValidationError

from emulator.licensing import KeyFormatError, SerialNumberError
from emulator.licensing.issuer import IssueError
from emulator.rules import Decision
from emulator.rules.decision import ENDED
from emulator.runtime import ControlUnit, Network
from emulator.runtime.network import split_party
from emulator.scenario.loader import LoadedScenario, license_keys_for, second_trial
from emulator.scenario.schema import LicenseSpec
from emulator.service.payloads import COMMANDS, MAX_PAYLOAD_BYTES, WRITE_VERBS
from emulator.service.state import unit_licenses, unit_status


class Addressed:
    """What a command said about its reply before it was validated (so that even a
    command refused for a bad field can be answered where it asked)."""

    __slots__ = ("id", "reply_to")

    def __init__(self, id: str | int | None = None, reply_to: str | None = None) -> None:  # noqa: A002
        self.id = id
        self.reply_to = reply_to


class TokenBucket:
    """At most `rate` commands a second per unit, in bursts of up to `rate` (0: no limit)."""

    __slots__ = ("rate", "tokens", "at")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.at = now

    def take(self, now: float) -> bool:
        if not self.rate:
            return True
        self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class CommandHandler:
    """Decides commands for the units of one network (this process owns them all)."""

    def __init__(self, network: Network, loaded: LoadedScenario, *, service: str, clock_text: str,
                 read_only: bool = False, max_per_s: float = 0, real_time: Callable[[], float]) -> None:
        self.network = network
        self.loaded = loaded
        self.service = service
        self.clock_text = clock_text
        self.read_only = read_only
        self.max_per_s = max_per_s
        self.real_time = real_time
        self.counters: Counter[str] = Counter()
        """commands, then errors by code (docs/mqtt.md)."""
        self._buckets: dict[str, TokenBucket] = {}
        self._ids = itertools.count(1)

    # -- parsing -------------------------------------------------------------------------------

    async def handle(self, unit_name: str, verb: str, payload: bytes) -> tuple[dict, Addressed]:
        """(the reply, where the command asked for it)."""
        self.counters["commands"] += 1
        addressed = Addressed()
        unit = self.network.units.get(unit_name)
        if unit is None:  # subscriptions are per unit: only a broker bug brings this
            return self._error(unit_name, verb, addressed, "not_possible", None,
                               f"unit {unit_name!r} is not served by {self.service}"), addressed
        if len(payload) > MAX_PAYLOAD_BYTES:
            return self._error(unit_name, verb, addressed, "payload_too_large", None,
                               f"{len(payload):,} bytes; a command is at most {MAX_PAYLOAD_BYTES:,}"), addressed
        try:
            body = orjson.loads(payload) if payload.strip() else {}
        except orjson.JSONDecodeError as exc:
            return self._error(unit_name, verb, addressed, "malformed_json", None,
                               f"not JSON: {exc}"), addressed
        if not isinstance(body, dict):
            return self._error(unit_name, verb, addressed, "not_an_object", None,
                               f"a command is a JSON object, not {type(body).__name__}"), addressed
        raw_id, raw_reply = body.get("id"), body.get("reply_to")
        if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) and len(str(raw_id)) <= 200:
            addressed.id = raw_id
        if isinstance(raw_reply, str) and 0 < len(raw_reply) <= 200 and not any(c in raw_reply for c in "+#\x00"):
            addressed.reply_to = raw_reply
        model = COMMANDS.get(verb)
        if model is None:
            return self._error(unit_name, verb, addressed, "unknown_verb", None,
                               f"unknown verb {verb[:60]!r}; verbs: {', '.join(COMMANDS)}"), addressed
        if self.read_only and verb in WRITE_VERBS:
            return self._error(unit_name, verb, addressed, "read_only", None,
                               f"{self.service} serves read-only: only get_state is answered"), addressed
        now = self.real_time()
        bucket = self._buckets.get(unit_name)
        if bucket is None:
            bucket = self._buckets[unit_name] = TokenBucket(self.max_per_s, now)
        if not bucket.take(now):
            return self._error(unit_name, verb, addressed, "rate_limited", None,
                               f"more than {self.max_per_s:g} commands/s for unit {unit_name}"), addressed
        try:
            command = model.model_validate(body)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            field = ".".join(str(part) for part in err["loc"]) or None
            return self._error(unit_name, verb, addressed, "invalid_field", field,
                               f"{field or 'payload'}: {err['msg']}"), addressed
        try:
            reply = await getattr(self, "_" + verb)(unit, command)
        except _Refused as exc:
            return self._error(unit_name, verb, addressed, exc.code, exc.field, exc.message), addressed
        except Exception as exc:  # noqa: BLE001 - a bug must cost one reply, not the service
            return self._error(unit_name, verb, addressed, "internal_error", None,
                               f"{type(exc).__name__}: {exc}"), addressed
        reply.update(id=addressed.id, unit=unit_name, verb=verb, ok=True, time=unit.clock.time())
        return reply, addressed

    def _error(self, unit: str, verb: str, addressed: Addressed, code: str, field: str | None, message: str) -> dict:
        self.counters[f"error.{code}"] += 1
        return {"id": addressed.id, "unit": unit, "verb": verb[:100], "ok": False,
                "error": {"code": code, "field": field, "message": message},
                "time": self.network.clock.time()}

    # -- verbs -------------------------------------------------------------------------------------

    async def _offer_call(self, unit: ControlUnit, cmd) -> dict:
        to_unit, b = split_party(cmd.b, unit.name)
        for field, (where, party) in (("a", (unit.name, cmd.a)), ("b", (to_unit, b))):
            target = self.network.units.get(where)
            if target is None:
                raise _Refused("invalid_field", field, f"{field}: no unit named {where!r} in this network "
                                                       f"(units: {', '.join(self.network.units)})")
            if party not in target.core.parties:
                raise _Refused("invalid_field", field, f"{field}: unit {where} has no extension, trunk, group "
                                                       f"or line named {party!r}")
        call_id = cmd.call_id or f"mqtt-{next(self._ids)}"
        if call_id in unit.core.calls.active:
            raise _Refused("call_id_in_use", "call_id", f"call_id {call_id!r} is a call already up on {unit.name}")
        decision, _ = await self.network.offer_call(unit.name, cmd.a, to_unit, b, call_id=call_id,
                                                    duration=cmd.duration, answered=cmd.answered,
                                                    emergency=cmd.emergency)
        return {**_decided(decision), "call_id": call_id}

    def _up(self, unit: ControlUnit, call_id: str) -> None:
        if call_id not in unit.core.calls.active:
            raise _Refused("unknown_call", "call_id", f"no call {call_id!r} is up on unit {unit.name}")

    async def _answer(self, unit: ControlUnit, cmd) -> dict:
        self._up(unit, cmd.call_id)
        return {**_decided(await self.network.connect(cmd.call_id, unit.name)), "call_id": cmd.call_id}

    async def _hang_up(self, unit: ControlUnit, cmd) -> dict:
        self._up(unit, cmd.call_id)
        self.network.hang_up_now(cmd.call_id, unit.name)
        return {**_decided(ENDED), "call_id": cmd.call_id}

    async def _register(self, unit: ControlUnit, cmd) -> dict:
        self._party(unit, cmd.extension, "extension")
        return _decided(await unit.register(cmd.extension))

    async def _unregister(self, unit: ControlUnit, cmd) -> dict:
        self._party(unit, cmd.extension, "extension")
        return _decided(await unit.unregister(cmd.extension))

    async def _start_application(self, unit: ControlUnit, cmd) -> dict:
        self._user(unit, cmd.user)
        return _decided(await unit.start_application(cmd.app, cmd.user))

    async def _stop_application(self, unit: ControlUnit, cmd) -> dict:
        self._user(unit, cmd.user)
        return _decided(await unit.stop_application(cmd.app, cmd.user))

    async def _pull_feature_key(self, unit: ControlUnit, cmd) -> dict:
        try:
            await unit.remove_feature_key()
        except TypeError as exc:
            raise _Refused("not_possible", None, str(exc)) from None
        return self._key_outcome(unit)

    async def _insert_feature_key(self, unit: ControlUnit, cmd) -> dict:
        try:
            await unit.insert_feature_key(cmd.serial)
        except TypeError as exc:
            raise _Refused("not_possible", None, str(exc)) from None
        except SerialNumberError as exc:
            raise _Refused("invalid_field", "serial", f"serial: {exc}") from None
        return self._key_outcome(unit)

    async def _install_license(self, unit: ControlUnit, cmd) -> dict:
        entry, config = cmd.license, unit.config
        if isinstance(entry, LicenseSpec):
            refused = second_trial(self.loaded.trials, entry, config.feature_key,
                                   f"a command to {unit.name}")
            if refused:
                raise _Refused("not_possible", "license.trial", refused)
        try:
            keys = license_keys_for(entry, config, unit.clock.time(), self.loaded.authority,
                                    config.release_data(), config.feature_key)
            installed = [await unit.install_license(key) for key in keys]
        except (IssueError, KeyFormatError, SerialNumberError, ValueError) as exc:
            raise _Refused("invalid_field", "license", f"license: {exc}") from None
        first = installed[0]
        return {"outcome": first.status.value, "accepted": first.status.value == "Valid",
                "detail": first.detail or None,
                "licenses": [{"key": lic.key, "feature": lic.feature_id, "status": lic.status.value,
                              "detail": lic.detail} for lic in installed]}

    async def _remove_license(self, unit: ControlUnit, cmd) -> dict:
        try:
            removed = await unit.remove_license(cmd.key)
        except KeyFormatError as exc:
            raise _Refused("invalid_field", "key", f"key: {exc}") from None
        return {"outcome": "removed" if removed else "not_installed", "accepted": removed}

    async def _get_state(self, unit: ControlUnit, cmd) -> dict:
        return {"outcome": "state", "accepted": True,
                "state": {"status": unit_status(unit, self.service, online=True, clock=self.clock_text),
                          "licenses": unit_licenses(unit)}}

    # -- helpers -------------------------------------------------------------------------------------

    @staticmethod
    def _party(unit: ControlUnit, name: str, field: str) -> None:
        if name not in unit.core.parties:
            raise _Refused("invalid_field", field, f"{field}: unit {unit.name} has no extension {name!r}")

    @staticmethod
    def _user(unit: ControlUnit, name: str) -> None:
        if all(user.name != name for user in unit.config.users):
            raise _Refused("invalid_field", "user", f"user: unit {unit.name} has no user named {name!r}")

    @staticmethod
    def _key_outcome(unit: ControlUnit) -> dict:
        engine = unit.core.engine
        state = engine.feature_key_state
        return {"outcome": state, "accepted": state == "present", "detail": engine.feature_key_serial}


class _Refused(Exception):
    def __init__(self, code: str, field: str | None, message: str) -> None:
        super().__init__(message)
        self.code, self.field, self.message = code, field, message


def _decided(decision: Decision) -> dict:
    return {"outcome": decision.outcome, "accepted": decision.accepted,
            "reason": decision.reason.value if decision.reason else None, "detail": decision.detail or None}
