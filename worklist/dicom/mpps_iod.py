"""The Modality Performed Procedure Step SOP Class (PS3.4 F.7.2): which attributes an
N-CREATE must carry, which an N-SET may change, what the final state needs, and THE
mapping from an MPPS instance to the PerformedProcedureStep columns.

Pure functions on pydicom Datasets, no network and no database. The handler (mpps.py)
turns an N-CREATE into the service's plain input with read_create, and an N-SET into
a Modification, which the service (worklist/services/performed_steps.py) judges under
the row lock against the instance as stored (DICOM JSON), without turning the whole
instance back into a Dataset. A check that fails raises Refusal, carrying the DIMSE
status (PS3.7 10.1.3.1.9, 10.1.5.1.6) and the tags at fault, which the handler puts
in the response.

Beyond the table, sizes are bounded (LIMITS): no value longer than MAX_VALUE_LENGTH,
no control characters outside the text VRs that allow them (PS3.5 6.1.3), at most
MAX_ITEMS items in a sequence (more for the series and their references), at most
MAX_REFERENCES referenced instances in all, and no nesting deeper than MAX_DEPTH.

Requirement types are those of Table F.7.2-1 for the SCP: 1 present with a value,
2 present (may be empty), 3 optional; None in the N-SET column is "Not allowed".
"""

import functools
import json
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo

from django.utils import timezone
from pydicom import config
from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.valuerep import PersonName, validate_value

from ris.errors import Invalid
from worklist.services.performed_steps import PerformedStepReport, Revision, StepReference

from . import values

# Statuses (PS3.7 Annex C; F.7.2.2.4 for the one MPPS-specific error).
SUCCESS = 0x0000
NO_SUCH_ATTRIBUTE = 0x0105
INVALID_ATTRIBUTE_VALUE = 0x0106
PROCESSING_FAILURE = 0x0110
DUPLICATE_SOP_INSTANCE = 0x0111
NO_SUCH_SOP_INSTANCE = 0x0112
MISSING_ATTRIBUTE = 0x0120
MISSING_ATTRIBUTE_VALUE = 0x0121
# Error ID (0000,0903) with 0110: "Performed Procedure Step Object may no longer be updated".
MAY_NO_LONGER_BE_UPDATED = 0xA710

IN_PROGRESS, COMPLETED, DISCONTINUED = "IN PROGRESS", "COMPLETED", "DISCONTINUED"
STATUSES = (IN_PROGRESS, COMPLETED, DISCONTINUED)
FINAL = (COMPLETED, DISCONTINUED)


class Refusal(Invalid):
    """A request the SOP class does not allow: the status to answer, a comment for the
    operator (Error Comment is LO, 64 characters) and the attributes at fault."""

    def __init__(self, status: int, comment: str, tags=(), error_id: int | None = None):
        super().__init__({"attributes": [comment]})
        self.status = status
        self.comment = comment[:64]
        self.tags = [Tag(tag) for tag in tags]
        self.error_id = error_id


# --- Table F.7.2-1 ------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    keyword: str
    create: str  # "1", "2" or "3"
    set: str | None  # None: not allowed in an N-SET
    final: str | None = None  # the final-state requirement, where it differs
    items: tuple["Rule", ...] = ()
    code: str | None = None  # a code sequence: "meaning" required, or "optional"

    @property
    def tag(self) -> Tag:
        return _tag(self.keyword)


@functools.cache
def _tag(keyword: str) -> Tag:
    """The tag of a keyword of the table, looked up once (every message checks them)."""
    return Tag(tag_for_keyword(keyword))


def _not_set(keyword: str, create: str, **kwargs) -> Rule:
    return Rule(keyword, create, None, **kwargs)


REFERENCED_SOP = (_not_set("ReferencedSOPClassUID", "1"), _not_set("ReferencedSOPInstanceUID", "1"))
REFERENCED_SOP_SETTABLE = (
    Rule("ReferencedSOPClassUID", "1", "1"),
    Rule("ReferencedSOPInstanceUID", "1", "1"),
)

