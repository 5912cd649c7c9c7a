"""Feature keys on a serial line: `serial:///dev/ttyUSB0?baudrate=9600`, and USB keys found by VID:PID.

The port is opened with pyserial's serial_for_url, so device paths, socket://, rfc2217://
and spy:// all work. Each check is a short exchange (challenge, response; see
hardware/dongle/protocol.py) run in a worker thread with asyncio.to_thread: the event loop
never waits on the line, whatever the URL handler, and no extra dependency is needed.
A port that fails is closed; it is reopened on a later check, after an exponential backoff.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
from urllib.parse import parse_qsl, urlencode

import serial
from serial.tools import list_ports

from hardware.dongle.protocol import (
    CHALLENGE,
    DEVELOPMENT_DONGLE_SECRET,
    IDENT,
    NONCE_BYTES,
    RESPONSE,
    FrameReader,
    ProtocolError,
    encode,
    parse_ident,
    parse_response,
    verify,
)
from hardware.feature_keys.base import FeatureKey, FeatureKeyAbsentError, FeatureKeyConfigError, FeatureKeyError

try:
    from termios import error as _TermiosError  # raised by flushes after an unplug; not an OSError
except ImportError:  # not a POSIX system
    class _TermiosError(Exception):  # type: ignore[no-redef]
        pass

# Everything a line can throw when the device goes away.
LINE_ERRORS = (serial.SerialException, OSError, _TermiosError)

ENV_DONGLE_SECRET = "IPO_EMU_DONGLE_SECRET"
_OUR_OPTIONS = ("baudrate", "timeout", "plain_id", "backoff_max")


class FeatureKeyAuthError(FeatureKeyError):
    """Something answered, but could not prove it is a dongle we know."""

    cause = "authentication_failed"


def provisioning_secret() -> bytes:
    """$IPO_EMU_DONGLE_SECRET, else the clearly labelled development default (refused when
    $IPO_EMU_REQUIRE_SECRET is set)."""
    value = os.environ.get(ENV_DONGLE_SECRET)
    if value:
        return value.encode("utf-8", "surrogateescape")
    if os.environ.get("IPO_EMU_REQUIRE_SECRET", "").strip().lower() in ("1", "true", "yes"):
        raise FeatureKeyConfigError(f"$IPO_EMU_REQUIRE_SECRET is set: give the dongle secret in ${ENV_DONGLE_SECRET} "
                                    "(the development secret is refused)")
    return DEVELOPMENT_DONGLE_SECRET


def _split_options(channel: str) -> tuple[str, dict[str, str]]:
    """The pyserial URL (with its own query options kept) and our options."""
    base, _, query = channel.partition("?")
    ours, theirs = {}, []
    for key, value in parse_qsl(query, keep_blank_values=True):
        (ours.__setitem__(key, value) if key in _OUR_OPTIONS else theirs.append((key, value)))
    return (base + ("?" + urlencode(theirs) if theirs else "")), ours


def _number(options: dict[str, str], key: str, default: float, low: float, high: float) -> float:
    if key not in options:
        return default
    try:
        value = float(options[key])
    except ValueError:
        raise FeatureKeyConfigError(f"feature key option {key}={options[key]!r} is not a number") from None
    if not low <= value <= high:
        raise FeatureKeyConfigError(f"feature key option {key}={value:g} must be between {low:g} and {high:g}")
    return value


def _line_options(options: dict[str, str]) -> dict[str, object]:
    """The URL options every serial-line key takes, checked."""
    return {"baudrate": int(_number(options, "baudrate", 9600, 50, 4_000_000)),
            "timeout_s": _number(options, "timeout", 1.0, 0.01, 60),
            "plain_id": options.get("plain_id", "0").lower() in ("1", "true", "yes"),
            "backoff_max_s": _number(options, "backoff_max", 5.0, 0, 600)}


class SerialFeatureKey(FeatureKey):
    interface = "serial"
    polled = True

    def __init__(self, channel: str, *, port_url: str, baudrate: int = 9600, timeout_s: float = 1.0,
                 plain_id: bool = False, backoff_max_s: float = 5.0, secret: bytes | None = None) -> None:
        super().__init__(channel)
        self.port_url = port_url
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self.plain_id = plain_id
        self.backoff_max_s = backoff_max_s
        self._secret = secret if secret is not None else provisioning_secret()
        self._port: serial.SerialBase | None = None
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self._failures = 0
        self._retry_at = 0.0
        self.exchanges = 0

    @classmethod
    def from_channel(cls, channel: str) -> SerialFeatureKey:
        url, options = _split_options(channel)
        if url.startswith("//"):
            url = url[2:]  # serial:///dev/ttyUSB0 -> /dev/ttyUSB0; serial:socket://h:p stays
        if not url:
            raise FeatureKeyConfigError("serial feature key needs a port, e.g. serial:///dev/ttyUSB0")
        return cls(channel, port_url=url, **_line_options(options))

    async def read_serial(self) -> str:
        if self._closed:
            raise FeatureKeyAbsentError(f"{self.url}: closed", "removed")
        wait = self._retry_at - time.monotonic()
        if wait > 0:
            raise FeatureKeyAbsentError(f"{self.port_url}: not answering; next try in {wait:.1f} s")
        try:
            serial_number = await asyncio.to_thread(self._exchange)
        except FeatureKeyError:
            self._failures += 1
            backoff = min(self.backoff_max_s, 0.05 * 2 ** min(self._failures, 16))
            self._retry_at = time.monotonic() + backoff
            raise
        self._failures, self._retry_at = 0, 0.0
        return serial_number

    async def close(self) -> None:
        await super().close()
        await asyncio.to_thread(self._drop_port)

    # -- in the worker thread --------------------------------------------------------------------

    def _port_url(self) -> str:
        return self.port_url

    def _exchange(self) -> str:
        with self._lock:
            self.exchanges += 1
            url = self._port_url()
            try:
                port = self._open(url)
                port.reset_input_buffer()
                seq = next(self._seq) & 0xFF
                nonce = os.urandom(NONCE_BYTES)
                port.write(encode(CHALLENGE, seq, nonce))
                return self._await_answer(port, seq, nonce)
            except LINE_ERRORS as exc:
                self._drop_port()
                raise FeatureKeyAbsentError(f"{url}: {exc}") from None

    def _open(self, url: str) -> serial.SerialBase:
        if self._port is not None and self._port.is_open and self._port.port == url:
            return self._port
        self._drop_port()
        self._port = serial.serial_for_url(url, baudrate=self.baudrate, timeout=0.02, write_timeout=self.timeout_s)
        return self._port

    def _await_answer(self, port: serial.SerialBase, seq: int, nonce: bytes) -> str:
        reader = FrameReader()
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            data = port.read(max(1, port.in_waiting))
            for frame in reader.feed(data):
                if frame.seq != seq:
                    continue  # an old answer, late: not to this challenge
                try:
                    if frame.type == RESPONSE:
                        serial_number, tag = parse_response(frame.payload)
                        if not verify(self._secret, nonce, serial_number, tag):
                            raise FeatureKeyAuthError(f"{port.port}: dongle {serial_number} failed authentication")
                        return serial_number
                    if frame.type == IDENT:
                        serial_number = parse_ident(frame.payload)
                        if not self.plain_id:
                            raise FeatureKeyAuthError(f"{port.port}: device {serial_number} gives no proof "
                                                      "(accept plain-ID devices with ?plain_id=1)")
                        return serial_number
                except ProtocolError as exc:
                    raise FeatureKeyAuthError(f"{port.port}: {exc}") from None
        noise = f" ({reader.discarded} bytes of noise)" if reader.discarded else ""
        raise FeatureKeyAbsentError(f"{port.port}: no answer within {self.timeout_s:g} s{noise}",
                                    "noise" if reader.discarded else "no_answer")

    def _drop_port(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except LINE_ERRORS:
                pass

    @classmethod
    def detect_available(cls) -> list[str]:
        return [f"serial://{p.device}" for p in list_ports.comports()]


def find_usb_port(ports: list, vid: int, pid: int, usb_serial: str | None) -> str | None:
    """The device path of the first port with this VID:PID (and USB serial number)."""
    for port in ports:
        if port.vid == vid and port.pid == pid and (usb_serial is None or port.serial_number == usb_serial):
            return port.device
    return None


class UsbFeatureKey(SerialFeatureKey):
    """`usb:VID:PID[:USBSERIAL]`: a USB key found among the serial ports by its USB identity.

    Presence is the port being listed; the dongle then answers the line protocol as a serial
    key does.
    """

    interface = "usb"

    def __init__(self, channel: str, *, vid: int, pid: int, usb_serial: str | None, **kw: object) -> None:
        super().__init__(channel, port_url="", **kw)  # type: ignore[arg-type]
        self.vid, self.pid, self.usb_serial = vid, pid, usb_serial

    @classmethod
    def from_channel(cls, channel: str) -> UsbFeatureKey:
        ident, options = _split_options(channel)
        parts = ident.split(":")
        if len(parts) not in (2, 3):
            raise FeatureKeyConfigError(f"usb feature key {channel!r}: expected usb:VID:PID[:SERIAL], e.g. usb:0403:6001")
        try:
            vid, pid = int(parts[0], 16), int(parts[1], 16)
        except ValueError:
            raise FeatureKeyConfigError(f"usb feature key {channel!r}: VID and PID are hexadecimal") from None
        return cls(channel, vid=vid, pid=pid, usb_serial=parts[2] if len(parts) == 3 else None,
                   **_line_options(options))

    def _port_url(self) -> str:
        device = find_usb_port(list_ports.comports(), self.vid, self.pid, self.usb_serial)
        if device is None:
            self._drop_port()
            wanted = f"{self.vid:04x}:{self.pid:04x}" + (f" serial {self.usb_serial}" if self.usb_serial else "")
            raise FeatureKeyAbsentError(f"no USB key {wanted} is plugged in", "removed")
        return device

    @classmethod
    def detect_available(cls) -> list[str]:
        return [f"usb:{p.vid:04x}:{p.pid:04x}" + (f":{p.serial_number}" if p.serial_number else "")
                for p in list_ports.comports() if p.vid is not None]
