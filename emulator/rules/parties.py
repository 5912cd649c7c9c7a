"""The parties a call can join on one unit: extensions, trunks and lines, the voicemail server."""

from __future__ import annotations

from emulator.config import TrunkConfig, UserConfig
from emulator.licensing import CountedPool
from firmware_models import PhoneModel

EXTENSION, TRUNK, VOICEMAIL, GROUP = "extension", "trunk", "voicemail", "group"


class Party:
    """One end of a call, with what it costs to put it in a call.

    line_pools: pools one instance each of which the party holds for the whole call
    (a trunk's channel, a SIP Trunk Channel license, a voicemail port, an extension's call
    appearance...). A hunt group holds nothing itself: a call to it goes to a member.
    """

    __slots__ = ("name", "kind", "is_ip", "codec", "sip", "line_pools", "user", "phone", "trunk",
                 "registered", "endpoint_licensed", "registered_at", "members", "rotary", "next_member")

    def __init__(self, name: str, kind: str, *, is_ip: bool, codec: str, sip: bool = False,
                 line_pools: tuple[CountedPool, ...] = (), user: UserConfig | None = None,
                 phone: PhoneModel | None = None, trunk: TrunkConfig | None = None) -> None:
        self.name = name
        self.kind = kind
        self.is_ip = is_ip
        self.codec = codec
        self.sip = sip
        self.line_pools = line_pools
        self.user = user
        self.phone = phone
        self.trunk = trunk
        # Non-IP extensions, trunks and voicemail are always there; IP phones must register.
        self.registered = not (kind == EXTENSION and is_ip)
        self.endpoint_licensed = True
        self.registered_at = 0.0
        self.members: tuple[Party, ...] = ()  # a hunt group's members, in hunting order
        self.rotary = False
        self.next_member = 0  # rotary hunting: where the next hunt starts (rules/calls.py GroupRoute)

    @property
    def needs_registration(self) -> bool:
        return self.kind == EXTENSION and self.is_ip

    def __repr__(self) -> str:
        return f"<Party {self.kind} {self.name}>"
