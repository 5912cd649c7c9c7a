"""Reason codes: why something was refused. Stable strings, documented in docs/reason-codes.md.

Pure data with no imports of ours, so both the sans-IO core and the shell can use it.
"""

from enum import StrEnum


class Reason(StrEnum):
    NOT_LICENSED = "not_licensed"
    """No license for this pool is installed at all."""
    LICENSE_EXHAUSTED = "license_exhausted"
    """Every licensed instance is in use."""
    CAPACITY_REACHED = "capacity_reached"
    """More is licensed than the control unit supports, and the unit's cap is in use."""
    LICENSE_EXPIRED = "license_expired"
    """The only licenses for this pool are past their expiry (e.g. a trial after 60 days)."""
    LICENSE_DORMANT = "license_dormant"
    """The licenses for this pool need another license that is not valid."""
    LICENSE_INVALID = "license_invalid"
    """The licenses for this pool do not validate against the feature key (wrong serial, altered, malformed)."""
    LICENSE_OBSOLETE = "license_obsolete"
    """The licenses for this pool are not used by this release or control unit."""
    FEATURE_KEY_ABSENT = "feature_key_absent"
    """The feature key has been absent for longer than the grace period (or was never read)."""
