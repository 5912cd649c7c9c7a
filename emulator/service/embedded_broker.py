"""A broker inside the serving process (amqtt), so `ipo-emu serve` works with nothing set up.

amqtt speaks MQTT 3.1.1 (not 5): replies to commands then go to the topic the command names
in `reply_to`, or to <prefix>/<unit>/reply. It listens on 127.0.0.1 only, without
authentication, on a free port unless told one. For anything shared, run mosquitto.
"""

from __future__ import annotations

import asyncio
import logging
import socket

from emulator.service.broker_address import BrokerAddress


class EmbeddedBrokerError(RuntimeError):
    pass


def _free_port(port: int = 0) -> int | None:
    """`port` if it is free (any free port for 0), else None."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return None
        return probe.getsockname()[1]


DEFAULT_PORT = 1883
"""Tried first, so that `ipo-emu watch` finds the broker without being told; then any free port."""


class EmbeddedBroker:
    def __init__(self, port: int = 0) -> None:
        """port: 0 for 1883 when free, else any free port."""
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

        if self.requested_port:
            candidates = [self.requested_port]
        else:  # a free port can be taken between probe and bind: try a few
            candidates = [p for p in (_free_port(DEFAULT_PORT), *(_free_port() for _ in range(4))) if p]
        last: Exception | None = None
        for port in candidates:
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
        """Shut down; clients still connected are dropped (amqtt reports their cancelled
        tasks to the loop's exception handler, which is quietened meanwhile)."""
        if self._broker is None:
            return
        broker, self._broker = self._broker, None
        loop = asyncio.get_running_loop()
        previous = loop.get_exception_handler()

        def quiet(loop: asyncio.AbstractEventLoop, context: dict) -> None:
            if isinstance(context.get("exception"), asyncio.CancelledError):
                return
            if previous is None:
                loop.default_exception_handler(context)
            else:
                previous(loop, context)

        loop.set_exception_handler(quiet)
        try:
            await broker.shutdown()
            await asyncio.sleep(0)  # let the cancelled connection tasks finish while quiet
        finally:
            loop.set_exception_handler(previous)
