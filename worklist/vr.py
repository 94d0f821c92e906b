"""Validation of values against their DICOM Value Representation (PS3.5 6.2).

Each validator raises django.core.exceptions.ValidationError with a message that
names the VR rule broken, so the API can answer 400 naming the field.
"""

import re
from datetime import UTC, date, datetime

from django.core.exceptions import ValidationError

from . import names

# Control characters allowed nowhere in the short string VRs; ESC (0x1B) stays
# allowed because ISO 2022 code extensions use it.
# C1 controls and the Unicode bidirectional embeddings, overrides and isolates are
# refused everywhere: they can make a name or a reason read differently on screen
# from what is stored.
_C1_AND_BIDI = r"\x7f-\x9f\u202a-\u202e\u2066-\u2069"
_FORBIDDEN_CONTROL = re.compile(rf"[\x00-\x1a\x1c-\x1f{_C1_AND_BIDI}]")
# The text VRs (LT, ST, UT) allow line breaks, tabs and form feeds.
_FORBIDDEN_IN_TEXT = re.compile(rf"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f{_C1_AND_BIDI}]")
_CS = re.compile(r"^[A-Z0-9 _]*$")
_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")

SEX_VALUES = ("M", "F", "O")
PRIORITY_VALUES = ("STAT", "HIGH", "ROUTINE", "MEDIUM", "LOW")
# Pregnancy Status (0010,21C0): 1 not pregnant, 2 possibly, 3 definitely, 4 unknown.
PREGNANCY_STATUS_VALUES = (1, 2, 3, 4)


def _check_text(value: str, *, vr: str, max_length: int) -> None:
    if len(value) > max_length:
        raise ValidationError(
            f"{vr} allows at most {max_length} characters, got {len(value)}.", code="vr_length"
        )
    if "\\" in value:
        raise ValidationError(f"{vr} may not contain a backslash.", code="vr_charset")
    if _FORBIDDEN_CONTROL.search(value):
        raise ValidationError(f"{vr} may not contain control characters.", code="vr_charset")


def validate_lo(value: str) -> None:
    _check_text(value, vr="LO", max_length=64)


def validate_sh(value: str) -> None:
    _check_text(value, vr="SH", max_length=16)


def validate_lt(value: str) -> None:
    if len(value) > 10240:
        raise ValidationError("LT allows at most 10240 characters.", code="vr_length")
    if _FORBIDDEN_IN_TEXT.search(value):
        raise ValidationError("LT may not contain control characters.", code="vr_charset")


def validate_cs(value: str) -> None:
    if len(value) > 16:
        raise ValidationError(
            f"CS allows at most 16 characters, got {len(value)}.", code="vr_length"
        )
    if not _CS.match(value):
        raise ValidationError(
            "CS allows only upper-case letters, digits, space and underscore.", code="vr_charset"
        )


def validate_ae(value: str) -> None:
    _check_text(value, vr="AE", max_length=16)
    if value and not value.strip(" "):
        raise ValidationError("AE may not consist of spaces only.", code="vr_charset")


def validate_pn(value: str) -> None:
    """PN: up to three component groups (alphabetic=ideographic=phonetic) of 64 chars each,
    each with at most five components separated by '^'."""
    if value and not value.strip(names.GROUP_SEPARATOR + names.COMPONENT_SEPARATOR + " "):
        raise ValidationError(
            "PN must hold a name, not only separators or spaces.", code="vr_format"
        )
    groups = names.groups(value)
    if len(groups) > names.PN_GROUPS:
        raise ValidationError("PN has at most three component groups.", code="vr_format")
    for group in groups:
        if len(group) > 64:
            raise ValidationError(
                f"PN allows at most 64 characters per component group, got {len(group)}.",
                code="vr_length",
            )
        if len(names.components(group)) > len(names.COMPONENTS):
            raise ValidationError("PN has at most five components per group.", code="vr_format")
    if "\\" in value:
        raise ValidationError("PN may not contain a backslash.", code="vr_charset")
    if _FORBIDDEN_CONTROL.search(value):
        raise ValidationError("PN may not contain control characters.", code="vr_charset")


def validate_ui(value: str) -> None:
    if len(value) > 64:
        raise ValidationError("UI allows at most 64 characters.", code="vr_length")
    if not _UID.match(value):
        raise ValidationError(
            "UI is dot-separated numbers without leading zeros.", code="vr_format"
        )


def validate_code_sequence(items) -> None:
    """A code sequence as JSON: a list of {code_value, coding_scheme_designator, code_meaning}
    (and optionally coding_scheme_version), checked against the Code Sequence Macro VRs."""
    if not isinstance(items, list):
        raise ValidationError("Expected a list of code items.", code="invalid")
    allowed = {"code_value", "coding_scheme_designator", "coding_scheme_version", "code_meaning"}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValidationError(f"Item {index} is not an object.", code="invalid")
        unknown = set(item) - allowed
        if unknown:
            raise ValidationError(
                f"Item {index} has unknown keys: {', '.join(sorted(unknown))}.", code="invalid"
            )
        for key in ("code_value", "coding_scheme_designator", "code_meaning"):
            if not isinstance(item.get(key), str) or not item[key]:
                raise ValidationError(f"Item {index} needs a non-empty {key}.", code="required")
        try:
            validate_sh(item["code_value"])
            validate_sh(item["coding_scheme_designator"])
            validate_sh(item.get("coding_scheme_version", ""))
            validate_lo(item["code_meaning"])
        except ValidationError as exc:
            raise ValidationError(f"Item {index}: {exc.messages[0]}", code="vr") from exc


# The calendar days the RIS schedules and searches in: a day further out is a typing
# mistake, and its bounds would overflow the date-time arithmetic.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9998, 12, 31)


def validate_day(value: date) -> None:
    if value is not None and not FIRST_DAY <= value <= LAST_DAY:
        raise ValidationError(
            f"Must be between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}.",
            code="out_of_range",
        )


def validate_date_time(value: datetime) -> None:
    """A date-time of the calendar above (any UTC offset)."""
    if value is None:
        return
    try:
        day = value.astimezone(UTC).date()
    except OverflowError:
        day = None
    if day is None or not FIRST_DAY <= day <= LAST_DAY:
        raise ValidationError(
            f"Must be between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}.",
            code="out_of_range",
        )
