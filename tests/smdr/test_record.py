"""The SMDR record both ways: written records read back the same, and any line that is not a
record is one clear error naming its line and field, never a crash or a lost good line."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.smdr.history import CallHistory
from emulator.smdr.record import (
    CORE_FIELDS,
    MAX_FIELDS,
    SmdrLineError,
    SmdrRecord,
    decode_line,
    format_record,
    line_of_device,
    parse_record,
    trunk_device,
    voicemail_device,
)

# Avaya's published examples ("IP Office SMDR Examples"): a 17-field and a 30-field record.
LOST_INBOUND = ("2008/06/28 09:28:41,00:00:00,9,8004206,I,4324,4324,,0,1000014155,0,E4324,Joe Bloggs,"
                "T9161,LINE 5.1,0,0")
EXTERNAL = "2008/08/01 15:14:19,00:00:05,7,01707299900,I,23,390664,,0,1000013,0,E23,Extn23,T9001,Line 1.2,0,0" + "," * 13

text = st.text(st.characters(blacklist_characters=",\r\n", blacklist_categories=("Cc", "Cs")), max_size=12)
records = st.builds(
    SmdrRecord,
    call_start=st.integers(0, 253402300799), connected_s=st.integers(0, 999_999 * 3600),
    ring_s=st.integers(0, 10**6), caller=text, direction=st.sampled_from("IO"), called_number=text,
    dialled_number=text, account=text, is_internal=st.booleans(), call_id=st.integers(0, 10**15),
    continuation=st.booleans(), party1_device=text, party1_name=text, party2_device=text, party2_name=text,
    hold_s=st.integers(0, 10**6), park_s=st.integers(0, 10**6),
    extra=st.one_of(st.just(()), st.lists(text, min_size=13, max_size=13).filter(any).map(tuple)))


def test_the_published_examples_read_as_documented():
    lost = parse_record(LOST_INBOUND, 1)
    assert lost.lost and lost.ring_s == 9 and lost.direction == "I" and lost.call_id == 1000014155
    assert (lost.party1_device, lost.party2_device, lost.party2_name) == ("E4324", "T9161", "LINE 5.1")
    assert line_of_device(lost.party2_device) == 161
    external = parse_record(EXTERNAL, 2)
    assert external.connected_s == 5 and not external.is_internal and external.extra == ()
    assert format_record(external) == EXTERNAL + "\r\n"


def test_devices_are_coded_as_ip_office_codes_them():
    assert trunk_device(1, 2) == ("T9001", "Line 1.2")
    assert voicemail_device(2) == ("V9502", "VM Channel 2")
    assert line_of_device("E201") is None and line_of_device("T9000") is None and line_of_device("T9x") is None


@settings(max_examples=300)
@given(records)
def test_what_is_written_reads_back_the_same(record):
    line = format_record(record)
    assert line.endswith("\r\n") and line.count("\r\n") == 1
    assert parse_record(line[:-2], 7) == record


def test_a_field_that_would_break_the_line_is_refused_when_writing():
    record = parse_record(LOST_INBOUND, 1)
    with pytest.raises(ValueError, match="party1_name"):
        format_record(SmdrRecord(**{**{f: getattr(record, f) for f in record.__slots__}, "party1_name": "Bloggs, Joe"}))


@pytest.mark.parametrize("line, message", [
    ("x,y", "2 fields: a record has 17 to 35"),
    (LOST_INBOUND + ",x" * 19, "36 fields"),
    (LOST_INBOUND.replace("2008/06/28", "2008/02/30"), "field 1 (Call Start): '2008/02/30 09:28:41' is not a date"),
    (LOST_INBOUND.replace("09:28:41", "25:28:41"), "field 1 (Call Start)"),
    (LOST_INBOUND.replace("00:00:00", "00:7x:00"), "field 2 (Connected Time): '00:7x:00' is not a duration"),
    (LOST_INBOUND.replace(",9,", ",nine,", 1), "field 3 (Ring Time): 'nine' is not a whole number"),
    (LOST_INBOUND.replace(",I,", ",X,"), "field 5 (Direction): 'X' is not I or O"),
    (LOST_INBOUND.replace("1000014155", "10000x4155"), "field 10 (Call ID)"),
    (LOST_INBOUND.replace(",0,E4324", ",2,E4324"), "field 11 (Continuation): '2' is not 0 or 1"),
    (LOST_INBOUND[:-1] + "-1", "field 17 (Park Time): '-1' is not a whole number"),
    (LOST_INBOUND.replace(",9,", ",٣,", 1), "field 3 (Ring Time)"),  # digits, but not ASCII ones
])
def test_a_malformed_line_names_its_line_and_field(line, message):
    with pytest.raises(SmdrLineError) as caught:
        parse_record(line, 12)
    assert str(caught.value).startswith("line 12: ") and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_binary_garbage_is_named_by_its_column():
    with pytest.raises(SmdrLineError, match=r"line 3: control character 0x00 at column 5: not text"):
        decode_line(b"2008\x00/06/28\r\n", 3)
    assert decode_line("Jos\u00e9".encode("cp1252") + b"\r\n", 1) == "Jos\u00e9"  # an old logger's Latin names


garbage = st.one_of(
    st.binary(max_size=200),
    st.lists(st.text(st.characters(blacklist_characters=",\r\n", blacklist_categories=("Cs",)), max_size=8),
             min_size=1, max_size=40).map(",".join),
    st.sampled_from([LOST_INBOUND.replace("2008", "20O8"), LOST_INBOUND[:60], "*** restarted ***", "Call Start"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(records.map(lambda r: ("good", r)), garbage.map(lambda g: ("bad", g))), max_size=40))
def test_a_file_of_good_and_bad_lines_loses_no_good_line(lines):
    """Each bad line is counted once with its own line number; every good record is read."""
    raw = []
    for kind, item in lines:
        if kind == "good":
            raw.append(format_record(item).encode("utf-8"))
        else:
            data = item if isinstance(item, bytes) else item.encode("utf-8")
            raw.append(data.replace(b"\n", b" ").replace(b"\r", b" ") + b"\r\n")
    history = CallHistory("-")
    history.add_text_lines(enumerate(raw, 1))
    good = sum(1 for kind, _ in lines if kind == "good")
    assert history.records >= good  # a "bad" line may happen to be a record, or blank, or a header
    assert history.records + history.malformed + history.blank + history.headers == len(lines)
    assert [line for line, _ in history.errors] == sorted(line for line, _ in history.errors)
    for line, error in history.errors:
        kind, item = lines[line - 1]
        assert kind == "bad", (line, error)


def test_segments_are_grouped_into_calls_whatever_order_calls_end_in():
    transfer1 = ("2008/06/28 09:30:57,00:00:13,7,01707392200,I,299999,299999,,0,1000014160,1,E4750,John Smith,"
                 "T9002,LINE 1.2,11,0")
    transfer2 = ("2008/06/28 09:30:57,00:00:21,0,01707392200,I,299999,299999,,0,1000014160,0,V9502,VM Channel 2,"
                 "T9002,LINE 1.2,0,0")
    history = CallHistory("-")
    history.add_text_lines(enumerate([l.encode() for l in (transfer1, LOST_INBOUND, transfer2)], 1))
    assert history.calls == 2 and history.incomplete == 0
    transfer = next(c for c in range(2) if history.segment_count[c] == 2)
    assert history.duration(transfer) == 7 + 13 + 11 + 21
    assert [history.devices[history.callers[s]] for s in history.segments(transfer)] == ["T9002", "T9002"]
    assert [history.devices[history.called[s]] for s in history.segments(transfer)] == ["E4750", "V9502"]
    cut = CallHistory("-")
    cut.add_text_lines([(1, transfer1.encode())])
    assert cut.calls == 1 and cut.incomplete == 1


def test_bounds_of_a_record():
    assert CORE_FIELDS == 17 and MAX_FIELDS == 35
