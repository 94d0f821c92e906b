"""A Modality Worklist C-FIND identifier, translated into one database query.

Pure: a pydicom Dataset in, a Django Q over ScheduledProcedureStep out (plus what to
answer and how), no network and no database access. The matching rules are those of
PS3.4 C.2.2.2, on the keys of K.6.1.2 (worklist_item.py says which field each key matches):

- universal matching: an empty value, or "*" alone, matches everything, also steps
  that hold no value;
- single value matching: exact and case-sensitive, except person names;
- wild card matching ("*" any run, "?" one character) for AE, CS, LO, LT, PN, SH,
  ST, UC, UR and UT; SQL's own % and _ stay literal; a pattern never matches an
  empty value (K.2.2.1.1.1);
- list of UID matching (backslash-separated UIDs);
- range matching of DA, TM and DT ("a-b", "a-", "-b"), a partial time or date-time
  standing for its whole precision ("10" is 10:00:00 to 10:59:59.999999);
- the Scheduled Procedure Step Start Date and Start Time, given together, matched as
  one date-time (C.2.2.2.5.4): 20261124-20261125 with 2000-0800 is the night from
  the 24th 20:00 to the 25th 08:00, not two evenings;
- sequence matching (C.2.2.2.6) in the Scheduled Procedure Step Sequence (one worklist
  item is one step) and in the code sequences (any held item matching all item keys);
- person names case-insensitively and, when accent_insensitive, regardless of
  accents, each component group (alphabetic=ideographic=phonetic) on its own; a
  query group left empty matches any.

Several values in a key other than a UID list (e.g. Modality "CR\\DX") match any of
them, as later revisions of the standard define Multiple Value Matching. Dates and
times are read in the configured TIME_ZONE, or in Timezone Offset From UTC
(0008,0201) when the query carries one.
"""

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache

from django.db.models import F, Q
from django.db.models.functions import TruncTime
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual, Lookup
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset

from worklist.models import StepStatus, name_search_key

from . import values, worklist_item
from .values import InvalidValue, parse_range, range_form, split_datetime_range, texts

# Statuses of a C-FIND response (PS3.4 K.4.1.1.4, C.4.1.1.4).
PENDING = 0xFF00
PENDING_OPTIONAL_KEYS_NOT_SUPPORTED = 0xFF01
CANCEL = 0xFE00
OUT_OF_RESOURCES = 0xA700
IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS = 0xA900
UNABLE_TO_PROCESS = 0xC000

WILDCARD_VRS = {"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"}
# Never matched (C.2.2.2): they say how to read the others.
NOT_MATCHED = (worklist_item.SPECIFIC_CHARACTER_SET, worklist_item.TIMEZONE_OFFSET_FROM_UTC)


class InvalidQuery(Exception):
    """An identifier we cannot answer: the status and Error Comment to answer with."""

    def __init__(self, status: int, comment: str, offending: Iterable[int] = ()):
        super().__init__(comment)
        self.status = status
        self.comment = comment[:64]
        self.offending = list(offending)


@dataclass
class WorklistQuery:
    request: Dataset
    where: Q
    tz: tzinfo
    # Code sequence matching, applied to the rows the SQL query returns.
    step_filters: list[Callable] = field(default_factory=list)
    item_filters: dict[str, Callable[[dict], bool]] = field(default_factory=dict)
    unsupported: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

    def matches(self, step) -> bool:
        return all(check(step) for check in self.step_filters)

    @property
    def pending_status(self) -> int:
        return PENDING_OPTIONAL_KEYS_NOT_SUPPORTED if self.unsupported else PENDING

    def summary(self) -> str:
        """The matching keys, for the audit trail and the log."""
        return "; ".join(self.keys) or "(no matching keys)"


def translate(identifier: Dataset, *, tz: tzinfo, accent_insensitive: bool = True) -> WorklistQuery:
    """The query for a C-FIND identifier; InvalidQuery when it cannot be answered."""
    try:
        translator = _Translator(identifier, tz=tz, accent_insensitive=accent_insensitive)
        return translator.run()
    except InvalidQuery:
        raise
    except InvalidValue as exc:
        raise InvalidQuery(UNABLE_TO_PROCESS, exc.comment) from exc
    except (ValueError, TypeError, KeyError, UnicodeError, OverflowError) as exc:
        raise InvalidQuery(UNABLE_TO_PROCESS, f"Cannot read the identifier: {exc}") from exc


