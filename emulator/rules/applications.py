"""PC applications that take a license while they run.

- Phone Manager runs in the mode the user is configured for (Lite, Pro, Pro PC Softphone)
  and takes that mode's licenses while it runs; when they are not available it runs as
  Phone Manager Lite [S1]. Pro takes a Phone Manager Pro instance; Pro PC Softphone takes a
  Phone Manager Pro and a Phone Manager Pro IP Audio Enabled instance (assumption: the
  document names "the appropriate license or licenses", and its UCSB sets give each user
  exactly one of both).
- SoftConsole: only users configured for it, one license each, at most 4 per system [S1].
- CCC Wallboard, CCC Reporter and Compact Business Center read from the unit's Delta Server.
  It must be running, serves at most 80 clients, and each client takes its own license
  while it runs [S24].
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emulator.licensing import CountedPool, give_all, take_all
from emulator.reasons import Reason
from emulator.rules.decision import STARTED, STOPPED, Decision, rejected

if TYPE_CHECKING:
    from emulator.rules.unit_core import UnitCore

PHONE_MANAGER = "phone_manager"
SOFTCONSOLE = "softconsole"
DELTA_SERVER_CLIENTS = ("ccc_wallboard", "ccc_reporter", "compact_business_center")
APPLICATIONS = (PHONE_MANAGER, SOFTCONSOLE, *DELTA_SERVER_CLIENTS)

PHONE_MANAGER_POOLS = {
    "lite": (),
    "pro": ("phone_manager_pro",),
    "pro_pc_softphone": ("phone_manager_pro", "phone_manager_pro_ip_audio_enabled"),
}


class Applications:
    def __init__(self, core: UnitCore) -> None:
        self.core = core
        self.running: dict[tuple[str, str], tuple[CountedPool, ...]] = {}
        self.modes: dict[tuple[str, str], str] = {}

    def start(self, app: str, user_name: str, now: float) -> Decision:
        core = self.core
        if now >= core.deadline:
            core.advance(now)
        if app not in APPLICATIONS:
            raise LookupError(f"unknown application {app!r} (known: {', '.join(APPLICATIONS)})")
        user = next((u for u in core.config.users if u.name == user_name), None)
        if user is None:
            raise LookupError(f"unit {core.name}: no user named {user_name!r}")
        key = (app, user_name)
        if key in self.running:
            return rejected(Reason.ALREADY_RUNNING, f"{app} for {user_name}")
        if app == PHONE_MANAGER:
            pools = tuple(core.engine.pool(p) for p in PHONE_MANAGER_POOLS[user.phone_manager])
            refusing = take_all(pools, now)
            if refusing is not None:
                self.running[key], self.modes[key] = (), "lite"
                return Decision(True, "fallback", refusing.refusal_reason,
                                f"runs as Phone Manager Lite ({refusing.pool_id})")
            self.running[key], self.modes[key] = pools, user.phone_manager
            return STARTED
        if app == SOFTCONSOLE:
            if not user.softconsole:
                return rejected(Reason.NOT_CONFIGURED, f"{user_name} is not a SoftConsole user")
            pools = (core.engine.pool("softconsole"),)
        else:
            if not core.delta_server_running:
                return rejected(Reason.DELTA_SERVER_NOT_RUNNING)
            pools = (core.delta_server_clients, core.engine.pool(app))
        refusing = take_all(pools, now)
        if refusing is not None:
            return rejected(refusing.refusal_reason, refusing.pool_id)
        self.running[key], self.modes[key] = pools, app
        return STARTED

    def stop(self, app: str, user_name: str, now: float) -> Decision:
        pools = self.running.pop((app, user_name), None)
        if pools is None:
            raise LookupError(f"{app} is not running for {user_name!r}")
        self.modes.pop((app, user_name), None)
        give_all(pools, now)
        return STOPPED
