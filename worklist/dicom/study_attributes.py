"""The DICOM-to-model mapping of arriving studies, in one place: the patient, study
and series attributes of a stored instance's header or of a PACS's C-FIND answer, as
the field names of worklist.models.Study and Series.

A value that does not parse (a date in the wrong form, a number that is not one) is
left out rather than refusing the instance: the images matter more than one header
field, and the study's exceptions show what is missing.
"""

from datetime import date, datetime, time

from pydicom.dataset import Dataset


def text(dataset: Dataset, keyword: str, length: int = 64) -> str:
    try:
        value = dataset.get(keyword)
    except Exception:  # noqa: BLE001 - an undecodable value is no value
        return ""
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        value = "\\".join(str(v) for v in value)
    return str(value).strip()[:length]


def parse_date(value: str) -> date | None:
    value = (value or "").strip().replace(".", "")
    try:
        return datetime.strptime(value, "%Y%m%d").date() if len(value) == 8 else None
    except ValueError:
        return None


def parse_time(value: str) -> time | None:
    value = (value or "").strip().replace(":", "")
    whole, _, fraction = value.partition(".")
    if len(whole) not in (2, 4, 6) or not whole.isdigit():
        return None
    parts = [int(whole[i : i + 2]) for i in range(0, len(whole), 2)] + [0, 0]
    micro = int((fraction + "000000")[:6]) if fraction.isdigit() else 0
    try:
        return time(parts[0], parts[1], min(parts[2], 59), micro)
    except ValueError:
        return None


def parse_int(value: str) -> int | None:
    try:
        return int(str(value).strip().split("\\")[0])
    except (TypeError, ValueError):
        return None


def patient_fields(dataset: Dataset) -> dict:
    return {
        "patient_id": text(dataset, "PatientID"),
        "issuer_of_patient_id": text(dataset, "IssuerOfPatientID"),
        "patient_name": text(dataset, "PatientName", 194),
        "patient_birth_date": parse_date(text(dataset, "PatientBirthDate")),
        "patient_sex": text(dataset, "PatientSex", 16).upper(),
    }


def study_fields(dataset: Dataset) -> dict:
    return {
        "accession_number": text(dataset, "AccessionNumber", 16),
        "study_id": text(dataset, "StudyID", 16),
        "study_date": parse_date(text(dataset, "StudyDate")),
        "study_time": parse_time(text(dataset, "StudyTime")),
        "study_description": text(dataset, "StudyDescription"),
        "referring_physician_name": text(dataset, "ReferringPhysicianName", 194),
    }


def series_fields(dataset: Dataset) -> dict:
    return {
        "series_number": parse_int(text(dataset, "SeriesNumber")),
        "modality": text(dataset, "Modality", 16).upper(),
        "series_description": text(dataset, "SeriesDescription"),
        "body_part_examined": text(dataset, "BodyPartExamined", 16),
        "protocol_name": text(dataset, "ProtocolName"),
        "station_name": text(dataset, "StationName", 16),
        "series_date": parse_date(text(dataset, "SeriesDate")),
        "series_time": parse_time(text(dataset, "SeriesTime")),
        "performed_procedure_step_id": text(dataset, "PerformedProcedureStepID", 16),
    }
