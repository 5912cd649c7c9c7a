"""The dongle line protocol codec: framing, resynchronisation, proofs (property tests)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.dongle.protocol import (
    CHALLENGE,
    DEVELOPMENT_DONGLE_SECRET,
    RESPONSE,
    Frame,
    FrameReader,
    ProtocolError,
    crc16,
    dongle_secret,
    encode,
    parse_response,
    response_payload,
    verify,
)

frames = st.builds(Frame, type=st.integers(1, 3), seq=st.integers(0, 255), payload=st.binary(max_size=64))


def test_crc16_ccitt_false_check_value():
    assert crc16(b"123456789") == 0x29B1


@given(items=st.lists(frames, max_size=8), cuts=st.lists(st.integers(0, 2000), max_size=10))
def test_frames_survive_any_chunking(items, cuts):
    stream = b"".join(encode(f.type, f.seq, f.payload) for f in items)
    reader, out, last = FrameReader(), [], 0
    for cut in sorted(set(c % (len(stream) + 1) for c in cuts)) + [len(stream)]:
        out += reader.feed(stream[last:cut])
        last = cut
    assert out == items and reader.discarded == 0


@given(noise=st.binary(max_size=200), frame=frames)
def test_the_reader_resynchronises_after_noise(noise, frame):
    reader = FrameReader()
    decoded = list(reader.feed(noise + encode(frame.type, frame.seq, frame.payload)))
    assert decoded[-1:] == [frame]


@given(frame=frames, position=st.integers(1, 1000), flip=st.integers(1, 255))
def test_a_corrupted_frame_is_never_delivered(frame, position, flip):
    raw = bytearray(encode(frame.type, frame.seq, frame.payload))
    index = 1 + position % (len(raw) - 1)
    raw[index] ^= flip
    assert frame not in list(FrameReader().feed(bytes(raw)))


def test_only_the_right_dongle_proves_its_serial():
    nonce = os.urandom(16)
    payload = response_payload(dongle_secret(DEVELOPMENT_DONGLE_SECRET, "12345678"), nonce, "12345678")
    serial, tag = parse_response(payload)
    assert serial == "12345678" and verify(DEVELOPMENT_DONGLE_SECRET, nonce, serial, tag)
    assert not verify(DEVELOPMENT_DONGLE_SECRET, os.urandom(16), serial, tag)  # a replay, to a new nonce
    assert not verify(b"another provisioning secret", nonce, serial, tag)
    forged = response_payload(dongle_secret(DEVELOPMENT_DONGLE_SECRET, "12345678"), nonce, "12345678")
    other_serial = forged.replace(b"12345678", b"87654321")
    assert not verify(DEVELOPMENT_DONGLE_SECRET, nonce, *parse_response(other_serial))


@pytest.mark.parametrize("payload", [b"", b"\x05ab", b"\x08" + b"1234567!" + bytes(16)])
def test_malformed_responses(payload):
    with pytest.raises(ProtocolError):
        parse_response(payload)


def test_frame_types_and_limits():
    assert CHALLENGE != RESPONSE
    with pytest.raises(ProtocolError):
        encode(CHALLENGE, 1, bytes(65))
