"""Modality Performed Procedure Step SCP (1.2.840.10008.3.1.2.3.3, PS3.4 F.7):
N-CREATE when the exam starts, N-SET as it goes and when it ends. The handlers read
the request, call worklist.services.performed_steps and answer its outcome as a DIMSE status.

Failures name the attributes at fault in Error Comment (0000,0902) and Attribute
Identifier List (0000,1005); a step that may no longer be updated answers 0110 with
Error ID (0000,0903) A710 (F.7.2.2.4). pynetdicom sends no data set with a failure,
so the Attribute List that PS3.7 allows with 0106 and 0121 is not sent.
"""

import logging

from django.db import DatabaseError, close_old_connections, connections
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import dimse_messages, dimse_primitives, evt

from audit import context as audit_context
from audit import services as audit_services
from audit.codes import Action, ObjectKind, Outcome, Verb
from worklist import vr
from worklist.services import performed_steps

from . import mpps_iod
from .mpps_iod import Refusal

logger = logging.getLogger(__name__)

INVALID_SOP_INSTANCE = 0x0117
NOT_AUTHORIZED = 0x0124


def _answer_attribute_identifiers_in_n_create() -> None:
    """PS3.7 Annex C puts the tags of a 0105 / 0120 failure in Attribute Identifier
    List (0000,1005) of the response; pynetdicom 3.0 carries that field in N-SET-RSP
    only. Add it to N-CREATE-RSP the same way (command set and primitive)."""
    keywords = dimse_messages._COMMAND_SET_KEYWORDS["N-CREATE-RSP"]
    if "AttributeIdentifierList" not in keywords:
        dimse_messages._COMMAND_SET_KEYWORDS["N-CREATE-RSP"] = (
            *keywords,
            "AttributeIdentifierList",
        )
    primitive = dimse_primitives.N_CREATE
    if "AttributeIdentifierList" not in primitive.STATUS_OPTIONAL_KEYWORDS:
        primitive.AttributeIdentifierList = None  # as N_SET has it: a plain attribute
        primitive.STATUS_OPTIONAL_KEYWORDS = (
            *primitive.STATUS_OPTIONAL_KEYWORDS,
            "AttributeIdentifierList",
        )


_answer_attribute_identifiers_in_n_create()


def status_of(refusal: Refusal) -> Dataset:
    answer = Dataset()
    answer.Status = refusal.status
    answer.ErrorComment = refusal.comment
    if refusal.error_id is not None:
        answer.ErrorID = refusal.error_id
    if refusal.tags:
        answer.AttributeIdentifierList = refusal.tags
    return answer


def handle_create(event: evt.Event):
    """EVT_N_CREATE. The association's thread outlives no request: its database
    connection is closed when the answer is ready."""
    close_old_connections()
    try:
        return _create(event)
    finally:
        connections.close_all()


def handle_set(event: evt.Event):
    """EVT_N_SET."""
    close_old_connections()
    try:
        return _set(event)
    finally:
        connections.close_all()


def _create(event: evt.Event):
    assoc = event.assoc
    requested_uid = event.request.AffectedSOPInstanceUID
    uid = str(requested_uid) if requested_uid else generate_uid()
    with audit_context.dicom(assoc, role="modality", detail=f"MPPS N-CREATE {uid}"):
        try:
            _check_uid(uid)
            attributes = _read(event, "attribute_list")
            outcome = performed_steps.performed_step_create(
                sop_instance_uid=uid, attributes=attributes, calling_ae_title=_calling(assoc)
            )
        except Exception as exc:  # noqa: BLE001 - a peer never sees a traceback
            return _failure(assoc, "N-CREATE", uid, exc, event), None
    _log("N-CREATE", assoc, outcome)
    if requested_uid:
        return mpps_iod.SUCCESS, None
    answer = Dataset()
    answer.AffectedSOPInstanceUID = uid
    return mpps_iod.SUCCESS, answer