class _Translator:
    def __init__(self, identifier: Dataset, *, tz: tzinfo, accent_insensitive: bool):
        self.identifier = identifier
        self.tz = tz
        self.accent_insensitive = accent_insensitive
        self.query = WorklistQuery(request=identifier, where=Q(), tz=tz)
        self.status_given = False

    def run(self) -> WorklistQuery:
        offset = self.identifier.get((0x0008, 0x0201))
        if offset is not None and offset.value:
            self.tz = self.query.tz = values.parse_offset(str(offset.value))
        self.query.where &= self.level(self.identifier, worklist_item.WORKLIST_ITEM, prefix="")
        if not self.status_given:
            # Only what is still to be done, unless the query asks for a status.
            self.query.where &= Q(scheduled_procedure_step_status=StepStatus.SCHEDULED)
        return self.query

    def level(self, request: Dataset, attributes, prefix: str) -> Q:
        where = Q()
        matching = {}
        for element in request:
            if element.tag.is_private or element.tag.element == 0:
                continue
            if int(element.tag) in NOT_MATCHED:
                continue
            keyword = keyword_for_tag(element.tag) or str(element.tag)
            attribute = attributes.get(keyword)
            if element.VR == "SQ":
                where &= self.sequence(element, attribute, prefix)
                continue
            if attribute is not None and attribute.match in (
                worklist_item.ITEMS,
                worklist_item.CODE_SEQUENCE,
            ):
                raise InvalidQuery(
                    IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
                    f"{keyword} must be a sequence",
                    [int(element.tag)],
                )
            text = texts(element)
            if not text:
                continue
            if keyword == "ScheduledProcedureStepStatus":
                self.status_given = True
            self.query.keys.append(f"{prefix}{keyword}={_shown(element)}")
            if attribute is None or attribute.match is None:
                self.query.unsupported.append(prefix + keyword)
                continue
            matching[keyword] = (attribute, element.VR, text)
        where &= self.date_times(matching)
        for attribute, vr, text in matching.values():
            where &= self.attribute(attribute, vr, text)
        return where

    # --- sequences --------------------------------------------------------------

    def sequence(self, element, attribute, prefix: str) -> Q:
        items = list(element.value)
        keyword = keyword_for_tag(element.tag) or str(element.tag)
        if len(items) > 1:
            raise InvalidQuery(
                IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
                f"{keyword} must hold one item",
                [int(element.tag)],
            )
        if attribute is None:
            if items and any(texts(e) for e in items[0] if e.VR != "SQ"):
                self.query.unsupported.append(prefix + keyword)
            return Q()
        if attribute.match not in (worklist_item.ITEMS, worklist_item.CODE_SEQUENCE):
            raise InvalidQuery(
                IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
                f"{keyword} is not a sequence",
                [int(element.tag)],
            )
        if not items:
            return Q()
        if attribute.match == worklist_item.ITEMS:
            return self.level(items[0], attribute.items, prefix=f"{keyword}.")
        self.code_sequence(attribute, items[0], f"{prefix}{keyword}")
        return Q()

    def code_sequence(self, attribute, item: Dataset, path: str) -> None:
        checks = []
        for element in item:
            if element.tag.is_private or element.tag.element == 0 or element.VR == "SQ":
                continue
            keyword = keyword_for_tag(element.tag)
            name = worklist_item.CODE_ITEM.get(keyword)
            text = texts(element)
            if not text:
                continue
            self.query.keys.append(f"{path}.{keyword}={_shown(element)}")
            if name is None:
                self.query.unsupported.append(f"{path}.{keyword}")
                continue
            matcher = text_matcher(text, element.VR)
            if matcher is not None:
                checks.append((name, matcher))
        if not checks:
            return

        def item_matches(code: dict, checks=tuple(checks)) -> bool:
            return all(matcher(code.get(name, "")) for name, matcher in checks)

        self.query.item_filters[path] = item_matches
        read = attribute.value
        self.query.step_filters.append(
            lambda step, read=read, tz=self.tz: any(item_matches(c) for c in read(step, tz) or [])
        )

    # --- dates and times -----------------------------------------------------------

    def date_times(self, matching: dict) -> Q:
        """Date and time keys of the same field: combined (C.2.2.2.5.4) when both have
        the same form, each on its own otherwise."""
        where = Q()
        by_field: dict[str, dict] = {}
        for keyword, (attribute, _vr, text) in list(matching.items()):
            if attribute.match in (worklist_item.DATE_OF, worklist_item.TIME_OF):
                by_field.setdefault(attribute.field, {})[attribute.match] = (keyword, text)
                del matching[keyword]
        for field_name, parts in by_field.items():
            dates = parts.get(worklist_item.DATE_OF)
            times = parts.get(worklist_item.TIME_OF)
            date_range = _single(dates[1], dates[0]) if dates else None
            time_range = _single(times[1], times[0]) if times else None
            date_bounds = parse_range(date_range, values.parse_date) if dates else None
            time_bounds = (
                parse_range(time_range, values.parse_time, ordered=False) if times else None
            )
            if date_bounds and time_bounds and range_form(date_range) == range_form(time_range):
                where &= self.combined(field_name, date_bounds, time_bounds)
                continue
            if date_bounds:
                where &= self.dates_of(field_name, date_bounds)
            if time_bounds:
                where &= self.times_of(field_name, time_bounds)
        return where

    def local(self, day: date, moment: time) -> datetime:
        return datetime.combine(day, moment, tzinfo=self.tz)

    def combined(self, field_name: str, date_bounds, time_bounds) -> Q:
        (d_low, d_high), (t_low, t_high) = date_bounds, time_bounds
        first = self.local(d_low[0], t_low[0]) if d_low is not None else None
        last = self.local(d_high[0], t_high[1]) if d_high is not None else None
        if first is not None and last is not None and first > last:
            raise InvalidQuery(UNABLE_TO_PROCESS, "Date-time range ends before it starts")
        where = Q()
        if first is not None:
            where &= Q(**{f"{field_name}__gte": first})
        if last is not None:
            where &= Q(**{f"{field_name}__lte": last})
        return where

    def dates_of(self, field_name: str, bounds) -> Q:
        low, high = bounds
        where = Q()
        if low is not None:
            where &= Q(**{f"{field_name}__gte": self.local(low[0], time(0))})
        if high is not None:
            where &= Q(**{f"{field_name}__lt": self.local(high[1] + timedelta(days=1), time(0))})
        return where

    def times_of(self, field_name: str, bounds) -> Q:
        low, high = bounds
        if low is not None and high is not None and low[0] > high[1]:
            raise InvalidQuery(UNABLE_TO_PROCESS, "Time range crossing midnight")
        local_time = TruncTime(field_name, tzinfo=self.tz)
        where = Q()
        if low is not None:
            where &= Q(GreaterThanOrEqual(local_time, low[0]))
        if high is not None:
            where &= Q(LessThanOrEqual(local_time, high[1]))
        return where

    # --- one attribute ---------------------------------------------------------------

    def attribute(self, attribute, vr: str, given: list[str]) -> Q:
        kind = attribute.match
        if kind == worklist_item.UIDS:
            return uid_q(attribute.field, given)
        if kind == worklist_item.DATE:
            bounds = parse_range(_single(given, attribute.keyword), values.parse_date)
            return range_q(attribute.field, bounds)
        if kind == worklist_item.DATE_TIME:
            bounds = parse_range(
                _single(given, attribute.keyword), self.parse_datetime, split_datetime_range
            )
            return range_q(attribute.field, bounds)
        alternatives = Q()
        matched = False
        for value in given:
            if kind == worklist_item.PERSON_NAME:
                condition = self.person_name(attribute.field, value, vr)
            elif kind == worklist_item.STATION_AE_TITLES:
                condition = station_ae_q(attribute.field, value, vr)
            else:
                condition = text_q(attribute.field, value, vr)
            if condition is None:
                return Q()  # one universal value makes the key universal
            alternatives |= condition
            matched = True
        return alternatives if matched else Q()

    def person_name(self, field_name: str, value: str, vr: str) -> Q | None:
        if _is_universal(value):
            return None
        where = Q(**{f"{field_name}__regex": person_name_regex(value, self.accent_insensitive)})
        if field_name.endswith("patient_name"):
            prefix = _literal_prefix(value.split("=")[0])
            if prefix:
                search = field_name.removesuffix("patient_name") + "patient_name_search"
                where &= Q(**{f"{search}__startswith": name_search_key(prefix)[:64]})
        return where

    def parse_datetime(self, text: str):
        return values.parse_datetime(text, self.tz)


