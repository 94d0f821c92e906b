"""Reading DICOM values received from a peer (PS3.5 6.2): dates, times, date-times,
UTC offsets and their ranges (PS3.4 C.2.2.2.5), the spaces that do not count, and
the lengths each VR allows.

The worklist query (query.py) and the MPPS receiver (mpps_iod.py) read values here
and nowhere else. pydicom's value classes (DA, TM, DT) build the values once their
form has been checked: pydicom is lenient where a peer's value must be refused
("2026+1+1" is a DA to it, "20261" a DT). A date, time or date-time is read as the
whole period of its precision: "10" is 10:00:00 to 10:59:59.999999, "202602" the
month of February.

Everything here raises InvalidValue, whose comment fits an Error Comment (LO, 64).
"""

import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from pydicom.multival import MultiValue
from pydicom.valuerep import DA, DT, MAX_VALUE_LEN, TM


class InvalidValue(ValueError):
    """A value that cannot be read, and why, short enough for an Error Comment."""

    def __init__(self, comment: str):
        super().__init__(comment)
        self.comment = comment[:64]


# --- text -------------------------------------------------------------------------

# Leading and trailing spaces are not significant for the short string VRs; for the
# texts only trailing ones (PS3.5 6.2). UI values are padded with NUL.
TRAILING_ONLY_VRS = {"LT", "ST", "UT", "UR"}

# The longest value of each VR in characters (PS3.5 Table 6.2-1); for DA, TM and DT
# the length of a range (a query with range matching, PS3.5 6.2). PN: per component
# group. UC, UR and UT have no limit of their own.
MAX_LENGTH = {**MAX_VALUE_LEN, "AS": 4, "DA": 18, "TM": 28, "DT": 54, "PN": 64}
PN_GROUPS = 3


def texts(element) -> list[str]:
    """The non-empty values of a data element as text, the padding that is not
    significant for its VR removed."""
    value = element.value
    if value is None:
        return []
    items = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    found = []
    for item in items:
        text = str(item) if item is not None else ""
        text = text.rstrip(" \x00") if element.VR in TRAILING_ONLY_VRS else text.strip(" \x00")
        if text:
            found.append(text)
    return found


def check_text(text: str, vr: str, name: str) -> None:
    """Refuse a value longer than its VR allows, or holding a NUL character (a
    terminator in C, refused by PostgreSQL): before it reaches a database."""
    if "\x00" in text:
        raise InvalidValue(f"{name}: NUL character in the value")
    limit = MAX_LENGTH.get(vr)
    if limit is None:
        return
    if vr == "PN":
        groups = text.split("=")
        if len(groups) > PN_GROUPS:
            raise InvalidValue(f"{name}: more than {PN_GROUPS} component groups")
        longest = max(len(group) for group in groups)
        if longest > limit:
            raise InvalidValue(f"{name}: a component group longer than {limit}")
        return
    if vr == "DA":
        text = text.replace(".", "")  # the ACR-NEMA form YYYY.MM.DD
    elif vr == "TM":
        text = text.replace(":", "")  # the ACR-NEMA form HH:MM:SS
    if len(text) > limit:
        raise InvalidValue(f"{name}: longer than {vr} allows ({limit})")


# --- dates and times ---------------------------------------------------------------

_DATE = re.compile(r"\d{8}|\d{4}\.\d{2}\.\d{2}")
_TIME = re.compile(r"(\d{2})(?::?(\d{2})(?::?(\d{2})(?:\.(\d{1,6}))?)?)?")
_DATE_TIME = re.compile(
    r"(\d{4}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)?)?)?)?)([+-]\d{4})?"
)
_OFFSET = re.compile(r"([+-])(\d{2})(\d{2})")
LATEST_OFFSET = timedelta(hours=14)

Bounds = tuple  # (first, last) instants of a value's precision


def parse_date(text: str) -> tuple[date, date]:
    """A DA value (or the ACR-NEMA YYYY.MM.DD), as (day, day)."""
    if _DATE.fullmatch(text) is None:
        raise InvalidValue(f"Not a date (YYYYMMDD): {text[:40]}")
    try:
        read = DA(text)
    except ValueError as exc:
        raise InvalidValue(f"No such date: {text[:40]}") from exc
    day = date(read.year, read.month, read.day)
    return day, day


def parse_time(text: str) -> tuple[time, time]:
    """A TM value (colons of the ACR-NEMA form allowed), as its first and last
    instant. A leap second (60) reads as 59."""
    match = _TIME.fullmatch(text)
    if match is None:
        raise InvalidValue(f"Not a time (HHMMSS.FFFFFF): {text[:40]}")
    hour, minute, second, fraction = match.groups()
    if second == "60":
        second = "59"
    digits = hour + (minute or "") + (second or "") + (f".{fraction}" if fraction else "")
    try:
        read = TM(digits)
    except ValueError as exc:
        raise InvalidValue(f"No such time: {text[:40]}") from exc
    first = time(read.hour, read.minute, read.second, read.microsecond)
    if fraction is not None:
        precision = timedelta(microseconds=10 ** (6 - len(fraction)))
    elif second is not None:
        precision = timedelta(seconds=1)
    elif minute is not None:
        precision = timedelta(minutes=1)
    else:
        precision = timedelta(hours=1)
    last = (datetime.combine(date.min, first) + precision - timedelta(microseconds=1)).time()
    return first, last


