"""The served front door over real loopback sockets: hostile input is dropped or answered
400, a stream that cannot be framed is closed, a flood takes no more than the licenses, and
every count shows in the report."""

from __future__ import annotations

import asyncio

from emulator.sip.messages import parse
from tests.service.served import served, write_config
from tests.sip.test_sipp import office
from tests.sip.test_uas import SDP, request


class Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: list = []
        self.arrived = asyncio.Event()

    def datagram_received(self, data, addr) -> None:
        self.replies.append(parse(data))
        self.arrived.set()

    def finals(self) -> set[str]:
        return {r.call_id for r in self.replies if r.code >= 200}

    async def until(self, done, within_s: float = 5.0) -> None:
        async def enough() -> None:
            while not done():
                self.arrived.clear()
                await self.arrived.wait()
        await asyncio.wait_for(enough(), within_s)


async def test_hostile_input_over_udp_and_tcp(mosquitto, tmp_path):
    async with served(write_config(tmp_path, office(4)), mosquitto.url, sip=("127.0.0.1", 0)) as service:
        port = service.front_door.listeners[0][0].port
        loop = asyncio.get_running_loop()
        transport, client = await loop.create_datagram_endpoint(Client, local_addr=("127.0.0.1", 0))
        for n in range(50):
            transport.sendto(bytes([n]) * (n * 7 + 1), ("127.0.0.1", port))  # garbage
        transport.sendto(request("OPTIONS").replace(b"CSeq: 1 OPTIONS", b"CSeq: x OPTIONS"), ("127.0.0.1", port))
        await client.until(lambda: client.replies)
        assert client.replies[0].code == 400
        # a flood: 300 calls as fast as this loop lets the server read them, 4 licenses
        for n in range(300):
            transport.sendto(request("INVITE", branch=f"z9hG4bK-f{n}", call_id=f"flood-{n}", body=SDP),
                             ("127.0.0.1", port))
            if n % 20 == 19:  # (the server shares this loop: past its socket buffer, datagrams are lost)
                await asyncio.sleep(0.01)
        await client.until(lambda: len(client.finals()) == 301, within_s=20)  # a final answer each
        answered = {r.call_id for r in client.replies[1:] if r.code == 200}  # (distinct: finals are repeated
        refused = {r.call_id for r in client.replies[1:] if r.code == 503}  # until the ACKs never sent here)
        assert len(answered) == 4 and len(refused) == 296 and not answered & refused
        transport.close()
        # TCP: an OPTIONS is answered on its connection; a message too big to frame closes it
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request("OPTIONS", transport="TCP"))
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"SIP/2.0 200 OK")
        writer.write(b"INVITE sip:500@127.0.0.1 SIP/2.0\r\nContent-Length: 900000\r\n\r\n")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed
        writer.close()
        sip = service.runner.network["office"].pools()["sip_trunk_channels"]
        assert sip.in_use == 4 and sip.peak == 4
    counters = service.result.data["sip"][0]["counters"]
    assert counters["dropped_malformed"] == 50 and counters["bad_requests"] == 1
    assert counters["invites"] == 300 and counters["admitted"] == 4 and counters["tcp_unframeable"] == 1
    assert service.result.data["service"]["counters"]["sip_invites"] == 300
