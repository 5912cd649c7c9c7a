"""One control unit's rules: sans-IO, given events and a time, it returns decisions.

UnitCore owns the license engine, the unit's resource pools (VCM channels, trunk channels,
IP extension slots, Delta Server clients) and the parties. Calls, registrations,
applications and configured features are separate rule sets sharing this state. When
licenses change (a trial expires, the feature key is pulled), the unit re-derives what
depends on them at once and reports it as CoreEvents.
"""

from __future__ import annotations

from collections.abc import Mapping

from firmware_models import hardware_catalogue
from emulator.config import VOICEMAIL_PARTY, UnitConfig
from emulator.licensing import (
    CountedPool,
    FeatureKeyChanged,
    InstalledLicense,
    KeyAuthority,
    LicenseEngine,
    LicenseStatusChanged,
    PoolLimitChanged,
)
from emulator.reasons import Reason
from emulator.rules.applications import Applications
from emulator.rules.calls import CallTable
from emulator.rules.configured import ConfiguredFeatures
from emulator.rules.decision import CoreEvent
from emulator.rules.parties import EXTENSION, GROUP, TRUNK, VOICEMAIL, Party
from emulator.rules.registrations import Registrar
from emulator.rules.vcm import free_avaya_ip_endpoints, free_ip500_vcm_channels, vcm_channel_limit

NEVER = float("inf")
IP500_FAMILY = "ip500_vcm"


APPEARANCE_POOL = "ext:"
"""The prefix of an extension's call-appearance pool (ext:201): per user, not a license."""


