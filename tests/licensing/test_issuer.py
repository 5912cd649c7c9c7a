"""Issuing: license sets, the one-trial rule under a race, exchange, the registry, the secret."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest

from emulator.licensing import KeyAuthority, LicenseStatus, decode_key
from emulator.licensing.issuer import IssueError, LicenseIssuer
from emulator.licensing.issuer_registry import (
    AlreadyExchangedError,
    IssuerRegistry,
    RegistryError,
    TrialAlreadyIssuedError,
)
from emulator.licensing.issuer_secret import IssuerSecretError, load_issuer_secret
from emulator.licensing.key_codec import DAY_S
from firmware_models import feature_codes, load_release
from tests.conftest import OTHER_SERIAL, SERIAL, T0, make_engine


@pytest.fixture
def registry(tmp_path):
    with IssuerRegistry(tmp_path / "issuer.sqlite3") as reg:
        yield reg


@pytest.fixture
def issuer(authority, r60, registry):
    return LicenseIssuer(authority, r60, registry, clock=lambda: T0 + 400 * DAY_S)  # T0 is in 2027


def test_issue_records_and_validates(issuer, registry, r60, authority):
    [lic] = issuer.issue(SERIAL, "sip_trunk_channels", issued_at=T0, instances=30)
    assert registry.entries()[0].license_key == lic.key
    engine = make_engine(r60, authority, keys=[lic.key])
    assert engine.pool("sip_trunk_channels").effective == 30


def test_default_instances_come_from_the_catalogue(issuer):
    [lic] = issuer.issue(SERIAL, "ip500_voice_networking", issued_at=T0)
    assert lic.instances == 4


def test_license_set_expands_and_combines(issuer, r60, authority):
    keys = [lic.key for lic in issuer.issue(SERIAL, "ucsb_20", issued_at=T0)]
    keys += [lic.key for lic in issuer.issue(SERIAL, "ucsb_25", issued_at=T0, instances=2)]
    assert len(keys) == 6
    engine = make_engine(r60, authority, keys=keys)
    for pool in ("mobility_features", "phone_manager_pro", "phone_manager_pro_ip_audio_enabled"):
        assert engine.pool(pool).licensed == 20 + 50


def test_same_order_twice_in_one_second_gives_two_licenses(issuer, r60, authority):
    a = issuer.issue(SERIAL, "softconsole", issued_at=T0)[0]
    b = issuer.issue(SERIAL, "softconsole", issued_at=T0)[0]
    assert a.key != b.key and b.issued_at == T0 + 1
    assert make_engine(r60, authority, keys=[a.key, b.key], now=T0 + 1).pool("softconsole").licensed == 2


def test_trial_is_sixty_days_and_once_per_feature_and_serial(issuer):
    [lic] = issuer.issue(SERIAL, "sip_trunk_channels", issued_at=T0, instances=10, trial=True)
    assert lic.expires_at == T0 + 60 * DAY_S
    with pytest.raises(TrialAlreadyIssuedError, match="sip_trunk_channels.*12345678"):
        issuer.issue(SERIAL, "sip_trunk_channels", issued_at=T0 + 5 * DAY_S, trial=True)
    issuer.issue(OTHER_SERIAL, "sip_trunk_channels", issued_at=T0, trial=True)  # another key: fine
    issuer.issue(SERIAL, "softconsole", issued_at=T0, trial=True)  # another feature: fine
    issuer.issue(SERIAL, "sip_trunk_channels", issued_at=T0)  # a full license: fine


def test_no_trial_where_none_is_offered(issuer):
    with pytest.raises(IssueError, match="no trial is offered for cti_link_pro"):
        issuer.issue(SERIAL, "cti_link_pro", issued_at=T0, trial=True)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"feature": "warp_drive"}, "unknown feature 'warp_drive'"),
    ({"feature": "ip500_vcm_channels"}, "obsolete in release 6.0"),
    ({"feature": "softconsole", "instances": 0}, "positive whole number"),
    ({"feature": "softconsole", "instances": 70_000}, "at most 65535"),
    ({"feature": "softconsole", "validity_days": -1}, ">= 0 days"),
])
def test_bad_orders_are_refused_and_nothing_is_recorded(issuer, registry, kwargs, message):
    with pytest.raises(IssueError, match=message):
        issuer.issue(SERIAL, issued_at=T0, **kwargs)
    assert registry.entries() == []


def _race_for_trial(path, barrier, results):
    release = load_release("6.0")
    with IssuerRegistry(path) as reg:
        issuer = LicenseIssuer(KeyAuthority.development(), release, reg, clock=lambda: T0 + 400 * DAY_S)
        barrier.wait()
        try:
            issuer.issue(SERIAL, "mobility_features", issued_at=T0, instances=5, trial=True)
            results.put("won")
        except TrialAlreadyIssuedError:
            results.put("refused")


def test_racing_processes_issue_exactly_one_trial(tmp_path):
    ctx = multiprocessing.get_context("fork")
    path = tmp_path / "race.sqlite3"
    racers = 8
    barrier, results = ctx.Barrier(racers), ctx.Queue()
    procs = [ctx.Process(target=_race_for_trial, args=(path, barrier, results)) for _ in range(racers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    outcomes = sorted(results.get(timeout=5) for _ in range(racers))
    assert outcomes == ["refused"] * (racers - 1) + ["won"]
    with IssuerRegistry(path) as reg:
        assert len([e for e in reg.entries() if e.trial]) == 1


def test_exchange_moves_every_license_to_the_new_key(issuer, registry, r60, authority):
    old = [issuer.issue(SERIAL, f, issued_at=T0, instances=3)[0].key for f in ("softconsole", "sip_trunk_channels")]
    old.append(issuer.issue(SERIAL, "voicemail_pro", issued_at=T0 - 10 * DAY_S, trial=True)[0].key)
    pairs = issuer.exchange(SERIAL, OTHER_SERIAL, list(enumerate(old, 1)))
    new = [lic.key for _, lic in pairs]
    assert [o for o, _ in pairs] == old
    moved = make_engine(r60, authority, keys=new, serial=OTHER_SERIAL)
    assert all(lic.status is LicenseStatus.VALID for lic in moved.licenses())
    assert moved.pool("sip_trunk_channels").licensed == 3
    trial = next(lic for _, lic in pairs if lic.trial)
    assert trial.expires_at == T0 + 50 * DAY_S  # the trial clock is not reset by an exchange
    states = {e.license_key: e.state for e in registry.entries()}
    assert all(states[k] == "exchanged" for k in old) and all(states[k] == "active" for k in new)
    with pytest.raises(AlreadyExchangedError):
        issuer.exchange(SERIAL, "99990000", [(1, old[0])])


def test_exchange_checks_every_key_before_issuing_any(issuer, registry, authority):
    good = issuer.issue(SERIAL, "softconsole", issued_at=T0)[0].key
    foreign = issuer.issue(OTHER_SERIAL, "softconsole", issued_at=T0)[0].key
    before = registry.entries()
    with pytest.raises(IssueError, match=f"line 2: key {foreign} is not valid for feature key {SERIAL}"):
        issuer.exchange(SERIAL, "55556666", [(1, good), (2, foreign)])
    with pytest.raises(IssueError, match="line 7: character"):
        issuer.exchange(SERIAL, "55556666", [(7, "rubbish!")])
    with pytest.raises(IssueError, match="same feature key"):
        issuer.exchange(SERIAL, SERIAL.lower(), [(1, good)])
    assert registry.entries() == before


def test_registry_that_is_not_a_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "junk.sqlite3"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(RegistryError, match="junk.sqlite3: file is not a database"):
        IssuerRegistry(bad)


def test_registry_is_created_with_its_folders(tmp_path):
    path = tmp_path / "a" / "b" / "issuer.sqlite3"
    with IssuerRegistry(path) as reg:
        assert reg.entries() == []
    assert sqlite3.connect(path).execute("SELECT count(*) FROM issued_licenses").fetchone() == (0,)


# -- the issuer secret ---------------------------------------------------------------------

def test_development_default_is_labelled():
    secret = load_issuer_secret(env={})
    assert secret.is_development and "development" in secret.origin


def test_secret_from_environment_and_file(tmp_path):
    assert load_issuer_secret(env={"IPO_EMU_ISSUER_SECRET": "s" * 20}).value == b"s" * 20
    path = tmp_path / "secret"
    path.write_bytes(b"file-secret-0123456789\n")
    assert load_issuer_secret(env={"IPO_EMU_ISSUER_SECRET_FILE": str(path)}).value == b"file-secret-0123456789"
    assert load_issuer_secret(path, env={"IPO_EMU_ISSUER_SECRET": "x" * 20}).value == b"file-secret-0123456789"


def test_bad_secrets_are_refused(tmp_path):
    with pytest.raises(IssuerSecretError, match="shorter than 16 bytes"):
        load_issuer_secret(env={"IPO_EMU_ISSUER_SECRET": "short"})
    with pytest.raises(IssuerSecretError, match="cannot read"):
        load_issuer_secret(tmp_path / "missing")


def test_keys_from_another_secret_are_invalid(r60, authority, registry):
    other = LicenseIssuer(KeyAuthority(b"a completely different secret"), r60, registry, clock=lambda: T0 + 400 * DAY_S)
    key = other.issue(SERIAL, "softconsole", issued_at=T0)[0].key
    assert decode_key(key, feature_codes().by_code).error is None  # well formed...
    assert make_engine(r60, authority, keys=[key]).licenses()[0].status is LicenseStatus.INVALID  # ...but not ours
