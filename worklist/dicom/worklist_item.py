"""THE mapping between the worklist model and the Modality Worklist Information Model
(PS3.4 K.6.1.2): which model field each attribute reads and matches, and the
builder of a C-FIND response identifier from a scheduled procedure step.

query.py matches on the `field` named here, this module answers with the `value`
read here; nothing else knows which attribute lives where. A step is read as a Row:
the values of COLUMNS (every column an answer reads, and nothing else), fetched
in the worklist query itself; two rows with the same values make the same answer,
which is what lets answers.py keep them.
"""

import json as _json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import Decimal
from functools import cache

from django.db.models import F, TextField
from django.db.models.functions import Cast
from pydicom import config
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from . import charset

SPECIFIC_CHARACTER_SET = 0x00080005
TIMEZONE_OFFSET_FROM_UTC = 0x00080201

# How an attribute is matched (query.py): text (single value / wild card), person name,
# the multi-valued station AE titles, a date or time part of a date-time field, a date
# field, a date-time, UIDs (list of UID), a code sequence, or not at all (None: the key
# is returned but its value, if any, is an unsupported optional matching key).
TEXT = "text"
PERSON_NAME = "pn"
STATION_AE_TITLES = "ae_titles"
DATE_OF = "date_of"
TIME_OF = "time_of"
DATE = "date"
DATE_TIME = "datetime"
UIDS = "uid"
CODE_SEQUENCE = "code_sequence"
ITEMS = "items"


class Row:
    """One step as the worklist query read it: `values` in the order of COLUMNS,
    read by column path (`row["start"]`, `row[PATIENT + "patient_id"]`)."""

    __slots__ = ("values",)

    def __init__(self, values: tuple):
        self.values = values

    def __getitem__(self, path: str):
        return self.values[INDEX[path]]


@dataclass(frozen=True)
class Attribute:
    keyword: str
    field: str | None
    value: Callable[[Row, tzinfo], object]
    match: str | None = TEXT
    items: Mapping[str, "Attribute"] = field(default_factory=dict)
    # Part of the whole item returned for an empty sequence item (C.2.2.2.6); off for
    # attributes answered only when asked for by name.
    expand: bool = True
    # The columns `value` reads (by default `field`).
    reads: tuple[str, ...] = ()

    @property
    def tag(self) -> int:
        return tag_for_keyword(self.keyword)

    @property
    def vr(self) -> str:
        return dictionary_VR(self.tag)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.reads or ((self.field,) if self.field else ())


PATIENT = "requested_procedure__order__patient__"
ORDER = "requested_procedure__order__"
PROCEDURE = "requested_procedure__"
STATION_AE_TITLE = "station__scheduled_station_ae_title"
STEP_ID = "scheduled_procedure_step_id"
PATIENT_ID = PATIENT + "patient_id"
ISSUER_OF_PATIENT_ID = PATIENT + "issuer_of_patient_id"
ACCESSION_NUMBER = ORDER + "accession_number"
ADDITIONAL_AE_TITLES = "additional_station_ae_titles"


def _local(moment: datetime | None, tz: tzinfo) -> datetime | None:
    return moment.astimezone(tz) if moment is not None else None


def _field(keyword: str, path: str, match: str | None = TEXT) -> Attribute:
    return Attribute(keyword, path, lambda row, tz: row[path], match)


def _start_date(row, tz):
    return f"{_local(row['start'], tz):%Y%m%d}"


def _start_time(row, tz):
    return f"{_local(row['start'], tz):%H%M%S}"


def _end_date(row, tz):
    return f"{_local(row['end'], tz):%Y%m%d}"


def _end_time(row, tz):
    return f"{_local(row['end'], tz):%H%M%S}"


def _start_datetime(row, tz):
    return f"{_local(row['start'], tz):%Y%m%d%H%M%S%z}"


def _birth_date(row, tz):
    born = row[PATIENT + "patient_birth_date"]
    return f"{born:%Y%m%d}" if born else ""


