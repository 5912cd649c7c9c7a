"""Feature-key serial numbers as the licensing core accepts them."""

import re

_SERIAL = re.compile(r"[0-9A-Z]{4,16}")


class SerialNumberError(ValueError):
    """A feature-key serial number is not well formed."""


def normalize_serial(text: str) -> str:
    """Canonical form of a serial: upper case, 4-16 letters or digits.

    Real keys print decimal serials (8 digits on smart cards, 10 on SD cards); letters are
    accepted so that USB and serial dongles with hexadecimal serials fit as well.
    """
    if not isinstance(text, str):
        raise SerialNumberError(f"feature-key serial must be text, not {type(text).__name__}")
    serial = text.strip().upper()
    if not _SERIAL.fullmatch(serial):
        raise SerialNumberError(
            f"malformed feature-key serial {text!r}: expected 4 to 16 letters or digits"
        )
    return serial