# --- values -------------------------------------------------------------------------


def _shown(element) -> str:
    return "\\".join(texts(element))[:64]


def _single(given: list[str], keyword: str) -> str:
    if len(given) != 1:
        raise InvalidQuery(UNABLE_TO_PROCESS, f"{keyword}: one value or range expected")
    return given[0]


def _is_universal(value: str) -> bool:
    return value == "" or set(value) == {"*"}


def _has_wildcard(value: str) -> bool:
    return "*" in value or "?" in value


def _literal_prefix(value: str) -> str:
    return re.split(r"[*?]", value, maxsplit=1)[0]


# --- text -----------------------------------------------------------------------------


class DicomWildcard(Lookup):
    """DICOM wild card matching in SQL: * any run, ? one character, everything else
    literal and case-sensitive. LIKE with SQL's own % _ and \\ escaped on PostgreSQL;
    GLOB on SQLite, whose LIKE ignores case."""

    lookup_name = "dicom_wildcard"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} LIKE %s ESCAPE '\\'", [*lhs_params, like_pattern(self.rhs)]

    def as_sqlite(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} GLOB %s", [*lhs_params, glob_pattern(self.rhs)]


def like_pattern(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def glob_pattern(value: str) -> str:
    return value.replace("[", "[[]")


def text_q(field_name: str, value: str, vr: str) -> Q | None:
    """Single value or wild card matching of one value; None for universal matching."""
    if _is_universal(value):
        return None
    if vr in WILDCARD_VRS and _has_wildcard(value):
        return Q(DicomWildcard(F(field_name), value))
    return Q(**{field_name: value})


def text_matcher(given: list[str], vr: str) -> Callable[[str], bool] | None:
    """The same matching in Python, for values held in code sequences."""
    patterns = []
    for value in given:
        if _is_universal(value):
            return None
        if vr in WILDCARD_VRS and _has_wildcard(value):
            regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in value)
            patterns.append(re.compile(regex, re.DOTALL))
        else:
            patterns.append(value)

    def matches(held: str) -> bool:
        held = (held or "").strip(" ")
        if not held:
            return False
        return any(
            held == p if isinstance(p, str) else p.fullmatch(held) is not None for p in patterns
        )

    return matches