def _station_ae_titles(row, tz) -> list[str]:
    """The station's AE title, then the step's additional ones: the values of the
    multi-valued Scheduled Station AE Title (0040,0001)."""
    extra = [t for t in (row[ADDITIONAL_AE_TITLES] or "").split("\\") if t]
    return [row[STATION_AE_TITLE], *extra]


def _codes(path: str):
    """A code sequence column, read as the JSON text the database holds (so a row's
    values compare and hash), decoded when an answer or a match needs its items."""

    def read(row, tz) -> list[dict]:
        text = row[path]
        return _json.loads(text) if text else []

    return read


def _code_sequence(keyword: str, path: str) -> Attribute:
    return Attribute(keyword, path, _codes(path), CODE_SEQUENCE)


CODE_ITEM = {
    "CodeValue": "code_value",
    "CodingSchemeDesignator": "coding_scheme_designator",
    "CodingSchemeVersion": "coding_scheme_version",
    "CodeMeaning": "code_meaning",
}

SCHEDULED_PROCEDURE_STEP = {
    a.keyword: a
    for a in (
        Attribute(
            "ScheduledStationAETitle",
            STATION_AE_TITLE,
            _station_ae_titles,
            STATION_AE_TITLES,
            reads=(STATION_AE_TITLE, ADDITIONAL_AE_TITLES),
        ),
        Attribute("ScheduledProcedureStepStartDate", "start", _start_date, DATE_OF),
        Attribute("ScheduledProcedureStepStartTime", "start", _start_time, TIME_OF),
        Attribute("ScheduledProcedureStepEndDate", "end", _end_date, DATE_OF),
        Attribute("ScheduledProcedureStepEndTime", "end", _end_time, TIME_OF),
        # Not of the Scheduled Procedure Step module (UPS has it): answered and matched
        # (DT range matching) when a modality asks for it by name.
        Attribute(
            "ScheduledProcedureStepStartDateTime", "start", _start_datetime, DATE_TIME, expand=False
        ),
        _field("Modality", "modality"),
        _field(
            "ScheduledPerformingPhysicianName", "scheduled_performing_physician_name", PERSON_NAME
        ),
        _field("ScheduledProcedureStepDescription", "scheduled_procedure_step_description"),
        _code_sequence("ScheduledProtocolCodeSequence", "scheduled_protocol_code_sequence"),
        _field("ScheduledProcedureStepID", "scheduled_procedure_step_id"),
        _field("ScheduledStationName", "scheduled_station_name"),
        _field("ScheduledProcedureStepLocation", "scheduled_procedure_step_location"),
        _field("PreMedication", "pre_medication"),
        _field("ScheduledProcedureStepStatus", "scheduled_procedure_step_status"),
        _field("RequestedContrastAgent", "requested_contrast_agent"),
        _field("CommentsOnTheScheduledProcedureStep", "comments_on_the_scheduled_procedure_step"),
    )
}

