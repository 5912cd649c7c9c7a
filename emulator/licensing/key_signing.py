"""Binding keys to a feature-key serial with the issuer's secret (HMAC-SHA256, 84-bit tag).

The emulated unit holds the same secret the issuer used, as real firmware holds the
vendor's algorithm; without it no valid key can be made for any serial.
"""

from __future__ import annotations

import hmac as _constant_time  # only for compare_digest

from cryptography.hazmat.primitives import hashes, hmac

from emulator.licensing.key_codec import (
    TAG_BITS,
    LicenseFields,
    format_key,
    pack_payload,
    payload_bytes,
)

DEVELOPMENT_SECRET = b"ipo-emu DEVELOPMENT issuer secret -- not for real license plans"
MIN_SECRET_BYTES = 16
_DOMAIN = b"ipo-emu/license-key/v1\x00"
_TAG_BYTES = (TAG_BITS + 7) // 8


class KeyAuthority:
    """Issues and verifies keys for one issuer secret."""

    __slots__ = ("_base", "is_development")

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"issuer secret must be at least {MIN_SECRET_BYTES} bytes")
        self._base = hmac.HMAC(secret, hashes.SHA256())
        self.is_development = secret == DEVELOPMENT_SECRET

    @classmethod
    def development(cls) -> KeyAuthority:
        return cls(DEVELOPMENT_SECRET)

    def tag(self, serial: str, payload: int) -> int:
        mac = self._base.copy()
        mac.update(_DOMAIN + serial.encode("ascii") + b"\x00" + payload_bytes(payload))
        digest = mac.finalize()
        return int.from_bytes(digest[:_TAG_BYTES], "big") >> (_TAG_BYTES * 8 - TAG_BITS)

    def issue(self, fields: LicenseFields, serial: str) -> str:
        """The key text for these fields, valid on the feature key with this (normalised) serial."""
        payload = pack_payload(fields)
        return format_key(payload, self.tag(serial, payload))

    def verify(self, serial: str, payload: int, tag: int) -> bool:
        expected = self.tag(serial, payload)
        return _constant_time.compare_digest(
            expected.to_bytes(_TAG_BYTES, "big"), tag.to_bytes(_TAG_BYTES, "big")
        )


class RunLocalAuthority:
    """The authority of one scenario run: keys the scenario *describes* are issued with a
    secret of its own, so they validate inside this run and nowhere else (not under the
    issuer's secret, not in another scenario); keys written out in the scenario are checked
    against the issuer's secret, as everywhere.

    The run's secret is derived from the issuer's secret and the scenario's text, so the
    same file gives the same keys (and the same events) run after run.
    """

    __slots__ = ("_run", "_issuer", "is_development")

    def __init__(self, issuer: KeyAuthority, issuer_secret: bytes, scenario_text: bytes) -> None:
        derive = hmac.HMAC(issuer_secret, hashes.SHA256())
        derive.update(b"ipo-emu/run-local-issuer/v1\x00" + scenario_text)
        self._run = KeyAuthority(derive.finalize())
        self._issuer = issuer
        self.is_development = issuer.is_development

    def issue(self, fields: LicenseFields, serial: str) -> str:
        return self._run.issue(fields, serial)

    def verify(self, serial: str, payload: int, tag: int) -> bool:
        return self._run.verify(serial, payload, tag) or self._issuer.verify(serial, payload, tag)
