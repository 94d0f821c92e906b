"""The PACS poll: Study Root C-FIND (PS3.4 C.6.2) to the configured PACS
(RIS_PACS_AE_TITLE at RIS_PACS_HOST:RIS_PACS_PORT) for the studies of the last
RIS_PACS_POLL_HOURS, then, for each study new or with a new number of instances, a
SERIES level query for its series and their counts. What it finds goes to the same
intake as a notification would (worklist.services.studies.instances_announced), so a
study the PACS holds arrives in the RIS even if no modality sent it here.

One association per poll; a PACS that does not answer or refuses is reported in the
result (and the task's log), nothing else changes.
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.utils import timezone
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from worklist.models import ArrivalSource, Study
from worklist.services import studies

from . import study_attributes

logger = logging.getLogger(__name__)

PENDING = (0xFF00, 0xFF01)

STUDY_KEYS = (
    "PatientID",
    "IssuerOfPatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "StudyID",
    "StudyDescription",
    "ReferringPhysicianName",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)
SERIES_KEYS = (
    "Modality",
    "SeriesNumber",
    "SeriesDescription",
    "BodyPartExamined",
    "ProtocolName",
    "StationName",
    "SeriesDate",
    "SeriesTime",
    "PerformedProcedureStepID",
    "NumberOfSeriesRelatedInstances",
)


@dataclass
class PollResult:
    found: int = 0
    changed: int = 0
    error: str = ""

    def summary(self) -> dict:
        return {"found": self.found, "changed": self.changed, "error": self.error}


def configured() -> bool:
    return bool(settings.RIS_PACS_HOST and settings.RIS_PACS_AE_TITLE)


def study_query(since: date) -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.SpecificCharacterSet = "ISO_IR 192"
    query.StudyInstanceUID = ""
    for keyword in STUDY_KEYS:
        setattr(query, keyword, "")
    query.StudyDate = f"{since:%Y%m%d}-"
    return query


def series_query(study_instance_uid: str) -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = "SERIES"
    query.SpecificCharacterSet = "ISO_IR 192"
    query.StudyInstanceUID = study_instance_uid
    query.SeriesInstanceUID = ""
    for keyword in SERIES_KEYS:
        setattr(query, keyword, "")
    return query


def poll(*, now: datetime | None = None) -> PollResult:
    """Ask the PACS and feed the intake; returns what it found and changed."""
    if not configured():
        return PollResult(error="no PACS configured (RIS_PACS_HOST, RIS_PACS_AE_TITLE)")
    now = now or timezone.now()
    since = (timezone.localtime(now) - timedelta(hours=settings.RIS_PACS_POLL_HOURS)).date()
    ae = AE(ae_title=settings.RIS_AE_TITLE)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    ae.acse_timeout = settings.RIS_DICOM_ACSE_TIMEOUT
    ae.dimse_timeout = settings.RIS_DICOM_DIMSE_TIMEOUT
    ae.network_timeout = settings.RIS_DICOM_NETWORK_TIMEOUT
    assoc = ae.associate(
        settings.RIS_PACS_HOST, settings.RIS_PACS_PORT, ae_title=settings.RIS_PACS_AE_TITLE
    )
    if not assoc.is_established:
        logger.warning(
            "PACS %s at %s:%s did not accept the poll",
            settings.RIS_PACS_AE_TITLE,
            settings.RIS_PACS_HOST,
            settings.RIS_PACS_PORT,
        )
        return PollResult(error="the PACS did not accept the association")
    try:
        return _poll(assoc, since)
    finally:
        assoc.release()


def _poll(assoc, since: date) -> PollResult:
    found = list(_find(assoc, study_query(since)))
    uids = [study_attributes.text(ds, "StudyInstanceUID") for ds in found]
    reported = dict(
        Study.objects.filter(study_instance_uid__in=uids).values_list(
            "study_instance_uid", "reported_instances"
        )
    )
    result = PollResult(found=len(found))
    for uid, answer in zip(uids, found, strict=True):
        count = study_attributes.parse_int(
            study_attributes.text(answer, "NumberOfStudyRelatedInstances")
        )
        if not uid or (uid in reported and reported[uid] == count):
            continue  # known, and nothing new on the PACS
        series = [
            studies.AnnouncedSeries(
                series_instance_uid=study_attributes.text(item, "SeriesInstanceUID"),
                attributes=study_attributes.series_fields(item),
                reported_instances=study_attributes.parse_int(
                    study_attributes.text(item, "NumberOfSeriesRelatedInstances")
                ),
            )
            for item in _find(assoc, series_query(uid))
            if study_attributes.text(item, "SeriesInstanceUID")
        ]
        studies.instances_announced(
            study_instance_uid=uid,
            series=series,
            calling_ae_title=settings.RIS_PACS_AE_TITLE,
            source=ArrivalSource.POLL,
            attributes=study_attributes.patient_fields(answer)
            | study_attributes.study_fields(answer),
            reported_instances=count,
        )
        result.changed += 1
    return result


def _find(assoc, query: Dataset) -> Iterator[Dataset]:
    for status, identifier in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
        if status is None:
            raise ConnectionError("The PACS stopped answering")
        if status.Status in PENDING and identifier is not None:
            yield identifier
        elif status.Status not in PENDING and status.Status != 0x0000:
            raise ConnectionError(f"The PACS answered 0x{status.Status:04X}")
