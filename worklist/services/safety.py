"""Patient safety rules of booking: one patient is never in two rooms at once, and the
alerts that matter for the exam booked (contrast allergy, MR with an implant) are
acknowledged explicitly before the booking goes through.

The booking services (booking.order_create, order_schedule, order_update, step_update)
call these, so the
UI, the API and every other caller get the same answer: a Conflict (HTTP 409) that
names the other step or the alert to acknowledge.
"""

import re
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.utils import timezone

from audit import services as audit
from audit.codes import Action, EventType, Verb
from ris.errors import Conflict
from worklist import audit_subjects
from worklist.models import (
    OCCUPYING_STEP_STATUSES,
    Order,
    OrderEvent,
    Patient,
    PregnancyStatus,
    Procedure,
    ScheduledProcedureStep,
)
from worklist.names import display as person_name

from . import history

OVERLAP_PERMISSION = "worklist.allow_patient_overlap"


# --- the same patient in two places at once ----------------------------------------


def _overlapping(patient_pk: int, start: datetime, end: datetime, exclude: list[int]):
    return (
        ScheduledProcedureStep.objects.filter(
            requested_procedure__order__patient_id=patient_pk,
            scheduled_procedure_step_status__in=OCCUPYING_STEP_STATUSES,
            start__lt=end,
            end__gt=start,
        )
        .exclude(pk__in=exclude)
        .select_related("station", "requested_procedure__order")
        .order_by("start")
    )


def step_text(step: ScheduledProcedureStep) -> str:
    """'CT head at 09:00–09:15 in CT1 (step SPS1, accession A1)': a step as a person
    reads it."""
    procedure = (
        step.requested_procedure.requested_procedure_description
        or step.scheduled_procedure_step_description
        or step.modality
    )
    return (
        f"{procedure} on {timezone.localtime(step.start):%Y-%m-%d} at "
        f"{timezone.localtime(step.start):%H:%M}–{timezone.localtime(step.end):%H:%M} in "
        f"{step.station.scheduled_station_ae_title} (step {step.scheduled_procedure_step_id}, "
        f"accession {step.requested_procedure.order.accession_number})"
    )


def check_patient_free(
    *,
    patient: Patient,
    steps: list[ScheduledProcedureStep],
    allow_patient_overlap: bool = False,
    user=None,
    moved: bool = False,
) -> list[ScheduledProcedureStep]:
    """Refuse (Conflict, 409) when one of `steps`, just booked or moved, overlaps in time
    another scheduled or running step of the same patient, naming that step.

    With `allow_patient_overlap` the overlap is booked anyway, if `user` holds the
    permission (PermissionDenied otherwise; None is a system caller such as loaddemo);
    the override is written to the order's history (a booking's line, or a move's when
    `moved`) and the audit trail. Returns the other steps overlapped."""
    mine = [s.pk for s in steps]
    others = []
    for step in steps:
        for other in _overlapping(patient.pk, step.start, step.end, [step.pk]):
            if other.pk not in mine or other.pk > step.pk:
                others.append((step, other))
    if not others:
        return []
    if not allow_patient_overlap:
        step, other = others[0]
        raise Conflict(
            f"{person_name(patient.patient_name)} is already booked at that time: "
            f"{step_text(other)}.",
            rule="patient_overlap",
            conflicting_step=_step_reference(other),
        )
    if user is not None and not user.has_perm(OVERLAP_PERMISSION):
        raise PermissionDenied("Booking a patient into overlapping exams needs a permission.")
    kind = OrderEvent.Kind.RESCHEDULED if moved else OrderEvent.Kind.BOOKED
    for step, other in others:
        _record_override(patient, step, other, user, kind)
    return [other for _, other in others]


def _step_reference(step: ScheduledProcedureStep) -> dict:
    return {
        "id": step.pk,
        "scheduled_procedure_step_id": step.scheduled_procedure_step_id,
        "accession_number": step.requested_procedure.order.accession_number,
        "scheduled_station_ae_title": step.station.scheduled_station_ae_title,
        "start": step.start.isoformat(),
        "end": step.end.isoformat(),
    }


def _record_override(patient, step, other, user, kind) -> None:
    text = (
        f"Patient overlap allowed: {step.scheduled_procedure_step_id} overlaps "
        f"{other.scheduled_procedure_step_id}"
    )
    history.record(step.requested_procedure.order, kind, user=user, detail=text)
    audit.record(
        Action.PROCEDURE_RECORD,
        verb=Verb.UPDATE,
        patients=[patient],
        objects=audit_subjects.step_objects(step) + audit_subjects.step_objects(other),
        event_type=EventType.USE_OF_RESTRICTED_FUNCTION,
        detail=text,
    )


# --- alerts --------------------------------------------------------------------------

CONTRAST_ALLERGY = "CONTRAST_ALLERGY"
MR_IMPLANT = "MR_IMPLANT"

