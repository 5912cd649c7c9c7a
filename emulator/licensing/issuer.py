"""Issuing and exchanging keys, as the vendor's licensing site does for a reseller.

Checks the order against the release catalogue, makes the keys (pure), then records them
in the registry in one transaction: either every key of an order exists, or none does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from firmware_models import Release, feature_codes
from emulator.licensing.issuer_registry import DuplicateKeyError, IssuerRegistry, RegistryEntry
from emulator.licensing.key_codec import MAX_INSTANCES, LicenseFields
from emulator.licensing.key_signing import KeyAuthority
from emulator.licensing.license_key import decode_key
from emulator.licensing.serials import normalize_serial
from emulator.licensing.engine import utc_text


_MAX_SAME_SECOND_ORDERS = 100
MAX_CLOCK_SKEW_S = 300
"""How far in the future an issue time may be (clocks differ a little); later is refused."""


class IssueError(ValueError):
    """The order cannot be issued as asked."""


@dataclass(frozen=True, slots=True)
class IssuedLicense:
    key: str
    serial: str
    feature_id: str
    instances: int
    trial: bool
    issued_at: int
    expires_at: int | None

    def entry(self, state: str = "active", replaced_by: str | None = None) -> RegistryEntry:
        return RegistryEntry(self.key, self.serial, self.feature_id, self.instances, self.trial,
                             self.issued_at, self.expires_at, state, replaced_by)


class LicenseIssuer:
    def __init__(self, authority: KeyAuthority, release: Release, registry: IssuerRegistry, *,
                 clock: Callable[[], float] = time.time) -> None:
        """clock: the issuer's idea of now, against which future issue times are refused."""
        self.authority = authority
        self.release = release
        self.registry = registry
        self.clock = clock
        self._codes = feature_codes()

    def issue(
        self,
        serial: str,
        feature: str,
        *,
        issued_at: int,
        instances: int | None = None,
        trial: bool = False,
        validity_days: int = 0,
    ) -> list[IssuedLicense]:
        """Keys for one order line, recorded in the registry (which enforces one trial per serial).

        An issue time more than MAX_CLOCK_SKEW_S after `now` (default: the system clock) is
        refused: a key dated in the future would stay valid longer than it should."""
        now = self.clock()
        if issued_at > now + MAX_CLOCK_SKEW_S:
            raise IssueError(f"issue time {utc_text(issued_at)} is in the future (now {utc_text(now)}; at most "
                             f"{MAX_CLOCK_SKEW_S} s of clock skew is allowed)")
        # The same order twice in one second would give the same key text, i.e. one
        # license: step the issue time a second on until the keys are new.
        for step in range(_MAX_SAME_SECOND_ORDERS):
            issued = order_keys(self.authority, self.release, serial, feature, issued_at=issued_at + step,
                                instances=instances, trial=trial, validity_days=validity_days)
            try:
                self.registry.record_issued([lic.entry() for lic in issued])
            except DuplicateKeyError:
                continue
            return issued
        raise IssueError(f"more than {_MAX_SAME_SECOND_ORDERS} identical orders at {issued_at}; try again")

    def exchange(self, from_serial: str, to_serial: str, keys: Iterable[tuple[int, str]]) -> list[tuple[str, IssuedLicense]]:
        """Re-issue keys valid on from_serial for to_serial, recording the old ones as exchanged.

        keys: (line number, key text). Every key is checked before anything is issued.
        """
        old_serial, new_serial = normalize_serial(from_serial), normalize_serial(to_serial)
        if old_serial == new_serial:
            raise IssueError("--from and --to name the same feature key")
        pairs: list[tuple[IssuedLicense, IssuedLicense]] = []
        for line, text in keys:
            decoded = decode_key(text, self._codes.by_code)
            if decoded.error is not None or decoded.fields is None or decoded.feature_id is None:
                raise IssueError(f"line {line}: {decoded.error}")
            if not self.authority.verify(old_serial, decoded.payload, decoded.tag):
                raise IssueError(f"line {line}: key {decoded.text} is not valid for feature key {old_serial}")
            fields = decoded.fields
            old = IssuedLicense(decoded.text, old_serial, decoded.feature_id, fields.instances,
                                fields.trial, fields.issued_at, fields.expires_at)
            new_key = self.authority.issue(fields, new_serial)
            new = IssuedLicense(new_key, new_serial, decoded.feature_id, fields.instances,
                                fields.trial, fields.issued_at, fields.expires_at)
            pairs.append((old, new))
        if not pairs:
            raise IssueError("no keys to exchange")
        try:
            self.registry.record_exchange([(old.entry(), new.entry()) for old, new in pairs])
        except DuplicateKeyError:
            raise IssueError(f"feature key {new_serial} held these licenses before they were exchanged away; "
                             "exchanging back to an earlier feature key is refused") from None
        return [(old.key, new) for old, new in pairs]


def order_keys(authority: KeyAuthority, release: Release, serial: str, feature: str, *, issued_at: int,
               instances: int | None = None, trial: bool = False, validity_days: int = 0) -> list[IssuedLicense]:
    """The keys of one order line, checked against the release catalogue; records nothing.

    feature: a license id, or a license set id (one key per license in the set; instances
    then counts sets).
    """
    serial = normalize_serial(serial)
    if instances is not None and instances < 1:
        raise IssueError(f"instances must be a positive whole number, got {instances}")
    if validity_days < 0:
        raise IssueError(f"validity must be >= 0 days, got {validity_days}")
    if trial:
        validity_days = release.feature_key.trial_days.value
    codes = feature_codes()
    issued = []
    for license_id, count in _order_lines(release, feature, instances):
        spec = release.license(license_id)
        if spec.obsolete:
            raise IssueError(f"{license_id} is obsolete in release {release.release}; "
                             "issue it with the release that uses it (--release)")
        if trial and not spec.trial:
            raise IssueError(f"no trial is offered for {license_id}")
        if count > MAX_INSTANCES:
            raise IssueError(f"instances must be at most {MAX_INSTANCES}, got {count}")
        fields = LicenseFields(codes.by_id[license_id], count, issued_at, validity_days, trial)
        try:
            key = authority.issue(fields, serial)
        except ValueError as exc:
            raise IssueError(str(exc)) from None
        issued.append(IssuedLicense(key, serial, license_id, count, trial, issued_at, fields.expires_at))
    return issued


def _order_lines(release: Release, feature: str, instances: int | None) -> list[tuple[str, int]]:
    licenses = release.licenses_by_id()
    if feature in licenses:
        return [(feature, instances or licenses[feature].default_instances)]
    for lset in release.license_sets:
        if lset.id == feature:
            sets = instances or 1
            return [(lic_id, per_set * sets) for lic_id, per_set in lset.expands_to.items()]
    raise IssueError(f"unknown feature {feature!r} in release {release.release} "
                     "(see 'ipo-emu models show IP500')")
