"""Modality Performed Procedure Step SCP (1.2.840.10008.3.1.2.3.3, PS3.4 F.7):
N-CREATE when the exam starts, N-SET as it goes and when it ends. The handlers read
the request into the service's plain input (mpps_iod), call the service with the
caller's station scope, and answer its outcome as a DIMSE status.

Their collaborators (the service functions, the caller's access, the audit of
refusals) come in as a Receiver, as pynetdicom's apps/qrscp passes its handlers
theirs, so tests drive a handler with a plain event object and no socket.

Failures name the attributes at fault in Error Comment (0000,0902) and Attribute
Identifier List (0000,1005); a step that may no longer be updated answers 0110 with
Error ID (0000,0903) A710 (F.7.2.2.4); a caller reporting for a station outside its
scope gets 0124 Refused: Not authorized. pynetdicom sends no data set with a failure,
so the Attribute List that PS3.7 allows with 0106 and 0121 is not sent. Every refusal
is one log line (no traceback) and one audit event.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError, close_old_connections, connections
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import dimse_messages, dimse_primitives, evt

from audit import context as audit_context
from audit import services as audit_services
from audit.codes import Action, ObjectKind, Outcome, Verb
from worklist import vr
from worklist.services import performed_steps

from . import mpps_iod, policy, redact
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


def station_scope(access) -> frozenset[str] | None:
    """The AE titles of the stations a caller may report for; None: every station."""
    if access.stations is None:
        return None
    return frozenset(station.scheduled_station_ae_title for station in access.stations)


def audit_refusal(operation: str, uid: str, refusal: Refusal, patient) -> None:
    """A message refused before the service saw it, as a failure event naming the
    patient ID it carried, if it could be read."""
    audit_services.record(
        Action.PROCEDURE_RECORD,
        verb=Verb.CREATE if operation == "N-CREATE" else Verb.UPDATE,
        outcome=Outcome.MINOR_FAILURE,
        patients=[patient] if patient else [],
        objects=[(ObjectKind.SOP_INSTANCE_UID, uid)],
        detail=f"MPPS {operation} {uid} refused: 0x{refusal.status:04X} {refusal.comment}",
    )


@dataclass(frozen=True)
class Receiver:
    """What the handlers call."""

    create: Callable = performed_steps.performed_step_create
    update: Callable = performed_steps.performed_step_update
    access: Callable = policy.granted
    audit_refusal: Callable = audit_refusal


RECEIVER = Receiver()


def status_of(refusal: Refusal) -> Dataset:
    answer = Dataset()
    answer.Status = refusal.status
    answer.ErrorComment = refusal.comment
    if refusal.error_id is not None:
        answer.ErrorID = refusal.error_id
    if refusal.tags:
        answer.AttributeIdentifierList = refusal.tags
    return answer


def handle_create(event: evt.Event, receiver: Receiver = RECEIVER):
    """EVT_N_CREATE. The association's thread outlives no request: its database
    connection is closed when the answer is ready."""
    close_old_connections()
    try:
        return _create(event, receiver)
    finally:
        connections.close_all()


def handle_set(event: evt.Event, receiver: Receiver = RECEIVER):
    """EVT_N_SET."""
    close_old_connections()
    try:
        return _set(event, receiver)
    finally:
        connections.close_all()


class _Refused(Exception):
    """A message refused before the service was called: the handler audits it."""

    def __init__(self, refusal: Refusal, patient=None):
        super().__init__(refusal.comment)
        self.refusal = refusal
        self.patient = patient


def _create(event: evt.Event, receiver: Receiver):
    assoc = event.assoc
    requested_uid = event.request.AffectedSOPInstanceUID
    uid = str(requested_uid) if requested_uid else generate_uid()
    with audit_context.dicom(assoc, role="modality", detail=f"MPPS N-CREATE {uid}"):
        try:
            access = _access(assoc, receiver)
            _check_uid(uid)
            attributes = _read(event, "attribute_list")
            report = _parsed(mpps_iod.read_create, attributes)
        except _Refused as refused:
            return _refused(assoc, "N-CREATE", uid, refused, receiver), None
        try:
            outcome = receiver.create(
                sop_instance_uid=uid,
                report=report,
                calling_ae_title=_calling(assoc),
                stations=station_scope(access),
            )
        except Exception as exc:  # noqa: BLE001 - a peer never sees a traceback
            return _failure(assoc, "N-CREATE", uid, exc), None
    _log("N-CREATE", assoc, outcome)
    if requested_uid:
        return mpps_iod.SUCCESS, None
    answer = Dataset()
    answer.AffectedSOPInstanceUID = uid
    return mpps_iod.SUCCESS, answer


def _set(event: evt.Event, receiver: Receiver):
    assoc = event.assoc
    uid = str(event.request.RequestedSOPInstanceUID)
    with audit_context.dicom(assoc, role="modality", detail=f"MPPS N-SET {uid}"):
        try:
            access = _access(assoc, receiver)
            modifications = _read(event, "modification_list")
            modification = _parsed(mpps_iod.Modification, modifications)
        except _Refused as refused:
            return _refused(assoc, "N-SET", uid, refused, receiver), None
        try:
            outcome = receiver.update(
                sop_instance_uid=uid,
                modification=modification,
                calling_ae_title=_calling(assoc),
                stations=station_scope(access),
            )
        except Exception as exc:  # noqa: BLE001
            return _failure(assoc, "N-SET", uid, exc), None
    _log("N-SET", assoc, outcome)
    return mpps_iod.SUCCESS, None


def _calling(assoc) -> str:
    return str(assoc.requestor.ae_title).strip()


def _access(assoc, receiver: Receiver):
    access = receiver.access(assoc)
    if access is None:
        raise _Refused(Refusal(NOT_AUTHORIZED, "Calling AE title not allowed"))
    return access


def _check_uid(uid: str) -> None:
    try:
        vr.validate_ui(uid)
    except Exception as exc:  # noqa: BLE001
        raise _Refused(Refusal(INVALID_SOP_INSTANCE, f"Not a UID: {uid[:50]}")) from exc


def _read(event: evt.Event, name: str) -> Dataset:
    """The attribute list, decoded: one that cannot be read is refused (0110)."""
    try:
        dataset = getattr(event, name)
        dataset.decode()
        return dataset
    except Exception as exc:  # noqa: BLE001 - whatever the peer sent
        what = f"{type(exc).__name__}: {exc}".replace("\n", " ")
        raise _Refused(
            Refusal(mpps_iod.PROCESSING_FAILURE, f"Cannot read the {name}: {what}")
        ) from exc


def _parsed(read, dataset: Dataset):
    """The message as the service's input; a refusal names the patient ID it carried."""
    try:
        return read(dataset)
    except Refusal as refusal:
        raise _Refused(refusal, _patient_in(dataset)) from refusal
    except Exception as exc:  # noqa: BLE001 - a value pydicom cannot even convert
        what = f"{type(exc).__name__}: {exc}".replace("\n", " ")
        refusal = Refusal(mpps_iod.INVALID_ATTRIBUTE_VALUE, f"Cannot read a value: {what}")
        raise _Refused(refusal, _patient_in(dataset)) from exc


