"""Performed procedure steps: what a modality reports it did (MPPS, PS3.4 Annex F;
IHE SWF RAD-6 "Modality Procedure Step In Progress" and RAD-7 "Completed"), and how
the scheduled steps and their order follow.

The DICOM handler (worklist/dicom/mpps.py) calls performed_step_create and
performed_step_update with the attribute lists as received; the requirements of the
SOP class are checked here through worklist/dicom/mpps_iod.py, under the row lock, so
two N-SETs racing on one instance are judged one after the other. The scheduler UI
calls performed_step_link for an exam that matched no scheduled step. Each function
writes in one transaction with its audit event.
"""

import hashlib
import json
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from pydicom.dataset import Dataset

from audit import services as audit
from audit.audited import audited
from audit.codes import Action, ObjectKind, Verb
from ris.errors import Conflict, Invalid
from worklist import audit_subjects
from worklist.dicom import mpps_iod
from worklist.models import (
    Order,
    OrderEvent,
    PerformedProcedureStep,
    PerformedStepStatus,
    ScheduledProcedureStep,
    StepStatus,
)

from .booking import order_refresh_status
from .history import record


class DuplicateInstance(Conflict):
    """An N-CREATE for a SOP Instance UID already used by a different step."""


class NoSuchInstance(LookupError):
    """An N-SET for a SOP Instance UID never created here."""


class NoLongerUpdatable(Conflict):
    """An N-SET changing a step already COMPLETED or DISCONTINUED (PS3.4 F.7.2.2.4)."""


@dataclass
class Outcome:
    """What a create or update did: the step, and whether anything changed (a retried
    message changes nothing and is answered as the first one was)."""

    performed_step: PerformedProcedureStep
    changed: bool


# --- N-CREATE -----------------------------------------------------------------


