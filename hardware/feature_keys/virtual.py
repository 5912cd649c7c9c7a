"""A feature key in memory: the embedded default, and the one scenarios pull and reinsert."""

from __future__ import annotations

from hardware.feature_keys.base import FeatureKey, FeatureKeyAbsentError, FeatureKeyConfigError


class VirtualFeatureKey(FeatureKey):
    interface = "virtual"
    polled = False  # removal is an explicit act (a scenario event), noticed at once

    def __init__(self, channel: str) -> None:
        serial = channel.strip()
        if not serial:
            raise FeatureKeyConfigError("virtual feature key needs a serial number, e.g. virtual:12345678")
        super().__init__(serial)
        self.serial = serial
        self.inserted = True

    @property
    def printed_serial(self) -> str | None:
        return self.serial

    async def read_serial(self) -> str:
        if self._closed or not self.inserted:
            raise FeatureKeyAbsentError(f"virtual feature key {self.serial} is not inserted", "removed")
        return self.serial

    def remove(self) -> None:
        self.inserted = False

    def insert(self, serial: str | None = None) -> None:
        """Put the key back, or put in another one with a different serial."""
        if serial is not None:
            self.serial = self.channel = serial.strip()
        self.inserted = True
