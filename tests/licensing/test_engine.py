"""The license engine: statuses, pools, capacity, grace period, trials — given events and a time."""

from __future__ import annotations

import pytest

from emulator.licensing import (
    FeatureKeyChanged,
    LicenseStatus,
    LicenseStatusChanged,
    PoolLimitChanged,
    PoolUnderflowError,
    SerialNumberError,
    TimeWentBackwardsError,
)
from emulator.licensing.key_codec import DAY_S
from emulator.reasons import Reason
from tests.conftest import OTHER_SERIAL, SERIAL, T0, make_engine, make_key

V, I, E, D, O, U = (LicenseStatus.VALID, LicenseStatus.INVALID, LicenseStatus.EXPIRED, LicenseStatus.DORMANT,
                    LicenseStatus.OBSOLETE, LicenseStatus.UNKNOWN)


def status_of(engine, key):
    return next(lic for lic in engine.licenses() if lic.key == key).status


# -- statuses ---------------------------------------------------------------------------

def test_valid_key_on_its_own_feature_key(r60, authority):
    key = make_key(authority, "sip_trunk_channels", 10)
    engine = make_engine(r60, authority, keys=[key])
    assert status_of(engine, key) is V
    assert engine.pool("sip_trunk_channels").effective == 10


def test_key_of_another_unit_is_invalid(r60, authority):
    """One unit's feature key never validates another unit's licenses [S1]."""
    key = make_key(authority, "sip_trunk_channels", 10, serial=OTHER_SERIAL)
    engine = make_engine(r60, authority, keys=[key])
    lic = engine.licenses()[0]
    assert lic.status is I and OTHER_SERIAL not in lic.detail and SERIAL in lic.detail
    assert engine.acquire("sip_trunk_channels", T0) is Reason.LICENSE_INVALID


def test_status_is_unknown_until_the_feature_key_is_read(r60, authority):
    key = make_key(authority, "softconsole", 2)
    engine = make_engine(r60, authority, keys=[key], serial=None)
    assert status_of(engine, key) is U
    engine.feature_key_read(SERIAL, T0 + 1)
    assert status_of(engine, key) is V


def test_malformed_key_is_invalid_from_the_start(r60, authority):
    engine = make_engine(r60, authority, keys=["not a key"], serial=None)
    assert engine.licenses()[0].status is I
    assert "not in the key alphabet" in engine.licenses()[0].detail


def test_obsolete_in_this_release(r60, r42, authority):
    vpn = make_key(authority, "vpn_ip_extensions", 4)
    assert status_of(make_engine(r42, authority, keys=[vpn]), vpn) is V
    engine6 = make_engine(r60, authority, keys=[vpn])
    assert status_of(engine6, vpn) is O
    assert engine6.acquire("vpn_ip_extensions", T0) is Reason.LICENSE_OBSOLETE


def test_obsolete_when_release_does_not_know_the_license(r42, authority):
    key = make_key(authority, "avaya_ip_endpoints", 4)  # an R6 license on 4.2
    engine = make_engine(r42, authority, keys=[key])
    assert status_of(engine, key) is O and "release 4.2" in engine.licenses()[0].detail


def test_ip500_license_on_another_unit_is_obsolete(r42, authority):
    key = make_key(authority, "ip500_voice_networking", 4)
    engine = make_engine(r42, authority, unit="IP406 V2", keys=[key])
    assert status_of(engine, key) is O and "IP406 V2" in engine.licenses()[0].detail


def test_dormant_without_prerequisite_and_wakes_with_it(r60, authority):
    ports = make_key(authority, "voicemail_pro_additional_ports", 2)
    engine = make_engine(r60, authority, keys=[ports])
    assert status_of(engine, ports) is D
    assert engine.acquire("voicemail_pro_ports", T0) is Reason.LICENSE_DORMANT
    base = make_key(authority, "voicemail_pro")
    engine.install(base, T0 + 1)
    assert status_of(engine, ports) is V
    assert engine.pool("voicemail_pro_ports").effective == 4 + 2  # base brings 4 ports


def test_dormancy_propagates_through_chains(r60, authority):
    """IP Audio Enabled needs Pro; Pro is Invalid (wrong serial) -> IP Audio Enabled Dormant."""
    pro = make_key(authority, "phone_manager_pro", 5, serial=OTHER_SERIAL)
    soft = make_key(authority, "phone_manager_pro_ip_audio_enabled", 5)
    engine = make_engine(r60, authority, keys=[pro, soft])
    assert status_of(engine, pro) is I and status_of(engine, soft) is D


def test_installing_the_same_key_twice_counts_once(r60, authority):
    key = make_key(authority, "sip_trunk_channels", 10)
    engine = make_engine(r60, authority, keys=[key, key.lower(), key])
    assert len(engine.licenses()) == 1
    assert engine.pool("sip_trunk_channels").licensed == 10


def test_uninstall(r60, authority):
    key = make_key(authority, "sip_trunk_channels", 10)
    engine = make_engine(r60, authority, keys=[key])
    assert engine.uninstall(key, T0 + 1)
    assert not engine.uninstall(key, T0 + 2)
    assert engine.pool("sip_trunk_channels").effective == 0


