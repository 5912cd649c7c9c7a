"""Features whose licenses are consumed when configured, re-derived whenever licenses change.

Each is a function of the configuration and the current license limits: the unit hands
out instances in a fixed, documented order, and hands them out again whenever a limit
changes. A feature that loses its license stops at once. That is harsher than the rule for
calls (which keep what they hold until they end), and it is what "consumed when configured"
means.

Order and rules:
- Voicemail (this unit hosts it): a voicemail server PC runs as Voicemail Pro when one
  voicemail_pro instance is free for it, and otherwise as the free Voicemail Lite [S1];
  embedded voicemail needs no license. Lite and embedded voicemail have free sessions
  (release data `voicemail`); Voicemail Pro's come from its licenses (UnitCore sets them).
- ContactStore runs only with Voicemail Pro: this unit's (licensed, not Lite) or the
  network's central server.
- Delta Server (delta_server: true): one compact_contact_center instance [S24].
- Mobility: users configured for any mobility feature (Mobile Twinning, Mobile Call Control,
  one-X Mobile Client) take one Mobility Features instance each, by extension number; the
  rest run without [S1]. Mobile Call Control and one-X Mobile Client run on the IP500 only
  [S1] (the IP500 V2 included: an assumption); elsewhere they are refused with
  not_supported_on_unit, and a user with no other mobility feature takes no instance.
- CCC agents: users with a login code and forced login, by extension number, only while the
  Delta Server runs [S25][S26].
- IP500 PRI trunks: 8 channels free per trunk card; the rest need Universal PRI licenses,
  given to trunks in configuration order [S28]. One PRI trunk is taken to be one card.
- Reserve License extensions: an Avaya IP Endpoints instance each, by extension number,
  kept while unregistered [S8].
- ContactStore (contactstore: true): one contactstore instance per system, also on the
  remote units of a network with central voicemail [S19][S22].
- Expansion modules on an IP500: they run only in Professional Edition, i.e. with an IP500
  Upgrade Standard to Professional license [S4]. The extensions on them are not modelled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emulator.config import IP500_ONLY_MOBILITY
from emulator.licensing import CountedPool
from emulator.reasons import Reason

if TYPE_CHECKING:
    from emulator.rules.unit_core import UnitCore

PRI_FREE_CHANNELS = 8
VOICEMAIL_MODES = {"voicemail_pro_server": "pro", "voicemail_lite": "lite", "embedded_voicemail": "embedded"}
"""The event prefix announcing each way a unit's voicemail is served."""
_WATCHED = {"voicemail_pro", "compact_contact_center", "mobility_features", "ccc_agent", "contactstore",
            "ip500_universal_pri_additional_channels", "avaya_ip_endpoints", "ip500_upgrade_standard_to_professional"}


