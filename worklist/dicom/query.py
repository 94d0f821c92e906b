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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import TruncTime
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual, Lookup
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset

from worklist import matching, names
from worklist.models import PatientAlias, StepStatus

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
        # Error Comment is LO in the default repertoire (PS3.7 C.4): whatever a peer
        # sent that ends up in it is made printable ASCII.
        comment = "".join(c if " " <= c <= "~" else "?" for c in comment[:64])
        super().__init__(comment)
        self.status = status
        self.comment = comment
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
        """The matching keys and their values, for the audit trail."""
        return "; ".join(self.keys) or "(no matching keys)"

    def keywords(self) -> str:
        """The matching keys without their values, for the log."""
        return ", ".join(key.partition("=")[0] for key in self.keys) or "(no matching keys)"


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
        keyed = {}
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
            given = texts(element)
            if not given:
                continue
            _check(element, given, keyword)
            if keyword == "ScheduledProcedureStepStatus":
                self.status_given = True
            self.query.keys.append(f"{prefix}{keyword}={_shown(given)}")
            if attribute is None or attribute.match is None:
                self.query.unsupported.append(prefix + keyword)
                continue
            keyed[keyword] = (attribute, element.VR, given)
        where &= self.date_times(keyed)
        for attribute, vr, given in keyed.values():
            where &= self.attribute(attribute, vr, given)
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
            given = texts(element)
            if not given:
                continue
            _check(element, given, keyword)
            self.query.keys.append(f"{path}.{keyword}={_shown(given)}")
            if name is None:
                self.query.unsupported.append(f"{path}.{keyword}")
                continue
            matcher = text_matcher(given, element.VR)
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

    def date_times(self, keyed: dict) -> Q:
        """Date and time keys of the same field: combined (C.2.2.2.5.4) when both have
        the same form, each on its own otherwise."""
        where = Q()
        by_field: dict[str, dict] = {}
        for keyword, (attribute, _vr, text) in list(keyed.items()):
            if attribute.match in (worklist_item.DATE_OF, worklist_item.TIME_OF):
                by_field.setdefault(attribute.field, {})[attribute.match] = (keyword, text)
                del keyed[keyword]
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
                if condition is not None and attribute.field == worklist_item.PATIENT_ID:
                    condition |= merged_patient_q(value)
            if condition is None:
                return Q()  # one universal value makes the key universal
            alternatives |= condition
            matched = True
        return alternatives if matched else Q()

    def person_name(self, field_name: str, value: str, vr: str) -> Q | None:
        if matching.is_universal(value):
            return None
        where = Q(**{f"{field_name}__regex": person_name_regex(value, self.accent_insensitive)})
        if field_name.endswith("patient_name"):
            prefix = matching.literal_prefix(names.alphabetic(value))
            if prefix:
                search = field_name.removesuffix("patient_name") + "patient_name_search"
                where &= Q(**{f"{search}__startswith": matching.fold(prefix)[:64]})
        return where

    def parse_datetime(self, text: str):
        return values.parse_datetime(text, self.tz)


# --- values -------------------------------------------------------------------------


def _shown(given: list[str]) -> str:
    return "\\".join(given)[:64]


# Values of one key: a few modalities or statuses, a List of UID can be longer.
MAX_VALUES = 64
MAX_UIDS = 1000


def _check(element, given: list[str], name: str) -> None:
    """Refuse, before any query, what would make the database work for nothing: a
    value longer than the VR of its attribute allows (PS3.5 Table 6.2-1; the VR of the
    data dictionary, not the one a peer claims), too many values, a NUL character."""
    vr = _standard_vr(element)
    limit = MAX_UIDS if vr == "UI" else MAX_VALUES
    if len(given) > limit:
        raise InvalidQuery(
            UNABLE_TO_PROCESS, f"{name}: more than {limit} values", [int(element.tag)]
        )
    try:
        for text in given:
            values.check_text(text, vr, name)
    except InvalidValue as exc:
        raise InvalidQuery(UNABLE_TO_PROCESS, exc.comment, [int(element.tag)]) from exc


