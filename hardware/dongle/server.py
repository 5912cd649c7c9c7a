"""The reference dongle: answers the line protocol on a pseudo-terminal or a serial port.

`ipo-emu dongle serve --serial 12345678 --pty` lets a USB-serial adapter, a second machine
or a test act as a feature key. Its misbehaviours (slow, mute, garbage, plain ID) are
switches, so a unit can be tested against each failure a real key shows.
"""

from __future__ import annotations

import asyncio
import os
import random
import tty
from dataclasses import dataclass

from hardware.dongle.protocol import (
    CHALLENGE,
    DEVELOPMENT_DONGLE_SECRET,
    IDENT,
    NONCE_BYTES,
    RESPONSE,
    FrameReader,
    dongle_secret,
    encode,
    response_payload,
)


@dataclass
class DongleBehaviour:
    delay_s: float = 0.0  # answer late
    mute: bool = False  # never answer
    garbage: bool = False  # answer noise
    plain_id: bool = False  # answer IDENT (serial only, no proof)
    wrong_secret: bool = False  # prove with a secret the unit does not know


class ReferenceDongle:
    """Sans-IO: bytes from the unit in, the bytes to answer out."""

    def __init__(self, serial: str, provisioning_secret: bytes = DEVELOPMENT_DONGLE_SECRET,
                 behaviour: DongleBehaviour | None = None) -> None:
        self.serial = serial
        self.behaviour = behaviour or DongleBehaviour()
        secret_source = b"not the provisioning secret" if self.behaviour.wrong_secret else provisioning_secret
        self._secret = dongle_secret(secret_source, serial)
        self._reader = FrameReader()
        self._noise = random.Random(serial)
        self.challenges = 0

    def receive(self, data: bytes) -> list[bytes]:
        replies = []
        for frame in self._reader.feed(data):
            if frame.type != CHALLENGE or len(frame.payload) != NONCE_BYTES:
                continue
            self.challenges += 1
            b = self.behaviour
            if b.mute:
                continue
            if b.garbage:
                replies.append(bytes(self._noise.randrange(256) for _ in range(40)))
            elif b.plain_id:
                replies.append(encode(IDENT, frame.seq, self.serial.encode("ascii")))
            else:
                replies.append(encode(RESPONSE, frame.seq, response_payload(self._secret, frame.payload, self.serial)))
        return replies


class PtyDongle:
    """A reference dongle on a new pseudo-terminal; `path` is the device the unit opens.

    close() is an unplug: the unit's next read fails as with a real USB-serial adapter.
    """

    def __init__(self, dongle: ReferenceDongle) -> None:
        self.dongle = dongle
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # at once: otherwise the line discipline echoes and translates
        self.path = os.ttyname(self.slave)
        os.set_blocking(self.master, False)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False

    def start(self) -> PtyDongle:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.master, self._readable)
        return self

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 4096)
        except OSError:
            return  # no one has the device open: nothing to answer
        for reply in self.dongle.receive(data):
            if self.dongle.behaviour.delay_s > 0:
                self._loop.call_later(self.dongle.behaviour.delay_s, self._write, reply)
            else:
                self._write(reply)

    def _write(self, data: bytes) -> None:
        if not self.closed:
            try:
                os.write(self.master, data)
            except OSError:
                pass

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._loop is not None:
            self._loop.remove_reader(self.master)
        os.close(self.master)
        os.close(self.slave)


def serve_port(url: str, dongle: ReferenceDongle, *, baudrate: int = 9600) -> None:
    """Answer on an existing port (a USB-serial adapter, socket://…) until interrupted."""
    import time

    import serial

    port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.05)
    try:
        while True:
            data = port.read(256)
            if data:
                for reply in dongle.receive(data):
                    if dongle.behaviour.delay_s > 0:
                        time.sleep(dongle.behaviour.delay_s)
                    port.write(reply)
    finally:
        port.close()
