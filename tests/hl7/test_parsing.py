"""Reading a message's fields (hl7v2.codec): with the message's own encoding
characters, escapes decoded, and a message that cannot be split into segments
refused."""

import pytest

from hl7v2 import codec


def test_fields_are_read_with_the_messages_own_encoding_characters():
    raw = (
        b"MSH|$~\\&|HIS|HOSP|RIS|RAD|20261201||ORM$O01|C1|P|2.3.1\r"
        b"PID|1||ID1$$$HOSP$MR~ID2$$$OTHER||M\\S\\ller$Anna\\T\\B$C||19610615|F\r"
        b"OBR|1|P1$HIS||CT$CT head$LOCAL"
    )

    parsed = codec.decode(raw)

    assert parsed.value("MSH", 9, 2) == "O01"
    assert parsed.value("MSH", 10) == "C1"
    assert (parsed.value("PID", 3, 1), parsed.value("PID", 3, 4)) == ("ID1", "HOSP")
    assert parsed.repetitions(parsed.segments("PID")[0], 3)[1] == "ID2$$$OTHER"
    assert parsed.value("PID", 5, 1) == "M$ller"
    assert parsed.value("PID", 5, 2) == "Anna&B"
    assert parsed.value("OBR", 4, 2) == "CT head"
    assert parsed.value("OBR", 99) == ""
    assert parsed.value("ZZZ", 1) == ""


def test_line_feeds_and_trailing_separators_are_read_as_segment_ends():
    raw = b"MSH|^~\\&|HIS|HOSP|RIS|RAD|20261201||ADT^A04|C2|P|2.5\r\nPID|1||ID9||DOE^JO||\r\n"

    parsed = codec.decode(raw)

    assert parsed.value("PID", 5, 2) == "JO"
    assert [s[0] for s in (parsed.segments("MSH") + parsed.segments("PID"))] == ["MSH", "PID"]


def test_an_empty_segment_is_refused_as_unparseable():
    raw = b"MSH|^~\\&|HIS|HOSP|RIS|RAD|20261201||ADT^A04|C3|P|2.5\r\rPID|1||ID9||DOE^JO"

    with pytest.raises(codec.MessageError) as refused:
        codec.decode(raw)

    assert (refused.value.ack_code, refused.value.error_code) == ("AR", "100")
