"""The server side of SIP (RFC 3261, with RFC 6026's fix for 2xx), sans-IO.

Given a message, where it came from and the time, `receive` returns what to send; `expire`
runs the timers due by a time; `deadline` says when the next one is. No socket and no
clock of its own: the asyncio shell (front_door.py) feeds it, and tests drive it on
made-up times, retransmission by retransmission.

What it does, per RFC 3261 section 17.2 for a server:

- INVITE: 100 Trying at once. The application (`SipApplication.invite`) admits or
  refuses. A refusal is a final response, retransmitted on unreliable transports by timer
  G (T1 doubling to T2) until the ACK, or until timer H (64 T1) gives up; after the ACK,
  timer I (T4 over UDP, 0 over TCP) absorbs late ACKs. An admission answers 200 at once or,
  with a ring time, 180 Ringing and 200 when it is up. The 200 is retransmitted (RFC 6026:
  the Accepted state, timer L = 64 T1) until an ACK arrives; without one the call is
  released. A retransmitted INVITE gets the last response again and is never offered twice.
- CANCEL of a ringing INVITE: 200 for the CANCEL, 487 for the INVITE, and the call is
  released. BYE in a dialog: 200 and release; for an unknown dialog 481. OPTIONS: 200.
  REGISTER: the application's registrar (an expiry is a timer here).
- Non-INVITE requests: one final response, repeated for retransmissions until timer J
  (64 T1 over UDP, 0 over TCP).
- Responses go where the top Via says, with `received`/`rport` (RFC 3581) filled in.
"""

from __future__ import annotations

import heapq
import itertools
import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from emulator.sip.messages import (
    ALLOW,
    Request,
    SipParseError,
    parse,
    reply_address,
    response,
    top_via_with_source,
    user_of,
)
from emulator.sip.digest import DigestAuthority
from emulator.sip.sdp import Offer, SdpError, parse_offer

T1, T2, T4 = 0.5, 4.0, 5.0
DEFAULT_EXPIRES, MAX_EXPIRES = 3600, 86_400
MAX_TRANSACTIONS = 10_000
"""Open transactions at most: beyond, new requests are answered 503 (a flood cannot grow memory)."""


class Peer(NamedTuple):
    transport: str
    """UDP or TCP."""
    host: str
    port: int
    connection: object = None
    """The stream a TCP request came on (responses go back on it)."""

    @property
    def reliable(self) -> bool:
        return self.transport != "UDP"


class Send(NamedTuple):
    data: bytes
    peer: Peer
    address: tuple[str, int]


class Admit(NamedTuple):
    ring_s: float
    """0: answer at once; else 180 Ringing, and 200 after this long."""
    sdp: bytes


class Refuse(NamedTuple):
    code: int
    warning: str
    """Why, as the Warning header says it (a reason code and its detail)."""


class SipApplication(Protocol):
    def invite(self, call: str, caller: str, called: str, offer: Offer | None, now: float) -> Admit | Refuse: ...
    def answered(self, call: str, now: float) -> None: ...
    def released(self, call: str, why: str, now: float) -> None: ...
    def register(self, user: str, expires: int, now: float) -> Refuse | None: ...
    def password(self, user: str) -> str | None:
        """The user's SIP password: its REGISTERs must then answer a Digest challenge."""


@dataclass(slots=True)
class _Invite:
    request: Request | None
    """Kept until the final response is built, then dropped: a transaction lives 32 s after
    it, and thousands of parsed requests would be walked by every full garbage collection."""
    peer: Peer
    top_via: str
    call: str
    to_tag: str
    call_id: str = ""
    address: tuple = ()
    state: str = "proceeding"  # proceeding, ringing, accepted, completed, confirmed, terminated
    last: bytes = b""
    interval: float = T1
    ends_at: float = 0.0  # timer H or L
    admitted: bool = False
    acked: bool = False
    sdp: bytes = b""  # our answer


@dataclass(slots=True)
class _NonInvite:
    last: bytes
    peer: Peer