SCHEDULED_STEP_ATTRIBUTES = (
    _not_set("StudyInstanceUID", "1"),
    _not_set("ReferencedStudySequence", "2", items=REFERENCED_SOP),
    _not_set("AccessionNumber", "2"),
    _not_set("IssuerOfAccessionNumberSequence", "3"),
    _not_set("PlacerOrderNumberImagingServiceRequest", "3"),
    _not_set("FillerOrderNumberImagingServiceRequest", "3"),
    _not_set("RequestedProcedureID", "2"),
    _not_set("RequestedProcedureCodeSequence", "3", code="meaning"),
    _not_set("RequestedProcedureDescription", "2"),
    _not_set("ScheduledProcedureStepID", "2"),
    _not_set("ScheduledProcedureStepDescription", "2"),
    _not_set("ScheduledProtocolCodeSequence", "2", code="meaning"),
)

PERFORMED_SERIES = (
    Rule("PerformingPhysicianName", "2", "2"),
    Rule("ProtocolName", "1", "1"),
    Rule("OperatorsName", "2", "2"),
    Rule("SeriesInstanceUID", "1", "1"),
    Rule("SeriesDescription", "2", "2"),
    Rule("RetrieveAETitle", "2", "2"),
    Rule("ArchiveRequested", "3", "3"),
    Rule("ReferencedImageSequence", "2", "2", items=REFERENCED_SOP_SETTABLE),
    Rule("ReferencedNonImageCompositeSOPInstanceSequence", "2", "2", items=REFERENCED_SOP_SETTABLE),
)

TABLE = (
    _not_set("ScheduledStepAttributesSequence", "1", items=SCHEDULED_STEP_ATTRIBUTES),
    _not_set("PatientName", "2"),
    _not_set("PatientID", "2"),
    _not_set("IssuerOfPatientID", "3"),
    _not_set("IssuerOfPatientIDQualifiersSequence", "3"),
    _not_set("OtherPatientIDsSequence", "3"),
    _not_set("PatientBirthDate", "2"),
    _not_set("PatientSex", "2"),
    _not_set("ReferencedPatientSequence", "2", items=REFERENCED_SOP),
    _not_set("AdmissionID", "3"),
    _not_set("IssuerOfAdmissionIDSequence", "3"),
    _not_set("ServiceEpisodeID", "3"),
    _not_set("IssuerOfServiceEpisodeIDSequence", "3"),
    _not_set("ServiceEpisodeDescription", "3"),
    _not_set("PerformedProcedureStepID", "1"),
    _not_set("PerformedStationAETitle", "1"),
    _not_set("PerformedStationName", "2"),
    _not_set("PerformedLocation", "2"),
    _not_set("PerformedProcedureStepStartDate", "1"),
    _not_set("PerformedProcedureStepStartTime", "1"),
    Rule("PerformedProcedureStepStatus", "1", "1"),
    Rule("PerformedProcedureStepDescription", "2", "2"),
    Rule("PerformedProcedureTypeDescription", "2", "2"),
    Rule("ProcedureCodeSequence", "2", "2", code="optional"),
    Rule("ReasonForPerformedProcedureCodeSequence", "3", "3", code="meaning"),
    Rule("PerformedProcedureStepEndDate", "2", "3", final="1"),
    Rule("PerformedProcedureStepEndTime", "2", "3", final="1"),
    Rule("CommentsOnThePerformedProcedureStep", "3", "3"),
    Rule("PerformedProcedureStepDiscontinuationReasonCodeSequence", "3", "3", code="meaning"),
    _not_set("Modality", "1"),
    _not_set("StudyID", "2"),
    Rule("PerformedProtocolCodeSequence", "2", "2", code="optional"),
    Rule("PerformedSeriesSequence", "2", "3", final="1", items=PERFORMED_SERIES),
)
RULES = {rule.tag: rule for rule in TABLE}
SPECIFIC_CHARACTER_SET = Tag(0x00080005)

