"""The SIP front door of served units: a UDP and TCP listener per SIP trunk.

Each listener runs a sans-IO SipServer (uas.py) for one trunk, fed from asyncio sockets,
and answers what the unit decides:

- an INVITE is a call from the trunk to the party its Request-URI names (an extension, a
  group, `voicemail`, or the trunk's `incoming_call_route`; else 404). It is offered to the
  network like any other call, so it takes a SIP Trunk Channel license, the line's channel
  and VCM channels as the rules say. Admitted: 200 (or 180, then 200 after the ring time)
  with an SDP answer in the line's codec. Refused: the line's service busy response (486 or
  503), 486 for a busy user, 488 when the offer has no codec of the line's, with a Warning
  naming the reason code. BYE, CANCEL and a missing ACK release exactly what was taken.
- a REGISTER for an extension of the unit registers that IP phone (a third-party SIP phone
  takes a 3rd Party IP End-points license): 403 with the reason when it cannot, 404 for an
  unknown extension; Expires 0 or expiry unregisters it.

SIP timers run on the event loop's real time; decisions are taken at the unit clock's time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from emulator.config import VOICEMAIL_PARTY, TrunkConfig, UnitConfig
from emulator.reasons import Reason
from emulator.runtime.network import Network
from emulator.sip.messages import MAX_MESSAGE, SipParseError, next_frame
from emulator.sip.sdp import Offer, answer
from emulator.sip.uas import Admit, Peer, Refuse, SipServer

log = structlog.get_logger("ipo_emu.sip")
MAX_CONNECTIONS = 512
"""TCP connections a listener keeps at once; more are closed at once (and counted)."""


class TrunkApplication:
    """What a SIP trunk's calls and a unit's registrations mean for the unit (SipApplication)."""

    def __init__(self, network: Network, unit: UnitConfig, trunk: TrunkConfig, *, host: str, ring_s: float = 0.0,
                 media_port: int = 40000) -> None:
        self.network, self.unit, self.trunk = network, unit.name, trunk
        self.ring_s = ring_s
        self.host, self.media_port = host, media_port
        self.parties = {u.extension for u in unit.users} | {g.extension for g in unit.groups} | {VOICEMAIL_PARTY}
        self.extensions = {u.extension for u in unit.users}
        self.passwords = {u.extension: u.sip_password for u in unit.users if u.sip_password is not None}
        self.counters: Counter[str] = Counter()
        self._sessions = 0

    def invite(self, call: str, caller: str, called: str, offer: Offer | None, now: float) -> Admit | Refuse:
        codec = self.trunk.codec
        if offer is not None and codec not in offer.codecs:
            self.counters["no_common_codec"] += 1
            return Refuse(488, f"no_common_codec: the line takes {codec}, the offer {', '.join(offer.codecs) or 'none of ours'}")
        party = called if called in self.parties else self.trunk.incoming_call_route
        if party is None:
            self.counters["unknown_destination"] += 1
            return Refuse(404, f"no extension, group or route for {called[:40]!r}")
        decision, _ = self.network.offer_call_now(f"sip:{call}", self.unit, self.trunk.name, self.unit, party,
                                                  answered=self.ring_s <= 0)
        if not decision.accepted:
            reason = decision.reason
            self.counters[f"refused_{reason.value}"] += 1
            code = 486 if reason is Reason.EXTENSION_BUSY else self.trunk.service_busy_response
            return Refuse(code, f"{reason.value}: {decision.detail}" if decision.detail else reason.value)
        self.counters["admitted"] += 1
        self._sessions += 1
        return Admit(self.ring_s, answer(codec, self.host, self.media_port, self._sessions))

    def answered(self, call: str, now: float) -> None:
        self.network.connect_now(f"sip:{call}", self.unit)

    def released(self, call: str, why: str, now: float) -> None:
        self.counters[f"released_{why}"] += 1
        self.network.hang_up_now(f"sip:{call}", self.unit)

    def password(self, user: str) -> str | None:
        return self.passwords.get(user)

    def register(self, user: str, expires: int, now: float) -> Refuse | None:
        if user not in self.extensions:
            self.counters["register_unknown"] += 1
            return Refuse(404, f"no extension {user[:40]!r} on unit {self.unit}")
        unit = self.network[self.unit]
        decision = unit.register_now(user) if expires else unit.unregister_now(user)
        if decision.accepted or decision.reason is Reason.ALREADY_REGISTERED:
            return None
        self.counters[f"register_refused_{decision.reason.value}"] += 1
        return Refuse(403, f"{decision.reason.value}: {decision.detail}" if decision.detail else decision.reason.value)


@dataclass
class Listener:
    unit: str
    trunk: str
    host: str
    port: int


class SipListener(asyncio.DatagramProtocol):
    """One trunk's UDP and TCP sockets around its SipServer."""

    def __init__(self, server: SipServer, app: TrunkApplication) -> None:
        self.server, self.app = server, app
        self.counters: Counter[str] = Counter()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for = float("inf")

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port over UDP and TCP (port 0: a free one, the same for both)."""
        loop = asyncio.get_running_loop()
        for _ in range(20):
            self._udp, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
            bound = self._udp.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._serve_stream, host, bound, limit=MAX_MESSAGE + 4)
                return bound
            except OSError:
                self._udp.close()
                if port:
                    raise
        raise OSError(f"no port free for both UDP and TCP on {host}")

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
        for writer in list(self._connections):
            writer.close()
        if self._tcp is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tcp.wait_closed(), 2)

    # -- UDP ----------------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.counters["udp_datagrams"] += 1
        self._handle(data, Peer("UDP", addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        self.counters["udp_errors"] += 1

    # -- TCP ----------------------------------------------------------------------------------

    async def _serve_stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._connections) >= MAX_CONNECTIONS:
            self.counters["tcp_refused"] += 1
            writer.close()
            return
        self._connections.add(writer)
        self.counters["tcp_connections"] += 1
        host, port = writer.get_extra_info("peername")[:2]
        peer = Peer("TCP", host, port, writer)
        buffer = bytearray()
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    return
                buffer += chunk
                while True:
                    frame = next_frame(buffer)
                    if frame is None:
                        break
                    self._handle(frame, peer)
        except SipParseError:
            self.counters["tcp_unframeable"] += 1  # the stream is lost: nothing more can be read from it
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()

    # -- both --------------------------------------------------------------------------------

    def _handle(self, data: bytes, peer: Peer) -> None:
        loop = asyncio.get_running_loop()
        try:
            sends = self.server.receive(data, peer, loop.time())
        except Exception as exc:  # noqa: BLE001 - one message never takes the listener down
            self.counters["internal_errors"] += 1
            log.error("sip.internal_error", error=repr(exc)[:300])
            return
        self._send(sends)
        self._arm()

    def _send(self, sends) -> None:
        for send in sends:
            if send.peer.transport == "UDP":
                if self._udp is not None:
                    self._udp.sendto(send.data, send.address)
            else:
                writer = send.peer.connection
                if writer is not None and not writer.is_closing():
                    writer.write(send.data)
            self.counters["sent"] += 1

    def _arm(self) -> None:
        due = self.server.deadline()
        if due >= self._armed_for:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._armed_for = due
        self._timer = None if due == float("inf") else asyncio.get_running_loop().call_at(due, self._expire)

    def _expire(self) -> None:
        self._timer, self._armed_for = None, float("inf")
        self._send(self.server.expire(asyncio.get_running_loop().time()))
        self._arm()

    def summary(self) -> dict:
        return {**self.counters, **self.server.counters, **self.app.counters}


class SipFrontDoor:
    """Every SIP trunk of the served units, on consecutive ports from the one given."""

    def __init__(self, network: Network, units: Sequence[UnitConfig], host: str = "127.0.0.1", port: int = 5060, *,
                 ring_s: float = 0.0) -> None:
        self.network, self.units = network, list(units)
        self.host, self.port, self.ring_s = host, port, ring_s
        self.listeners: list[tuple[Listener, SipListener]] = []

    async def start(self) -> list[Listener]:
        port = self.port
        for unit in self.units:
            for trunk in unit.trunks:
                if trunk.type != "sip":
                    continue
                app = TrunkApplication(self.network, unit, trunk, host=self.host, ring_s=self.ring_s)
                listener = SipListener(SipServer(app, self.host, port), app)
                try:
                    bound = await listener.start(self.host, port)
                except OSError as exc:
                    await self.stop()
                    raise OSError(exc.errno, f"--sip: cannot listen on {self.host}:{port} for unit {unit.name} "
                                             f"line {trunk.name}: {exc.strerror or exc}") from None
                listener.server.port = bound
                self.listeners.append((Listener(unit.name, trunk.name, self.host, bound), listener))
                port = bound + 1 if port else 0
        return [listener for listener, _ in self.listeners]

    async def stop(self) -> None:
        for _, listener in self.listeners:
            await listener.stop()

    def summary(self) -> list[dict]:
        return [{"unit": info.unit, "trunk": info.trunk, "address": f"{info.host}:{info.port}",
                 "counters": dict(sorted(listener.summary().items()))} for info, listener in self.listeners]