def digest(stored_json: dict) -> str:
    """A fingerprint of an attribute list as stored, to tell a retried N-CREATE from a
    clash."""
    canonical = json.dumps(stored_json, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


@transaction.atomic
def performed_step_create(
    *, sop_instance_uid: str, attributes: Dataset, calling_ae_title: str
) -> Outcome:
    """Record an N-CREATE: check it against the SOP class, store it, link it to the
    scheduled steps it names and start them (or keep it as unscheduled).

    The same N-CREATE sent again by the same AE (a modality retrying after a lost
    response) is answered with the step already stored; any other N-CREATE for a
    used SOP Instance UID is a DuplicateInstance.
    """
    mpps_iod.check_create(attributes)
    stored_json = mpps_iod.to_stored(attributes)
    fingerprint = digest(stored_json)
    existing = _existing(sop_instance_uid)
    if existing is not None:
        return _retried(existing, fingerprint, calling_ae_title)
    performed = PerformedProcedureStep(
        sop_instance_uid=sop_instance_uid,
        calling_ae_title=calling_ae_title[:16],
        create_digest=fingerprint,
    )
    _store(performed, attributes, stored_json=stored_json)
    steps, note = match_scheduled_steps(
        mpps_iod.scheduled_step_references(attributes), performed=performed
    )
    _matched(performed, steps, note)
    try:
        with transaction.atomic():
            performed.save()
    except IntegrityError:
        # The same instance created by a racing association since we looked.
        return _retried(_existing(sop_instance_uid), fingerprint, calling_ae_title)
    _attach(performed, steps)
    _audit(performed, Verb.CREATE, steps)
    return Outcome(performed, changed=True)


def _existing(sop_instance_uid: str) -> PerformedProcedureStep | None:
    return (
        PerformedProcedureStep.objects.select_for_update()
        .filter(sop_instance_uid=sop_instance_uid)
        .first()
    )


def _retried(existing, fingerprint: str, calling_ae_title: str) -> Outcome:
    if existing.create_digest == fingerprint and existing.calling_ae_title == calling_ae_title:
        return Outcome(existing, changed=False)
    raise DuplicateInstance(
        f"Performed procedure step {existing.sop_instance_uid} already exists.",
    )


# --- N-SET ----------------------------------------------------------------------


@transaction.atomic
def performed_step_update(
    *, sop_instance_uid: str, modifications: Dataset, calling_ae_title: str
) -> Outcome:
    """Record an N-SET: merge the modification list into the stored instance and let
    the scheduled steps and the order follow a change of status.

    Nothing may change once the step is COMPLETED or DISCONTINUED (NoLongerUpdatable);
    an N-SET that changes nothing (a retry) succeeds without effect. Attribute errors
    raise mpps_iod.Refusal with the DIMSE status to answer.
    """
    performed = (
        PerformedProcedureStep.objects.select_for_update()
        .filter(sop_instance_uid=sop_instance_uid)
        .first()
    )
    if performed is None:
        raise NoSuchInstance(sop_instance_uid)
    stored = mpps_iod.from_stored(performed.attributes)
    merged = mpps_iod.merged(stored, modifications)
    merged_json = mpps_iod.to_stored(merged)
    unchanged = merged_json == performed.attributes
    if performed.is_final and not unchanged:
        # Whatever the attributes, the answer after the end is 0110 (F.7.2.2.3).
        raise NoLongerUpdatable(
            f"Performed procedure step {sop_instance_uid} is "
            f"{performed.performed_procedure_step_status}."
        )
    mpps_iod.check_set(modifications, stored)
    if unchanged:
        return Outcome(performed, changed=False)
    mpps_iod.check_final_state(merged)
    was = performed.performed_procedure_step_status
    _store(performed, merged, stored_json=merged_json)
    performed.save()
    steps = list(
        performed.scheduled_procedure_steps.select_related("requested_procedure__order__patient")
    )
    if performed.performed_procedure_step_status != was:
        _follow(performed, steps)
    _audit(performed, Verb.UPDATE, steps)
    return Outcome(performed, changed=True)


# --- linking ----------------------------------------------------------------------


@audited(
    Action.PROCEDURE_RECORD,
    verb=Verb.UPDATE,
    patient=audit_subjects.performed_patient,
    objects=audit_subjects.performed_objects,
    patient_of_call=lambda kwargs: audit_subjects.performed_patient(kwargs["performed_step"]),
)
@transaction.atomic
def performed_step_link(
    *, performed_step: PerformedProcedureStep, steps: list[ScheduledProcedureStep], user=None
) -> PerformedProcedureStep:
    """Link an unscheduled performed step to scheduled steps of one order, chosen by a
    scheduler: the steps and the order then follow it as if it had matched."""
    performed = PerformedProcedureStep.objects.select_for_update().get(pk=performed_step.pk)
    if not performed.unscheduled:
        raise Conflict(
            f"Performed procedure step {performed.performed_procedure_step_id} is already "
            "linked to scheduled steps."
        )
    if not steps:
        raise Invalid({"scheduled_procedure_steps": ["Choose at least one scheduled step."]})
    steps = list(
        ScheduledProcedureStep.objects.select_related("requested_procedure__order__patient")
        .filter(pk__in=[step.pk for step in steps])
        .order_by("pk")
    )
    if len({step.requested_procedure.order_id for step in steps}) != 1:
        raise Invalid({"scheduled_procedure_steps": ["The steps must belong to one order."]})
    _matched(performed, steps)
    performed.save()
    _attach(performed, steps, user=user, linked_by_hand=True)
    return performed


# --- matching -----------------------------------------------------------------------


def match_scheduled_steps(
    references: list[mpps_iod.StepReference], *, performed: PerformedProcedureStep
) -> tuple[list[ScheduledProcedureStep], str]:
    """The scheduled steps the Scheduled Step Attributes Sequence names, and a note on
    the items that named none.

    Each item names a step by its Scheduled Procedure Step ID, else by accession
    number and requested procedure ID, else by Study Instance UID. Every identifier
    the item carries must agree with the step found, and the patient ID sent must be
    the order's: a step is linked on evidence, never on a guess; whatever does not
    match waits for a scheduler as an unscheduled exam.
    """
    matched, notes = {}, []
    for reference in references:
        step, note = _match_one(reference, performed)
        if step is None:
            notes.append(note)
        else:
            matched[step.pk] = step
    if not references:
        notes.append("No scheduled step attributes were sent.")
    return list(matched.values()), " ".join(dict.fromkeys(notes))[:255]


def _candidates(reference: mpps_iod.StepReference):
    steps = ScheduledProcedureStep.objects.select_related("requested_procedure__order__patient")
    if reference.scheduled_procedure_step_id:
        return steps.filter(scheduled_procedure_step_id=reference.scheduled_procedure_step_id)
    if reference.accession_number or reference.requested_procedure_id:
        return steps.filter(
            **{
                key: value
                for key, value in (
                    ("requested_procedure__order__accession_number", reference.accession_number),
                    (
                        "requested_procedure__requested_procedure_id",
                        reference.requested_procedure_id,
                    ),
                )
                if value
            }
        )
    if reference.study_instance_uid:
        return steps.filter(requested_procedure__study_instance_uid=reference.study_instance_uid)
    return steps.none()


def _match_one(reference, performed) -> tuple[ScheduledProcedureStep | None, str]:
    candidates = [step for step in _candidates(reference) if _agrees(reference, step) is None]
    if len(candidates) > 1:
        same_modality = [step for step in candidates if step.modality == performed.modality]
        candidates = same_modality or candidates
    if not candidates:
        named = reference.describe()
        first = next(iter(_candidates(reference)), None)
        reason = _agrees(reference, first) if first is not None else "matches no scheduled step"
        return None, f"{named}: {reason}."
    if len(candidates) > 1:
        return None, f"{reference.describe()}: matches several scheduled steps."
    step = candidates[0]
    patient = step.requested_procedure.order.patient
    if performed.patient_id and (
        performed.patient_id != patient.patient_id
        or (
            performed.issuer_of_patient_id
            and patient.issuer_of_patient_id
            and performed.issuer_of_patient_id != patient.issuer_of_patient_id
        )
    ):
        return None, f"{reference.describe()}: the patient ID differs from the order's."
    return step, ""


def _agrees(reference: mpps_iod.StepReference, step: ScheduledProcedureStep) -> str | None:
    """None when every identifier the reference carries is the step's, else which not."""
    procedure = step.requested_procedure
    pairs = (
        ("accession number", reference.accession_number, procedure.order.accession_number),
        (
            "requested procedure ID",
            reference.requested_procedure_id,
            procedure.requested_procedure_id,
        ),
        ("Study Instance UID", reference.study_instance_uid, procedure.study_instance_uid),
    )
    for name, sent, stored in pairs:
        if sent and sent != stored:
            return f"the {name} differs from the scheduled step's"
    return None


# --- what follows -------------------------------------------------------------------


def _store(
    performed: PerformedProcedureStep, attributes: Dataset, stored_json: dict | None = None
) -> None:
    """The instance as DICOM JSON (`stored_json` when the caller has it already) and
    the columns read from it."""
    performed.attributes = stored_json or mpps_iod.to_stored(attributes)
    for name, value in mpps_iod.columns(attributes).items():
        setattr(performed, name, value)


def _matched(performed, steps, note: str = "") -> None:
    """What the match gives the performed step: its patient and identifiers, or the
    reason it waits unscheduled."""
    performed.unscheduled = not steps
    performed.match_note = "" if steps else note
    if steps:
        first = steps[0].requested_procedure
        performed.matched_patient = first.order.patient
        performed.accession_number = performed.accession_number or first.order.accession_number
        performed.study_instance_uid = performed.study_instance_uid or first.study_instance_uid


def _attach(performed, steps, *, user=None, linked_by_hand: bool = False) -> None:
    if not steps:
        return
    through = PerformedProcedureStep.scheduled_procedure_steps.through
    through.objects.bulk_create(
        [through(performedprocedurestep=performed, scheduledprocedurestep=step) for step in steps]
    )
    _follow(performed, steps, user=user, linked_by_hand=linked_by_hand)


def step_status_from(performed_statuses: set[str]) -> str:
    """A scheduled step's status from those of the performed steps that perform it
    (several, in the group case): in progress while any is, completed when any
    completed, discontinued when all were."""
    if PerformedStepStatus.IN_PROGRESS in performed_statuses:
        return StepStatus.IN_PROGRESS
    if PerformedStepStatus.COMPLETED in performed_statuses:
        return StepStatus.COMPLETED
    return StepStatus.DISCONTINUED


def _follow(performed, steps, *, user=None, linked_by_hand: bool = False) -> None:
    """The scheduled steps and their orders take the status the performed steps give
    them; each order's history says what the modality reported.

    The orders are locked first: every writer of a step locks its order before it
    (step_update, order_cancel), so the order lock guards the steps too."""
    orders = _lock_orders(steps)
    changes: dict[str, list[int]] = {}
    for step_id, (status, performed_statuses) in _step_statuses(steps).items():
        new = step_status_from(performed_statuses)
        if new != status:
            changes.setdefault(new, []).append(step_id)
    for status, step_ids in changes.items():
        ScheduledProcedureStep.objects.filter(pk__in=step_ids).update(
            scheduled_procedure_step_status=status, updated_at=timezone.now()
        )
    for order in orders:
        kind, detail = _history_line(performed, steps, order, linked_by_hand)
        record(order, kind, user=user if linked_by_hand else None, detail=detail)
        order_refresh_status(order, user=user)


def _lock_orders(steps) -> list[Order]:
    order_ids = sorted({step.requested_procedure.order_id for step in steps})
    return list(Order.objects.select_for_update().filter(pk__in=order_ids).order_by("pk"))


def _step_statuses(steps) -> dict[int, tuple[str, set[str]]]:
    """Each step's status and the statuses of the performed steps linked to it."""
    rows = ScheduledProcedureStep.objects.filter(pk__in=[step.pk for step in steps]).values_list(
        "pk",
        "scheduled_procedure_step_status",
        "performed_procedure_steps__performed_procedure_step_status",
    )
    statuses: dict[int, tuple[str, set[str]]] = {}
    for step_id, status, performed_status in rows:
        statuses.setdefault(step_id, (status, set()))[1].add(performed_status)
    return {step_id: (status, found - {None}) for step_id, (status, found) in statuses.items()}


def _history_line(performed, steps, order, linked_by_hand) -> tuple[str, str]:
    names = ", ".join(
        step.scheduled_procedure_step_id
        for step in steps
        if step.requested_procedure.order_id == order.pk
    )
    what = (
        f"Performed step {performed.performed_procedure_step_id} on "
        f"{performed.performed_station_ae_title}: {performed.performed_procedure_step_status}"
        f" ({names})"
    )
    if linked_by_hand:
        return OrderEvent.Kind.LINKED, f"Linked: {what}"
    return OrderEvent.Kind.PERFORMED, what


def _audit(performed, verb: Verb, steps) -> None:
    """One Procedure Record event per MPPS message that changed something, naming the
    patient (as sent, and the order's) and the instance; the calling AE and address
    come from the DICOM context the handler binds."""
    patients = (
        [(performed.patient_id, performed.issuer_of_patient_id)] if performed.patient_id else []
    )
    patients += [step.requested_procedure.order.patient for step in steps]
    objects = audit_subjects.performed_objects(performed) + [
        (ObjectKind.SCHEDULED_PROCEDURE_STEP_ID, step.scheduled_procedure_step_id) for step in steps
    ]
    audit.record(
        Action.PROCEDURE_RECORD,
        verb=verb,
        patients=patients,
        objects=objects,
        detail=f"MPPS {performed.performed_procedure_step_status} "
        f"{performed.performed_procedure_step_id}",
    )