# Radiation Dose module attributes (retired from MPPS in PS3.3-2017c, still sent by
# X-ray modalities): kept as sent and shown with the exam.
DOSE_KEYWORDS = (
    "TotalTimeOfFluoroscopy",
    "TotalNumberOfExposures",
    "EntranceDose",
    "EntranceDoseInmGy",
    "ExposedArea",
    "ImageAndFluoroscopyAreaDoseProduct",
    "DistanceSourceToDetector",
    "DistanceSourceToEntrance",
    "CommentsOnRadiationDose",
    "CTDIvol",
)


def _name(tag, path: str = "") -> str:
    keyword = keyword_for_tag(tag) or f"({tag.group:04X},{tag.element:04X})"
    return f"{path}{keyword}"


def _is_empty(element) -> bool:
    value = element.value
    return (
        value is None
        or value == ""
        or (isinstance(value, (list, MultiValue, Sequence)) and not value)
    )


# --- sizes -------------------------------------------------------------------------------

MAX_VALUE_LENGTH = 65536  # characters (or bytes) of one value, whatever its VR allows
MAX_ITEMS = 100  # items of any sequence not named in ITEM_LIMITS
ITEM_LIMITS = {
    "PerformedSeriesSequence": 1000,
    "ReferencedImageSequence": 50000,
    "ReferencedNonImageCompositeSOPInstanceSequence": 50000,
}
MAX_REFERENCES = 50000  # referenced image and non-image instances, all series together
MAX_DEPTH = 4  # sequences within sequences (the table nests three deep)
TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM"}
TEXT_VRS |= {"UC", "UI", "UR", "UT"}
# PS3.5 6.1.3: control characters are not part of any value, except ESC (character
# sets) and, in the long texts, TAB, LF, FF and CR.
ALLOWED_CONTROLS = {"\x1b"}
ALLOWED_CONTROLS_IN_TEXT = {"\x1b", "\t", "\n", "\x0c", "\r"}
CONTROLS = {chr(c) for c in range(0x20)} | {"\x7f"}
REFERENCE_SEQUENCES = (
    "ReferencedImageSequence",
    "ReferencedNonImageCompositeSOPInstanceSequence",
)


def check_sizes(dataset: Dataset) -> None:
    """The bounds above, before anything else looks at the values (0106)."""
    references = _check_sizes(dataset, "", 0)
    if references > MAX_REFERENCES:
        raise Refusal(
            INVALID_ATTRIBUTE_VALUE,
            f"More than {MAX_REFERENCES} referenced instances",
            [tag_for_keyword("PerformedSeriesSequence")],
        )


def _check_sizes(dataset: Dataset, path: str, depth: int) -> int:
    references = 0
    for element in dataset:
        if element.VR != "SQ":
            _check_length(element, path)
            continue
        if depth >= MAX_DEPTH:
            raise Refusal(
                INVALID_ATTRIBUTE_VALUE,
                f"Sequences nested too deep at {_name(element.tag, path)}",
                [element.tag],
            )
        limit = ITEM_LIMITS.get(element.keyword, MAX_ITEMS)
        if len(element.value) > limit:
            raise Refusal(
                INVALID_ATTRIBUTE_VALUE,
                f"{_name(element.tag, path)}: more than {limit} items",
                [element.tag],
            )
        if element.keyword in REFERENCE_SEQUENCES:
            references += len(element.value)
        for item in element.value:
            references += _check_sizes(item, f"{path}{element.keyword}>", depth + 1)
    return references


def _values(element) -> list:
    """An element's values, person names as the text they were sent as."""
    value = element.value
    items = value if isinstance(value, (MultiValue, list)) else [value]
    return [str(v) if isinstance(v, PersonName) else v for v in items]