_CONTRAST_WORDS = re.compile(r"contrast|iod|gadolin|kontrast|KM\b", re.IGNORECASE)
_IMPLANT_WORDS = re.compile(
    r"pacemaker|implant|defibrillator|\bICD\b|neurostimulat|cochlear|metal|clip|stent|"
    r"schrittmacher",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Alert:
    """One thing to see before booking: `code` names the kind, `text` says it."""

    code: str
    label: str
    text: str
    needs_acknowledgement: bool = False


def patient_alerts(patient: Patient) -> list[Alert]:
    """What the desk must see about a patient: medical alerts, allergies, pregnancy
    status (when not 'not pregnant') and special needs, as recorded."""
    alerts = []
    if patient.medical_alerts:
        alerts.append(Alert("MEDICAL_ALERTS", "Medical alert", patient.medical_alerts))
    if patient.allergies:
        alerts.append(Alert("ALLERGIES", "Allergy", patient.allergies))
    if patient.pregnancy_status in (
        PregnancyStatus.POSSIBLY_PREGNANT,
        PregnancyStatus.DEFINITELY_PREGNANT,
        PregnancyStatus.UNKNOWN,
    ):
        alerts.append(
            Alert(
                "PREGNANCY",
                "Pregnancy",
                PregnancyStatus(patient.pregnancy_status).label,
            )
        )
    if patient.special_needs:
        alerts.append(Alert("SPECIAL_NEEDS", "Special needs", patient.special_needs))
    return alerts


def has_contrast_allergy(patient: Patient) -> bool:
    return bool(_CONTRAST_WORDS.search(patient.allergies or ""))


def has_implant_alert(patient: Patient) -> bool:
    return bool(_IMPLANT_WORDS.search(patient.medical_alerts or ""))


def booking_alerts(
    patient: Patient, procedure: Procedure | None, modality: str = ""
) -> list[Alert]:
    """The alerts that booking `procedure` for `patient` must acknowledge: a contrast
    procedure (catalogue flag) with a recorded contrast allergy; an MR procedure with
    an implant or pacemaker alert."""
    alerts = []
    if procedure is not None and procedure.uses_contrast and has_contrast_allergy(patient):
        alerts.append(
            Alert(
                CONTRAST_ALLERGY,
                "Contrast allergy",
                f"{procedure.code_meaning} uses contrast; allergies: {patient.allergies}",
                needs_acknowledgement=True,
            )
        )
    modality = (procedure.modality if procedure is not None else modality) or ""
    if modality.upper() == "MR" and has_implant_alert(patient):
        alerts.append(
            Alert(
                MR_IMPLANT,
                "Implant in MR",
                f"MR exam; medical alerts: {patient.medical_alerts}",
                needs_acknowledgement=True,
            )
        )
    return alerts


ACKNOWLEDGEABLE = (CONTRAST_ALLERGY, MR_IMPLANT)


def alerts_to_acknowledge(
    patient: Patient,
    procedure: Procedure | None,
    modality: str = "",
    already: list[dict] | tuple = (),
) -> list[Alert]:
    """The booking alerts (booking_alerts) still to acknowledge: those whose code is not
    among `already`, the acknowledgements an order holds from its booking or an
    earlier change. What the booking page and the move page ask for."""
    done = {item.get("code") for item in already}
    return [a for a in booking_alerts(patient, procedure, modality) if a.code not in done]


def check_alerts_acknowledged(
    *,
    patient: Patient,
    procedure: Procedure | None,
    modality: str = "",
    acknowledged: list[str] | None,
    user=None,
    already: list[dict] | tuple = (),
) -> list[dict]:
    """Refuse (Conflict, 409) a booking, or a change of a booked order (`already`: the
    acknowledgements the order holds), whose alerts (alerts_to_acknowledge) are not all
    in `acknowledged` (their codes). Returns the acknowledgements to store on the
    order: those it held, then the new ones with code, text, who and when."""
    acknowledged = set(acknowledged or ())
    needed = alerts_to_acknowledge(patient, procedure, modality, already)
    missing = [a for a in needed if a.code not in acknowledged]
    if missing:
        raise Conflict(
            "Acknowledge first: " + "; ".join(f"{a.label} ({a.text})" for a in missing) + ".",
            rule="alert_acknowledgement",
            acknowledgement_required=[a.code for a in missing],
        )
    now = timezone.now().isoformat()
    username = user.get_username() if getattr(user, "pk", None) else ""
    return [
        *already,
        *({"code": a.code, "text": a.text, "user": username, "at": now} for a in needed),
    ]


def check_change_acknowledged(
    *,
    order: Order,
    procedure: Procedure | None,
    modality: str = "",
    acknowledged: list[str] | None,
    user=None,
) -> list[dict]:
    """The booking's acknowledgement rule for a change of a booked (locked) order: a
    move, another modality, another procedure. An alert the order's booking (or an
    earlier change) acknowledged is not asked again; one the change makes needed (a
    contrast procedure now, an allergy recorded since) is, with the same 409. The new
    acknowledgements are stored on the order and returned (for its history line)."""
    held = list(order.alert_acknowledgements or [])
    stored = check_alerts_acknowledged(
        patient=order.patient,
        procedure=procedure,
        modality=modality,
        acknowledged=acknowledged,
        user=user,
        already=held,
    )
    new = stored[len(held) :]
    if new:
        order.alert_acknowledgements = stored
        order.save(update_fields=["alert_acknowledgements", "updated_at"])
    return new


def acknowledgement_text(items: list[dict]) -> str:
    """'CONTRAST_ALLERGY acknowledged by sam': acknowledgements for a history line."""
    return "; ".join(
        f"{item['code']} acknowledged by {item.get('user') or 'system'}" for item in items
    )


def locked_patient_of(step: ScheduledProcedureStep) -> Patient:
    """The step's patient, locked: the last lock a move takes (after stations, order
    and step), so two moves of the same patient's steps check overlap in turn."""
    return Patient.objects.select_for_update(of=("self",)).get(
        orders__requested_procedures__scheduled_procedure_steps=step.pk
    )
