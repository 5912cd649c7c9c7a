"""A license key as text decoded against the feature-code table (no secret needed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from emulator.licensing.key_codec import (
    KeyFormatError,
    LicenseFields,
    normalize_key_text,
    split_key,
    unpack_payload,
)


class DecodedKey(NamedTuple):
    text: str
    """The normalised key, or the input stripped of blanks when it is not a key at all."""
    fields: LicenseFields | None
    feature_id: str | None
    payload: int
    tag: int
    error: str | None
    """Why this cannot be a key of any known feature; None when it decodes."""

    @property
    def expires_at(self) -> int | None:
        return self.fields.expires_at if self.fields else None


def decode_key(text: str, features_by_code: Mapping[int, str]) -> DecodedKey:
    """Decode without raising: anything wrong ends up in .error."""
    try:
        key = normalize_key_text(text)
    except KeyFormatError as exc:
        shown = text.strip() if isinstance(text, str) else repr(text)
        return DecodedKey(shown, None, None, 0, 0, str(exc))
    payload, tag = split_key(key)
    try:
        fields = unpack_payload(payload)
    except KeyFormatError as exc:
        return DecodedKey(key, None, None, payload, tag, str(exc))
    feature_id = features_by_code.get(fields.feature_code)
    if feature_id is None:
        return DecodedKey(key, fields, None, payload, tag, f"feature code {fields.feature_code} is not a known license")
    return DecodedKey(key, fields, feature_id, payload, tag, None)
