"""License status values, as Manager's License form shows them (plus Expired)."""

from enum import StrEnum

from emulator.reasons import Reason


class LicenseStatus(StrEnum):
    UNKNOWN = "Unknown"  # no feature key has been read yet
    VALID = "Valid"
    INVALID = "Invalid"  # malformed, altered, another serial, or the key is absent
    EXPIRED = "Expired"  # past its validity (trials: 60 days after issue)
    DORMANT = "Dormant"  # valid, but a license it depends on is not
    OBSOLETE = "Obsolete"  # valid, but not used by this release or control unit
    NOT_YET_VALID = "NotYetValid"  # its issue date is still to come (our own status: time cannot be bent)
    REVOKED = "Revoked"  # exchanged for a key on another feature key (our own status, from the issuer registry)


# When a pool has no valid license, the reason a refusal gives comes from the most
# telling status among the licenses that would have filled it, in this order.
EMPTY_POOL_REASONS: tuple[tuple[LicenseStatus, Reason], ...] = (
    (LicenseStatus.EXPIRED, Reason.LICENSE_EXPIRED),
    (LicenseStatus.REVOKED, Reason.LICENSE_REVOKED),
    (LicenseStatus.NOT_YET_VALID, Reason.LICENSE_NOT_YET_VALID),
    (LicenseStatus.DORMANT, Reason.LICENSE_DORMANT),
    (LicenseStatus.OBSOLETE, Reason.LICENSE_OBSOLETE),
    (LicenseStatus.INVALID, Reason.LICENSE_INVALID),
    (LicenseStatus.UNKNOWN, Reason.FEATURE_KEY_ABSENT),
)