def uid_q(field_name: str, uids: list[str]) -> Q:
    """List of UID matching; a UID allows no wild card ("*" alone is universal)."""
    if any(_is_universal(v) for v in uids):
        return Q()
    for value in uids:
        if not re.fullmatch(r"[0-9.]{1,64}", value):
            raise InvalidQuery(UNABLE_TO_PROCESS, f"Not a UID: {value[:40]}")
    return Q(**{f"{field_name}__in": uids}) if len(uids) > 1 else Q(**{field_name: uids[0]})


# Scheduled Station AE Title is multi-valued: the station's AE title, then the step's
# additional ones, stored backslash-separated.
ADDITIONAL_AE_FIELD = "additional_station_ae_titles"


def station_ae_q(field_name: str, value: str, vr: str) -> Q | None:
    if _is_universal(value):
        return None
    booked = text_q(field_name, value, vr)
    if _has_wildcard(value):
        inner = "".join(
            "[^\\\\]*" if c == "*" else "[^\\\\]" if c == "?" else _regex_literal(c) for c in value
        )
    else:
        inner = "".join(_regex_literal(c) for c in value)
    additional = Q(**{f"{ADDITIONAL_AE_FIELD}__gt": ""}) & Q(
        **{f"{ADDITIONAL_AE_FIELD}__regex": f"(^|\\\\){inner}(\\\\|$)"}
    )
    return booked | additional