# -- pools, capacity, reason codes -------------------------------------------------------

def test_licenses_add_up(r60, authority):
    keys = [make_key(authority, "sip_trunk_channels", n, issued_at=T0 - n) for n in (10, 20, 5)]
    engine = make_engine(r60, authority, keys=keys)
    assert engine.pool("sip_trunk_channels").licensed == 35


def test_licenses_above_capacity_do_not_work(r60, authority):
    """Seed: licenses above the capacity supported by the control unit will not work."""
    engine = make_engine(r60, authority, keys=[make_key(authority, "softconsole", 6)])
    pool = engine.pool("softconsole")
    assert (pool.licensed, pool.capacity, pool.effective) == (6, 4, 4)
    assert [engine.acquire("softconsole", T0) for _ in range(4)] == [None] * 4
    assert engine.acquire("softconsole", T0) is Reason.CAPACITY_REACHED


def test_exhausted_below_capacity(r60, authority):
    engine = make_engine(r60, authority, keys=[make_key(authority, "softconsole", 2)])
    assert engine.acquire("softconsole", T0, 2) is None
    assert engine.acquire("softconsole", T0) is Reason.LICENSE_EXHAUSTED
    assert engine.pool("softconsole").refusals == {Reason.LICENSE_EXHAUSTED: 1}


def test_nothing_installed_is_not_licensed(r60, authority):
    engine = make_engine(r60, authority)
    assert engine.acquire("mobility_features", T0) is Reason.NOT_LICENSED


def test_unknown_pool_is_a_lookup_error(r60, authority):
    with pytest.raises(LookupError, match="unknown license pool 'warp'"):
        make_engine(r60, authority).acquire("warp", T0)


def test_free_instances_count_without_a_license(r42, authority):
    engine = make_engine(r42, authority, keys=[make_key(authority, "ip500_vcm_channels", 20)])
    engine.set_free_instances("ip500_vcm_channels", 8, T0)  # two cards, 4 free each
    pool = engine.pool("ip500_vcm_channels")
    assert (pool.licensed, pool.free, pool.effective) == (20, 8, 28)


def test_channel_migration_gives_three_endpoints_each(r60, authority):
    engine = make_engine(r60, authority, keys=[make_key(authority, "channel_migration", 4)])
    assert engine.pool("avaya_ip_endpoints").effective == 12


def test_release_more_than_acquired_is_an_error(r60, authority):
    engine = make_engine(r60, authority, keys=[make_key(authority, "softconsole", 2)])
    engine.acquire("softconsole", T0)
    engine.release_instances("softconsole", T0)
    with pytest.raises(PoolUnderflowError):
        engine.release_instances("softconsole", T0)


# -- trials and expiry -------------------------------------------------------------------

def test_trial_expires_exactly_sixty_days_after_issue(r60, authority):
    issued = T0 - 59 * DAY_S
    key = make_key(authority, "sip_trunk_channels", 10, trial=True, issued_at=issued)
    engine = make_engine(r60, authority, keys=[key])
    end = issued + 60 * DAY_S
    assert engine.next_deadline() == end
    engine.advance(end - 1)
    assert status_of(engine, key) is V and engine.acquire("sip_trunk_channels", end - 1) is None
    assert engine.acquire("sip_trunk_channels", end) is Reason.LICENSE_EXPIRED
    assert status_of(engine, key) is E


def test_expired_trial_does_not_hide_a_full_license(r60, authority):
    trial = make_key(authority, "softconsole", 1, trial=True, issued_at=T0 - 61 * DAY_S)
    full = make_key(authority, "softconsole", 2)
    engine = make_engine(r60, authority, keys=[trial, full])
    assert status_of(engine, trial) is E
    assert engine.pool("softconsole").effective == 2


def test_time_limited_key(r60, authority):
    key = make_key(authority, "mobility_features", 5, validity_days=30, issued_at=T0)
    engine = make_engine(r60, authority, keys=[key])
    engine.advance(T0 + 30 * DAY_S)
    assert status_of(engine, key) is E


def test_deadlines_passed_over_are_stamped_at_their_own_time(r60, authority):
    a = make_key(authority, "softconsole", 1, trial=True, issued_at=T0 - 59 * DAY_S)
    b = make_key(authority, "mobility_features", 1, validity_days=2, issued_at=T0)
    engine = make_engine(r60, authority, keys=[a, b])
    engine.take_changes()
    engine.advance(T0 + 10 * DAY_S)
    expiries = [(c.feature_id, c.at) for c in engine.take_changes() if isinstance(c, LicenseStatusChanged)]
    assert expiries == [("softconsole", T0 + DAY_S), ("mobility_features", T0 + 2 * DAY_S)]


def test_time_never_goes_backwards(r60, authority):
    engine = make_engine(r60, authority)
    with pytest.raises(TimeWentBackwardsError):
        engine.advance(T0 - 1)


# -- the feature key: removal, grace, return, swap ---------------------------------------