def _check_length(element, path: str) -> None:
    items = _values(element)
    total = sum(len(v) for v in items if isinstance(v, (str, bytes)))
    if total > MAX_VALUE_LENGTH:
        raise Refusal(
            INVALID_ATTRIBUTE_VALUE,
            f"{_name(element.tag, path)}: value longer than {MAX_VALUE_LENGTH}",
            [element.tag],
        )
    if element.VR not in TEXT_VRS:
        return
    allowed = ALLOWED_CONTROLS_IN_TEXT if element.VR in ("LT", "ST", "UT") else ALLOWED_CONTROLS
    for text in items:
        if isinstance(text, str) and not CONTROLS.isdisjoint(text):
            found = sorted({c for c in text if c in CONTROLS} - allowed)
            if found:
                raise Refusal(
                    INVALID_ATTRIBUTE_VALUE,
                    f"Control character {ord(found[0]):#04x} in {_name(element.tag, path)}",
                    [element.tag],
                )


# --- N-CREATE ---------------------------------------------------------------------------


def read_create(attributes: Dataset) -> PerformedStepReport:
    """An N-CREATE attribute list, checked, as the service's input."""
    check_create(attributes)
    return PerformedStepReport(
        attributes=to_stored(attributes),
        columns=columns(attributes),
        references=tuple(scheduled_step_references(attributes)),
    )


def check_create(attributes: Dataset) -> None:
    """An N-CREATE attribute list against Table F.7.2-1 (F.7.2.1.3): sizes and values of
    their VR (0106), every type 1 and 2 attribute present (0120), type 1 with a value
    (0121), and the status IN PROGRESS (0106)."""
    check_sizes(attributes)
    _check_values(attributes)
    missing, empty = [], []
    _requirements(attributes, TABLE, "create", missing, empty, path="")
    if missing:
        _refuse(MISSING_ATTRIBUTE, "Missing", missing)
    if empty:
        _refuse(MISSING_ATTRIBUTE_VALUE, "No value in", empty)
    status = str(attributes.PerformedProcedureStepStatus)
    if status != IN_PROGRESS:
        raise Refusal(
            INVALID_ATTRIBUTE_VALUE,
            f"N-CREATE status must be IN PROGRESS, not {status[:20]}",
            [tag_for_keyword("PerformedProcedureStepStatus")],
        )
    _check_parsed(attributes)


def _requirements(dataset, rules, column: str, missing: list, empty: list, path: str) -> None:
    for rule in rules:
        kind = getattr(rule, column)
        element = dataset.get(rule.tag)
        if element is None:
            if kind in ("1", "2"):
                missing.append((rule.tag, path))
            continue
        if kind == "1" and _is_empty(element):
            empty.append((rule.tag, path))
            continue
        if element.VR == "SQ":
            for item in element.value:
                _item_requirements(item, rule, column, missing, empty, f"{path}{rule.keyword}>")


def _item_requirements(item, rule: Rule, column: str, missing, empty, path: str) -> None:
    if rule.code:
        _code_item(item, rule, missing, empty, path)
    if rule.items:
        _requirements(item, rule.items, column, missing, empty, path)


def _code_item(item, rule: Rule, missing: list, empty: list, path: str) -> None:
    """The Code Value macro of Tables F.7.2-1b/d/f: a value (Code Value, Long Code
    Value or URN Code Value), its scheme designator, and the meaning where required."""
    codes = [tag_for_keyword(k) for k in ("CodeValue", "LongCodeValue", "URNCodeValue")]
    if not any(item.get(tag) is not None and not _is_empty(item[tag]) for tag in codes):
        missing.append((Tag(tag_for_keyword("CodeValue")), path))
    designator = Tag(tag_for_keyword("CodingSchemeDesignator"))
    if "URNCodeValue" not in item and (designator not in item or _is_empty(item[designator])):
        missing.append((designator, path))
    meaning = Tag(tag_for_keyword("CodeMeaning"))
    if rule.code == "meaning" and (meaning not in item or _is_empty(item[meaning])):
        missing.append((meaning, path))


