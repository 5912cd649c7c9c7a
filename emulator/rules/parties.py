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
        self.next_member = 0  # rotary hunting: where the next hunt starts

    def hunt(self, caller: str) -> Party | None:
        """A hunt group's first member free to take a call (registered, licensed, with a free
        call appearance), from the top (sequential) or after the last one used (rotary)."""
        members = self.members
        count = len(members)
        start = self.next_member if self.rotary else 0
        for step in range(count):
            member = members[(start + step) % count]
            appearance = member.line_pools[0]
            if appearance.in_use < appearance.effective and member.registered and member.endpoint_licensed \
                    and member.name != caller:
                if self.rotary:
                    self.next_member = (start + step + 1) % count
                return member
        return None

    @property
    def needs_registration(self) -> bool:
        return self.kind == EXTENSION and self.is_ip

    def __repr__(self) -> str:
        return f"<Party {self.kind} {self.name}>"
