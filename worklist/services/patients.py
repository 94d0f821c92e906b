"""Patients: registered, changed, and matched when an order names them."""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit.audited import audited
from audit.codes import Action, Verb
from ris.errors import Conflict, Invalid
from worklist import names
from worklist.models import Order, Patient, PatientAlias, PerformedProcedureStep, Study

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
    ) or _survivor_of(patient_id, issuer_of_patient_id)
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


def _survivor_of(patient_id: str, issuer: str) -> Patient | None:
    """The patient a merged identifier now stands for (locked), if it was merged."""
    alias = PatientAlias.objects.filter(patient_id=patient_id, issuer_of_patient_id=issuer).first()
    if alias is None:
        return None
    return Patient.objects.select_for_update().filter(pk=alias.survivor_id).first()


def patient_resolve(patient_id: str, issuer: str = "") -> Patient | None:
    """The patient known by this identifier: its own, or one merged into it."""
    patient = Patient.objects.filter(patient_id=patient_id, issuer_of_patient_id=issuer).first()
    if patient is not None:
        return patient
    alias = PatientAlias.objects.filter(patient_id=patient_id, issuer_of_patient_id=issuer).first()
    return alias.survivor if alias is not None else None


@audited(
    Action.PATIENT_RECORD,
    verb=Verb.UPDATE,
    patients=lambda survivor: [survivor, *getattr(survivor, "merged_patients", [])],
    patient_of_call=lambda kwargs: kwargs["survivor"],
)
@transaction.atomic
def patient_merge(*, survivor: Patient, merged: Patient) -> Patient:
    """Merge `merged` into `survivor` (HL7 A40): its orders (with their steps and the
    studies linked to them), its performed steps and the arrived studies carrying its
    identifiers (linked to an order or not: _move_studies) move to the survivor, its
    identifiers (and those merged into it before) resolve to the survivor from now
    on, and the record goes. One audit event names both patients.

    Both records are locked first, in a fixed order, so a booking for either waits
    and then books onto the survivor (patient_for_order resolves the alias)."""
    if survivor.pk == merged.pk:
        raise Invalid({"merged": ["A patient cannot be merged into itself."]})
    locked = {
        p.pk: p
        for p in Patient.objects.select_for_update()
        .filter(pk__in=[survivor.pk, merged.pk])
        .order_by("pk")
    }
    if merged.pk not in locked or survivor.pk not in locked:
        raise Conflict("The patient to merge is no longer known (merged already?).")
    survivor, merged = locked[survivor.pk], locked[merged.pk]
    Order.objects.filter(patient=merged).update(patient=survivor)
    PerformedProcedureStep.objects.filter(matched_patient=merged).update(matched_patient=survivor)
    _move_studies(merged, survivor)
    PatientAlias.objects.filter(survivor=merged).update(survivor=survivor)
    PatientAlias.objects.create(
        patient_id=merged.patient_id,
        issuer_of_patient_id=merged.issuer_of_patient_id,
        survivor=survivor,
    )
    survivor.merged_patients = [(merged.patient_id, merged.issuer_of_patient_id)]
    merged.delete()
    return survivor


def _move_studies(merged: Patient, survivor: Patient) -> int:
    """The arrived studies whose patient ID is the merged patient's (its issuer, or none
    when no other patient holds that ID) take the survivor's identifiers and
    demographics, as an archive's merge does, so lists and matching by patient find
    them under the survivor. One with an open exception (not linked by hand) is due to
    be decided again, against the survivor's orders now. Returns how many moved."""
    issuers = [merged.issuer_of_patient_id]
    if not Patient.objects.filter(patient_id=merged.patient_id).exclude(pk=merged.pk).exists():
        issuers.append("")
    studies = Study.objects.filter(
        patient_id=merged.patient_id, issuer_of_patient_id__in=set(issuers)
    )
    now = timezone.now()
    studies.filter(exception_open=True, linked_by_hand=False).update(
        revision=F("revision") + 1, reconcile_after=now
    )
    fields = {
        name: getattr(survivor, name)
        for name in ("patient_name", "patient_birth_date", "patient_sex")
        if getattr(survivor, name) not in ("", None)
    }
    return studies.update(
        patient_id=survivor.patient_id,
        issuer_of_patient_id=survivor.issuer_of_patient_id,
        updated_at=now,
        **fields,
    )


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
