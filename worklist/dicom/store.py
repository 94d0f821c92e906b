"""Storage SCP (C-STORE, PS3.4 Annex B): every storage SOP class pynetdicom knows, in
the transfer syntax the sender chose (uncompressed, deflated, JPEG, JPEG-LS,
JPEG 2000, RLE...), accepted as sent and never transcoded.

The handler reads the header only (up to group 0040, never the pixel data), hands it
to worklist.services.studies.instance_received and answers Success once the record is
committed. Statuses (PS3.4 B.2.3): A700 out of resources (no room for the file, the
database unavailable), A900 a data set that does not match the request (SOP Instance
UID) or lacks the study and series UIDs, C000 a data set that cannot be read; each
failure carries the reason in Error Comment. The association stays up for the next
instance.
"""

import logging
import re
import zlib
from io import BytesIO

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections
from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset
from pydicom.uid import UID, AllTransferSyntaxes
from pynetdicom import evt
from pynetdicom.presentation import AllStoragePresentationContexts

from audit import context as audit_context
from worklist.services import studies

from . import policy, study_attributes

logger = logging.getLogger(__name__)

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
DATA_SET_DOES_NOT_MATCH = 0xA900
CANNOT_UNDERSTAND = 0xC000
NOT_AUTHORIZED = 0x0124

STORAGE_SOP_CLASSES = tuple(cx.abstract_syntax for cx in AllStoragePresentationContexts)

# Every transfer syntax pydicom knows, except JPIP's referenced pixel data (the
# pixels live on a JPIP server, not in the instance).
TRANSFER_SYNTAXES = tuple(ts for ts in AllTransferSyntaxes if "JPIP" not in ts.name)

# Attributes past group 0040 are not needed (and the pixel data is never read).
LAST_TAG_READ = 0x0040FFFF
AUDITED_STUDIES = "ris_store_audited_studies"


def handle_store(event: evt.Event):
    """EVT_C_STORE. The association's thread outlives no request: its database
    connection is given back when the answer is ready."""
    close_old_connections()
    try:
        return _store(event)
    finally:
        connections.close_all()


def caller_access(assoc):
    """The calling AE's grant under the listener's policy (a station, a known modality,
    a PACS registered as one; anyone while RIS_DICOM_STRICT_AE is off), decided when
    the association was requested; None: refused."""
    return policy.granted(assoc)


def failure(status: int, comment: str) -> Dataset:
    answer = Dataset()
    answer.Status = status
    answer.ErrorComment = comment[:64]
    return answer


def _store(event: evt.Event):
    assoc = event.assoc
    request = event.request
    uid = str(request.AffectedSOPInstanceUID or "")
    calling = str(assoc.requestor.ae_title).strip()
    with audit_context.dicom(assoc, role="modality", detail=f"C-STORE {uid}"):
        try:
            if caller_access(assoc) is None:
                logger.warning("C-STORE from unknown calling AE %s refused", calling)
                return failure(NOT_AUTHORIZED, "Calling AE title not recognized")
            header = read_header(event)
            audited = getattr(assoc, AUDITED_STUDIES, set())
            received = studies.instance_received(
                header=header,
                calling_ae_title=calling,
                transfer_syntax_uid=str(event.context.transfer_syntax),
                file_bytes=event.encoded_dataset if settings.RIS_STORE_FILES else None,
                audit_transfer=header.study_instance_uid not in audited,
            )
            audited.add(header.study_instance_uid)
            setattr(assoc, AUDITED_STUDIES, audited)
        except studies.StoreRefused as refused:
            logger.warning("C-STORE %s from %s refused: %s", uid, calling, refused.comment)
            return failure(refused.status, refused.comment)
        except DatabaseError:
            logger.exception("C-STORE %s from %s: database unavailable", uid, calling)
            return failure(OUT_OF_RESOURCES, "Out of resources: the RIS database is unavailable")
        except Exception:
            logger.exception("C-STORE %s from %s failed", uid, calling)
            return failure(CANNOT_UNDERSTAND, "Cannot process the instance")
    if not received.created:
        logger.info("C-STORE %s from %s: already held, nothing changed", uid, calling)
    return SUCCESS


def _before_group_0041(tag, vr_, length) -> bool:
    return tag > LAST_TAG_READ


def read_header(event: evt.Event) -> studies.InstanceHeader:
    """The instance's identifying and descriptive attributes, read from the bytes as
    received (inflated first when deflated), stopping before the pixel data."""
    request = event.request
    syntax = UID(str(event.context.transfer_syntax))
    raw = request.DataSet.getvalue()
    try:
        if syntax.is_deflated:
            raw = zlib.decompressobj(-zlib.MAX_WBITS).decompress(raw)
        dataset = read_dataset(
            BytesIO(raw),
            syntax.is_implicit_VR,
            syntax.is_little_endian,
            stop_when=_before_group_0041,
        )
        sop_instance_uid = str(request.AffectedSOPInstanceUID or "")
        sop_class_uid = str(request.AffectedSOPClassUID or "")
        sent_uid = study_attributes.text(dataset, "SOPInstanceUID")
        study_uid = study_attributes.text(dataset, "StudyInstanceUID")
        series_uid = study_attributes.text(dataset, "SeriesInstanceUID")
        header = studies.InstanceHeader(
            sop_instance_uid=sop_instance_uid,
            sop_class_uid=sop_class_uid,
            study_instance_uid=study_uid,
            series_instance_uid=series_uid,
            instance_number=study_attributes.parse_int(
                study_attributes.text(dataset, "InstanceNumber")
            ),
            patient=study_attributes.patient_fields(dataset),
            study=study_attributes.study_fields(dataset),
            series=study_attributes.series_fields(dataset),
        )
    except Exception as exc:
        raise studies.StoreRefused(CANNOT_UNDERSTAND, "Cannot read the data set") from exc
    if sent_uid and sent_uid != sop_instance_uid:
        raise studies.StoreRefused(
            DATA_SET_DOES_NOT_MATCH, "SOP Instance UID differs from the request's"
        )
    for name, value in (
        ("SOP Instance UID", sop_instance_uid),
        ("Study Instance UID", study_uid),
        ("Series Instance UID", series_uid),
    ):
        _check_uid(name, value)
    return header


def looks_like_uid(value: str) -> bool:
    """Digits and dots, at most 64 characters: a UID as far as filing it needs (leading
    zeros, wrong as they are, occur in the field and must not lose an image)."""
    return bool(_UID_CHARACTERS.fullmatch(value))


_UID_CHARACTERS = re.compile(r"[0-9]+(\.[0-9]+)*")


def _check_uid(name: str, value: str) -> None:
    if not value:
        raise studies.StoreRefused(DATA_SET_DOES_NOT_MATCH, f"{name} missing")
    if len(value) > 64 or not looks_like_uid(value):
        raise studies.StoreRefused(DATA_SET_DOES_NOT_MATCH, f"{name} is not a UID")