GRACE = 7200


def test_removal_within_grace_keeps_licenses(r60, authority):
    engine = make_engine(r60, authority, keys=[make_key(authority, "sip_trunk_channels", 10)])
    engine.feature_key_lost(T0 + 10)
    assert engine.next_deadline() == T0 + 10 + GRACE
    assert engine.acquire("sip_trunk_channels", T0 + 10 + GRACE - 1) is None
    assert engine.acquire("sip_trunk_channels", T0 + 10 + GRACE) is Reason.FEATURE_KEY_ABSENT
    assert engine.licenses()[0].status is I and engine.licenses()[0].detail == "feature key absent"


def test_licenses_come_back_with_the_key(r60, authority):
    engine = make_engine(r60, authority, keys=[make_key(authority, "sip_trunk_channels", 10)])
    engine.feature_key_lost(T0)
    engine.advance(T0 + GRACE + 5)
    assert engine.pool("sip_trunk_channels").effective == 0
    engine.feature_key_read(SERIAL, T0 + GRACE + 10)
    assert engine.pool("sip_trunk_channels").effective == 10
    assert engine.next_deadline() is None


def test_another_feature_key_leaves_licenses_invalid(r60, authority):
    engine = make_engine(r60, authority, keys=[make_key(authority, "sip_trunk_channels", 10)])
    engine.feature_key_lost(T0)
    engine.feature_key_read(OTHER_SERIAL, T0 + 1)
    assert engine.licenses()[0].status is I
    assert engine.acquire("sip_trunk_channels", T0 + 1) is Reason.LICENSE_INVALID


def test_grace_period_is_overridable(r60, authority):
    engine = make_engine(r60, authority, keys=[make_key(authority, "sip_trunk_channels", 10)], grace_period_s=0)
    engine.feature_key_lost(T0)
    assert engine.acquire("sip_trunk_channels", T0) is Reason.FEATURE_KEY_ABSENT


def test_no_key_ever_read_means_absent_at_once(r60, authority):
    engine = make_engine(r60, authority, keys=[make_key(authority, "softconsole", 1)], serial=None)
    engine.feature_key_lost(T0)
    assert engine.acquire("softconsole", T0) is Reason.FEATURE_KEY_ABSENT


def test_instances_in_use_when_the_limit_drops_are_kept_until_released(r60, authority):
    """The documented rule: held instances stay held; nothing new until below the new limit."""
    engine = make_engine(r60, authority, keys=[make_key(authority, "sip_trunk_channels", 3)])
    for _ in range(3):
        assert engine.acquire("sip_trunk_channels", T0) is None
    engine.feature_key_lost(T0)
    engine.advance(T0 + GRACE)
    pool = engine.pool("sip_trunk_channels")
    assert (pool.in_use, pool.effective) == (3, 0)
    assert engine.acquire("sip_trunk_channels", T0 + GRACE) is Reason.FEATURE_KEY_ABSENT
    engine.feature_key_read(SERIAL, T0 + GRACE + 1)
    assert engine.acquire("sip_trunk_channels", T0 + GRACE + 1) is Reason.LICENSE_EXHAUSTED
    engine.release_instances("sip_trunk_channels", T0 + GRACE + 1)
    assert engine.acquire("sip_trunk_channels", T0 + GRACE + 2) is None


def test_malformed_serial_from_a_key_is_rejected(r60, authority):
    engine = make_engine(r60, authority, serial=None)
    with pytest.raises(SerialNumberError):
        engine.feature_key_read("12", T0)


def test_change_stream_tells_the_story(r60, authority):
    engine = make_engine(r60, authority, keys=[make_key(authority, "sip_trunk_channels", 2)])
    engine.feature_key_lost(T0 + 1)
    engine.advance(T0 + 1 + GRACE)
    kinds = [(type(c).__name__, getattr(c, "state", None) or getattr(c, "new", None) or getattr(c, "effective", None))
             for c in engine.take_changes()]
    assert kinds == [
        ("FeatureKeyChanged", "present"),
        ("LicenseStatusChanged", V),
        ("PoolLimitChanged", 2),
        ("FeatureKeyChanged", "absent"),
        ("FeatureKeyChanged", "grace_expired"),
        ("LicenseStatusChanged", I),
        ("PoolLimitChanged", 0),
    ]
    assert engine.take_changes() == []


def test_same_inputs_give_the_same_changes(r60, authority):
    def run():
        keys = [make_key(authority, f, 3) for f in ("softconsole", "sip_trunk_channels", "voicemail_pro_tts")]
        engine = make_engine(r60, authority, keys=keys)
        engine.feature_key_lost(T0 + 5)
        engine.advance(T0 + 10_000)
        return engine.take_changes()

    assert run() == run()


def test_change_records_are_typed(r60, authority):
    engine = make_engine(r60, authority, keys=[make_key(authority, "softconsole", 1)])
    changes = engine.take_changes()
    assert isinstance(changes[0], FeatureKeyChanged)
    assert any(isinstance(c, PoolLimitChanged) and c.pool_id == "softconsole" for c in changes)
