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

    # -- the control unit's rules (emulator/rules) --------------------------------------
    NO_VCM_CHANNEL = "no_vcm_channel"
    """Every VCM (voice compression) channel is in use; the caller gets busy."""
    TRUNK_BUSY = "trunk_busy"
    """Every configured channel of the trunk or line is in use."""
    NOT_REGISTERED = "not_registered"
    """The IP phone of a party is not registered."""
    ENDPOINT_UNLICENSED = "endpoint_unlicensed"
    """An Avaya IP phone registered without an endpoint license: emergency calls only."""
    VPNREMOTE_UNSUPPORTED_MODEL = "vpnremote_unsupported_model"
    """Only the 5610 and 5621 run the VPNremote client."""
    NOT_AN_IP_PHONE = "not_an_ip_phone"
    """Registration asked for an analog or digital extension."""
    ALREADY_REGISTERED = "already_registered"
    """The phone is registered already."""
    NOT_CONFIGURED = "not_configured"
    """The user or unit is not configured for this application or feature."""
    ALREADY_RUNNING = "already_running"
    """The application is running already for this user."""
    VOICEMAIL_NOT_RUNNING = "voicemail_not_running"
    """No licensed Voicemail Pro server serves this unit."""
    DELTA_SERVER_NOT_RUNNING = "delta_server_not_running"
    """No licensed Delta Server runs on this unit, so contact-center clients cannot start."""
    NOT_SUPPORTED_ON_UNIT = "not_supported_on_unit"
    """The feature does not run on this control unit (Mobile Call Control, one-X Mobile Client: IP500 only)."""
    NO_SCN_ROUTE = "no_scn_route"
    """No H.323 line joins the two units of a Small Community Network call."""