def _standard_vr(element) -> str:
    try:
        return dictionary_VR(element.tag)
    except KeyError:
        return element.VR


def _single(given: list[str], keyword: str) -> str:
    if len(given) != 1:
        raise InvalidQuery(UNABLE_TO_PROCESS, f"{keyword}: one value or range expected")
    return given[0]


# --- text -----------------------------------------------------------------------------


class DicomWildcard(Lookup):
    """DICOM wild card matching in SQL: * any run, ? one character, everything else
    literal and case-sensitive. LIKE with SQL's own % _ and \\ escaped on PostgreSQL;
    GLOB on SQLite, whose LIKE ignores case."""

    lookup_name = "dicom_wildcard"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} LIKE %s ESCAPE '\\'", [*lhs_params, matching.like_pattern(self.rhs)]

    def as_sqlite(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} GLOB %s", [*lhs_params, matching.glob_pattern(self.rhs)]


def text_q(field_name: str, value: str, vr: str) -> Q | None:
    """Single value or wild card matching of one value; None for universal matching."""
    if matching.is_universal(value):
        return None
    if vr in WILDCARD_VRS and matching.has_wildcard(value):
        return Q(DicomWildcard(F(field_name), value))
    return Q(**{field_name: value})


def text_matcher(given: list[str], vr: str) -> Callable[[str], bool] | None:
    """The same matching in Python, for values held in code sequences."""
    patterns = []
    for value in given:
        if matching.is_universal(value):
            return None
        if vr in WILDCARD_VRS and matching.has_wildcard(value):
            patterns.append(re.compile(matching.translate_wildcards(value), re.DOTALL))
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
    if any(matching.is_universal(v) for v in uids):
        return Q()
    for value in uids:
        if not re.fullmatch(r"[0-9.]{1,64}", value):
            raise InvalidQuery(UNABLE_TO_PROCESS, f"Not a UID: {value[:40]}")
    return Q(**{f"{field_name}__in": uids}) if len(uids) > 1 else Q(**{field_name: uids[0]})


# Scheduled Station AE Title is multi-valued: the station's AE title, then the step's
# additional ones, stored backslash-separated.
ADDITIONAL_AE_FIELD = "additional_station_ae_titles"


def station_ae_q(field_name: str, value: str, vr: str) -> Q | None:
    if matching.is_universal(value):
        return None
    booked = text_q(field_name, value, vr)
    inner = matching.translate_wildcards(value, any_run="[^\\\\]*", one="[^\\\\]")
    additional = Q(**{f"{ADDITIONAL_AE_FIELD}__gt": ""}) & Q(
        **{f"{ADDITIONAL_AE_FIELD}__regex": matching.multi_value_regex([inner])}
    )
    return booked | additional


# --- person names ------------------------------------------------------------------


def person_name_regex(value: str, accent_insensitive: bool) -> str:
    """An anchored regular expression over a stored PN matching `value` component
    group by component group, case-insensitively and, when `accent_insensitive`,
    finding any accent on a letter sent without one (matching.letter_pattern)."""
    parts = []
    for group in names.groups(value)[: names.PN_GROUPS]:
        group = names.trimmed(group.strip(" "))
        if matching.is_universal(group):
            parts.append("[^=]*")
            continue
        pattern = matching.name_pattern(
            group, any_run="[^=]*", one="[^=]", accent_insensitive=accent_insensitive
        )
        # trailing empty components ("Vivaldi^Antonio^^") are the same name
        parts.append(pattern + "\\^*")
    while len(parts) > 1 and parts[-1] == "[^=]*":
        parts.pop()
    return "^" + "=".join(parts) + "(=.*)?$"


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


def merged_patient_q(patient_id: str) -> Q:
    """A Patient ID that was merged into another patient (HL7 A40) finds the steps of
    the surviving patient, who is answered with the survivor's own ID."""
    if matching.is_universal(patient_id) or any(c in patient_id for c in "*?"):
        return Q(pk__in=[])
    return Q(
        Exists(
            PatientAlias.objects.filter(
                survivor=OuterRef(worklist_item.PATIENT + "id"), patient_id=patient_id
            )
        )
    )