def _patient_in(dataset: Dataset):
    try:
        patient_id = str(dataset.get("PatientID", "") or "")[:64]
        issuer = str(dataset.get("IssuerOfPatientID", "") or "")[:64]
    except Exception:  # noqa: BLE001
        return None
    return (patient_id, issuer) if patient_id else None


def _refused(assoc, operation: str, uid: str, refused: _Refused, receiver: Receiver) -> Dataset:
    _log_refusal(assoc, operation, uid, refused.refusal)
    try:
        receiver.audit_refusal(operation, uid, refused.refusal, refused.patient)
    except Exception as exc:  # noqa: BLE001 - the modality still learns why
        logger.error("Cannot audit a refused MPPS %s %s: %s", operation, uid, exc)
    return status_of(refused.refusal)


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
    performed_steps.OutsideScope: lambda exc: Refusal(
        NOT_AUTHORIZED, "Performed station outside the calling AE's scope"
    ),
}


def _failure(assoc, operation: str, uid: str, exc: Exception) -> Dataset:
    """The status for a message the service refused or failed on (the service's
    @audited has recorded it); the association stays up for the next message."""
    if isinstance(exc, Refusal):
        refusal = exc
    elif type(exc) in REFUSALS:
        refusal = REFUSALS[type(exc)](exc)
    elif isinstance(exc, DatabaseError):
        logger.error("MPPS %s %s: database unavailable: %s", operation, uid, exc)
        refusal = Refusal(mpps_iod.PROCESSING_FAILURE, "The RIS database is unavailable")
    else:
        logger.exception("MPPS %s %s failed", operation, uid)
        refusal = Refusal(mpps_iod.PROCESSING_FAILURE, "Cannot process the request")
    _log_refusal(assoc, operation, uid, refusal)
    return status_of(refusal)


def _log_refusal(assoc, operation: str, uid: str, refusal: Refusal) -> None:
    logger.warning(
        "MPPS %s %s from %s refused: 0x%04X %s",
        operation,
        uid[:64],
        _calling(assoc),
        refusal.status,
        redact.without_values(refusal.comment),
    )


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
