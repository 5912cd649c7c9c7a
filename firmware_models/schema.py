"""Pydantic schema of a firmware release's data file.

Everything that differs between control units and releases is data, checked here once at
load time, so the licensing core can trust it and stay free of special cases.
Every figure carries either a `source` tag (from the reference sheet) or an `assumption`
with a one-line reason: nothing in the data is silently invented.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Identifier = str  # snake_case; checked by the pattern on each field that holds one
ID_PATTERN = r"^[a-z][a-z0-9_]*$"

ConsumptionKind = Literal["when_configured", "at_registration", "while_in_use", "while_running"]
"""When an instance of a pool is taken: the licensing document's [S1] 'when configured' versus 'when used',
with 'used' split into the three ways the product uses things."""

FeatureKeyType = Literal["smart_card", "sd_card", "serial", "parallel", "usb"]
PhoneKind = Literal["avaya_ip", "ip_dect", "third_party_ip", "analog", "digital"]
Codec = Literal["g711", "g729a", "g723"]
VcmFamily = Literal["ip500_vcm", "ip500_combo", "ip400_vcm"]
IP_PHONE_KINDS = frozenset({"avaya_ip", "ip_dect", "third_party_ip"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Provenance(_Strict):
    """Where a fact comes from: a reference source tag, or our own documented choice."""

    source: str | None = None
    assumption: str | None = None

    @model_validator(mode="after")
    def _exactly_one_origin(self) -> _Provenance:
        if (self.source is None) == (self.assumption is None):
            raise ValueError("give exactly one of 'source' or 'assumption'")
        return self


class Figure(_Provenance):
    """A number with its provenance."""

    value: int = Field(ge=0)


class ControlUnitModel(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str
    feature_key_types: list[FeatureKeyType] = Field(min_length=1)
    capacities: dict[str, Figure]
    vcm_module_families: list[VcmFamily] = Field(default_factory=list)
    """Which VCM modules fit; a unit with none has built_in_vcm_channels instead."""
    assumption: str | None = None  # set when the unit's presence in this release is our choice

    def capacity(self, name: str) -> int:
        return self.capacities[name].value


class PoolSpec(_Provenance):
    """A counted resource that licenses fill and that calls, phones or applications consume."""

    counts: str
    consumed: ConsumptionKind
    capped_by: str | None = None  # a capacity name; None means no control-unit cap is known


class LicenseSpec(_Provenance):
    id: str = Field(pattern=ID_PATTERN)
    name: str
    category: Literal["general", "ip500", "contact_center", "voicemail", "r6"]
    grants: dict[str, int] = Field(default_factory=dict)
    """Pool id -> instances of that pool per license instance. Empty means {id: 1}."""
    requires: list[str] = Field(default_factory=list)
    """License ids that must be Valid too; when one is missing this license is Dormant."""
    control_units: list[str] | Literal["all"] = "all"
    trial: bool = False
    """Whether a 60-day trial variant can be requested."""
    obsolete: bool = False
    """Known to this release but not used by it (status Obsolete)."""
    enforced: bool = True
    """False: catalogued only. Keys of it install, validate and count instances, but no
    runtime rule uses it, because what it gates is not modelled; reports and
    `ipo-emu models show` say "catalogued, not enforced" so a Valid status is not read as
    behaviour."""
    obsolete_on: list[str] = Field(default_factory=list)
    """Control units on which this release no longer uses the license (status Obsolete there)."""
    default_instances: int = Field(default=1, ge=1)

    def pool_grants(self) -> dict[str, int]:
        return dict(self.grants) if self.grants else {self.id: 1}

    def supported_on(self, unit_id: str) -> bool:
        return self.control_units == "all" or unit_id in self.control_units

    def obsolete_for(self, unit_id: str) -> bool:
        return self.obsolete or unit_id in self.obsolete_on


class LicenseSet(_Provenance):
    """An orderable item that becomes several license entries in the configuration."""

    id: str = Field(pattern=ID_PATTERN)
    name: str
    expands_to: dict[str, int] = Field(min_length=1)


class FeatureKeyPolicy(_Strict):
    grace_period_s: Figure
    """How long licenses stay valid after the feature key stops answering."""
    trial_days: Figure
    check_interval_s: Figure
    """How often a unit re-reads its feature key."""


class EndpointPolicy(_Provenance):
    """Which pool IP phones draw on at registration in this release."""

    avaya_ip_pool: str | None
    """Pool Avaya IP phones and IP DECT take at registration on avaya_ip_units; None: they need no license."""
    avaya_ip_units: list[str] = Field(default_factory=list)
    """Control units on which Avaya IP phones need avaya_ip_pool; on the others they register
    without any license. On these units VPNremote phones, being Avaya IP phones, take it too."""
    vpnremote_pool: str
    """Pool a phone registering through the VPNremote client takes (outside avaya_ip_units)."""

    def avaya_ip_pool_on(self, unit_id: str) -> str | None:
        return self.avaya_ip_pool if unit_id in self.avaya_ip_units else None

    def vpnremote_pool_on(self, unit_id: str) -> str:
        return self.avaya_ip_pool_on(unit_id) or self.vpnremote_pool
    free_avaya_ip_per_ip500_vcm_card: int = Field(ge=0)
    free_avaya_ip_per_ip400_vcm_channel: int = Field(ge=0)


class VoicemailPolicy(_Provenance):
    """The free voicemail of the "Lite" level [S1]: what a unit has without Voicemail Pro."""

    lite_ports: Figure
    """Sessions of a voicemail server running without a Voicemail Pro license (Voicemail Lite)."""
    embedded_ports: Figure
    """Sessions of embedded voicemail (on the control unit's memory card), without any license."""
    embedded_units: list[str] = Field(default_factory=list)
    """Control units with embedded voicemail in this release."""


class VcmPolicy(_Provenance):
    module_types: list[str] = Field(min_length=1)
    """VCM module types this release accepts."""
    ip500_card_free_channels: int | None = Field(default=None, ge=0)
    """Channels per IP500 VCM card usable without a license; None: every channel is free."""
    ip500_license_pool: str | None = None
    """Pool whose licenses enable the rest of an IP500 card's channels."""


class Assumption(_Strict):
    topic: str
    choice: str
    reason: str


class Release(_Strict):
    release: str = Field(pattern=r"^\d+\.\d+$")
    feature_key: FeatureKeyPolicy
    control_units: list[ControlUnitModel] = Field(min_length=1)
    pools: dict[str, PoolSpec]
    licenses: list[LicenseSpec]
    license_sets: list[LicenseSet] = Field(default_factory=list)
    endpoints: EndpointPolicy
    vcm: VcmPolicy
    voicemail: VoicemailPolicy
    assumptions: list[Assumption] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross_references(self) -> Release:
        unit_ids = [u.id for u in self.control_units]
        _no_duplicates("control unit", unit_ids)
        license_ids = [lic.id for lic in self.licenses]
        _no_duplicates("license", license_ids)
        _no_duplicates("license set", [s.id for s in self.license_sets])
        known_licenses = set(license_ids)
        for lic in self.licenses:
            for pool_id, per_instance in lic.pool_grants().items():
                if pool_id not in self.pools:
                    raise ValueError(f"licenses.{lic.id}.grants: unknown pool {pool_id!r}")
                if per_instance < 1:
                    raise ValueError(f"licenses.{lic.id}.grants.{pool_id}: must be >= 1")
                cap = self.pools[pool_id].capped_by
                for unit in self.control_units:
                    if cap is not None and lic.supported_on(unit.id) and cap not in unit.capacities:
                        raise ValueError(
                            f"pools.{pool_id}.capped_by: control unit {unit.id!r} supports "
                            f"{lic.id!r} but has no capacity {cap!r}"
                        )
            for req in lic.requires:
                if req not in known_licenses:
                    raise ValueError(f"licenses.{lic.id}.requires: unknown license {req!r}")
            for field in ("control_units", "obsolete_on"):
                listed = getattr(lic, field)
                for unit_id in [] if listed == "all" else listed:
                    if unit_id not in unit_ids:
                        raise ValueError(f"licenses.{lic.id}.{field}: unknown control unit {unit_id!r}")
        for unit_id in self.voicemail.embedded_units:
            if unit_id not in unit_ids:
                raise ValueError(f"voicemail.embedded_units: unknown control unit {unit_id!r}")
        for unit_id in self.endpoints.avaya_ip_units:
            if unit_id not in unit_ids:
                raise ValueError(f"endpoints.avaya_ip_units: unknown control unit {unit_id!r}")
        if self.endpoints.avaya_ip_units and self.endpoints.avaya_ip_pool is None:
            raise ValueError("endpoints.avaya_ip_units: give avaya_ip_pool too")
        for pool_ref, where in ((self.endpoints.avaya_ip_pool, "endpoints.avaya_ip_pool"),
                                (self.endpoints.vpnremote_pool, "endpoints.vpnremote_pool"),
                                (self.vcm.ip500_license_pool, "vcm.ip500_license_pool")):
            if pool_ref is not None and pool_ref not in self.pools:
                raise ValueError(f"{where}: unknown pool {pool_ref!r}")
        if (self.vcm.ip500_card_free_channels is None) != (self.vcm.ip500_license_pool is None):
            raise ValueError("vcm: give both ip500_card_free_channels and ip500_license_pool, or neither")
        for lset in self.license_sets:
            for lic_id, count in lset.expands_to.items():
                if lic_id not in known_licenses:
                    raise ValueError(f"license_sets.{lset.id}.expands_to: unknown license {lic_id!r}")
                if count < 1:
                    raise ValueError(f"license_sets.{lset.id}.expands_to.{lic_id}: must be >= 1")
        return self

    def unit(self, name: str) -> ControlUnitModel:
        """Find a control unit by id or display name, ignoring case, spaces, '-' and '_'."""
        wanted = _fold(name)
        for unit in self.control_units:
            if wanted in (_fold(unit.id), _fold(unit.name)):
                return unit
        names = ", ".join(u.name for u in self.control_units)
        raise LookupError(f"unknown control unit {name!r} in release {self.release} (known: {names})")

    def license(self, license_id: str) -> LicenseSpec:
        for lic in self.licenses:
            if lic.id == license_id:
                return lic
        raise LookupError(f"unknown license {license_id!r} in release {self.release}")

    def license_set(self, set_id: str) -> LicenseSet:
        for lset in self.license_sets:
            if lset.id == set_id:
                return lset
        raise LookupError(f"unknown license set {set_id!r} in release {self.release}")

    def licenses_by_id(self) -> dict[str, LicenseSpec]:
        return {lic.id: lic for lic in self.licenses}


def _fold(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch not in " -_")


def _no_duplicates(what: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"duplicate {what} id {item!r}")
        seen.add(item)


class PhoneModel(_Provenance):
    model: str
    kind: PhoneKind
    family: str
    vpnremote: bool = False
    """Can run the Avaya VPNremote client (5610 and 5621 only, per the licensing document [S1])."""

    @property
    def is_ip(self) -> bool:
        return self.kind in IP_PHONE_KINDS


class VcmModuleType(_Provenance):
    type: str = Field(pattern=ID_PATTERN)
    name: str
    family: VcmFamily
    channels: dict[Codec, int]


class HardwareCatalogue(_Strict):
    codecs: list[Codec]
    call_appearances: dict[PhoneKind, Figure]
    """How many calls an extension of each kind can be party to at once (its call appearances)."""
    phones: list[PhoneModel]
    vcm_modules: list[VcmModuleType]

    @model_validator(mode="after")
    def _complete(self) -> HardwareCatalogue:
        _no_duplicates("phone model", [p.model for p in self.phones])
        _no_duplicates("VCM module type", [m.type for m in self.vcm_modules])
        kinds = {p.kind for p in self.phones}
        if kinds - set(self.call_appearances):
            raise ValueError(f"call_appearances: no figure for {sorted(kinds - set(self.call_appearances))}")
        for module in self.vcm_modules:
            missing = set(self.codecs) - set(module.channels)
            if missing:
                raise ValueError(f"vcm_modules.{module.type}.channels: no figure for {sorted(missing)}")
        return self

    def appearances(self, model: str) -> int:
        return self.call_appearances[self.phone(model).kind].value

    def phone(self, model: str) -> PhoneModel:
        for phone in self.phones:
            if phone.model == model:
                return phone
        raise LookupError(f"unknown phone model {model!r}")

    def vcm_module(self, module_type: str) -> VcmModuleType:
        for module in self.vcm_modules:
            if module.type == module_type:
                return module
        raise LookupError(f"unknown VCM module type {module_type!r}")