WORKLIST_ITEM = {
    a.keyword: a
    for a in (
        # Patient Identification, Demographic and Medical modules
        _field("PatientName", PATIENT + "patient_name", PERSON_NAME),
        _field("PatientID", PATIENT + "patient_id"),
        _field("IssuerOfPatientID", PATIENT + "issuer_of_patient_id"),
        Attribute("PatientBirthDate", PATIENT + "patient_birth_date", _birth_date, DATE),
        _field("PatientSex", PATIENT + "patient_sex"),
        _field("OtherPatientIDs", PATIENT + "other_patient_ids"),
        _field("PatientWeight", PATIENT + "patient_weight", None),
        _field("PatientSize", PATIENT + "patient_size", None),
        _field("MedicalAlerts", PATIENT + "medical_alerts"),
        _field("Allergies", PATIENT + "allergies"),
        _field("PregnancyStatus", PATIENT + "pregnancy_status", None),
        _field("AdditionalPatientHistory", PATIENT + "additional_patient_history"),
        _field("SpecialNeeds", PATIENT + "special_needs"),
        # Imaging Service Request module
        _field("AccessionNumber", ORDER + "accession_number"),
        _field("ReferringPhysicianName", ORDER + "referring_physician_name", PERSON_NAME),
        _field("RequestingPhysician", ORDER + "requesting_physician", PERSON_NAME),
        _field("RequestingService", ORDER + "requesting_service"),
        _field("ReasonForTheRequestedProcedure", ORDER + "reason_for_the_requested_procedure"),
        _field("ImagingServiceRequestComments", ORDER + "imaging_service_request_comments"),
        # Requested Procedure module
        _field("RequestedProcedureID", PROCEDURE + "requested_procedure_id"),
        _field("RequestedProcedureDescription", PROCEDURE + "requested_procedure_description"),
        _code_sequence(
            "RequestedProcedureCodeSequence", PROCEDURE + "requested_procedure_code_sequence"
        ),
        _field("StudyInstanceUID", PROCEDURE + "study_instance_uid", UIDS),
        _field("RequestedProcedurePriority", PROCEDURE + "requested_procedure_priority"),
        # Scheduled Procedure Step module
        Attribute(
            "ScheduledProcedureStepSequence",
            None,
            lambda row, tz: row,
            ITEMS,
            SCHEDULED_PROCEDURE_STEP,
        ),
    )
}


def _columns() -> list[str]:
    paths = ["pk"]
    for attributes in (WORKLIST_ITEM, SCHEDULED_PROCEDURE_STEP):
        for attribute in attributes.values():
            paths.extend(c for c in attribute.columns if c not in paths)
    return paths


# Every column an answer reads (and the audit: patient ID, issuer, accession number),
# in the order of a Row's values; JSON columns as their text.
COLUMNS = _columns()
INDEX = {path: position for position, path in enumerate(COLUMNS)}
JSON_COLUMNS = {
    a.field
    for attributes in (WORKLIST_ITEM, SCHEDULED_PROCEDURE_STEP)
    for a in attributes.values()
    if a.match == CODE_SEQUENCE
}


def is_code_sequence(tag) -> bool:
    return int(tag) in CODE_SEQUENCE_TAGS


CODE_SEQUENCE_TAGS = {
    a.tag
    for attributes in (WORKLIST_ITEM, SCHEDULED_PROCEDURE_STEP)
    for a in attributes.values()
    if a.match == CODE_SEQUENCE
}


@cache
def query_columns() -> list:
    """COLUMNS as the worklist selector fetches them (values_list arguments)."""
    return [Cast(F(c), TextField()) if c in JSON_COLUMNS else c for c in COLUMNS]


# --- the response ---------------------------------------------------------------


ItemFilters = Mapping[str, Callable[[dict], bool]]


def build(
    row: Row,
    request: Dataset,
    *,
    tz: tzinfo,
    character_set: str = charset.UTF_8,
    item_filters: ItemFilters | None = None,
) -> Dataset:
    """The response identifier for one step: every attribute the request names, with
    our value or empty, and nothing else (PS3.4 K.2.2.1.2, C.2.2.2.6). Depends on
    nothing but its arguments (and, for Timezone Offset From UTC, the offset of `tz`
    now): answers.py relies on it."""
    response = Dataset()
    value = charset.specific_character_set(character_set)
    if value is not None:
        response.SpecificCharacterSet = value
    context = _Context(tz=tz, character_set=character_set, item_filters=item_filters or {})
    _fill(response, row, request, WORKLIST_ITEM, context, prefix="")
    return response


@dataclass
class _Context:
    tz: tzinfo
    character_set: str
    item_filters: ItemFilters


def _requested(request: Dataset):
    """The attributes of a request (or item) that ask for a value back."""
    for element in request:
        tag = int(element.tag)
        if element.tag.is_private or element.tag.element == 0 or tag == SPECIFIC_CHARACTER_SET:
            continue
        yield element


