"""License keys: format, binding to one serial, tamper evidence, round trip (property tests)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.licensing import KeyAuthority, KeyFormatError, LicenseFields, decode_key, group_key, normalize_key_text
from emulator.licensing.key_codec import (
    ALPHABET,
    EPOCH_2000,
    FORMAT_VERSION,
    KEY_LENGTH,
    MAX_INSTANCES,
    MAX_ISSUED_AT,
    MAX_VALIDITY_DAYS,
    TAG_BITS,
    pack_payload,
    split_key,
)
from firmware_models import feature_codes

CODES = feature_codes()
serials = st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=4, max_size=16)
fields_st = st.builds(
    LicenseFields,
    feature_code=st.sampled_from(sorted(CODES.by_code)),
    instances=st.integers(1, MAX_INSTANCES),
    issued_at=st.integers(EPOCH_2000, MAX_ISSUED_AT),
    validity_days=st.integers(0, MAX_VALIDITY_DAYS),
    trial=st.just(False),
    version=st.just(FORMAT_VERSION),
)
trial_fields_st = fields_st.map(lambda f: LicenseFields(f.feature_code, f.instances, f.issued_at, 60, True))
any_fields = st.one_of(fields_st, trial_fields_st)


def _validates(authority: KeyAuthority, key: str, serial: str) -> bool:
    decoded = decode_key(key, CODES.by_code)
    return decoded.error is None and authority.verify(serial, decoded.payload, decoded.tag)


def test_tag_is_at_least_64_bits():
    assert TAG_BITS >= 64


@given(fields=any_fields, serial=serials)
def test_issue_then_decode_round_trips_every_field(authority, fields, serial):
    key = authority.issue(fields, serial)
    assert len(key) == KEY_LENGTH and set(key) <= set(ALPHABET)
    decoded = decode_key(key, CODES.by_code)
    assert decoded.error is None
    assert decoded.fields == fields
    assert decoded.feature_id == CODES.by_code[fields.feature_code]
    assert _validates(authority, key, serial)


@given(fields=any_fields, a=serials, b=serials)
def test_key_for_serial_a_never_validates_on_serial_b(authority, fields, a, b):
    key = authority.issue(fields, a)
    assert _validates(authority, key, b) == (a == b)


@settings(max_examples=25, deadline=None)
@given(fields=any_fields, serial=serials)
def test_every_single_character_mutation_is_invalid(authority, fields, serial):
    key = authority.issue(fields, serial)
    for pos in range(KEY_LENGTH):
        for symbol in ALPHABET:
            if symbol == key[pos]:
                continue
            mutated = key[:pos] + symbol + key[pos + 1:]
            assert not _validates(authority, mutated, serial), (pos, symbol)
        for outsider in "ILOU!*o":  # not in the alphabet at all
            mutated = key[:pos] + outsider + key[pos + 1:]
            assert decode_key(mutated, CODES.by_code).error is not None


@given(fields=any_fields, serial=serials)
def test_case_spaces_and_dashes_are_ignored(authority, fields, serial):
    key = authority.issue(fields, serial)
    for variant in (key.lower(), group_key(key), " ".join(group_key(key).split("-")), f"  {key}\t"):
        assert normalize_key_text(variant) == key
        assert _validates(authority, variant, serial)


@given(fields=any_fields, serial=serials, secret=st.binary(min_size=16, max_size=64))
def test_without_the_issuer_secret_no_valid_key_can_be_made(authority, fields, serial, secret):
    forger = KeyAuthority(secret)
    forged = forger.issue(fields, serial)
    assert _validates(authority, forged, serial) == (forger.tag(serial, 1) == authority.tag(serial, 1))


@given(fields=any_fields, serial=serials, tag=st.integers(0, (1 << TAG_BITS) - 1))
def test_guessed_tags_do_not_validate(authority, fields, serial, tag):
    payload = pack_payload(fields)
    assert authority.verify(serial, payload, tag) == (tag == authority.tag(serial, payload))


@pytest.mark.parametrize(("text", "message"), [
    ("", "has 0"),
    ("ABC", "has 3"),
    ("0" * 33, "has 33"),
    ("I" * 32, "'I' at position 1"),
    ("0123456789ABCDEFGHJKMNPQRSTVWXYU", "'U' at position 32"),
    ("ÄÖÜ", "position 1"),
])
def test_malformed_text_names_the_problem(text, message):
    with pytest.raises(KeyFormatError, match=message):
        normalize_key_text(text)


def test_field_ranges_are_enforced_when_packing():
    with pytest.raises(ValueError, match="instances"):
        pack_payload(LicenseFields(1, 0, EPOCH_2000))
    with pytest.raises(ValueError, match="feature code"):
        pack_payload(LicenseFields(1024, 1, EPOCH_2000))
    with pytest.raises(ValueError, match="issue time"):
        pack_payload(LicenseFields(1, 1, EPOCH_2000 - 1))


def test_structurally_impossible_payloads_decode_to_an_error(authority):
    key = authority.issue(LicenseFields(50, 3, EPOCH_2000 + 5), "12345678")
    payload, tag = split_key(key)
    from emulator.licensing.key_codec import format_key

    for bad_payload, message in ((payload | 1, "reserved bit"), (payload ^ (1 << 72), "version"),
                                 (payload & ~(0xFFFF << 46), "no feature or no instances")):
        decoded = decode_key(format_key(bad_payload, tag), CODES.by_code)
        assert decoded.error is not None and message in decoded.error


def test_unknown_feature_code_is_reported(authority):
    unused = next(c for c in range(1, 1024) if c not in CODES.by_code)
    key = authority.issue(LicenseFields(unused, 1, EPOCH_2000), "12345678")
    assert "not a known license" in decode_key(key, CODES.by_code).error
