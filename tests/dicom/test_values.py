"""worklist.dicom.values: dates, times, date-times and their ranges as a peer sends
them, read as the whole period of their precision; values bounded by their VR."""

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from worklist.dicom import values
from worklist.dicom.values import InvalidValue


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("10", time(10), time(10, 59, 59, 999999)),
        ("1030", time(10, 30), time(10, 30, 59, 999999)),
        ("103015", time(10, 30, 15), time(10, 30, 15, 999999)),
        ("103015.5", time(10, 30, 15, 500000), time(10, 30, 15, 599999)),
        ("10:30", time(10, 30), time(10, 30, 59, 999999)),
    ],
)
def test_a_partial_time_stands_for_its_whole_precision(text, first, last):
    assert values.parse_time(text) == (first, last)


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("2026", datetime(2026, 1, 1), datetime(2026, 12, 31, 23, 59, 59, 999999)),
        ("202602", datetime(2026, 2, 1), datetime(2026, 2, 28, 23, 59, 59, 999999)),
        ("20261231", datetime(2026, 12, 31), datetime(2026, 12, 31, 23, 59, 59, 999999)),
        ("2026112408", datetime(2026, 11, 24, 8), datetime(2026, 11, 24, 8, 59, 59, 999999)),
        ("20261124083015", datetime(2026, 11, 24, 8, 30, 15), None),
    ],
)
def test_partial_datetimes(text, first, last):
    found = values.parse_datetime(text, UTC)
    assert found[0] == first.replace(tzinfo=UTC)
    if last is not None:
        assert found[1] == last.replace(tzinfo=UTC)


def test_a_datetime_offset_is_taken_into_account():
    first, _ = values.parse_datetime("20261124083000-0500", UTC)
    assert first == datetime(2026, 11, 24, 13, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("20261124083000-0500", None),
        ("20261124-20261125", ("20261124", "20261125")),
        ("20261124083000-0500-20261125", ("20261124083000-0500", "20261125")),
        ("-20261125", ("", "20261125")),
        ("20261124-", ("20261124", "")),
    ],
)
def test_datetime_ranges_tell_an_offset_from_a_range(text, parts):
    assert values.split_datetime_range(text) == parts


@pytest.mark.parametrize(
    ("text", "day"), [("20261124", date(2026, 11, 24)), ("2026.11.24", date(2026, 11, 24))]
)
def test_a_date_and_its_acr_nema_form(text, day):
    assert values.parse_date(text) == (day, day)


@pytest.mark.parametrize(
    "text", ["2026+1+1", "2026-1-1", "202611245", "2026.1124", "20261301", "20260230", "0000"]
)
def test_what_pydicom_would_take_for_a_date_is_refused(text):
    with pytest.raises(InvalidValue):
        values.parse_date(text)


@pytest.mark.parametrize("text", ["20261", "2026abc", "2026112", "00000101", "2026+1+1"])
def test_what_pydicom_would_take_for_a_date_time_is_refused(text):
    with pytest.raises(InvalidValue):
        values.parse_datetime(text, UTC)


@pytest.mark.parametrize("text", ["2500", "1", "10h", "1060", "10:30:15:00"])
def test_impossible_times_are_refused(text):
    with pytest.raises(InvalidValue):
        values.parse_time(text)


def test_a_leap_second_reads_as_the_last_second_of_its_minute():
    assert values.parse_time("235960")[0] == time(23, 59, 59)
    assert values.parse_datetime("20261231235960", UTC)[0] == datetime(
        2026, 12, 31, 23, 59, 59, tzinfo=UTC
    )


def test_the_last_year_ends_without_overflowing():
    _, last = values.parse_datetime("9999", UTC)
    assert last.year == 9999 and last.month == 12


@pytest.mark.parametrize(
    ("text", "offset"),
    [("+0100", timedelta(hours=1)), ("-0530", -timedelta(hours=5, minutes=30))],
)
def test_utc_offsets(text, offset):
    assert values.parse_offset(text) == timezone(offset)


@pytest.mark.parametrize("text", ["+1500", "+0160", "0100", "+1", "UTC"])
def test_impossible_utc_offsets_are_refused(text):
    with pytest.raises(InvalidValue):
        values.parse_offset(text)


def test_a_range_ending_before_it_starts_is_refused():
    with pytest.raises(InvalidValue, match="ends before"):
        values.parse_range("20261125-20261124", values.parse_date)


def test_an_open_range_has_one_end():
    low, high = values.parse_range("20261124-", values.parse_date)
    assert low == (date(2026, 11, 24), date(2026, 11, 24)) and high is None
