"""The 32-character license key: our own format (the vendor's is not public).

A key is 160 bits written as 32 symbols of Crockford's base-32 alphabet, which leaves out
I, L, O and U so that no two symbols look alike. Input is case-insensitive; spaces and
dashes are ignored so keys can be read out in groups.

Bit layout, most significant first:

    4   format version (1)
    10  feature code (firmware_models/feature_codes.yaml)
    16  instances (1..65535)
    32  issue time, seconds since 2000-01-01T00:00:00Z
    12  validity in days after issue (0 = permanent)
    1   trial flag
    1   reserved, always 0
    84  authentication tag over (serial, the 76 bits above); see key_signing.py

The first 76 bits are readable by anyone (that is how Manager shows a key's type and
instances); only the tag needs the issuer's secret.
"""

from __future__ import annotations

from typing import NamedTuple

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
KEY_LENGTH = 32
FORMAT_VERSION = 1
EPOCH_2000 = 946_684_800  # Unix time of 2000-01-01T00:00:00Z
DAY_S = 86_400

PAYLOAD_BITS = 76
TAG_BITS = 84
PAYLOAD_BYTES = 10  # the payload, left-aligned, for signing

MAX_FEATURE_CODE = (1 << 10) - 1
MAX_INSTANCES = (1 << 16) - 1
MAX_VALIDITY_DAYS = (1 << 12) - 1
MAX_ISSUED_AT = EPOCH_2000 + (1 << 32) - 1

_VALID_SYMBOLS = frozenset(ALPHABET)
# Crockford symbols -> the digits int(x, 32) understands, so decoding runs in C.
_TO_INT_DIGITS = str.maketrans(ALPHABET, "0123456789abcdefghijklmnopqrstuv")
_FROM_INT_DIGITS = str.maketrans("0123456789abcdefghijklmnopqrstuv", ALPHABET)
_STRIP = str.maketrans("", "", " -\t")
_TAG_MASK = (1 << TAG_BITS) - 1


class KeyFormatError(ValueError):
    """The text cannot be a license key of any kind."""


class LicenseFields(NamedTuple):
    """What a key says, before anyone checks who it was issued for (a tuple: cheap to build)."""

    feature_code: int
    instances: int
    issued_at: int  # Unix seconds
    validity_days: int = 0
    trial: bool = False
    version: int = FORMAT_VERSION

    @property
    def expires_at(self) -> int | None:
        return self.issued_at + self.validity_days * DAY_S if self.validity_days else None


def pack_payload(fields: LicenseFields) -> int:
    """The 76 readable bits of a key; raises ValueError for a field out of range."""
    if fields.version != FORMAT_VERSION:
        raise ValueError(f"only key format version {FORMAT_VERSION} can be written")
    _check_range("feature code", fields.feature_code, 1, MAX_FEATURE_CODE)
    _check_range("instances", fields.instances, 1, MAX_INSTANCES)
    _check_range("issue time", fields.issued_at, EPOCH_2000, MAX_ISSUED_AT)
    _check_range("validity (days)", fields.validity_days, 0, MAX_VALIDITY_DAYS)
    value = fields.version
    value = (value << 10) | fields.feature_code
    value = (value << 16) | fields.instances
    value = (value << 32) | (fields.issued_at - EPOCH_2000)
    value = (value << 12) | fields.validity_days
    value = (value << 1) | int(fields.trial)
    return value << 1  # reserved bit


def payload_bytes(payload: int) -> bytes:
    return (payload << (PAYLOAD_BYTES * 8 - PAYLOAD_BITS)).to_bytes(PAYLOAD_BYTES, "big")


def format_key(payload: int, tag: int) -> str:
    """32 symbols for a payload and its tag."""
    value = (payload << TAG_BITS) | (tag & _TAG_MASK)
    digits = _to_base32(value)
    return digits.rjust(KEY_LENGTH, "0").translate(_FROM_INT_DIGITS)


def group_key(key: str, size: int = 4) -> str:
    """A key in dash-separated groups, for people to read out."""
    return "-".join(key[i : i + size] for i in range(0, len(key), size))


def normalize_key_text(text: str) -> str:
    """Canonical 32-symbol form; raises KeyFormatError naming the offending character."""
    if not isinstance(text, str):
        raise KeyFormatError(f"a license key is text, not {type(text).__name__}")
    if len(text) == KEY_LENGTH and _VALID_SYMBOLS.issuperset(text):
        return text  # already canonical: the common case, kept cheap
    key = text.translate(_STRIP).upper()
    if not _VALID_SYMBOLS.issuperset(key):
        for pos, ch in enumerate(key, 1):
            if ch not in _VALID_SYMBOLS:
                raise KeyFormatError(
                    f"character {ch!r} at position {pos} is not in the key alphabet ({ALPHABET})"
                )
    if len(key) != KEY_LENGTH:
        raise KeyFormatError(f"a license key has {KEY_LENGTH} characters, this one has {len(key)}")
    return key


def split_key(key: str) -> tuple[int, int]:
    """(payload, tag) of a normalised key."""
    value = int(key.translate(_TO_INT_DIGITS), 32)
    return value >> TAG_BITS, value & _TAG_MASK


def unpack_payload(payload: int) -> LicenseFields:
    """Fields of a payload; raises KeyFormatError when they cannot have been issued."""
    if payload & 1:
        raise KeyFormatError("reserved bit is set")
    trial = bool((payload >> 1) & 1)
    validity_days = (payload >> 2) & MAX_VALIDITY_DAYS
    issued_at = ((payload >> 14) & 0xFFFF_FFFF) + EPOCH_2000
    instances = (payload >> 46) & MAX_INSTANCES
    feature_code = (payload >> 62) & MAX_FEATURE_CODE
    version = payload >> 72
    if version != FORMAT_VERSION:
        raise KeyFormatError(f"unsupported key format version {version}")
    if instances == 0 or feature_code == 0:
        raise KeyFormatError("key carries no feature or no instances")
    if trial and validity_days == 0:
        raise KeyFormatError("trial key without a validity period")
    return LicenseFields(feature_code, instances, issued_at, validity_days, trial, version)


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")


def _to_base32(value: int) -> str:
    out = []
    while value:
        value, digit = divmod(value, 32)
        out.append("0123456789abcdefghijklmnopqrstuv"[digit])
    return "".join(reversed(out)) or "0"
