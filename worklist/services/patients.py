"""Patients: registered, changed, and matched when an order names them."""

from django.db import transaction

from audit.audited import audited
from audit.codes import Action, Verb
from ris.errors import Conflict, Invalid
from worklist import names
from worklist.models import Patient

from .validation import full_clean, invalid

PATIENT_IDENTITY = ("patient_id", "issuer_of_patient_id")
PATIENT_DEMOGRAPHICS = ("patient_name", "patient_birth_date", "patient_sex")


def _differs(field_name: str, stored, sent) -> bool:
    if field_name == "patient_name":
        return not names.same(stored, sent)
    return stored != sent


def patient_for_order(
    *, patient_id: str, issuer_of_patient_id: str = "", **demographics
) -> Patient:
    """The known patient with this ID and issuer, or a new one.

    Demographics sent for a known patient must agree with what is stored: a
    difference is a Conflict, never a silent overwrite. Values missing on our side
    are filled in.
    """
    patient = (
        Patient.objects.select_for_update()
        .filter(patient_id=patient_id, issuer_of_patient_id=issuer_of_patient_id)
        .first()
    )
    if patient is None:
        if not demographics.get("patient_name"):
            raise invalid(("patient", "patient_name"), "Required for a new patient.")
        patient = Patient(
            patient_id=patient_id, issuer_of_patient_id=issuer_of_patient_id, **demographics
        )
        full_clean(patient, ("patient",), identity_checked=True)
        patient.save()
        return patient
    differing = {}
    filled = []
    for name, sent in demographics.items():
        if sent in ("", None):
            continue
        stored = getattr(patient, name)
        if stored in ("", None):
            setattr(patient, name, sent)
            filled.append(name)
        elif _differs(name, stored, sent):
            differing[name] = {"stored": _plain(stored), "sent": _plain(sent)}
    if differing:
        raise Conflict(
            "The patient is known with different demographics: "
            + ", ".join(sorted(differing))
            + ". Correct the patient record first.",
            patient={"id": patient.pk, "differing_fields": differing},
        )
    if filled:
        full_clean(patient, ("patient",))
        patient.save()
    return patient


def _plain(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


@audited(
    Action.PATIENT_RECORD,
    verb=Verb.CREATE,
    patient=lambda patient: patient,
    patient_of_call=lambda kwargs: kwargs,
)
@transaction.atomic
def patient_create(**fields) -> Patient:
    _check_patient_identity_free(
        fields.get("patient_id", ""), fields.get("issuer_of_patient_id", "")
    )
    patient = Patient(**fields)
    full_clean(patient)
    patient.save()
    return patient


@audited(
    Action.PATIENT_RECORD,
    verb=Verb.UPDATE,
    patient=lambda patient: patient,
    patient_of_call=lambda kwargs: kwargs["patient"],
)
@transaction.atomic
def patient_update(*, patient: Patient, **fields) -> Patient:
    if {"patient_id", "issuer_of_patient_id"} & set(fields):
        _check_patient_identity_free(
            fields.get("patient_id", patient.patient_id),
            fields.get("issuer_of_patient_id", patient.issuer_of_patient_id),
            exclude=patient.pk,
        )
    for name, value in fields.items():
        setattr(patient, name, value)
    full_clean(patient)
    patient.save()
    return patient


def _check_patient_identity_free(patient_id: str, issuer: str, exclude=None) -> None:
    taken = Patient.objects.filter(patient_id=patient_id, issuer_of_patient_id=issuer)
    if taken.exclude(pk=exclude).exists():
        raise Invalid({"patient_id": ["A patient with this patient ID and issuer already exists."]})


@audited(
    Action.PATIENT_RECORD,
    verb=Verb.UPDATE,
    patient=lambda patient: patient,
    patient_of_call=lambda kwargs: kwargs["patient"],
)
@transaction.atomic
def patient_edit(*, patient: Patient, revision=None, **fields) -> Patient:
    """Change a patient's record as read at `revision` (its updated_at then): if it
    changed since, someone else edited it meanwhile and nothing is written (Conflict,
    naming the current revision). None skips the check (an integration's PATCH
    without one). The rules of patient_update apply."""
    current = Patient.objects.select_for_update().get(pk=patient.pk)
    if revision is not None and current.updated_at != revision:
        raise Conflict(
            f"Patient {current.patient_id} was changed by someone else meanwhile; "
            "reload it and make the change again.",
            revision=current.updated_at.isoformat(),
        )
    changed = {name: value for name, value in fields.items() if getattr(current, name) != value}
    if not changed:
        return current
    # patient_update's rules without a second audit event for the same change.
    return patient_update.__wrapped__(patient=current, **changed)