class ConfiguredFeatures:
    def __init__(self, core: UnitCore) -> None:
        self.core = core
        config = core.config
        users = sorted(config.users, key=lambda u: (len(u.extension), u.extension))
        ip500 = "ip500_vcm" in core.model.vcm_module_families  # the IP500 and IP500 V2
        self.mobility_features = {u.name: tuple(f for f in u.mobility if ip500 or f not in IP500_ONLY_MOBILITY)
                                  for u in users if u.mobility}
        self.mobility_unsupported = [(u.name, f) for u in users for f in u.mobility
                                     if not ip500 and f in IP500_ONLY_MOBILITY]
        self.mobility_users = [name for name, features in self.mobility_features.items() if features]
        self.agents = [u.name for u in users if u.is_ccc_agent]
        self.reserving = [u.extension for u in users if u.reserve_license and core.parties[u.extension].is_ip
                          and core.parties[u.extension].phone.kind in ("avaya_ip", "ip_dect")]
        self.pri_trunks = [t.name for t in config.trunks if t.type == "pri"]
        self.licensed: dict[str, set[str]] = {"mobility_features": set(), "ccc_agent": set()}
        self._held: dict[str, int] = {}
        self._refused: set[tuple[str, str]] = set()  # (pool, what) refused at the last pass
        self._refusing: set[tuple[str, str]] = set()  # ... at this pass
        self._first = True
        self.contactstore_running = False
        self.expansion_modules_running = False

    def reassign(self, now: float, changed_pools: set[str]) -> None:
        if not self._first and not (changed_pools & _WATCHED):
            return
        if self._first:
            for user, feature in self.mobility_unsupported:
                self.core.emit(now, "feature.rejected", feature=feature, user=user,
                               reason=Reason.NOT_SUPPORTED_ON_UNIT.value, detail=f"{feature} runs on the IP500 only")
        self._first = False
        core = self.core
        pool = core.engine.pool
        for pool_id, count in self._held.items():
            if count:
                pool(pool_id).release(now, count)
        self._held = {}
        self._refusing = set()

        voicemail = core.config.voicemail
        mode = None
        if voicemail is not None and voicemail.central is None:
            if voicemail.type == "embedded":
                mode = "embedded"
            else:
                mode = "pro" if self._take("voicemail_pro", "server", now) else "lite"
        for name, served in VOICEMAIL_MODES.items():
            self._announce(now, name, mode == served, core.voicemail_mode == served)
        core.voicemail_mode = mode
        core.voicemail_running = mode is not None

        running = core.config.delta_server and self._take("compact_contact_center", "delta_server", now)
        self._announce(now, "delta_server", running, core.delta_server_running)
        core.delta_server_running = running

        # ContactStore needs Voicemail Pro: this unit's, licensed, or the network's central one
        pro = mode == "pro" or (voicemail is not None and voicemail.central is not None)
        running = core.config.contactstore and pro and self._take("contactstore", "server", now)
        self._announce(now, "contactstore", running, self.contactstore_running)
        self.contactstore_running = running

        ip500 = "ip500_vcm" in core.model.vcm_module_families
        running = core.config.expansion_modules > 0 and (not ip500 or self._take("ip500_upgrade_standard_to_professional", "expansion_modules", now))
        self._announce(now, "expansion_modules", running, self.expansion_modules_running)
        self.expansion_modules_running = running

        self._assign(now, "mobility_features", self.mobility_users, enabled=True)
        self._assign(now, "ccc_agent", self.agents, enabled=core.delta_server_running)
        self._assign_pri(now)
        self._reserve_endpoints(now)
        self._refused = self._refusing

    def baseline(self) -> dict[str, int]:
        """Instances held by the configuration itself (not by calls, phones or applications)."""
        held = {pool_id: count for pool_id, count in self._held.items() if count}
        registrar = self.core.registrar
        if registrar.reserved and registrar.avaya_pool is not None:
            pool_id = registrar.avaya_pool.pool_id
            held[pool_id] = held.get(pool_id, 0) + len(registrar.reserved)
        return held

    def _take(self, pool_id: str, what: str, now: float) -> bool:
        if self._grant(self.core.engine.pool(pool_id), what, now):
            self._held[pool_id] = self._held.get(pool_id, 0) + 1
            return True
        return False

    def _grant(self, pool: CountedPool, what: str, now: float) -> bool:
        """One instance for `what`, if there is one.

        Every change of licenses hands the instances out again, so a refusal is counted in
        the pool only when `what` is newly refused (not at every pass while it stays
        without), and not before the feature key has first been read (the unit is still
        starting: nothing has been refused yet).
        """
        if pool.in_use < pool.effective:
            pool.try_acquire(now)
            return True
        if self.core.engine.feature_key_state != "unread":
            refused = (pool.pool_id, what)
            self._refusing.add(refused)
            if refused not in self._refused:
                pool.count_refusal()
        return False

    def _assign(self, now: float, pool_id: str, users: list[str], *, enabled: bool) -> None:
        before = self.licensed[pool_id]
        after = {name for name in users if enabled and self._take(pool_id, name, now)}
        for name in users:
            if (name in after) != (name in before):
                self.core.emit(now, "feature.licensed" if name in after else "feature.unlicensed",
                               feature=pool_id, user=name)
        self.licensed[pool_id] = after

    def _assign_pri(self, now: float) -> None:
        core = self.core
        licensed = "ip500_vcm" in core.model.vcm_module_families  # the PRI license is an IP500 one
        for name in self.pri_trunks:
            trunk_pool = core.trunk_pools[name]
            wanted = core.parties[name].trunk.channels
            enabled = wanted
            if licensed:
                enabled = min(wanted, PRI_FREE_CHANNELS)
                while enabled < wanted and self._take("ip500_universal_pri_additional_channels", f"{name}#{enabled}", now):
                    enabled += 1
            if enabled != trunk_pool.effective:
                trunk_pool.set_resource_limit(enabled, Reason.TRUNK_BUSY)
                core.emit(now, "pool.limit_changed", pool=trunk_pool.pool_id, licensed=enabled,
                          effective=enabled, in_use=trunk_pool.in_use)

    def _reserve_endpoints(self, now: float) -> None:
        """Reserved licenses are kept once taken; extensions still lacking one try again."""
        registrar = self.core.registrar
        pool: CountedPool | None = registrar.avaya_pool
        if pool is None:
            return
        for extension in self.reserving:
            if extension not in registrar.reserved and self._grant(pool, extension, now):
                registrar.reserved.add(extension)
                party = self.core.parties[extension]
                if party.registered and not party.endpoint_licensed:
                    registrar.unlicensed.remove(party)
                    party.endpoint_licensed = True
                self.core.emit(now, "endpoint.license_reserved", extension=extension)

    @staticmethod
    def _announce_name(feature: str, running: bool) -> str:
        return f"{feature}.{'running' if running else 'stopped'}"

    def _announce(self, now: float, feature: str, running: bool, before: bool) -> None:
        if running != before:
            self.core.emit(now, self._announce_name(feature, running))
