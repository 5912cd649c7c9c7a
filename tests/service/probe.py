"""A test client of a served unit, speaking MQTT 5 or 3.1.1 through aiomqtt."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import uuid

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


class Probe:
    def __init__(self, port: int, *, version: str = "5", prefix: str = "ipo", **client_options) -> None:
        self.version = version
        self.prefix = prefix
        self.client = aiomqtt.Client("127.0.0.1", port, identifier=f"probe-{uuid.uuid4().hex[:8]}",
                                     protocol=aiomqtt.ProtocolVersion.V5 if version == "5"
                                     else aiomqtt.ProtocolVersion.V311,
                                     socket_options=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),), **client_options)
        self.reply_topic = f"probe/{uuid.uuid4().hex[:8]}/replies"
        self.ids = itertools.count(1)
        self.waiting: dict[object, asyncio.Future] = {}
        self.messages: list[tuple[str, bytes, bool]] = []
        self.latest: dict[str, bytes] = {}
        self._reader: asyncio.Task | None = None

    async def __aenter__(self) -> Probe:
        await self.client.__aenter__()
        await self.client.subscribe(self.reply_topic, qos=1)
        self._reader = asyncio.ensure_future(self._read())
        return self

    async def __aexit__(self, *exc) -> None:
        self._reader.cancel()
        await self.client.__aexit__(*exc)

    async def subscribe(self, *topics: str) -> None:
        for topic in topics:
            await self.client.subscribe(topic, qos=1)

    async def _read(self) -> None:
        async for message in self.client.messages:
            topic = message.topic.value
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            self.messages.append((topic, payload, message.retain))
            self.latest[topic] = payload
            if topic == self.reply_topic:
                correlation = getattr(message.properties, "CorrelationData", None) if message.properties else None
                key = correlation if correlation is not None else json.loads(payload).get("id")
                future = self.waiting.pop(key, None)
                if future is not None and not future.done():
                    future.set_result(json.loads(payload))

    async def command(self, unit: str, verb: str, body: dict | bytes | None = None, *, timeout: float = 5.0,
                      raw: bool = False) -> dict:
        """Send a command and wait for its reply (matched by correlation data or id)."""
        n = next(self.ids)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if self.version == "5":
            key: object = f"c{n}".encode()
            properties = Properties(PacketTypes.PUBLISH)
            properties.ResponseTopic = self.reply_topic
            properties.CorrelationData = key
        else:
            key, properties = f"c{n}", None
        if raw:
            payload = body
        else:
            payload = dict(body or {})
            if self.version != "5":
                payload.update(id=key, reply_to=self.reply_topic)
            payload = json.dumps(payload).encode()
        self.waiting[key] = future
        await self.client.publish(f"{self.prefix}/{unit}/cmd/{verb}", payload, qos=1, properties=properties)
        return await asyncio.wait_for(future, timeout)

    async def wait_for(self, topic: str, predicate=lambda payload: True, timeout: float = 5.0) -> dict:
        """The next (or latest) payload on `topic` that satisfies predicate."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            payload = self.latest.get(topic)
            if payload is not None:
                value = json.loads(payload)
                if predicate(value):
                    return value
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"nothing on {topic} satisfied the test within {timeout} s (last: {payload!r})")
            await asyncio.sleep(0.02)