def _fill(target: Dataset, source, request: Dataset, attributes, context: _Context, prefix: str):
    for element in _requested(request):
        keyword = keyword_for_tag(element.tag)
        attribute = attributes.get(keyword)
        if element.VR == "SQ":
            target.add_new(
                element.tag, "SQ", _sequence(source, element, attribute, context, prefix)
            )
        elif int(element.tag) == TIMEZONE_OFFSET_FROM_UTC and not prefix:
            target.add(_element(element.tag, element.VR, offset(context.tz)))
        elif attribute is None or attribute.match == ITEMS:
            target.add(_element(element.tag, element.VR, _empty(element.VR)))
        else:
            raw = attribute.value(source, context.tz)
            target.add(_element(element.tag, element.VR, _encoded(raw, element.VR, context)))


def _sequence(source, element, attribute: Attribute | None, context: _Context, prefix: str):
    if attribute is None:
        return DicomSequence()
    items = list(element.value)
    item_request = items[0] if items else Dataset()
    universal = len(item_request) == 0
    path = f"{prefix}{attribute.keyword}"
    if attribute.match == ITEMS:
        # One worklist item is one scheduled procedure step: its sequence has one item.
        item = Dataset()
        nested = _full_request(attribute.items) if universal else item_request
        _fill(
            item, attribute.value(source, context.tz), nested, attribute.items, context, path + "."
        )
        return DicomSequence([item])
    if attribute.match == CODE_SEQUENCE:
        codes = attribute.value(source, context.tz) or []
        keep = context.item_filters.get(path, lambda code: True)
        nested = _full_request(CODE_ITEM) if universal else item_request
        return DicomSequence([_code_item(code, nested, context) for code in codes if keep(code)])
    return DicomSequence()


def _full_request(attributes: Mapping) -> Dataset:
    """A zero-length item asks for the whole sequence (C.2.2.2.6): every attribute
    we hold for it, as if each had been requested."""
    request = Dataset()
    for keyword, attribute in attributes.items():
        if not getattr(attribute, "expand", True):
            continue
        tag = tag_for_keyword(keyword)
        vr = dictionary_VR(tag)
        request.add_new(tag, vr, DicomSequence() if vr == "SQ" else None)
    return request


def _code_item(code: dict, request: Dataset, context: _Context) -> Dataset:
    item = Dataset()
    for element in _requested(request):
        name = CODE_ITEM.get(keyword_for_tag(element.tag))
        if element.VR == "SQ":
            item.add(_element(element.tag, "SQ", DicomSequence()))
            continue
        value = code.get(name, "") if name else ""
        if name == "coding_scheme_version" and not value and _universal_item(request):
            continue  # not held: leave it out of a whole-item answer
        item.add(_element(element.tag, element.VR, _encoded(value, element.VR, context)))
    return item


def _universal_item(request: Dataset) -> bool:
    return all(element.value in (None, "") for element in request)


def _element(tag, vr: str, value) -> DataElement:
    """A response element, not validated again: our values passed their VR checks when
    booked and were fitted to the character set; pydicom's per-value checks were a
    good part of the cost of an answer."""
    return DataElement(tag, vr, value, validation_mode=config.IGNORE)


def _empty(vr: str):
    return None if vr in NUMERIC_VRS else ""


NUMERIC_VRS = {"US", "SS", "UL", "SL", "FL", "FD", "UV", "SV", "AT", "IS", "DS"}


def _encoded(value, vr: str, context: _Context):
    if value is None or value == "":
        return _empty(vr)
    if vr in NUMERIC_VRS:
        if isinstance(value, Decimal):
            return format(value.normalize(), "f")
        return value
    if isinstance(value, list | tuple):
        return [charset.fit(str(v), context.character_set) for v in value]
    return charset.fit(str(value), context.character_set)


def offset(tz: tzinfo) -> str:
    """Timezone Offset From UTC (0008,0201) of `tz` now."""
    delta = datetime.now(tz).utcoffset()
    minutes = int(delta.total_seconds() // 60) if delta is not None else 0
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}{minutes % 60:02d}"