def additional_ae_regex(ae_titles: Iterable[str]) -> str:
    """A regular expression finding any of these AE titles in the backslash-separated
    additional station AE titles."""
    alternatives = "|".join("".join(_regex_literal(c) for c in t) for t in ae_titles)
    return f"(^|\\\\)({alternatives})(\\\\|$)"


def _regex_literal(character: str) -> str:
    """A character as a literal in both Python's and PostgreSQL's regular expressions:
    ASCII punctuation is escaped with a backslash, letters and digits are themselves."""
    if character.isascii() and not character.isalnum():
        return "\\" + character
    return character


# --- person names ------------------------------------------------------------------


def person_name_regex(value: str, accent_insensitive: bool) -> str:
    """An anchored regular expression over a stored PN matching `value` component
    group by component group, case-insensitively (and without regard to accents)."""
    groups = value.split("=")
    parts = []
    for group in groups[:3]:
        group = group.strip(" ").rstrip("^")
        if _is_universal(group):
            parts.append("[^=]*")
            continue
        pattern = "".join(
            "[^=]*"
            if c == "*"
            else "[^=]"
            if c == "?"
            else _letter_class(c, accent_insensitive)
            if c.isalpha()
            else _regex_literal(c)
            for c in group
        )
        # trailing empty components ("Vivaldi^Antonio^^") are the same name
        parts.append(pattern + "\\^*")
    while len(parts) > 1 and parts[-1] == "[^=]*":
        parts.pop()
    return "^" + "=".join(parts) + "(=.*)?$"


def _fold(character: str) -> str:
    decomposed = unicodedata.normalize("NFKD", character)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


@lru_cache(maxsize=1)
def _letters_by_fold() -> dict[str, str]:
    """Letters of the Latin, Greek and Cyrillic blocks grouped by their folded form."""
    groups: dict[str, set[str]] = {}
    for block in ((0x41, 0x24F), (0x370, 0x4FF), (0x1E00, 0x1EFF)):
        for code in range(block[0], block[1] + 1):
            character = chr(code)
            if character.isalpha():
                groups.setdefault(_fold(character), set()).add(character)
    return {key: "".join(sorted(chars)) for key, chars in groups.items()}


@lru_cache(maxsize=4096)
def _letter_class(character: str, accent_insensitive: bool) -> str:
    variants = {character}
    for variant in (character.upper(), character.lower()):
        if len(variant) == 1:
            variants.add(variant)
    if accent_insensitive:
        variants.update(_letters_by_fold().get(_fold(character), ""))
    else:
        variants = {v for v in variants if _fold(v) == _fold(character)} | {character}
    if len(variants) == 1:
        return character
    return "[" + "".join(sorted(variants)) + "]"


def range_q(field_name: str, bounds) -> Q:
    """A date or date-time field between the first instant of the low end and the last
    of the high end."""
    low, high = bounds
    where = Q()
    if low is not None:
        where &= Q(**{f"{field_name}__gte": low[0]})
    if high is not None:
        where &= Q(**{f"{field_name}__lte": high[1]})
    return where


# --- until mpps_iod.py reads values.py ------------------------------------------------
# The MPPS receiver takes these parsers from here and catches InvalidQuery: thin
# wrappers of values.py, to be removed once it imports values.parse_* and catches
# values.InvalidValue.


def _refusing(parse):
    def parse_or_refuse(text: str):
        try:
            return parse(text)
        except InvalidValue as exc:
            raise InvalidQuery(UNABLE_TO_PROCESS, exc.comment) from exc

    return parse_or_refuse


parse_date = _refusing(values.parse_date)
parse_time = _refusing(values.parse_time)
parse_offset = _refusing(values.parse_offset)
