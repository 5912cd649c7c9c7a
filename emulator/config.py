"""A control unit's configuration, as scenario files and the CLI give it (pydantic, at the edge).

Validated against the release and hardware data, so an unknown model, phone or module is
an error naming its path (e.g. users[3].phone) before anything runs.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from firmware_models import Codec, ControlUnitModel, Release, available_releases, hardware_catalogue, load_release
from hardware.feature_keys.registry import KEY_TYPES

PhoneManagerMode = Literal["lite", "pro", "pro_pc_softphone"]
MobilityFeature = Literal["mobile_twinning", "mobile_call_control", "one_x_mobile_client"]
MOBILITY_FEATURES: tuple[str, ...] = ("mobile_twinning", "mobile_call_control", "one_x_mobile_client")
IP500_ONLY_MOBILITY = frozenset({"mobile_call_control", "one_x_mobile_client"})
"""Mobile Call Control and one-X Mobile Client run on the IP500 only [S1] (and the IP500 V2:
an assumption, as the document predates it)."""
TrunkType = Literal["sip", "pri", "analog", "h323_scn"]
VOICEMAIL_PARTY = "voicemail"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _check_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(f"{value!r}: use letters, digits, '.', '_' or '-', starting with a letter or digit")
    return value


def digits_as_text(value: object) -> object:
    """YAML reads `extension: 202` as a number: take it as the text it was meant to be."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    return value


def _mobility_list(value: object) -> object:
    """`mobility: true` is shorthand for Mobile Twinning; `false` for none."""
    if value is True:
        return ["mobile_twinning"]
    if value is False or value is None:
        return []
    if isinstance(value, str):
        return [value]
    return value


def release_as_text(value: object) -> object:
    """YAML reads `release: 6.0` as a number: take it as the release it names."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return f"{value}.0"
    if isinstance(value, float):
        return str(value)
    return value


Name = Annotated[str, BeforeValidator(digits_as_text), AfterValidator(_check_name)]
Digits = Annotated[str, BeforeValidator(digits_as_text)]
ReleaseName = Annotated[str, BeforeValidator(release_as_text)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True, allow_inf_nan=False)


class VcmModuleConfig(_Strict):
    type: str
    """The module, e.g. vcm32, vcm64, ip400_vcm5 (ipo-emu models show)."""
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
    """sip, pri, analog, or h323_scn (a line to another unit of the network)."""
    channels: int = Field(ge=1, le=1000)
    """Channels the line has."""
    codec: Codec = "g711"
    """For IP lines (SIP, H.323): the codec its calls use."""
    peer: str | None = None
    """For h323_scn lines: the unit at the other end."""
    service_busy_response: Literal[486, 503] = 486
    """SIP lines: the response to a call refused for want of a license or channel (486 Busy
    Here or 503 Service Unavailable, as IP Office sets per line). A busy user is always 486."""
    incoming_call_route: Digits | None = None
    """SIP lines: where a call goes whose Request-URI names no extension, group or voicemail
    of the unit (else it is answered 404); e.g. a hunt group's number."""

    @model_validator(mode="after")
    def _sip_settings_for_sip(self) -> TrunkConfig:
        if self.type != "sip" and self.incoming_call_route is not None:
            raise ValueError("'incoming_call_route' applies to SIP lines")
        return self

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
    """The user's name (applications are started by user name)."""
    extension: Digits = Field(pattern=r"^\d{2,9}$")
    """The extension number (2 to 9 digits), the party name calls use."""
    phone: str = "analog"
    """Telephone model (firmware_models/hardware.yaml), e.g. 9620, 5610, third_party_sip, analog."""
    codec: Codec = "g711"
    """The codec the phone talks: two IP parties with different codecs need VCM channels."""
    vpnremote: bool = False
    """The phone registers over a VPN with the Avaya VPNremote client."""
    reserve_license: bool = False
    """Keep the endpoint license while unregistered (taken when configured)."""
    phone_manager: PhoneManagerMode = "lite"
    """Phone Manager mode the user is configured for: lite (free), pro, or pro_pc_softphone [S1]."""
    mobility: Annotated[list[MobilityFeature], BeforeValidator(_mobility_list)] = Field(default_factory=list)
    """Mobility features the user is configured for: mobile_twinning, mobile_call_control,
    one_x_mobile_client (`true`: mobile_twinning). One Mobility Features instance per user
    configured for any of them [S1]."""
    softconsole: bool = False
    """The user is configured as a SoftConsole operator."""
    call_appearances: int | None = Field(default=None, ge=1, le=10)
    """Calls the user's extension can be party to at once (default: its phone's, in
    firmware_models/hardware.yaml: 1 for analog and DECT, 3 for phones with buttons)."""
    login_code: Digits | None = Field(default=None, pattern=r"^\d{1,15}$")
    """Login code; with forced_login the user is a CCC agent."""
    forced_login: bool = False
    """The user must log in; with a login code the user is a CCC agent."""
    sip_password: str | None = Field(default=None, min_length=1, max_length=128)
    """With ipo-emu serve --sip: the phone's REGISTER must answer a Digest challenge with this password."""

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


class HuntGroupConfig(_Strict):
    name: Name
    """The group's name."""
    extension: Digits = Field(pattern=r"^\d{2,9}$")
    """The group's number: the party name calls to the group use."""
    members: list[Digits] = Field(min_length=1)
    """Extensions of users on this unit, in hunting order."""
    hunting: Literal["sequential", "rotary"] = "sequential"
    """sequential: the first member with a free call appearance, from the top each time;
    rotary: the next one after the member who took the last call."""


