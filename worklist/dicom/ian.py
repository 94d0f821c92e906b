"""Instance Availability Notification SCP (1.2.840.10008.5.1.4.33, PS3.4 Annex R;
IHE RAD-49 "Instance Availability Notification"): an archive tells the RIS which
instances of a study it holds. The study is treated as arrived at the instance level
the notification lists (worklist.services.studies.instances_announced).

Checks (Table R.3.2-1, all type 1 but the Referenced Performed Procedure Step
Sequence): 0120 when Study Instance UID, Referenced Series Sequence or an item's UIDs,
Instance Availability or Retrieve AE Title are absent, 0121 when one is empty, 0106
when a UID is not one or the availability is not ONLINE, NEARLINE, OFFLINE or
UNAVAILABLE. A notification repeated changes nothing and is answered Success.
"""

import logging

from django.db import DatabaseError, close_old_connections, connections
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import evt

from audit import context as audit_context
from worklist.models import ArrivalSource
from worklist.services import studies

from . import store

logger = logging.getLogger(__name__)

SUCCESS = 0x0000
INVALID_ATTRIBUTE_VALUE = 0x0106
PROCESSING_FAILURE = 0x0110
MISSING_ATTRIBUTE = 0x0120
MISSING_ATTRIBUTE_VALUE = 0x0121
NOT_AUTHORIZED = 0x0124
AVAILABILITY = ("ONLINE", "NEARLINE", "OFFLINE", "UNAVAILABLE")


class Refusal(Exception):
    def __init__(self, status: int, comment: str):
        super().__init__(comment)
        self.status = status
        self.comment = comment


def handle_create(event: evt.Event):
    """EVT_N_CREATE of the IAN SOP class."""
    close_old_connections()
    try:
        return _create(event)
    finally:
        connections.close_all()


def _create(event: evt.Event):
    assoc = event.assoc
    requested_uid = event.request.AffectedSOPInstanceUID
    uid = str(requested_uid) if requested_uid else generate_uid()
    calling = str(assoc.requestor.ae_title).strip()
    with audit_context.dicom(assoc, role="archive", detail=f"IAN N-CREATE {uid}"):
        try:
            if store.caller_access(assoc) is None:
                raise Refusal(NOT_AUTHORIZED, "Calling AE title not recognized")
            study_uid, series = read_notification(event)
            study = studies.instances_announced(
                study_instance_uid=study_uid,
                series=series,
                calling_ae_title=calling,
                source=ArrivalSource.IAN,
            )
        except Refusal as refusal:
            logger.warning("IAN %s from %s refused: %s", uid, calling, refusal.comment)
            return _failure(refusal.status, refusal.comment), None
        except DatabaseError:
            logger.exception("IAN %s from %s: database unavailable", uid, calling)
            return _failure(PROCESSING_FAILURE, "The RIS database is unavailable"), None
        except Exception:
            logger.exception("IAN %s from %s failed", uid, calling)
            return _failure(PROCESSING_FAILURE, "Cannot process the notification"), None
    logger.info(
        "IAN %s from %s: study %s, %s instances known",
        uid,
        calling,
        study.study_instance_uid,
        study.number_of_study_related_instances,
    )
    if requested_uid:
        return SUCCESS, None
    answer = Dataset()
    answer.AffectedSOPInstanceUID = uid
    return SUCCESS, answer


def _failure(status: int, comment: str) -> Dataset:
    answer = Dataset()
    answer.Status = status
    answer.ErrorComment = comment[:64]
    return answer


def read_notification(event: evt.Event) -> tuple[str, list[studies.AnnouncedSeries]]:
    try:
        dataset = event.attribute_list
        dataset.decode()
    except Exception as exc:
        raise Refusal(PROCESSING_FAILURE, "Cannot read the attribute list") from exc
    return parse_notification(dataset)


def parse_notification(dataset: Dataset) -> tuple[str, list[studies.AnnouncedSeries]]:
    """The study UID and the series and instances an IAN lists, checked against
    Table R.3.2-1; pure, so it is tested without a network."""
    study_uid = _uid(dataset, "StudyInstanceUID")
    items = _required(dataset, "ReferencedSeriesSequence")
    series = []
    for item in items:
        instances = tuple(
            studies.AnnouncedInstance(
                sop_class_uid=_uid(sop, "ReferencedSOPClassUID"),
                sop_instance_uid=_uid(sop, "ReferencedSOPInstanceUID"),
                instance_availability=_availability(sop),
                retrieve_ae_title=str(_required(sop, "RetrieveAETitle")).strip(),
            )
            for sop in _required(item, "ReferencedSOPSequence")
        )
        series.append(
            studies.AnnouncedSeries(
                series_instance_uid=_uid(item, "SeriesInstanceUID"), instances=instances
            )
        )
    return study_uid, series


def _required(dataset: Dataset, keyword: str):
    if keyword not in dataset:
        raise Refusal(MISSING_ATTRIBUTE, f"{keyword} missing")
    value = dataset.get(keyword)
    if (
        value is None
        or value == ""
        or (isinstance(value, list | tuple) and not value)
        or (hasattr(value, "__len__") and len(value) == 0)
    ):
        raise Refusal(MISSING_ATTRIBUTE_VALUE, f"{keyword} empty")
    return value


def _uid(dataset: Dataset, keyword: str) -> str:
    value = str(_required(dataset, keyword)).strip()
    if len(value) > 64 or not store.looks_like_uid(value):
        raise Refusal(INVALID_ATTRIBUTE_VALUE, f"{keyword} is not a UID")
    return value


def _availability(dataset: Dataset) -> str:
    value = str(_required(dataset, "InstanceAvailability")).strip().upper()
    if value not in AVAILABILITY:
        raise Refusal(INVALID_ATTRIBUTE_VALUE, f"InstanceAvailability {value[:16]} unknown")
    return value