@dataclass
class SipServer:
    app: SipApplication
    host: str = "127.0.0.1"
    port: int = 5060
    counters: Counter = field(default_factory=Counter)
    _invites: dict = field(default_factory=dict)
    _others: dict = field(default_factory=dict)
    _dialogs: dict = field(default_factory=dict)  # (Call-ID, our tag) -> _Invite
    _registrations: dict = field(default_factory=dict)  # user -> expiry time
    _calls: dict = field(default_factory=dict)  # call (Call-ID;From tag) -> _Invite, while admitted
    digest: DigestAuthority = field(default_factory=DigestAuthority)
    _timers: list = field(default_factory=list)
    _seq: itertools.count = field(default_factory=itertools.count)

    # -- the interface ---------------------------------------------------------------------

    def receive(self, data: bytes, peer: Peer, now: float) -> list[Send]:
        try:
            message = parse(data)
        except SipParseError as exc:
            if exc.request is None:
                self.counters["dropped_malformed"] += 1
                return []
            self.counters["bad_requests"] += 1
            return self._reply(exc.request, peer, 400, headers=(("Warning", f'399 {self.host} "{_quoted(exc.reason)}"'),))
        if not isinstance(message, Request):
            self.counters["responses_ignored"] += 1  # a server sends no requests that responses could answer
            return []
        self.counters["requests"] += 1
        return self._request(message, peer, now)

    def deadline(self) -> float:
        return self._timers[0][0] if self._timers else float("inf")

    def expire(self, now: float) -> list[Send]:
        out: list[Send] = []
        while self._timers and self._timers[0][0] <= now:
            _, _, kind, key = heapq.heappop(self._timers)
            out += getattr(self, f"_timer_{kind}")(key, now)
        return out

    @property
    def open_transactions(self) -> int:
        return len(self._invites) + len(self._others)

    # -- requests ----------------------------------------------------------------------------

    def _request(self, request: Request, peer: Peer, now: float) -> list[Send]:
        method = request.method
        via = request.via[0]
        branch = via.parameters.get("branch") or f"{request.call_id}/{request.cseq}"
        sent_by = (via.host, via.port)
        if method == "ACK":
            return self._ack(request, (branch, sent_by), now)
        if method == "INVITE":
            key = (branch, sent_by)
            txn = self._invites.get(key)
            if txn is not None:
                self.counters["retransmissions_received"] += 1
                return [Send(txn.last, txn.peer, txn.address)] if txn.last else []
            if self.open_transactions >= MAX_TRANSACTIONS:
                self.counters["refused_overload"] += 1
                return self._reply(request, peer, 503, headers=(("Retry-After", "5"),))
            return self._invite(key, request, peer, now)
        key = (branch, sent_by, method)
        txn = self._others.get(key)
        if txn is not None:
            self.counters["retransmissions_received"] += 1
            return [Send(txn.last, txn.peer, self._address(txn.peer, request))]
        if method == "CANCEL":
            out = self._cancel(request, (branch, sent_by), peer, now)
        elif method == "BYE":
            out = self._bye(request, peer, now)
        elif method == "OPTIONS":
            out = self._reply(request, peer, 200, headers=(("Allow", ALLOW), ("Accept", "application/sdp")))
        elif method == "REGISTER":
            out = self._register(request, peer, now)
        else:
            self.counters["methods_not_allowed"] += 1
            out = self._reply(request, peer, 405, headers=(("Allow", ALLOW),))
        if out:
            self._others[key] = _NonInvite(out[-1].data, peer)
            self._at(now + (0.0 if peer.reliable else 64 * T1), "J", key)
        return out

    def _invite(self, key: tuple, request: Request, peer: Peer, now: float) -> list[Send]:
        to_tag = request.to_address.parameters.get("tag")
        top = top_via_with_source(request, peer.host, peer.port)
        if to_tag is not None:  # a re-INVITE: only within a dialog we know
            dialog = self._dialogs.get((request.call_id, to_tag))
            if dialog is None:
                self.counters["unknown_dialogs"] += 1
                return self._reply(request, peer, 481)
            self.counters["reinvites"] += 1  # the session goes on as it is: the same answer
            return [self._send(response(request, 200, top, to_tag=to_tag, body=dialog.sdp,
                                        headers=(("Contact", self._contact()),), content_type="application/sdp"),
                               peer, request)]
        call = f"{request.call_id};{request.from_address.parameters.get('tag') or ''}"
        earlier = self._calls.get(call)
        if earlier is not None:  # the same call again, past its transaction: never a second admission
            self.counters["retransmissions_received"] += 1
            return [self._send(earlier.last, peer, request)]
        txn = _Invite(request, peer, top, call, secrets.token_hex(6), request.call_id, self._address(peer, request))
        self._invites[key] = txn
        self.counters["invites"] += 1
        out = [self._final(txn, 100)]
        offer = None
        if request.body:
            try:
                offer = parse_offer(request.body)
            except SdpError as exc:
                self.counters["bad_sdp"] += 1
                return out + self._refuse(txn, key, Refuse(400, f"sdp: {exc}"), now)
        decision = self.app.invite(call, user_of(request.from_address), request.uri.user or "", offer, now)
        if isinstance(decision, Refuse):
            return out + self._refuse(txn, key, decision, now)
        txn.admitted = True
        txn.sdp = decision.sdp
        self._dialogs[(request.call_id, txn.to_tag)] = txn
        self._calls[call] = txn
        if decision.ring_s > 0:
            txn.state = "ringing"
            out.append(self._final(txn, 180))
            self._at(now + decision.ring_s, "answer", key)
            return out
        return out + self._accept(txn, key, now)

    def _refuse(self, txn: _Invite, key: tuple, refusal: Refuse, now: float) -> list[Send]:
        txn.state = "completed"
        self.counters[f"refused_{refusal.code}"] += 1
        sent = self._final(txn, refusal.code, headers=(("Warning", f'399 {self.host} "{_quoted(refusal.warning)}"'),))
        self._retransmit_until(txn, key, now, "G", "H")
        return [sent]

    def _accept(self, txn: _Invite, key: tuple, now: float) -> list[Send]:
        txn.state = "accepted"
        self.counters["answered"] += 1
        sent = self._final(txn, 200, headers=(("Contact", self._contact()),), body=txn.sdp,
                           content_type="application/sdp")
        self._retransmit_until(txn, key, now, "2xx", "L")
        return [sent]

    def _retransmit_until(self, txn: _Invite, key: tuple, now: float, repeat: str, give_up: str) -> None:
        txn.interval = T1
        txn.ends_at = now + 64 * T1
        if not txn.peer.reliable:
            self._at(now + T1, repeat, key)
        self._at(txn.ends_at, give_up, key)

    def _ack(self, request: Request, key: tuple, now: float) -> list[Send]:
        txn = self._invites.get(key)
        if txn is not None and txn.state in ("completed", "confirmed"):  # the ACK of a refusal
            if txn.state == "completed":
                txn.state = "confirmed"
                self._at(now + (0.0 if txn.peer.reliable else T4), "I", key)
            else:
                self.counters["retransmissions_received"] += 1
            return []
        dialog = self._dialogs.get((request.call_id, request.to_address.parameters.get("tag")))
        if dialog is not None and dialog.state == "accepted":  # the ACK of a 200 (its own transaction)
            if dialog.acked:
                self.counters["retransmissions_received"] += 1
            dialog.acked = True
            return []
        self.counters["stray_acks"] += 1
        return []

    def _cancel(self, request: Request, key: tuple, peer: Peer, now: float) -> list[Send]:
        txn = self._invites.get(key)
        if txn is None:
            self.counters["unknown_transactions"] += 1
            return self._reply(request, peer, 481)
        self.counters["cancels"] += 1
        out = self._reply(request, peer, 200)
        if txn.state in ("proceeding", "ringing"):
            self._release(txn, "cancelled", now)
            out += self._refuse(txn, key, Refuse(487, "cancelled"), now)
            self.counters["refused_487"] -= 1  # counted as a cancel, not a refusal
        return out

    def _bye(self, request: Request, peer: Peer, now: float) -> list[Send]:
        dialog = self._dialogs.get((request.call_id, request.to_address.parameters.get("tag")))
        if dialog is None:
            self.counters["unknown_dialogs"] += 1
            return self._reply(request, peer, 481)
        self.counters["byes"] += 1
        dialog.acked = True  # a BYE ends the 2xx retransmissions too
        self._release(dialog, "bye", now)
        return self._reply(request, peer, 200)

    def _register(self, request: Request, peer: Peer, now: float) -> list[Send]:
        user = user_of(request.to_address)
        expires = _expires(request)
        if expires is None:
            self.counters["bad_requests"] += 1
            return self._reply(request, peer, 400, headers=(("Warning", f'399 {self.host} "a malformed Expires"'),))
        expires = min(expires, MAX_EXPIRES)
        if not request.contact and request.headers.get("Contact") != "*":  # a query of the bindings
            return self._reply(request, peer, 200)
        password = self.app.password(user)
        if password is not None:
            try:
                credentials = request.authorization
            except ValueError:
                credentials = None
            if not self.digest.verify(credentials, "REGISTER", user, password, now):
                self.counters["auth_failures" if credentials is not None else "auth_challenges"] += 1
                return self._reply(request, peer, 401, headers=(("WWW-Authenticate", self.digest.challenge(now)),))
        self.counters["registers"] += 1
        known = user in self._registrations
        if expires == 0:
            if known:
                del self._registrations[user]
                self.app.register(user, 0, now)
            return self._reply(request, peer, 200)
        if not known:
            refusal = self.app.register(user, expires, now)
            if refusal is not None:
                self.counters[f"refused_{refusal.code}"] += 1
                return self._reply(request, peer, refusal.code,
                                   headers=(("Warning", f'399 {self.host} "{_quoted(refusal.warning)}"'),))
        self._registrations[user] = now + expires
        self._at(now + expires, "registration", user)
        contact = request.headers.get("Contact") or ""
        return self._reply(request, peer, 200, headers=(("Contact", f"{contact};expires={expires}"),
                                                       ("Expires", str(expires))))

    # -- timers ------------------------------------------------------------------------------

    def _timer_answer(self, key: tuple, now: float) -> list[Send]:
        txn = self._invites.get(key)
        if txn is None or txn.state != "ringing":
            return []
        self.app.answered(txn.call, now)
        return self._accept(txn, key, now)

    def _timer_2xx(self, key: tuple, now: float) -> list[Send]:
        txn = self._invites.get(key)
        if txn is None or txn.acked or txn.state != "accepted" or now >= txn.ends_at:
            return []
        txn.interval = min(txn.interval * 2, T2)
        self._at(now + txn.interval, "2xx", key)
        self.counters["retransmissions_sent"] += 1
        return [Send(txn.last, txn.peer, txn.address)]

    def _timer_L(self, key: tuple, now: float) -> list[Send]:
        txn = self._invites.pop(key, None)
        if txn is not None and not txn.acked and txn.admitted and txn.state == "accepted":
            self.counters["ack_timeouts"] += 1
            self._release(txn, "no_ack", now)  # RFC 3261 13.3.1.4: confirmed, then ended
        return []

    def _timer_G(self, key: tuple, now: float) -> list[Send]:
        txn = self._invites.get(key)
        if txn is None or txn.state != "completed" or now >= txn.ends_at:
            return []
        txn.interval = min(txn.interval * 2, T2)
        self._at(now + txn.interval, "G", key)
        self.counters["retransmissions_sent"] += 1
        return [Send(txn.last, txn.peer, txn.address)]

    def _timer_H(self, key: tuple, now: float) -> list[Send]:
        txn = self._invites.get(key)
        if txn is not None and txn.state == "completed":
            self.counters["no_ack_for_refusals"] += 1
            del self._invites[key]
        return []

    def _timer_I(self, key: tuple, now: float) -> list[Send]:
        txn = self._invites.get(key)
        if txn is not None and txn.state == "confirmed":
            del self._invites[key]
        return []

    def _timer_J(self, key: tuple, now: float) -> list[Send]:
        self._others.pop(key, None)
        return []

    def _timer_registration(self, user: str, now: float) -> list[Send]:
        expiry = self._registrations.get(user)
        if expiry is not None and expiry <= now:
            del self._registrations[user]
            self.counters["registrations_expired"] += 1
            self.app.register(user, 0, now)
        return []

    # -- helpers -----------------------------------------------------------------------------

    def _release(self, txn: _Invite, why: str, now: float) -> None:
        if txn.admitted:
            txn.admitted = False
            self._dialogs.pop((txn.call_id, txn.to_tag), None)
            self._calls.pop(txn.call, None)
            self.app.released(txn.call, why, now)

    def _final(self, txn: _Invite, code: int, *, headers: tuple = (), body: bytes = b"",
               content_type: str | None = None) -> Send:
        txn.last = response(txn.request, code, txn.top_via, to_tag=txn.to_tag, headers=headers, body=body,
                            content_type=content_type)
        if code >= 200:
            txn.request = None  # the final response is all that is sent again
        return Send(txn.last, txn.peer, txn.address)

    def _reply(self, request: Request, peer: Peer, code: int, *, headers: tuple = ()) -> list[Send]:
        top = top_via_with_source(request, peer.host, peer.port)
        data = response(request, code, top, to_tag=secrets.token_hex(6), headers=headers)
        return [self._send(data, peer, request)]

    def _send(self, data: bytes, peer: Peer, request: Request) -> Send:
        return Send(data, peer, self._address(peer, request))

    def _address(self, peer: Peer, request: Request) -> tuple[str, int]:
        return (peer.host, peer.port) if peer.reliable else reply_address(request, peer.host, peer.port)

    def _contact(self) -> str:
        return f"<sip:ipo-emu@{self.host}:{self.port}>"

    def _at(self, when: float, kind: str, key: object) -> None:
        heapq.heappush(self._timers, (when, next(self._seq), kind, key))


def _expires(request: Request) -> int | None:
    """The registration's lifetime: the Contact's expires, else the Expires header, else 3600."""
    try:
        for contact in request.contact:
            value = contact.parameters.get("expires")
            if value is not None:
                return int(value) if value.isdigit() else None
    except ValueError:
        pass
    value = request.headers.get("Expires")
    if value is None:
        return DEFAULT_EXPIRES
    return int(value) if value.strip().isdigit() and len(value.strip()) < 10 else None


def _quoted(text: str) -> str:
    return text.replace("\\", "/").replace('"', "'")[:200]
