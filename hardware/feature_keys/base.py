"""The one small interface every feature-key backend implements.

A unit only ever asks its key one thing, "what is your serial number?", and treats any
failure to answer as the key being absent. Backends for devices that need a conversation
(serial dongles with challenge-response, USB keys found by polling) hide it behind
read_serial(), so the unit's presence checks are the same for all of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar


class FeatureKeyError(Exception):
    """Base of the feature-key errors. `cause` says why the key is judged absent, in one word:
    removed, no_answer, noise, authentication_failed, wrong_serial, error."""

    cause = "error"

    def __init__(self, message: str, cause: str | None = None) -> None:
        super().__init__(message)
        if cause is not None:
            self.cause = cause


class FeatureKeyAbsentError(FeatureKeyError):
    """The key did not answer (removed, unplugged, timed out, answered garbage)."""

    cause = "no_answer"


class FeatureKeyConfigError(FeatureKeyError, ValueError):
    """The key was named wrongly: unknown backend, malformed URL or option."""


class FeatureKey(ABC):
    interface: ClassVar[str]
    """The URL scheme that selects this backend (e.g. "virtual")."""
    polled: ClassVar[bool] = True
    """Whether the unit must poll read_serial() to notice removal (False: it is told)."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._closed = False

    @classmethod
    def from_channel(cls, channel: str) -> FeatureKey:
        """Build from the part of the URL after "interface:"; backends override to parse options."""
        return cls(channel)

    @property
    def url(self) -> str:
        return f"{self.interface}:{self.channel}"

    @property
    def printed_serial(self) -> str | None:
        """The serial known without asking a device (a key given by its serial, such as
        virtual: or a card); None for a device, whose serial is known only once read."""
        return None

    @abstractmethod
    async def read_serial(self) -> str:
        """The key's serial number; raises FeatureKeyAbsentError when it cannot be read."""

    async def close(self) -> None:
        """Release the device; safe to call more than once."""
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> FeatureKey:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @classmethod
    def detect_available(cls) -> list[str]:
        """URLs of keys of this kind that can be seen now (optional; none by default)."""
        return []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"