def _check_values(dataset: Dataset, path: str = "") -> None:
    """Every value against its VR (PS3.5 6.2: length, characters, format): 0106."""
    for element in dataset:
        if element.VR == "SQ":
            for item in element.value:
                _check_values(item, f"{path}{element.keyword}>")
            continue
        for value in _values(element):
            if value is None or element.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN"):
                continue
            try:
                validate_value(element.VR, value, config.RAISE)
            except (ValueError, TypeError) as exc:
                raise Refusal(
                    INVALID_ATTRIBUTE_VALUE,
                    f"Invalid {_name(element.tag, path)}: {exc}",
                    [element.tag],
                ) from exc


def _check_parsed(attributes: Dataset) -> None:
    """The dates and times this SCP reads must be real ones (the VR check takes
    20260230 for a date)."""
    for keyword in (
        "PerformedProcedureStepStartDate",
        "PerformedProcedureStepEndDate",
        "PatientBirthDate",
    ):
        _parsed(attributes, keyword, values.parse_date)
    for keyword in ("PerformedProcedureStepStartTime", "PerformedProcedureStepEndTime"):
        _parsed(attributes, keyword, values.parse_time)
    _parsed(attributes, "TimezoneOffsetFromUTC", values.parse_offset)


def _parsed(attributes: Dataset, keyword: str, parse):
    value = str(attributes.get(keyword, "") or "").strip()
    if not value:
        return None
    try:
        return parse(value)
    except values.InvalidValue as exc:
        raise Refusal(
            INVALID_ATTRIBUTE_VALUE, f"{keyword}: {exc.comment}", [tag_for_keyword(keyword)]
        ) from exc


def _refuse(status: int, what: str, at: list) -> None:
    names = ", ".join(dict.fromkeys(_name(tag, path) for tag, path in at))
    raise Refusal(status, f"{what} {names}", [tag for tag, _ in at])


# --- N-SET ----------------------------------------------------------------------------


def _key(tag) -> str:
    """An attribute's key in DICOM JSON."""
    return f"{Tag(tag):08X}"


class Modification:
    """An N-SET modification list, as the service judges it (its Modification
    protocol): compared and merged with the stored instance key by key in DICOM JSON.
    Only the attributes sent, and those the final state and the changed columns need,
    are ever read back into a Dataset."""

    def __init__(self, modifications: Dataset):
        self.dataset = modifications
        sent = to_stored(modifications)
        sent.pop(_key(SPECIFIC_CHARACTER_SET), None)
        self.sent = sent

    def changes(self, stored: dict) -> bool:
        return any(stored.get(key) != value for key, value in self.sent.items())

    def applied_to(self, stored: dict) -> Revision:
        check_set(self.dataset, stored, sent=self.sent)
        merged = {**stored, **self.sent}
        changed = changed_columns(self.dataset)
        view = _view(self.dataset, stored, FINAL_STATE_KEYWORDS + _sources(changed))
        check_final_state(view)
        return Revision(attributes=merged, columns=columns(view, only=changed))


