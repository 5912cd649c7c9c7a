"""The one module that talks MQTT (aiomqtt 2.x): connect, subscribe, receive, publish.

A link keeps one connection up for as long as it runs: on any failure it waits a jittered,
growing delay (0.1 s to 5 s) and connects again with a fresh client, subscribes again, and
asks the outbox to send its retained state again. Publishing waits at most PUBLISH_TIMEOUT_S
for the broker; a message it could not send goes back to the outbox. Nothing here is ever
awaited by a decision: the service hands messages to the outbox and moves on.

MQTT 5 is tried first and MQTT 3.1.1 used when the broker refuses it (the embedded amqtt
broker speaks 3.1.1 only); `version` can force either.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import NamedTuple

import aiomqtt
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from emulator.service.broker_address import BrokerAddress
from emulator.service.outbox import OutMessage, Outbox

PUBLISH_TIMEOUT_S = 2.0
CONNECT_TIMEOUT_S = 5.0
KEEPALIVE_S = 10
IN_FLIGHT = 32
"""Publishes awaiting their acknowledgement at once (aiomqtt would warn above 10: its logger is
quietened, as waiting for acknowledgements in parallel is the point)."""
TAKE = 16
"""Messages taken from the outbox at a time: a reply made meanwhile waits for at most these
(retained state of many units comes in bursts; replies go first at every take)."""
MAX_QUEUED_INCOMING = 10_000
"""Messages received but not yet handled; more are dropped and counted (inbound_queue_full)."""
NO_DELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)
"""Small messages go out at once (the broker needs the same: mosquitto's set_tcp_nodelay)."""
VERSIONS = {"5": aiomqtt.ProtocolVersion.V5, "3.1.1": aiomqtt.ProtocolVersion.V311}

logging.getLogger("mqtt").setLevel(logging.ERROR)  # aiomqtt's own logger: its warnings are ours to count


class Incoming(NamedTuple):
    topic: str
    payload: bytes
    response_topic: str | None
    """MQTT 5 Response Topic, when the sender set one."""
    correlation: bytes | None


class LinkWill(NamedTuple):
    topic: str
    payload: bytes


def _counting_queue(counters: Counter[str]) -> type[asyncio.Queue]:
    class CountingQueue(asyncio.Queue):
        def put_nowait(self, item) -> None:  # type: ignore[override]
            try:
                super().put_nowait(item)
            except asyncio.QueueFull:
                counters["inbound_queue_full"] += 1
                raise

    return CountingQueue


class MqttLink:
    def __init__(self, address: BrokerAddress, outbox: Outbox, *, client_id: str, subscriptions: list[str],
                 on_message: Callable[[Incoming], Awaitable[None]] | None = None, will: LinkWill | None = None,
                 version: str = "auto") -> None:
        if version not in ("auto", *VERSIONS):
            raise ValueError(f"MQTT version {version!r}: auto, 5 or 3.1.1")
        self.address = address
        self.outbox = outbox
        self.client_id = client_id
        self.subscriptions = subscriptions
        self.on_message = on_message
        self.will = will
        self.version = version
        self.counters: Counter[str] = Counter()
        self.connected = asyncio.Event()
        self.attempted = asyncio.Event()
        """Set once the first connection succeeded or failed."""
        self.protocol: str | None = None
        self.last_error: str | None = None
        self._client: aiomqtt.Client | None = None
        self._in_flight = 0
        self._tls = _tls_context(address)

    # -- the connection loop ------------------------------------------------------------------

    async def run(self) -> None:
        """Keep connected until cancelled."""
        delay = 0.1
        version = self.version
        while True:
            try:
                await self._session("5" if version == "auto" else version)
                delay = 0.1
            except aiomqtt.MqttCodeError as exc:
                if version == "auto" and isinstance(exc, MqttConnectError) and _protocol_refused(exc.rc):
                    version = "3.1.1"  # the broker does not speak MQTT 5
                    continue
                self._lost(exc)
            except (aiomqtt.MqttError, OSError) as exc:
                self._lost(exc)
            except Exception as exc:  # noqa: BLE001 - never stop publishing for good: count, retry
                self.counters["link_errors"] += 1
                self._lost(exc)
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 5.0)

    def _lost(self, exc: BaseException) -> None:
        self.attempted.set()
        self.connected.clear()
        self._client = None
        self.last_error = str(exc) or type(exc).__name__
        self.counters["connection_failures"] += 1

    async def _session(self, version: str) -> None:
        will = None
        if self.will is not None:
            will = aiomqtt.Will(self.will.topic, self.will.payload, qos=1, retain=True)
        client = _client(self.address, self.client_id, version, tls=self._tls, will=will, keepalive=KEEPALIVE_S,
                         queue_type=_counting_queue(self.counters), max_queued_incoming_messages=MAX_QUEUED_INCOMING)
        async with client:
            self._client = client
            self.protocol = version
            topics = self.subscriptions
            for start in range(0, len(topics), 100):
                await client.subscribe([(topic, 1) for topic in topics[start:start + 100]])
            self.counters["connections"] += 1
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._read(client))
                    self.outbox.resend_retained()
                    self.connected.set()
                    self.attempted.set()
                    group.create_task(self._write(client))
            except* aiomqtt.MqttError as group_error:
                raise group_error.exceptions[0] from None
            finally:
                self.connected.clear()
                self._client = None

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if self.on_message is None:
                continue
            props = message.properties
            response = getattr(props, "ResponseTopic", None) if props is not None else None
            correlation = getattr(props, "CorrelationData", None) if props is not None else None
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload or "").encode()
            await self.on_message(Incoming(message.topic.value, payload, response, correlation))

    async def _write(self, client: aiomqtt.Client) -> None:
        outbox = self.outbox
        while True:
            messages = outbox.take(TAKE)
            if not messages:
                await outbox.wakeup.wait()
                continue
            await self._send(client, messages)

    async def _send(self, client: aiomqtt.Client, messages: list[OutMessage]) -> None:
        """Publish these, at most IN_FLIGHT awaiting acknowledgement at once. Whatever is not
        acknowledged, because the broker failed or the link is being torn down (cancelled
        mid-way), goes back to the outbox: nothing taken is lost. (A message the broker got
        but did not acknowledge in time is sent again: events carry seq to tell.)"""
        self._in_flight += len(messages)
        settled = 0  # messages[:settled] are sent or already put back
        try:
            await self.outbox.encode(messages)  # events batches: JSON made now, off the decisions' core
            for start in range(0, len(messages), IN_FLIGHT):
                chunk = messages[start:start + IN_FLIGHT]
                results = await asyncio.gather(*(self._publish(client, m) for m in chunk), return_exceptions=True)
                failure = None
                for message, result in zip(chunk, results, strict=True):
                    if isinstance(result, BaseException):
                        self.outbox.not_sent(message)
                        failure = failure or result
                    else:
                        self.outbox.sent(message)
                settled = start + len(chunk)
                if failure is not None:
                    raise failure if isinstance(failure, aiomqtt.MqttError) else aiomqtt.MqttError(str(failure))
        finally:
            for message in reversed(messages[settled:]):  # reversed: each goes back in front
                self.outbox.not_sent(message)
            self._in_flight -= len(messages)

    async def _publish(self, client: aiomqtt.Client, message: OutMessage) -> None:
        properties = None
        if message.correlation is not None and self.protocol == "5":
            properties = Properties(PacketTypes.PUBLISH)
            properties.CorrelationData = message.correlation
        await client.publish(message.topic, message.payload, qos=1, retain=message.retain,
                             properties=properties, timeout=PUBLISH_TIMEOUT_S)

    # -- for the service -------------------------------------------------------------------------

    async def flushed(self, within_s: float) -> bool:
        """Wait until the outbox is empty and every publish acknowledged, for at most
        within_s; True when all of it went."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        self.outbox.send_events_now()  # (no lingering at the end)
        while (self.outbox.pending() or self._in_flight) and loop.time() < deadline:
            if not self.connected.is_set():
                return False
            await asyncio.sleep(0.01)
        return not (self.outbox.pending() or self._in_flight)


async def read_retained(address: BrokerAddress, subscriptions: list[str], *, client_id: str, wait_s: float = 0.3,
                        version: str = "auto") -> dict[str, bytes] | None:
    """The retained messages on these topics (collected for wait_s after subscribing), or
    None when the broker cannot be reached now."""
    found: dict[str, bytes] = {}
    for attempt in (("5", "3.1.1") if version == "auto" else (version,)):
        client = _client(address, client_id, attempt, tls=_tls_context(address))
        try:
            async with client:
                await client.subscribe([(topic, 1) for topic in subscriptions])
                try:
                    async with asyncio.timeout(wait_s):
                        async for message in client.messages:
                            if message.retain and isinstance(message.payload, bytes):
                                found[message.topic.value] = message.payload
                except TimeoutError:
                    pass
            return found
        except MqttConnectError as exc:
            if not _protocol_refused(exc.rc):
                return None
        except (aiomqtt.MqttError, OSError):
            return None
    return None


def _client(address: BrokerAddress, client_id: str, version: str, *, tls: ssl.SSLContext | None,
            **options: object) -> aiomqtt.Client:
    """A client of the broker at `address`, speaking `version`, sending small messages at once."""
    return aiomqtt.Client(address.host, address.port, username=address.username, password=address.password,
                          identifier=client_id, protocol=VERSIONS[version], timeout=CONNECT_TIMEOUT_S,
                          tls_context=tls, socket_options=NO_DELAY,
                          clean_session=True if version == "3.1.1" else None, **options)


def _protocol_refused(rc: object) -> bool:
    """CONNACK said the protocol version is not supported (3.1.1 code 1, MQTT 5 code 132)."""
    value = getattr(rc, "value", rc)
    return value in (1, 132)


def _tls_context(address: BrokerAddress) -> ssl.SSLContext | None:
    if address.tls is None:
        return None
    context = ssl.create_default_context(cafile=str(address.tls.ca) if address.tls.ca else None)
    if address.tls.cert is not None:
        context.load_cert_chain(str(address.tls.cert), str(address.tls.key))
    return context
