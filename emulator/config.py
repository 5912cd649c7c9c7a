"""A control unit's configuration, as scenario files and the CLI give it (pydantic, at the edge).

Validated against the release and hardware data, so an unknown model, phone or module is
an error naming its path (e.g. users[3].phone) before anything runs.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from firmware_models import Codec, ControlUnitModel, Release, available_releases, hardware_catalogue, load_release
from hardware.feature_keys.registry import KEY_TYPES

PhoneManagerMode = Literal["lite", "pro", "pro_pc_softphone", "pro_ip_audio_enabled"]
TrunkType = Literal["sip", "pri", "analog", "h323_scn"]
VOICEMAIL_PARTY = "voicemail"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _check_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(f"{value!r}: use letters, digits, '.', '_' or '-', starting with a letter or digit")
    return value


Name = Annotated[str, AfterValidator(_check_name)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VcmModuleConfig(_Strict):
    type: str
    codec: Codec = "g711"
    """The codec the card is dimensioned for: its channel count depends on it."""

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        try:
            hardware_catalogue().vcm_module(value)
        except LookupError:
            known = ", ".join(m.type for m in hardware_catalogue().vcm_modules)
            raise ValueError(f"unknown VCM module type {value!r} (known: {known})") from None
        return value


class TrunkConfig(_Strict):
    name: Name
    """The party name calls use for this line."""
    type: TrunkType
    channels: int = Field(ge=1, le=1000)
    codec: Codec = "g711"
    """For IP lines (SIP, H.323): the codec its calls use."""
    peer: str | None = None
    """For h323_scn lines: the unit at the other end."""

    @model_validator(mode="after")
    def _peer_only_for_scn(self) -> TrunkConfig:
        if self.type == "h323_scn" and not self.peer:
            raise ValueError("an h323_scn line needs 'peer': the unit at the other end")
        if self.type != "h323_scn" and self.peer:
            raise ValueError("'peer' only applies to h323_scn lines")
        return self

    @property
    def is_ip(self) -> bool:
        return self.type in ("sip", "h323_scn")


class UserConfig(_Strict):
    name: Name
    extension: str = Field(pattern=r"^\d{2,9}$")
    phone: str = "analog"
    """Telephone model (firmware_models/hardware.yaml), e.g. 9620, 5610, third_party_sip, analog."""
    codec: Codec = "g711"
    vpnremote: bool = False
    """The phone registers over a VPN with the Avaya VPNremote client."""
    reserve_license: bool = False
    """Keep the endpoint license while unregistered (taken when configured)."""
    phone_manager: PhoneManagerMode = "lite"
    mobility: bool = False
    softconsole: bool = False
    login_code: str | None = Field(default=None, pattern=r"^\d{1,15}$")
    forced_login: bool = False

    @field_validator("phone")
    @classmethod
    def _known_phone(cls, value: str) -> str:
        try:
            hardware_catalogue().phone(value)
        except LookupError:
            raise ValueError(f"unknown phone model {value!r} (see firmware_models/hardware.yaml)") from None
        return value

    @property
    def is_ccc_agent(self) -> bool:
        """A login code with forced login makes a user a CCC agent [S25]."""
        return self.login_code is not None and self.forced_login


class VoicemailConfig(_Strict):
    type: Literal["voicemail_pro"] = "voicemail_pro"
    central: str | None = None
    """In a Small Community Network: the unit hosting the central Voicemail Pro (None: this one)."""


class UnitConfig(_Strict):
    name: Name = "unit1"
    model: str = "IP500"
    release: str = "6.0"
    feature_key: str = "virtual:12345678"
    """A feature-key URL: virtual:SERIAL, smartcard:SERIAL, sdcard:SERIAL, serial://PORT, usb:VID:PID."""
    feature_key_check_s: float | None = Field(default=None, gt=0)
    """How often a polled key (serial, USB) is re-read; default: the release's check interval."""
    grace_period_s: float | None = Field(default=None, ge=0)
    licenses: list[str] = Field(default_factory=list)
    vcm_modules: list[VcmModuleConfig] = Field(default_factory=list)
    trunks: list[TrunkConfig] = Field(default_factory=list)
    users: list[UserConfig] = Field(default_factory=list)
    voicemail: VoicemailConfig | None = None
    delta_server: bool = False
    """Run the Delta Server (Compact Contact Center / CBC data source), one per unit."""
    contactstore: bool = False
    """Record calls with ContactStore (one ContactStore license per system [S19][S22])."""
    expansion_modules: int = Field(default=0, ge=0, le=12)
    """Expansion modules fitted; on an IP500 they need Professional Edition [S4]."""

    @field_validator("release")
    @classmethod
    def _known_release(cls, value: str) -> str:
        if value not in available_releases():
            raise ValueError(f"unknown release {value!r} (known: {', '.join(available_releases())})")
        return value

    @model_validator(mode="after")
    def _against_the_data(self) -> UnitConfig:
        release = load_release(self.release)
        try:
            unit = release.unit(self.model)
        except LookupError as exc:
            raise ValueError(f"model: {exc}") from None
        for i, module in enumerate(self.vcm_modules):
            family = hardware_catalogue().vcm_module(module.type).family
            if module.type not in release.vcm.module_types:
                raise ValueError(f"vcm_modules[{i}].type: {module.type} is not supported by release {self.release}")
            if family not in unit.vcm_module_families:
                raise ValueError(f"vcm_modules[{i}].type: {module.type} does not fit a {unit.name}")
        interface = self.feature_key.partition(":")[0].lower()
        key_type = KEY_TYPES.get(interface)
        if key_type is not None and key_type not in unit.feature_key_types:
            raise ValueError(f"feature_key: a {unit.name} takes a {' or '.join(unit.feature_key_types)} key, "
                             f"not {key_type} ({self.feature_key})")
        names: dict[str, str] = {VOICEMAIL_PARTY: "the voicemail party"}
        for i, trunk in enumerate(self.trunks):
            _unique(names, trunk.name, f"trunks[{i}].name")
        for i, user in enumerate(self.users):
            _unique(names, user.extension, f"users[{i}].extension")
            phone = hardware_catalogue().phone(user.phone)
            if user.vpnremote and not phone.is_ip:
                raise ValueError(f"users[{i}].vpnremote: a {user.phone} phone is not an IP phone")
        user_names = [u.name for u in self.users]
        if len(set(user_names)) != len(user_names):
            dup = next(n for n in user_names if user_names.count(n) > 1)
            raise ValueError(f"users: duplicate user name {dup!r}")
        if len(self.users) > unit.capacity("extensions"):
            raise ValueError(f"users: {len(self.users)} extensions exceed the {unit.name}'s "
                             f"{unit.capacity('extensions')}")
        return self

    def release_data(self) -> Release:
        return load_release(self.release)

    def unit_model(self) -> ControlUnitModel:
        return self.release_data().unit(self.model)


def _unique(names: dict[str, str], name: str, where: str) -> None:
    if name in names:
        raise ValueError(f"{where}: {name!r} is already used by {names[name]}")
    names[name] = where