def check_set(modifications: Dataset, stored: dict, sent: dict | None = None) -> None:
    """An N-SET modification list (F.7.2.2) against the stored instance (DICOM JSON):
    sizes, values of their VR and a known status (0106), no attribute the table does
    not allow to be set (0105; one sent again with its stored value is not a change
    and passes), required values (0121)."""
    check_sizes(modifications)
    _check_values(modifications)
    sent = to_stored(modifications) if sent is None else sent
    not_allowed = [
        element.tag
        for element in modifications
        if element.tag != SPECIFIC_CHARACTER_SET
        and element.tag in RULES
        and RULES[element.tag].set is None
        and sent.get(_key(element.tag)) != stored.get(_key(element.tag))
    ]
    if not_allowed:
        _refuse(NO_SUCH_ATTRIBUTE, "May not be set:", [(tag, "") for tag in not_allowed])
    missing, empty = [], []
    present = [rule for rule in TABLE if rule.tag in modifications and rule.set is not None]
    _requirements(modifications, present, "set", missing, empty, path="")
    if missing or empty:
        _refuse(MISSING_ATTRIBUTE_VALUE, "No value in", missing + empty)
    status = modifications.get("PerformedProcedureStepStatus")
    if status is not None and str(status) not in STATUSES:
        raise Refusal(
            INVALID_ATTRIBUTE_VALUE,
            f"Unknown status {str(status)[:20]}",
            [tag_for_keyword("PerformedProcedureStepStatus")],
        )
    _check_parsed(modifications)


FINAL_STATE_KEYWORDS = (
    "PerformedProcedureStepStatus",
    "PerformedProcedureStepEndDate",
    "PerformedProcedureStepEndTime",
    "PerformedSeriesSequence",
)


def check_final_state(merged: Dataset) -> None:
    """What must be there when the status becomes COMPLETED or DISCONTINUED (the Final
    State column, notes 1 and 2): end date and time, and for COMPLETED at least one
    performed series with its protocol name and Series Instance UID (0121).

    Note 2 asks for a series on DISCONTINUED too; an exam abandoned before the first
    acquisition has none, and refusing its DISCONTINUED would leave the order in
    progress for ever, so a discontinued step may have none.
    """
    status = str(merged.get("PerformedProcedureStepStatus", ""))
    if status not in FINAL:
        return
    missing, empty = [], []
    final = [Rule(rule.keyword, rule.final, rule.final) for rule in TABLE if rule.final]
    if status == DISCONTINUED:
        final = [rule for rule in final if rule.keyword != "PerformedSeriesSequence"]
    _requirements(merged, final, "create", missing, empty, path="")
    if missing or empty:
        _refuse(MISSING_ATTRIBUTE_VALUE, f"{status} needs", missing + empty)
    for item in merged.get("PerformedSeriesSequence", []) or []:
        _requirements(item, PERFORMED_SERIES, "create", missing, empty, "PerformedSeriesSequence>")
    if missing or empty:
        _refuse(MISSING_ATTRIBUTE_VALUE, f"{status} needs", missing + empty)


# --- the stored instance -----------------------------------------------------------------


def to_stored(attributes: Dataset) -> dict:
    """DICOM JSON of the instance, its text already decoded, so stored as UTF-8."""
    stored = Dataset()
    stored.update(attributes)
    stored.SpecificCharacterSet = "ISO_IR 192"
    return stored.to_json_dict()


def from_stored(json_dict: dict) -> Dataset:
    return Dataset.from_json(json.dumps(json_dict))


def merged(stored: Dataset, modifications: Dataset) -> Dataset:
    """The instance after an N-SET, as a Dataset: each attribute sent replaces the
    stored one (a sequence is sent whole, F.7.2.2.2). Specific Character Set is not
    replaced: the values are decoded, the stored instance stays in UTF-8 (F.7.2.2.3)."""
    result = Dataset()
    result.update(stored)
    for element in modifications:
        if element.tag != SPECIFIC_CHARACTER_SET:
            result[element.tag] = element
    return result


def _view(modifications: Dataset, stored: dict, keywords) -> Dataset:
    """The instance after an N-SET, limited to `keywords`: the attributes sent, and
    the stored ones they do not replace, read from the stored JSON."""
    wanted = {_key(tag_for_keyword(k)) for k in keywords}
    kept = {
        key: value
        for key, value in stored.items()
        if key in wanted and Tag(int(key, 16)) not in modifications
    }
    view = from_stored(kept) if kept else Dataset()
    for element in modifications:
        if element.tag != SPECIFIC_CHARACTER_SET:
            view[element.tag] = element
    return view


