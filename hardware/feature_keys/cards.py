"""The keys fitted inside the control unit: the IP500 smart card and the IP500 V2 SD card.

Like the virtual key they are fitted and removed by the emulator (a scenario event);
unlike it, each checks the serial format its card prints and says which unit takes it.
"""

from __future__ import annotations

import re
from typing import ClassVar

from hardware.feature_keys.base import FeatureKeyConfigError
from hardware.feature_keys.virtual import VirtualFeatureKey


class _CardKey(VirtualFeatureKey):
    key_type: ClassVar[str]
    serial_pattern: ClassVar[re.Pattern[str]]
    serial_rule: ClassVar[str]

    def __init__(self, channel: str) -> None:
        super().__init__(channel)
        self._check(self.serial)

    def insert(self, serial: str | None = None) -> None:
        if serial is not None:
            self._check(serial.strip())
        super().insert(serial)

    def _check(self, serial: str) -> None:
        if not self.serial_pattern.fullmatch(serial):
            raise FeatureKeyConfigError(f"{self.interface} serial {serial!r}: {self.serial_rule}")


class SmartCardKey(_CardKey):
    """The IP500's smart card (internal slot) [S2][S5]."""

    interface = "smartcard"
    key_type = "smart_card"
    serial_pattern = re.compile(r"\d{8}")
    serial_rule = "a smart card serial has 8 digits (assumption: the display format is unconfirmed)"


class SdCardKey(_CardKey):
    """The IP500 V2's SD card, whose label prints a 10-digit FK SN [S7]."""

    interface = "sdcard"
    key_type = "sd_card"
    serial_pattern = re.compile(r"\d{10}")
    serial_rule = "an SD card's FK SN has 10 digits [S7]"