class VoicemailConfig(_Strict):
    type: Literal["voicemail_pro", "embedded"] = "voicemail_pro"
    """voicemail_pro: a voicemail server PC, Voicemail Pro with its license, else Voicemail
    Lite (free); embedded: the control unit's embedded voicemail (free, on the units that have it)."""
    central: str | None = None
    """In a Small Community Network: the unit hosting the central Voicemail Pro (None: this one)."""

    @model_validator(mode="after")
    def _central_is_a_server(self) -> VoicemailConfig:
        if self.central and self.type != "voicemail_pro":
            raise ValueError("voicemail.central: only a Voicemail Pro server is shared across a network")
        return self


class SmdrDestination(_Strict):
    host: str = Field(min_length=1, max_length=253)
    """Where the call logger listens (a name or an address)."""
    port: int = Field(ge=1, le=65535)
    """Its TCP port."""
    buffer: int = Field(default=500, ge=10, le=3000)
    """Records kept while the destination cannot be reached; the newest overwrite the oldest."""


class UnitConfig(_Strict):
    name: Name = "unit1"
    """The unit's name, used by events, traffic and expectations."""
    model: str = "IP500"
    """The control unit model, e.g. IP500, IP500V2, IP406V2, IP412, SmallOfficeEdition."""
    release: ReleaseName = "6.0"
    """The IP Office release, e.g. \"6.0\" or \"4.2\"."""
    feature_key: str = "virtual:12345678"
    """A feature-key URL: virtual:SERIAL, smartcard:SERIAL, sdcard:SERIAL, serial://PORT, usb:VID:PID."""
    feature_key_check_s: float | None = Field(default=None, gt=0, le=86_400)
    """How often a polled key (serial, USB) is re-read; default: the release's check interval."""
    grace_period_s: float | None = Field(default=None, ge=0, le=365 * 86_400)
    licenses: list[str] = Field(default_factory=list)
    """License keys installed at the start."""
    vcm_modules: list[VcmModuleConfig] = Field(default_factory=list)
    """Voice compression modules fitted: [{type, codec}]."""
    trunks: list[TrunkConfig] = Field(default_factory=list)
    """Lines: SIP trunks, PRI, analog, H.323 lines to other units of a network."""
    users: list[UserConfig] = Field(default_factory=list)
    """Users and their extensions and phones."""
    groups: list[HuntGroupConfig] = Field(default_factory=list)
    """Hunt groups: a call to the group's number rings its first free member; when every
    member is busy it is refused as extension_busy."""
    voicemail: VoicemailConfig | None = None
    """Voicemail: {} for a Voicemail Pro server on this unit (Voicemail Lite without its
    license), {type: embedded} for embedded voicemail, {central: UNIT} to use another unit's."""
    delta_server: bool = False
    """Run the Delta Server (Compact Contact Center / CBC data source), one per unit."""
    contactstore: bool = False
    """Record calls with ContactStore (one ContactStore license per system [S19][S22])."""
    expansion_modules: int = Field(default=0, ge=0, le=12)
    """Expansion modules fitted; on an IP500 they need Professional Edition [S4]."""
    smdr: SmdrDestination | None = None
    """Send an SMDR record per call segment to a call logger: {host, port, buffer}, on the
    wall clock (ipo-emu run --realtime, ipo-emu serve); docs/smdr.md."""

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
        if self.voicemail is not None and self.voicemail.type == "embedded" \
                and unit.id not in release.voicemail.embedded_units:
            raise ValueError(f"voicemail.type: a {unit.name} has no embedded voicemail in release {self.release}")
        names: dict[str, str] = {VOICEMAIL_PARTY: "the voicemail party"}
        for i, trunk in enumerate(self.trunks):
            _unique(names, trunk.name, f"trunks[{i}].name")
        for i, user in enumerate(self.users):
            _unique(names, user.extension, f"users[{i}].extension")
            phone = hardware_catalogue().phone(user.phone)
            if user.vpnremote and not phone.is_ip:
                raise ValueError(f"users[{i}].vpnremote: a {user.phone} phone is not an IP phone")
        extensions = {u.extension for u in self.users}
        for i, trunk in enumerate(self.trunks):
            route = trunk.incoming_call_route
            if route is not None and route not in extensions | {g.extension for g in self.groups} | {VOICEMAIL_PARTY}:
                raise ValueError(f"trunks[{i}].incoming_call_route: no extension or group {route!r} on this unit")
        for i, group in enumerate(self.groups):
            _unique(names, group.extension, f"groups[{i}].extension")
            for j, member in enumerate(group.members):
                if member not in extensions:
                    raise ValueError(f"groups[{i}].members[{j}]: no user with extension {member!r}")
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

    def feature_key_medium(self) -> tuple[str | None, list[str]]:
        """(the medium of the fitted key, the media the real unit takes).

        Shown, never enforced: attaching a real serial dongle to an emulated IP500 (whose
        real key is a smart card) is one of the emulator's main uses. The medium is None
        for virtual and third-party keys.
        """
        interface = self.feature_key.partition(":")[0].lower()
        return KEY_TYPES.get(interface), list(self.unit_model().feature_key_types)

    def unit_model(self) -> ControlUnitModel:
        return self.release_data().unit(self.model)


def _unique(names: dict[str, str], name: str, where: str) -> None:
    if name in names:
        raise ValueError(f"{where}: {name!r} is already used by {names[name]}")
    names[name] = where