# --- the mapping to the model -------------------------------------------------------------


def _text(dataset: Dataset, keyword: str) -> str:
    value = dataset.get(keyword)
    if value is None:
        return ""
    if isinstance(value, MultiValue):
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def scheduled_step_references(attributes: Dataset) -> list[StepReference]:
    """The items that name something: an item with only a Study Instance UID the
    modality made up (no worklist entry, F.7.2.1.2 note 3) still names a study."""
    references = []
    for item in attributes.get("ScheduledStepAttributesSequence", []) or []:
        reference = StepReference(
            study_instance_uid=_text(item, "StudyInstanceUID"),
            accession_number=_text(item, "AccessionNumber"),
            requested_procedure_id=_text(item, "RequestedProcedureID"),
            scheduled_procedure_step_id=_text(item, "ScheduledProcedureStepID"),
        )
        if reference != StepReference():
            references.append(reference)
    return references


def _first_reference(attributes: Dataset) -> StepReference:
    references = scheduled_step_references(attributes)
    return references[0] if references else StepReference()


def _zone(attributes: Dataset, tz: tzinfo) -> tzinfo:
    return _parsed(attributes, "TimezoneOffsetFromUTC", values.parse_offset) or tz


def _text_column(keyword: str, length: int | None = None):
    return (keyword,), lambda a, tz: _text(a, keyword)[:length]


# Each column: the attributes it is read from, and how (attributes, time zone).
COLUMNS = {
    "performed_procedure_step_id": _text_column("PerformedProcedureStepID", 16),
    "performed_procedure_step_status": _text_column("PerformedProcedureStepStatus"),
    "performed_station_ae_title": _text_column("PerformedStationAETitle", 16),
    "performed_station_name": _text_column("PerformedStationName", 16),
    "performed_location": _text_column("PerformedLocation", 16),
    "modality": _text_column("Modality", 16),
    "study_id": _text_column("StudyID", 16),
    "start": (
        ("PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime"),
        lambda a, tz: _moment(a, "Start", _zone(a, tz)),
    ),
    "end": (
        ("PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime"),
        lambda a, tz: _moment(a, "End", _zone(a, tz)),
    ),
    "performed_procedure_step_description": _text_column("PerformedProcedureStepDescription", 64),
    "performed_procedure_type_description": _text_column("PerformedProcedureTypeDescription", 64),
    "comments_on_the_performed_procedure_step": _text_column("CommentsOnThePerformedProcedureStep"),
    "procedure_code_sequence": (
        ("ProcedureCodeSequence",),
        lambda a, tz: code_items(a, "ProcedureCodeSequence"),
    ),
    "performed_protocol_code_sequence": (
        ("PerformedProtocolCodeSequence",),
        lambda a, tz: code_items(a, "PerformedProtocolCodeSequence"),
    ),
    "performed_procedure_step_discontinuation_reason_code_sequence": (
        ("PerformedProcedureStepDiscontinuationReasonCodeSequence",),
        lambda a, tz: code_items(a, "PerformedProcedureStepDiscontinuationReasonCodeSequence"),
    ),
    "performed_series_sequence": (
        ("PerformedSeriesSequence",),
        lambda a, tz: performed_series(a),
    ),
    "radiation_dose": ((*DOSE_KEYWORDS, "ExposureDoseSequence"), lambda a, tz: radiation_dose(a)),
    "patient_name": _text_column("PatientName", 194),
    "patient_id": _text_column("PatientID", 64),
    "issuer_of_patient_id": _text_column("IssuerOfPatientID", 64),
    "patient_birth_date": (("PatientBirthDate",), lambda a, tz: _day(a, "PatientBirthDate")),
    "patient_sex": _text_column("PatientSex", 16),
    "study_instance_uid": (
        ("ScheduledStepAttributesSequence",),
        lambda a, tz: _first_reference(a).study_instance_uid[:64],
    ),
    "accession_number": (
        ("ScheduledStepAttributesSequence",),
        lambda a, tz: _first_reference(a).accession_number[:16],
    ),
}
# A time zone offset sent later moves both times.
ZONED = ("start", "end")