def _set(event: evt.Event):
    assoc = event.assoc
    uid = str(event.request.RequestedSOPInstanceUID)
    with audit_context.dicom(assoc, role="modality", detail=f"MPPS N-SET {uid}"):
        try:
            modifications = _read(event, "modification_list")
            outcome = performed_steps.performed_step_update(
                sop_instance_uid=uid, modifications=modifications, calling_ae_title=_calling(assoc)
            )
        except Exception as exc:  # noqa: BLE001
            return _failure(assoc, "N-SET", uid, exc, event), None
    _log("N-SET", assoc, outcome)
    return mpps_iod.SUCCESS, None


def _calling(assoc) -> str:
    return str(assoc.requestor.ae_title).strip()


def _check_uid(uid: str) -> None:
    try:
        vr.validate_ui(uid)
    except Exception as exc:
        raise Refusal(INVALID_SOP_INSTANCE, f"Not a UID: {uid[:50]}") from exc


def _read(event: evt.Event, name: str) -> Dataset:
    try:
        dataset = getattr(event, name)
        dataset.decode()
        return dataset
    except Exception as exc:
        raise Refusal(mpps_iod.PROCESSING_FAILURE, f"Cannot read the {name}: {exc}") from exc


REFUSALS = {
    performed_steps.DuplicateInstance: lambda exc: Refusal(
        mpps_iod.DUPLICATE_SOP_INSTANCE, "SOP Instance UID already used"
    ),
    performed_steps.NoSuchInstance: lambda exc: Refusal(
        mpps_iod.NO_SUCH_SOP_INSTANCE, "No such performed procedure step"
    ),
    performed_steps.NoLongerUpdatable: lambda exc: Refusal(
        mpps_iod.PROCESSING_FAILURE,
        "Performed Procedure Step Object may no longer be updated",
        error_id=mpps_iod.MAY_NO_LONGER_BE_UPDATED,
    ),
}


def _failure(assoc, operation: str, uid: str, exc: Exception, event) -> Dataset:
    """The status for a refused or failed request, logged and audited; the association
    stays up for the next request."""
    if isinstance(exc, Refusal):
        refusal = exc
    elif type(exc) in REFUSALS:
        refusal = REFUSALS[type(exc)](exc)
    elif isinstance(exc, DatabaseError):
        logger.exception("MPPS %s %s: database unavailable", operation, uid)
        refusal = Refusal(mpps_iod.PROCESSING_FAILURE, "The RIS database is unavailable")
    else:
        logger.exception("MPPS %s %s failed", operation, uid)
        refusal = Refusal(mpps_iod.PROCESSING_FAILURE, "Cannot process the request")
    logger.warning(
        "MPPS %s %s from %s refused: 0x%04X %s",
        operation,
        uid,
        _calling(assoc),
        refusal.status,
        refusal.comment,
    )
    _audit_refusal(operation, uid, refusal, event)
    return status_of(refusal)


def _audit_refusal(operation: str, uid: str, refusal: Refusal, event) -> None:
    """A refused message is recorded too, naming the patient ID it carried if any;
    failing to record it must not hide the reason from the modality."""
    try:
        dataset = event.attribute_list if operation == "N-CREATE" else Dataset()
        patient_id = str(dataset.get("PatientID", "") or "")
        issuer = str(dataset.get("IssuerOfPatientID", "") or "")
        audit_services.record(
            Action.PROCEDURE_RECORD,
            verb=Verb.CREATE if operation == "N-CREATE" else Verb.UPDATE,
            outcome=Outcome.MINOR_FAILURE,
            patients=[(patient_id, issuer)] if patient_id else [],
            objects=[(ObjectKind.SOP_INSTANCE_UID, uid)],
            detail=f"MPPS {operation} {uid} refused: 0x{refusal.status:04X} {refusal.comment}",
        )
    except Exception:  # noqa: BLE001
        logger.exception("Cannot audit a refused MPPS %s %s", operation, uid)


def _log(operation: str, assoc, outcome: performed_steps.Outcome) -> None:
    step = outcome.performed_step
    logger.info(
        "MPPS %s %s from %s: %s%s%s",
        operation,
        step.sop_instance_uid,
        _calling(assoc),
        step.performed_procedure_step_status,
        " (unscheduled)" if step.unscheduled else "",
        "" if outcome.changed else " (repeated, nothing changed)",
    )
