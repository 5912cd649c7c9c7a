"""A broker inside the serving process (amqtt), so `ipo-emu serve` works with nothing set up.

amqtt speaks MQTT 3.1.1 (not 5): replies to commands then go to the topic the command names
in `reply_to`, or to <prefix>/<unit>/reply. It listens on 127.0.0.1 only, without
authentication, on a free port unless told one. For anything shared, run mosquitto.
"""

from __future__ import annotations

import logging
import socket

from emulator.service.broker_address import BrokerAddress


class EmbeddedBrokerError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EmbeddedBroker:
    def __init__(self, port: int = 0) -> None:
        self.requested_port = port
        self.port: int | None = None
        self._broker = None

    @property
    def address(self) -> BrokerAddress:
        assert self.port is not None, "start() the broker first"
        return BrokerAddress("127.0.0.1", self.port)

    async def start(self) -> BrokerAddress:
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.CRITICAL)  # it logs every refused client
        from amqtt.broker import Broker

        attempts = 1 if self.requested_port else 5  # a free port can be taken between probe and bind
        last: Exception | None = None
        for _ in range(attempts):
            port = self.requested_port or _free_port()
            broker = Broker({
                "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
                "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
            })
            try:
                await broker.start()
            except Exception as exc:  # amqtt wraps bind errors in its own types
                last = exc
                continue
            self._broker, self.port = broker, port
            return self.address
        raise EmbeddedBrokerError(f"the embedded broker could not listen on 127.0.0.1:{self.requested_port or 'any'}"
                                  f": {last}")

    async def stop(self) -> None:
        if self._broker is not None:
            broker, self._broker = self._broker, None
            await broker.shutdown()