def parse_datetime(text: str, tz: tzinfo) -> tuple[datetime, datetime]:
    """A DT value as its first and last instant; in `tz` unless it carries its own
    UTC offset."""
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        raise InvalidValue(f"Not a date-time: {text[:40]}")
    digits, offset = match.groups()
    zone = parse_offset(offset) if offset else tz
    whole, _, fraction = digits.partition(".")
    if whole[12:14] == "60":
        digits = whole[:12] + "59" + digits[14:]
    try:
        read = DT(digits)
    except ValueError as exc:
        raise InvalidValue(f"No such date-time: {text[:40]}") from exc
    first = datetime(
        read.year,
        read.month,
        read.day,
        read.hour,
        read.minute,
        read.second,
        read.microsecond,
        tzinfo=zone,
    )
    return first, _end_of_precision(first, len(whole), fraction)


def _end_of_precision(first: datetime, digits: int, fraction: str) -> datetime:
    tick = timedelta(microseconds=1)
    if fraction:
        return first + timedelta(microseconds=10 ** (6 - len(fraction))) - tick
    if digits == 4:
        return first.replace(year=first.year + 1) - tick if first.year < 9999 else _max(first)
    if digits == 6:
        month = first.month % 12 + 1
        year = first.year + (first.month == 12)
        if year > 9999:
            return _max(first)
        return first.replace(year=year, month=month) - tick
    unit = {8: timedelta(days=1), 10: timedelta(hours=1), 12: timedelta(minutes=1)}
    try:
        return first + unit.get(digits, timedelta(seconds=1)) - tick
    except OverflowError:
        return _max(first)


def _max(first: datetime) -> datetime:
    return datetime.max.replace(tzinfo=first.tzinfo)


def parse_offset(text: str) -> timezone:
    """A UTC offset (+HHMM or -HHMM, at most 14 hours), as in Timezone Offset From
    UTC (0008,0201) or the end of a DT value."""
    match = _OFFSET.fullmatch(text.strip())
    if match is None:
        raise InvalidValue(f"Not a UTC offset (+HHMM): {text[:20]}")
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    if int(minutes) >= 60 or delta > LATEST_OFFSET:
        raise InvalidValue(f"No such UTC offset: {text[:20]}")
    return timezone(-delta if sign == "-" else delta)


# --- ranges (PS3.4 C.2.2.2.5) ----------------------------------------------------------


def range_form(text: str) -> str:
    """single, closed ("a-b"), from ("a-") or until ("-b"): combined date-time matching
    needs the same form on both keys."""
    if "-" not in text:
        return "single"
    low, _, high = text.partition("-")
    if low and high:
        return "closed"
    return "from" if low else "until"


def parse_range(
    text: str,
    parse: Callable[[str], Bounds],
    split: Callable[[str], tuple[str, str] | None] | None = None,
    ordered: bool = True,
):
    """(low, high) of a range, each the (first, last) instants of its value, or None
    for an open end; a single value is both ends. `ordered`: the low end may not
    come after the high one (a time range on its own; combined with dates it may)."""
    text = text.strip()
    parts = (split or split_range)(text)
    if parts is None:
        bounds = parse(text)
        return bounds, bounds
    low_text, high_text = (part.strip() for part in parts)
    if not low_text and not high_text:
        raise InvalidValue("A range needs at least one end")
    low = parse(low_text) if low_text else None
    high = parse(high_text) if high_text else None
    if ordered and low is not None and high is not None and low[0] > high[1]:
        raise InvalidValue(f"Range {text[:40]} ends before it starts")
    return low, high


def split_range(text: str) -> tuple[str, str] | None:
    """The two ends of a DA or TM range, or None for a single value."""
    if text.count("-") != 1:
        return None  # a single value, or one that is no value nor range at all
    low, _, high = text.partition("-")
    return low, high


def split_datetime_range(text: str) -> tuple[str, str] | None:
    """A DT value may carry a UTC offset with a minus sign: "20261124083000-0500" is
    one date-time, "20261124-20261125" a range. A trailing -HHMM that is a valid
    offset makes a single value; otherwise the one split whose sides both read as
    date-times is the range."""
    if "-" not in text:
        return None
    single = _DATE_TIME.fullmatch(text)
    if single is not None and single.group(2) and _valid_offset(single.group(2)):
        return None
    for index, character in enumerate(text):
        if character != "-":
            continue
        low, high = text[:index], text[index + 1 :]
        if (not low or _DATE_TIME.fullmatch(low)) and (not high or _DATE_TIME.fullmatch(high)):
            return low, high
    raise InvalidValue(f"Not a date-time range: {text[:40]}")


def _valid_offset(text: str) -> bool:
    hours, minutes = int(text[1:3]), int(text[3:5])
    return minutes < 60 and timedelta(hours=hours, minutes=minutes) <= LATEST_OFFSET
