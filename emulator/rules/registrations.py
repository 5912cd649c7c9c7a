"""IP phone registrations and the endpoint licenses they take.

- Avaya IP phones register without a license [S1], except from 6.0 on the IP500 and IP500
  V2 ("On IP500 and IP500 V2 systems, each Avaya IP phone requires a license" [S8]): there
  each takes an Avaya IP Endpoints instance at registration; without one it still
  registers, but for emergency calls only. When an instance frees, waiting IP DECT handsets
  are served first, then other Avaya IP phones in registration order [S8][S29].
- A third-party IP phone takes a 3rd Party IP End-points instance, and cannot register when
  none is free [S1][S29].
- VPNremote: only the 5610 and 5621 run the client [S1]. Each takes a VPN IP Extensions
  instance, and is refused when none is free; from 6.0 on the IP500 and IP500 V2 VPN phones
  are Avaya IP endpoints instead [S8].
- Every IP phone also takes one of the unit's IP extension slots (the extension limit less
  the non-IP extensions fitted) [S9][S10].
- "Reserve License" extensions keep their endpoint license while unregistered [S8]
  (taken when configured: see configured.py).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from emulator.licensing import CountedPool
from emulator.reasons import Reason
from emulator.rules.decision import REGISTERED, UNREGISTERED, Decision, rejected

if TYPE_CHECKING:
    from emulator.rules.parties import Party
    from emulator.rules.unit_core import UnitCore

REGISTERED_UNLICENSED = Decision(True, "registered_unlicensed", Reason.ENDPOINT_UNLICENSED, "emergency calls only")


class Registrar:
    def __init__(self, core: UnitCore) -> None:
        self.core = core
        policy, unit_id = core.release.endpoints, core.model.id
        avaya = policy.avaya_ip_pool_on(unit_id)
        self.avaya_pool: CountedPool | None = core.engine.pool(avaya) if avaya else None
        self.vpn_pool: CountedPool = core.engine.pool(policy.vpnremote_pool_on(unit_id))
        self.third_party_pool: CountedPool = core.engine.pool("third_party_ip_endpoints")
        self.holding: dict[str, CountedPool | None] = {}  # registered extension -> the license pool it holds
        self.reserved: set[str] = set()  # extensions holding a reserved license (configured.py)
        self.unlicensed: list[Party] = []  # registered without a license, waiting for one
        self._order = itertools.count()
        self._seq: dict[str, int] = {}

    def register(self, extension: str, now: float) -> Decision:
        core = self.core
        if now >= core.deadline:
            core.advance(now)
        party = core.party(extension)
        if not party.needs_registration:
            return rejected(Reason.NOT_AN_IP_PHONE, extension)
        if party.registered:
            return rejected(Reason.ALREADY_REGISTERED, extension)
        user, phone = party.user, party.phone
        assert user is not None and phone is not None
        if user.vpnremote and not phone.vpnremote:
            return rejected(Reason.VPNREMOTE_UNSUPPORTED_MODEL, phone.model)
        reason = core.ip_extensions.try_acquire(now)
        if reason is not None:
            return rejected(reason, "ip_extensions")
        if phone.kind == "third_party_ip":
            pool: CountedPool | None = self.third_party_pool
        elif user.vpnremote:
            pool = self.vpn_pool
        else:
            pool = self.avaya_pool
        decision = REGISTERED
        if pool is None or extension in self.reserved:
            held = None
        elif pool.try_acquire(now) is None:
            held = pool
        elif pool is self.avaya_pool and phone.kind != "third_party_ip":
            held, decision = None, REGISTERED_UNLICENSED
        else:
            core.ip_extensions.release(now)
            return rejected(pool.refusal_reason, pool.pool_id)
        party.registered = True
        party.registered_at = now
        party.endpoint_licensed = decision is REGISTERED
        self.holding[extension] = held
        self._seq[extension] = next(self._order)
        if not party.endpoint_licensed:
            self.unlicensed.append(party)
        return decision

    def unregister(self, extension: str, now: float) -> Decision:
        core = self.core
        party = core.party(extension)
        if not party.registered or not party.needs_registration:
            return rejected(Reason.NOT_REGISTERED, extension)
        party.registered = False
        core.ip_extensions.release(now)
        held = self.holding.pop(extension, None)
        if held is not None:
            held.release(now)
        if party in self.unlicensed:
            self.unlicensed.remove(party)
        party.endpoint_licensed = True
        self.serve_unlicensed(now)
        return UNREGISTERED

    def serve_unlicensed(self, now: float) -> None:
        """Give freed Avaya IP Endpoints instances to waiting phones: DECT first, then by registration order."""
        pool = self.avaya_pool
        while self.unlicensed and pool is not None and pool.available:
            party = min(self.unlicensed, key=lambda p: (p.phone.kind != "ip_dect", self._seq[p.name]))
            if pool.try_acquire(now) is not None:
                return
            self.unlicensed.remove(party)
            party.endpoint_licensed = True
            self.holding[party.name] = pool
            self.core.emit(now, "endpoint.licensed", extension=party.name, pool=pool.pool_id)

    def registered(self) -> list[str]:
        return [name for name, p in self.core.parties.items() if p.needs_registration and p.registered]