def changed_columns(modifications: Dataset) -> list[str]:
    """The columns an N-SET changes: those read from an attribute it sends."""
    sent = {element.keyword for element in modifications}
    if "TimezoneOffsetFromUTC" in sent:
        sent |= {k for name in ZONED for k in COLUMNS[name][0]}
    return [name for name, (sources, _) in COLUMNS.items() if not sent.isdisjoint(sources)]


def _sources(names) -> tuple[str, ...]:
    keywords = [k for name in names for k in COLUMNS[name][0]]
    if any(name in ZONED for name in names):
        keywords.append("TimezoneOffsetFromUTC")
    return tuple(keywords)


def columns(attributes: Dataset, tz: tzinfo | None = None, only=None) -> dict:
    """The PerformedProcedureStep columns read from an instance (`only` those named)."""
    tz = tz or timezone.get_default_timezone()
    names = COLUMNS if only is None else only
    return {name: COLUMNS[name][1](attributes, tz) for name in names}


def _day(attributes: Dataset, keyword: str) -> date | None:
    parsed = _parsed(attributes, keyword, values.parse_date)
    return parsed[0] if parsed else None


def _moment(attributes: Dataset, which: str, zone: tzinfo) -> datetime | None:
    day = _day(attributes, f"PerformedProcedureStep{which}Date")
    times = _parsed(attributes, f"PerformedProcedureStep{which}Time", values.parse_time)
    if day is None:
        return None
    return datetime.combine(day, times[0] if times else time(0), tzinfo=zone)


def code_items(attributes: Dataset, keyword: str) -> list[dict]:
    items = []
    for item in attributes.get(keyword, []) or []:
        code = {
            "code_value": _text(item, "CodeValue")
            or _text(item, "LongCodeValue")
            or _text(item, "URNCodeValue"),
            "coding_scheme_designator": _text(item, "CodingSchemeDesignator"),
            "code_meaning": _text(item, "CodeMeaning"),
        }
        if _text(item, "CodingSchemeVersion"):
            code["coding_scheme_version"] = _text(item, "CodingSchemeVersion")
        items.append(code)
    return items


def performed_series(attributes: Dataset) -> list[dict]:
    series = []
    for item in attributes.get("PerformedSeriesSequence", []) or []:
        series.append(
            {
                "series_instance_uid": _text(item, "SeriesInstanceUID"),
                "series_description": _text(item, "SeriesDescription"),
                "protocol_name": _text(item, "ProtocolName"),
                "operators_name": _text(item, "OperatorsName"),
                "performing_physician_name": _text(item, "PerformingPhysicianName"),
                "retrieve_ae_title": _text(item, "RetrieveAETitle"),
                "number_of_images": len(item.get("ReferencedImageSequence", []) or []),
                "number_of_non_image_objects": len(
                    item.get("ReferencedNonImageCompositeSOPInstanceSequence", []) or []
                ),
            }
        )
    return series


def radiation_dose(attributes: Dataset) -> dict:
    dose = {}
    for keyword in DOSE_KEYWORDS:
        if keyword in attributes and not _is_empty(attributes[keyword]):
            dose[keyword] = _plain(attributes[keyword].value)
    exposures = attributes.get("ExposureDoseSequence")
    if exposures:
        dose["ExposureDoseSequence"] = len(exposures)
    return dose


def _plain(value):
    if isinstance(value, MultiValue):
        return [_plain(v) for v in value]
    if isinstance(value, (int, float)):
        return value
    return str(value)