class UnitCore:
    def __init__(self, config: UnitConfig, authority: KeyAuthority, *, now: float,
                 revoked: Mapping[str, str] | None = None) -> None:
        """revoked: keys the issuer registry records as exchanged (they are refused)."""
        self.config = config
        self.name = config.name
        self.release = config.release_data()
        self.model = config.unit_model()
        self.engine = LicenseEngine(self.release, self.model, authority,
                                    grace_period_s=config.grace_period_s, now=now, revoked=revoked)
        self.events: list[CoreEvent] = []
        self.deadline = NEVER
        self.voicemail_running = False
        self.voicemail_mode: str | None = None  # "pro", "lite", "embedded" (configured.py)
        self._absent_reason = "removed"
        self._voicemail_free_ports = 0
        self.delta_server_running = False

        self.vcm = CountedPool("vcm_channels", 0, Reason.NO_VCM_CHANNEL)
        non_ip = sum(1 for u in config.users if not hardware_catalogue().phone(u.phone).is_ip)
        # IP phones: the extension limit less the non-IP extensions fitted, within the IP limit [S9][S10].
        ip_slots = min(self.model.capacity("ip_extensions"), self.model.capacity("extensions") - non_ip)
        self.ip_extensions = CountedPool("ip_extensions", max(0, ip_slots), Reason.CAPACITY_REACHED)
        self.delta_server_clients = CountedPool(
            "delta_server_clients", self.model.capacity("delta_server_clients"), Reason.CAPACITY_REACHED)
        self.trunk_pools: dict[str, CountedPool] = {}
        self.extension_pools: dict[str, CountedPool] = {}  # call appearances per extension
        self.parties: dict[str, Party] = {}
        self._build_parties()

        self.calls = CallTable(self)
        self.registrar = Registrar(self)
        self.applications = Applications(self)
        self.configured = ConfiguredFeatures(self)

        if self.release.vcm.ip500_license_pool is not None:
            self.engine.set_free_instances(self.release.vcm.ip500_license_pool,
                                           free_ip500_vcm_channels(self.release, config.vcm_modules), now)
        avaya_pool = self.release.endpoints.avaya_ip_pool_on(self.model.id)
        if avaya_pool is not None:
            self.engine.set_free_instances(avaya_pool,
                                           free_avaya_ip_endpoints(self.model, self.release, config.vcm_modules), now)
        for key in config.licenses:
            self.engine.install(key, now)
        self._refresh(now)

    # -- parties -----------------------------------------------------------------------

    def _build_parties(self) -> None:
        pool = self.engine.pool
        for trunk in self.config.trunks:
            channels = CountedPool(f"trunk:{trunk.name}", trunk.channels, Reason.TRUNK_BUSY)
            self.trunk_pools[trunk.name] = channels
            line: tuple[CountedPool, ...] = (channels,)
            if trunk.type == "sip":
                line += (pool("sip_trunk_channels"),)
            elif trunk.type == "h323_scn" and IP500_FAMILY in self.model.vcm_module_families:
                line += (pool("ip500_voice_networking"),)  # needed on IP500 systems only [S17]
            self.parties[trunk.name] = Party(trunk.name, TRUNK, is_ip=trunk.is_ip, codec=trunk.codec,
                                             sip=trunk.type == "sip", line_pools=line, trunk=trunk)
        catalogue = hardware_catalogue()
        for user in self.config.users:
            phone = catalogue.phone(user.phone)
            appearances = user.call_appearances or catalogue.appearances(user.phone)
            extension = CountedPool(f"{APPEARANCE_POOL}{user.extension}", appearances, Reason.EXTENSION_BUSY)
            self.extension_pools[user.extension] = extension
            self.parties[user.extension] = Party(user.extension, EXTENSION, is_ip=phone.is_ip, codec=user.codec,
                                                 user=user, phone=phone, line_pools=(extension,))
        for group in self.config.groups:
            party = Party(group.extension, GROUP, is_ip=False, codec="g711")
            party.members = tuple(self.parties[m] for m in group.members)
            party.rotary = group.hunting == "rotary"
            self.parties[group.extension] = party
        voicemail = self.config.voicemail
        if voicemail is not None and voicemail.type == "embedded":
            # Embedded voicemail's free sessions: no Voicemail Pro license adds to them
            sessions: CountedPool = CountedPool("embedded_voicemail_ports", self.release.voicemail.embedded_ports.value,
                                                Reason.CAPACITY_REACHED)
            self.embedded_voicemail_ports: CountedPool | None = sessions
        else:
            sessions, self.embedded_voicemail_ports = pool("voicemail_pro_ports"), None
        self.parties[VOICEMAIL_PARTY] = Party(VOICEMAIL_PARTY, VOICEMAIL, is_ip=False, codec="g711",
                                              line_pools=(sessions,))

    def party(self, name: str) -> Party:
        try:
            return self.parties[name]
        except KeyError:
            raise LookupError(f"unit {self.name}: no extension, trunk or line named {name!r}") from None

    def scn_line_to(self, unit_name: str) -> Party | None:
        for party in self.parties.values():
            if party.trunk is not None and party.trunk.type == "h323_scn" and party.trunk.peer == unit_name:
                return party
        return None

    # -- the feature key, licenses, time -----------------------------------------------

    def feature_key_read(self, serial: str, now: float) -> None:
        self.engine.feature_key_read(serial, now)
        self._refresh(now)

    def feature_key_lost(self, now: float, reason: str = "removed") -> None:
        """The key stopped answering; reason (removed, no_answer, noise, authentication_failed,
        wrong_serial, error) goes into the feature_key.absent event."""
        self._absent_reason = reason
        self.engine.feature_key_lost(now)
        self._refresh(now)

    def install_license(self, key: str, now: float) -> InstalledLicense:
        lic = self.engine.install(key, now)
        self._refresh(now)
        return lic

    def remove_license(self, key: str, now: float) -> bool:
        """Take a key out of the configuration; False when it was not installed."""
        removed = self.engine.uninstall(key, now)
        self._refresh(now)
        return removed

    def advance(self, now: float) -> None:
        """Let time pass; the rule sets call this themselves when a deadline is due."""
        self.engine.advance(now)
        self._refresh(now)

    def next_deadline(self) -> float | None:
        return None if self.deadline == NEVER else self.deadline

    def take_events(self) -> list[CoreEvent]:
        events, self.events = self.events, []
        return events

    def emit(self, now: float, name: str, **data: object) -> None:
        self.events.append(CoreEvent(now, name, data))

    def _refresh(self, now: float) -> None:
        """Turn the engine's changes into events and re-derive what depends on licenses."""
        self._set_free_voicemail_ports(now)
        changed_pools = set()
        for change in self.engine.take_changes():
            if isinstance(change, LicenseStatusChanged):
                self.emit(change.at, f"license.{change.new.value.lower()}", key=change.key,
                          feature=change.feature_id, previous=change.old and change.old.value, detail=change.detail)
            elif isinstance(change, PoolLimitChanged):
                changed_pools.add(change.pool_id)
                self.emit(change.at, "pool.limit_changed", pool=change.pool_id, licensed=change.licensed,
                          effective=change.effective, in_use=change.in_use)
            elif isinstance(change, FeatureKeyChanged):
                extra = {"reason": self._absent_reason} if change.state == "absent" else {}
                self.emit(change.at, f"feature_key.{change.state}", serial=change.serial, **extra)
        ip500_pool = self.release.vcm.ip500_license_pool
        ip500_channels = self.engine.pool(ip500_pool).effective if ip500_pool else None
        limit = vcm_channel_limit(self.model, self.release, self.config.vcm_modules, ip500_channels)
        if limit != self.vcm.effective:
            self.vcm.set_resource_limit(limit, Reason.NO_VCM_CHANNEL)
            self.emit(now, "pool.limit_changed", pool="vcm_channels", licensed=limit, effective=limit,
                      in_use=self.vcm.in_use)
        self.configured.reassign(now, changed_pools)
        self.registrar.serve_unlicensed(now)
        deadline = self.engine.next_deadline()
        self.deadline = NEVER if deadline is None else deadline

    def _set_free_voicemail_ports(self, now: float) -> None:
        """A voicemail server's sessions are counted in the voicemail_pro_ports pool: Voicemail
        Pro's licensed ports, or, with no Voicemail Pro license, the free sessions of Voicemail
        Lite. (Embedded voicemail has a pool of its own, embedded_voicemail_ports.)"""
        voicemail = self.config.voicemail
        free = 0
        if voicemail is not None and voicemail.central is None and voicemail.type == "voicemail_pro" \
                and self.engine.pool("voicemail_pro").effective < 1:
            free = self.release.voicemail.lite_ports.value
        if free != self._voicemail_free_ports:
            self._voicemail_free_ports = free
            self.engine.set_free_instances("voicemail_pro_ports", free, now)

    # -- a view for reports and invariant checks -----------------------------------------

    def all_pools(self) -> dict[str, CountedPool]:
        pools: dict[str, CountedPool] = dict(self.engine.pools)
        pools["vcm_channels"] = self.vcm
        pools["ip_extensions"] = self.ip_extensions
        pools["delta_server_clients"] = self.delta_server_clients
        if self.embedded_voicemail_ports is not None:
            pools["embedded_voicemail_ports"] = self.embedded_voicemail_ports
        pools.update((pool.pool_id, pool) for pool in self.trunk_pools.values())
        pools.update((pool.pool_id, pool) for pool in self.extension_pools.values())
        return pools
