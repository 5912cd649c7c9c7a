"""100,000+ random and mutated strings: no exception escapes, none validates."""

from __future__ import annotations

import random

from emulator.cli import main
from emulator.licensing import LicenseStatus, decode_key
from emulator.licensing.key_codec import ALPHABET, KEY_LENGTH
from firmware_models import feature_codes
from tests.conftest import SERIAL, T0, make_engine, make_key

FUZZ_COUNT = 100_000
CHARSET = ALPHABET + ALPHABET.lower() + "ILOU -_!#\t\n\x00é€💥"


def fuzz_inputs(authority, seed: int = 20261127):
    """Mutated real keys (the hard cases) interleaved with random text."""
    rng = random.Random(seed)
    features = sorted(feature_codes().by_id)
    genuine = [make_key(authority, rng.choice(features), rng.randint(1, 500), issued_at=T0 - rng.randint(0, 10**7))
               for _ in range(200)]
    for i in range(FUZZ_COUNT):
        kind = i % 4
        if kind == 0:
            yield "".join(rng.choice(CHARSET) for _ in range(rng.randint(0, 48)))
        elif kind == 1:
            yield "".join(rng.choice(ALPHABET) for _ in range(KEY_LENGTH))
        else:
            key = list(rng.choice(genuine))
            for pos in rng.sample(range(KEY_LENGTH), 1 if kind == 2 else rng.randint(2, 6)):
                key[pos] = rng.choice(ALPHABET.replace(key[pos], ""))
            yield "".join(key)


def test_fuzzed_keys_never_validate_and_never_raise(r60, authority):
    codes = feature_codes().by_code
    engine = make_engine(r60, authority)
    checked = 0
    for text in fuzz_inputs(authority):
        decoded = decode_key(text, codes)
        if decoded.error is None:
            assert not authority.verify(SERIAL, decoded.payload, decoded.tag), text
        lic = engine.install(text, T0)
        assert lic.status is not LicenseStatus.VALID, text
        engine.uninstall(text, T0)
        checked += 1
    assert checked == FUZZ_COUNT
    assert all(p.effective == 0 for p in engine.pools.values())


def test_fuzzed_keys_through_the_inspect_command(authority, capsys):
    """A sample through the whole CLI: exit 2 (garbage) or 1 (not valid), one error line at most."""
    for n, text in enumerate(fuzz_inputs(authority, seed=7)):
        if n == 400:
            break
        if "\x00" in text or text.startswith("-"):
            continue  # not passable as a single command-line argument
        code = main(["license", "inspect", text, "--serial", SERIAL])
        out, err = capsys.readouterr()
        assert code in (1, 2), (text, code, out, err)
        assert "Traceback" not in err
        if code == 2:
            assert err.count("\n") == 1 and err.startswith("ipo-emu: error: ")
