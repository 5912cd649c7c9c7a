"""The dongle line protocol, as a sans-IO codec shared by the unit and the reference dongle.

Frame (all integers big-endian):

    SYNC 0xA5 | version 1 | type 1 | seq 1 | length 1 | payload (length bytes) | CRC-16 2

The CRC (CCITT-FALSE: poly 0x1021, init 0xFFFF) covers version..payload. A reader that
meets a bad CRC, an unknown version or garbage drops one byte and looks for the next SYNC,
so a line recovers by itself after noise.

Messages:
    CHALLENGE (unit -> dongle)  payload: 16-byte random nonce
    RESPONSE  (dongle -> unit)  payload: serial length 1 | serial (ASCII) | tag 16
        tag = HMAC-SHA256(dongle secret, "ipo-emu/dongle/v1" | nonce | serial)[:16]
    IDENT     (dongle -> unit)  payload: serial (ASCII): a plain-ID device, no proof

The dongle secret is HMAC-SHA256(provisioning secret, "dongle:" | serial): every dongle has
its own, and the unit can derive it from the serial the dongle claims. A fresh nonce per
check means a recorded answer is useless later; a device that only prints a serial number
(IDENT, or a RESPONSE with a wrong tag) is refused unless the unit is configured to accept
plain-ID devices.
"""

from __future__ import annotations

import hmac as _constant_time
import re
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, hmac

SYNC = 0xA5
VERSION = 1
CHALLENGE, RESPONSE, IDENT = 0x01, 0x02, 0x03
NONCE_BYTES = 16
TAG_BYTES = 16
MAX_PAYLOAD = 64
DEVELOPMENT_DONGLE_SECRET = b"ipo-emu DEVELOPMENT dongle provisioning secret"
_DOMAIN = b"ipo-emu/dongle/v1"
_SERIAL = re.compile(rb"[0-9A-Z]{4,16}")


class ProtocolError(ValueError):
    """A message that cannot be what the protocol says (bad serial, bad length)."""


@dataclass(frozen=True, slots=True)
class Frame:
    type: int
    seq: int
    payload: bytes


def crc16(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def encode(frame_type: int, seq: int, payload: bytes) -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {len(payload)} bytes is over {MAX_PAYLOAD}")
    body = bytes((VERSION, frame_type, seq & 0xFF, len(payload))) + payload
    return bytes((SYNC,)) + body + crc16(body).to_bytes(2, "big")


class FrameReader:
    """Bytes in, frames out; resynchronises after noise. Counts what it had to throw away."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.discarded = 0

    def feed(self, data: bytes) -> Iterator[Frame]:
        self._buffer += data
        buf = self._buffer
        while True:
            start = buf.find(SYNC)
            if start < 0:
                self.discarded += len(buf)
                buf.clear()
                return
            if start:
                self.discarded += start
                del buf[:start]
            if len(buf) < 5:
                return
            version, frame_type, seq, length = buf[1], buf[2], buf[3], buf[4]
            if version != VERSION or length > MAX_PAYLOAD:
                self.discarded += 1
                del buf[0]
                continue
            end = 5 + length + 2
            if len(buf) < end:
                return
            body = bytes(buf[1:5 + length])
            if crc16(body) != int.from_bytes(buf[5 + length:end], "big"):
                self.discarded += 1
                del buf[0]
                continue
            payload = bytes(buf[5:5 + length])
            del buf[:end]
            yield Frame(frame_type, seq, payload)


def dongle_secret(provisioning_secret: bytes, serial: str) -> bytes:
    mac = hmac.HMAC(provisioning_secret, hashes.SHA256())
    mac.update(b"dongle:" + serial.encode("ascii"))
    return mac.finalize()


def response_tag(secret: bytes, nonce: bytes, serial: str) -> bytes:
    mac = hmac.HMAC(secret, hashes.SHA256())
    mac.update(_DOMAIN + nonce + serial.encode("ascii"))
    return mac.finalize()[:TAG_BYTES]


def response_payload(secret: bytes, nonce: bytes, serial: str) -> bytes:
    raw = serial.encode("ascii")
    return bytes((len(raw),)) + raw + response_tag(secret, nonce, serial)


def parse_response(payload: bytes) -> tuple[str, bytes]:
    """(serial, tag) of a RESPONSE payload."""
    if not payload:
        raise ProtocolError("empty RESPONSE")
    length = payload[0]
    if len(payload) != 1 + length + TAG_BYTES:
        raise ProtocolError("RESPONSE of the wrong length")
    return _serial(payload[1:1 + length]), payload[1 + length:]


def parse_ident(payload: bytes) -> str:
    return _serial(payload)


def verify(provisioning_secret: bytes, nonce: bytes, serial: str, tag: bytes) -> bool:
    expected = response_tag(dongle_secret(provisioning_secret, serial), nonce, serial)
    return _constant_time.compare_digest(expected, tag)


def _serial(raw: bytes) -> str:
    if not _SERIAL.fullmatch(raw):
        raise ProtocolError(f"not a serial number: {raw[:20]!r}")
    return raw.decode("ascii")
