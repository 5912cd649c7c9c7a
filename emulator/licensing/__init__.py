"""Sans-IO licensing core: key codec, key status, pools and the per-unit engine.

The issuer side (issuer.py, issuer_registry.py, issuer_secret.py) does I/O and is imported
explicitly by those who issue keys; nothing here imports it.
"""

from emulator.licensing.changes import Change, FeatureKeyChanged, LicenseStatusChanged, PoolLimitChanged
from emulator.licensing.engine import InstalledLicense, LicenseEngine, TimeWentBackwardsError, utc_text
from emulator.licensing.key_codec import KeyFormatError, LicenseFields, group_key, normalize_key_text
from emulator.licensing.key_signing import DEVELOPMENT_SECRET, KeyAuthority
from emulator.licensing.license_key import DecodedKey, decode_key
from emulator.licensing.pool import CountedPool, LicensePool, PoolUnderflowError, give_all, raise_peaks, take_all
from emulator.licensing.serials import SerialNumberError, normalize_serial
from emulator.licensing.status import LicenseStatus

__all__ = [
    "DEVELOPMENT_SECRET",
    "Change",
    "CountedPool",
    "DecodedKey",
    "FeatureKeyChanged",
    "InstalledLicense",
    "KeyAuthority",
    "KeyFormatError",
    "LicenseEngine",
    "LicenseFields",
    "LicensePool",
    "LicenseStatus",
    "LicenseStatusChanged",
    "PoolLimitChanged",
    "PoolUnderflowError",
    "SerialNumberError",
    "TimeWentBackwardsError",
    "decode_key",
    "give_all",
    "raise_peaks",
    "take_all",
    "group_key",
    "normalize_key_text",
    "normalize_serial",
    "utc_text",
]
