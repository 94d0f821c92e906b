"""Performed procedure steps: what a modality reports it did (MPPS, PS3.4 Annex F;
IHE SWF RAD-6 "Modality Procedure Step In Progress" and RAD-7 "Completed"), and how
the scheduled steps and their order follow.

The DICOM layer (worklist/dicom/mpps_iod.py) reads a message into plain input: a
PerformedStepReport for an N-CREATE (the instance as stored, its columns and the
scheduled steps it names), a Modification for an N-SET, which this module asks,
under the row lock, whether it changes the stored instance and what the instance
becomes (so two N-SETs racing on one instance are judged one after the other). This
module knows no DICOM. The scheduler UI calls performed_step_link for an exam that
matched no scheduled step. Each function writes in one transaction with its audit
event (@audited opens it); a refusal is audited as a failure.

Station scope: a caller may report only for the stations it may see (`stations`,
the AE titles of the stations it was granted; None for every station). The station
of a performed step is its Performed Station AE Title; the caller's own AE title
counts as in scope (a modality reporting for itself), and a scheduled step is linked
only when it is scheduled on a station in scope.
"""

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, connection, transaction
from django.db.models.constants import OnConflict
from django.db.models.signals import post_save
from django.db.models.sql import InsertQuery
from django.utils import timezone

from audit.audited import audited
from audit.codes import Action, ObjectKind, Verb
from ris.errors import Conflict, Invalid
from worklist import audit_subjects, compiled
from worklist.models import (
    Order,
    OrderEvent,
    OrderStatus,
    Patient,
    PerformedProcedureStep,
    PerformedStepStatus,
    ScheduledProcedureStep,
    StepStatus,
)

from .booking import order_status_line


class DuplicateInstance(Conflict):
    """An N-CREATE for a SOP Instance UID already used by a different step."""


class NoSuchInstance(ObjectDoesNotExist):
    """An N-SET for a SOP Instance UID never created here."""


class NoLongerUpdatable(Conflict):
    """An N-SET changing a step already COMPLETED or DISCONTINUED (PS3.4 F.7.2.2.4)."""


class OutsideScope(PermissionError):
    """A caller reporting for a station it may not see."""


# --- what the DICOM layer hands in ------------------------------------------------------


@dataclass(frozen=True)
class StepReference:
    """One item of the Scheduled Step Attributes Sequence: what the modality says it
    performed."""

    study_instance_uid: str = ""
    accession_number: str = ""
    requested_procedure_id: str = ""
    scheduled_procedure_step_id: str = ""

    def describe(self) -> str:
        parts = [
            f"step {self.scheduled_procedure_step_id}" if self.scheduled_procedure_step_id else "",
            f"accession {self.accession_number}" if self.accession_number else "",
            f"procedure {self.requested_procedure_id}" if self.requested_procedure_id else "",
        ]
        named = ", ".join(part for part in parts if part)
        return named or f"study {self.study_instance_uid}"


@dataclass(frozen=True)
class PerformedStepReport:
    """An N-CREATE, read: the instance as it is stored (DICOM JSON), the columns read
    from it, and the scheduled steps it names."""

    attributes: dict
    columns: dict
    references: tuple[StepReference, ...] = ()

    @property
    def patient(self) -> tuple[str, str] | None:
        """The patient ID and issuer as sent, for the audit of a refusal."""
        patient_id = self.columns.get("patient_id", "")
        return (patient_id, self.columns.get("issuer_of_patient_id", "")) if patient_id else None


@dataclass(frozen=True)
class Revision:
    """The instance after an N-SET: the whole of it as stored, and the columns that
    the attributes sent change."""

    attributes: dict
    columns: dict


class Modification(Protocol):
    """An N-SET, read: judged against the stored instance under the row lock."""

    def changes(self, stored: dict) -> bool:
        """Whether applying it to the stored instance changes anything."""

    def applied_to(self, stored: dict) -> Revision:
        """The instance after it; raises the refusal when the SOP class does not allow
        the change."""


@dataclass
class Outcome:
    """What a create or update did: the step, whether anything changed (a retried
    message changes nothing and is answered as the first one was), and the orders'
    patients and the scheduled steps it touched (for its audit event)."""

    performed_step: PerformedProcedureStep
    changed: bool
    patients: list = field(default_factory=list)
    step_ids: list[str] = field(default_factory=list)


def _outcome_patients(outcome: Outcome) -> list:
    """The patient as the modality sent it, and the orders' patients."""
    performed = outcome.performed_step
    sent = (performed.patient_id, performed.issuer_of_patient_id) if performed.patient_id else None
    return [sent, *outcome.patients]


def _outcome_objects(outcome: Outcome) -> list[tuple[str, str]]:
    return audit_subjects.performed_objects(outcome.performed_step) + [
        (ObjectKind.SCHEDULED_PROCEDURE_STEP_ID, step_id) for step_id in outcome.step_ids
    ]


def in_scope(station_ae_title: str, *, calling_ae_title: str, stations) -> bool:
    """Whether a caller granted `stations` (AE titles; None: every one) may report
    for the station `station_ae_title`: one of its stations, or itself."""
    if stations is None:
        return True
    return station_ae_title == calling_ae_title or station_ae_title in stations


# --- N-CREATE -----------------------------------------------------------------


def _digest(stored_json: dict) -> str:
    """A fingerprint of an attribute list as stored, to tell a retried N-CREATE from a
    clash."""
    canonical = json.dumps(stored_json, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


@audited(
    Action.PROCEDURE_RECORD,
    verb=Verb.CREATE,
    patients=_outcome_patients,
    objects=_outcome_objects,
    patient_of_call=lambda kwargs: kwargs["report"].patient,
)
def performed_step_create(
    *,
    sop_instance_uid: str,
    report: PerformedStepReport,
    calling_ae_title: str,
    stations: Collection[str] | None,
) -> Outcome:
    """Record an N-CREATE: store it, link it to the scheduled steps it names and start
    them (or keep it as unscheduled).

    The same N-CREATE sent again by the same AE (a modality retrying after a lost
    response) is answered with the step already stored; any other N-CREATE for a
    used SOP Instance UID is a DuplicateInstance. A performed station outside the
    caller's scope is OutsideScope.
    """
    station = report.columns.get("performed_station_ae_title", "")
    if not in_scope(station, calling_ae_title=calling_ae_title, stations=stations):
        raise OutsideScope(f"{calling_ae_title} may not report for station {station}")
    fingerprint = _digest(report.attributes)
    performed = PerformedProcedureStep(
        sop_instance_uid=sop_instance_uid,
        calling_ae_title=calling_ae_title[:16],
        create_digest=fingerprint,
        attributes=report.attributes,
        **report.columns,
    )
    steps, note = _match_scheduled_steps(
        report.references, performed=performed, calling_ae_title=calling_ae_title, stations=stations
    )
    _matched(performed, steps, note)
    if not _inserted(performed):
        # The instance exists: a retry, maybe racing its first sending (whose insert
        # this one waited for), or a clash. Any other integrity error is a bug.
        existing = _locked_instance(sop_instance_uid)
        if existing is None:
            raise IntegrityError(f"Cannot store performed procedure step {sop_instance_uid}")
        return _retried(existing, fingerprint, calling_ae_title)
    return _attach(performed, steps)


def _inserted(performed: PerformedProcedureStep) -> bool:
    """Store a new instance unless a row holds its SOP Instance UID: False then, and
    nothing written. One statement (INSERT … ON CONFLICT DO NOTHING RETURNING id on
    PostgreSQL, INSERT OR IGNORE … RETURNING on SQLite), where save() in a savepoint
    took three; the row is built as save() builds it (each field's pre_save: the
    timestamps)."""
    if not connection.features.can_return_columns_from_insert:
        try:
            with transaction.atomic():
                performed.save()
        except IntegrityError:
            return False
        return True
    meta = PerformedProcedureStep._meta
    fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field and not f.generated]
    query = InsertQuery(PerformedProcedureStep, on_conflict=OnConflict.IGNORE)
    query.insert_values(fields, [performed])
    # By alias: the compiler reads its connection once a field, and the proxy would
    # look it up in the thread's connections on every read.
    compiler = query.get_compiler(using=connection.alias)
    compiler.returning_fields = [meta.pk]
    ((sql, params),) = compiler.as_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    performed.pk = row[0]
    performed._state.adding = False
    performed._state.db = connection.alias
    return True


# The reads of every MPPS message are compiled once (worklist/compiled.py): each is
# asked with other values every time (a SOP Instance UID, a step ID, order keys).


def _every_column(model) -> tuple[str, ...]:
    pk = model._meta.pk.attname
    return (pk, *(f.attname for f in model._meta.concrete_fields if f.attname != pk))


PERFORMED = compiled.Graph(
    PerformedProcedureStep,
    {"": _every_column(PerformedProcedureStep), "matched_patient": _every_column(Patient)},
)
# SOP Instance UID is unique: one row or none, no ordering.
LOCKED_PERFORMED = compiled.Template(
    lambda sop_instance_uid: (
        PerformedProcedureStep.objects.select_for_update(of=("self",))
        .filter(sop_instance_uid=sop_instance_uid)
        .order_by()
        .values_list(*PERFORMED.columns())[:1]
    )
)


def _locked_instance(sop_instance_uid: str) -> PerformedProcedureStep | None:
    """The instance with its matched patient, its row locked."""
    rows = LOCKED_PERFORMED.rows(sop_instance_uid)
    return PERFORMED.instances(rows[0]) if rows else None


def _retried(existing, fingerprint: str, calling_ae_title: str) -> Outcome:
    if existing.create_digest == fingerprint and existing.calling_ae_title == calling_ae_title:
        return Outcome(existing, changed=False, patients=[existing.matched_patient])
    raise DuplicateInstance(
        f"Performed procedure step {existing.sop_instance_uid} already exists.",
    )


# --- N-SET ----------------------------------------------------------------------


@audited(
    Action.PROCEDURE_RECORD, verb=Verb.UPDATE, patients=_outcome_patients, objects=_outcome_objects
)
def performed_step_update(
    *,
    sop_instance_uid: str,
    modification: Modification,
    calling_ae_title: str,
    stations: Collection[str] | None,
) -> Outcome:
    """Record an N-SET: the instance becomes what the modification makes of it, and
    the scheduled steps and the order follow a change of status.

    Checked in this order, under the row lock: the instance exists (NoSuchInstance),
    its station is in the caller's scope (OutsideScope), nothing changes once it is
    COMPLETED or DISCONTINUED (NoLongerUpdatable, whatever the attributes), then the
    attributes (the modification's own refusal). An N-SET that changes nothing (a
    retry) succeeds without effect.
    """
    performed = _locked_instance(sop_instance_uid)
    if performed is None:
        raise NoSuchInstance(sop_instance_uid)
    station = performed.performed_station_ae_title
    if not in_scope(station, calling_ae_title=calling_ae_title, stations=stations):
        raise OutsideScope(f"{calling_ae_title} may not report for station {station}")
    changed = modification.changes(performed.attributes)
    if performed.is_final and changed:
        # Whatever the attributes, the answer after the end is 0110 (F.7.2.2.3).
        raise NoLongerUpdatable(
            f"Performed procedure step {sop_instance_uid} is "
            f"{performed.performed_procedure_step_status}."
        )
    revision = modification.applied_to(performed.attributes)
    patients = [performed.matched_patient]
    if not changed:
        return Outcome(performed, changed=False, patients=patients)
    was = performed.performed_procedure_step_status
    performed.attributes = revision.attributes
    for name, value in revision.columns.items():
        setattr(performed, name, value)
    performed.save(update_fields=[*revision.columns, "attributes", "updated_at"])
    if performed.unscheduled or performed.performed_procedure_step_status == was:
        return Outcome(performed, changed=True, patients=patients)
    return _follow(performed, _orders_of(performed))


# Orders locked in key order: every writer of a step locks its order before it
# (step_update, order_cancel), so the order lock guards its steps too.
LOCKED_ORDER = compiled.Graph(
    Order,
    {"": ("id", "patient_id", "status"), "patient": ("id", "patient_id", "issuer_of_patient_id")},
)


def _locked_read(orders):
    return (
        orders.select_for_update(of=("self",)).order_by("pk").values_list(*LOCKED_ORDER.columns())
    )


ORDERS_OF_PERFORMED = compiled.Template(
    lambda performed_pk: _locked_read(
        Order.objects.filter(
            pk__in=ScheduledProcedureStep.objects.filter(
                performed_procedure_steps=performed_pk
            ).values("requested_procedure__order_id")
        )
    )
)
ORDERS = compiled.Template(lambda pks: _locked_read(Order.objects.filter(pk__in=pks)))


def _orders_of(performed) -> list[Order]:
    """The orders of the scheduled steps a performed step performs, locked."""
    return [LOCKED_ORDER.instances(row) for row in ORDERS_OF_PERFORMED.rows(performed.pk)]


def _locked(order_pks) -> list[Order]:
    """These orders, locked."""
    return [LOCKED_ORDER.instances(row) for row in ORDERS.rows(sorted(set(order_pks)))]


# --- linking ----------------------------------------------------------------------


@audited(
    Action.PROCEDURE_RECORD,
    verb=Verb.UPDATE,
    patient=audit_subjects.performed_patient,
    objects=audit_subjects.performed_objects,
    patient_of_call=lambda kwargs: audit_subjects.performed_patient(kwargs["performed_step"]),
)
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


def _match_scheduled_steps(
    references,
    *,
    performed: PerformedProcedureStep,
    calling_ae_title: str = "",
    stations: Collection[str] | None = None,
) -> tuple[list[ScheduledProcedureStep], str]:
    """The scheduled steps the Scheduled Step Attributes Sequence names, and a note on
    the items that named none.

    Each item names a step by its Scheduled Procedure Step ID, else by accession
    number and requested procedure ID, else by Study Instance UID. Every identifier
    the item carries must agree with the step found, the patient ID sent must be the
    order's (an empty one is no match), and the step must be scheduled on a station
    in the caller's scope: a step is linked on evidence, never on a guess; whatever
    does not match waits for a scheduler as an unscheduled exam.
    """
    matched, notes = {}, []
    for reference in references:
        step, note = _match_one(reference, performed, calling_ae_title, stations)
        if step is None:
            notes.append(note)
        else:
            matched[step.pk] = step
    if not references:
        notes.append("No scheduled step attributes were sent.")
    return list(matched.values()), " ".join(dict.fromkeys(notes))[:255]


# What matching reads of a candidate step: fewer columns to fetch and turn into objects.
CANDIDATE = compiled.Graph(
    ScheduledProcedureStep,
    {
        "": (
            "id",
            "requested_procedure_id",
            "station_id",
            "scheduled_procedure_step_id",
            "modality",
            "additional_station_ae_titles",
        ),
        "station": ("id", "scheduled_station_ae_title"),
        "requested_procedure": ("id", "order_id", "requested_procedure_id", "study_instance_uid"),
        "requested_procedure__order": ("id", "patient_id", "accession_number"),
        "requested_procedure__order__patient": ("id", "patient_id", "issuer_of_patient_id"),
    },
)
STEP_ID = "scheduled_procedure_step_id"
ACCESSION = "requested_procedure__order__accession_number"
PROCEDURE_ID = "requested_procedure__requested_procedure_id"
STUDY = "requested_procedure__study_instance_uid"


def _candidate_read(lookups: tuple[str, ...]) -> compiled.Template:
    return compiled.Template(
        lambda *values: ScheduledProcedureStep.objects.filter(
            **dict(zip(lookups, values, strict=True))
        ).values_list(*CANDIDATE.columns())[:50]
    )


# By the identifiers a reference carries, in this order of preference.
CANDIDATE_READS = {
    lookups: _candidate_read(lookups)
    for lookups in ((STEP_ID,), (ACCESSION, PROCEDURE_ID), (ACCESSION,), (PROCEDURE_ID,), (STUDY,))
}


def _candidates(reference: StepReference) -> list[ScheduledProcedureStep]:
    if reference.scheduled_procedure_step_id:
        named = {STEP_ID: reference.scheduled_procedure_step_id}
    elif reference.accession_number or reference.requested_procedure_id:
        named = {
            key: value
            for key, value in (
                (ACCESSION, reference.accession_number),
                (PROCEDURE_ID, reference.requested_procedure_id),
            )
            if value
        }
    elif reference.study_instance_uid:
        named = {STUDY: reference.study_instance_uid}
    else:
        return []
    rows = CANDIDATE_READS[tuple(named)].rows(*named.values())
    return [CANDIDATE.instances(row) for row in rows]


def _match_one(reference, performed, calling_ae_title, stations):
    named = reference.describe()
    found = _candidates(reference)
    agreeing = [step for step in found if _agrees(reference, step) is None]
    if not agreeing:
        reason = _agrees(reference, found[0]) if found else "matches no scheduled step"
        return None, f"{named}: {reason}."
    candidates = [
        step
        for step in agreeing
        if any(
            in_scope(title, calling_ae_title=calling_ae_title, stations=stations)
            for title in step.scheduled_station_ae_titles
        )
    ]
    if not candidates:
        return None, f"{named}: scheduled on a station outside {calling_ae_title}'s scope."
    if len(candidates) > 1:
        same_modality = [step for step in candidates if step.modality == performed.modality]
        candidates = same_modality or candidates
    if len(candidates) > 1:
        return None, f"{named}: matches several scheduled steps."
    step = candidates[0]
    patient = step.requested_procedure.order.patient
    if not performed.patient_id:
        return None, f"{named}: no patient ID was sent."
    if performed.patient_id != patient.patient_id or (
        performed.issuer_of_patient_id
        and patient.issuer_of_patient_id
        and performed.issuer_of_patient_id != patient.issuer_of_patient_id
    ):
        return None, f"{named}: the patient ID differs from the order's."
    return step, ""


def _agrees(reference: StepReference, step: ScheduledProcedureStep) -> str | None:
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


def _attach(performed, steps, *, user=None, linked_by_hand: bool = False) -> Outcome:
    if not steps:
        return Outcome(performed, changed=True)
    through = PerformedProcedureStep.scheduled_procedure_steps.through
    through.objects.bulk_create(
        [through(performedprocedurestep=performed, scheduledprocedurestep=step) for step in steps]
    )
    orders = _locked(s.requested_procedure.order_id for s in steps)
    return _follow(performed, orders, user=user, linked_by_hand=linked_by_hand)


def step_status_from(performed_statuses: set[str]) -> str:
    """A scheduled step's status from those of the performed steps that perform it
    (several, in the group case): in progress while any is, completed when any
    completed, discontinued when all were."""
    if PerformedStepStatus.IN_PROGRESS in performed_statuses:
        return StepStatus.IN_PROGRESS
    if PerformedStepStatus.COMPLETED in performed_statuses:
        return StepStatus.COMPLETED
    return StepStatus.DISCONTINUED


@dataclass
class _Steps:
    """The steps of the locked orders: each one's status, order, and the statuses of
    the performed steps linked to it."""

    status: dict[int, str] = field(default_factory=dict)
    step_id: dict[int, str] = field(default_factory=dict)
    order: dict[int, int] = field(default_factory=dict)
    performed: dict[int, set[str]] = field(default_factory=dict)
    linked: set[int] = field(default_factory=set)


STEPS_OF_ORDERS = compiled.Template(
    lambda order_pks: (
        ScheduledProcedureStep.objects.filter(requested_procedure__order__in=order_pks)
        .order_by()  # read into dicts: no sort needed
        .values_list(
            "pk",
            "scheduled_procedure_step_id",
            "scheduled_procedure_step_status",
            "requested_procedure__order_id",
            "performed_procedure_steps__pk",
            "performed_procedure_steps__performed_procedure_step_status",
        )
    )
)


def _steps_of(orders, performed) -> _Steps:
    """Read after the orders are locked, so a racing change of a sibling performed
    step (the group case) is seen committed."""
    rows = STEPS_OF_ORDERS.rows(sorted({order.pk for order in orders}))
    found = _Steps()
    for pk, step_id, status, order_id, performed_pk, performed_status in rows:
        found.status[pk], found.step_id[pk], found.order[pk] = status, step_id, order_id
        statuses = found.performed.setdefault(pk, set())
        if performed_status is not None:
            statuses.add(performed_status)
        if performed_pk == performed.pk:
            found.linked.add(pk)
    return found


def _follow(performed, orders, *, user=None, linked_by_hand: bool = False) -> Outcome:
    """The scheduled steps and their orders take the status the performed steps give
    them; each order's history says what the modality reported. One read of the
    locked orders' steps, then the writes: step and order statuses and history lines
    (one round trip on PostgreSQL)."""
    steps = _steps_of(orders, performed)
    step_changes = {}
    for pk in steps.linked:
        new = step_status_from(steps.performed[pk])
        if new != steps.status[pk]:
            step_changes[pk] = steps.status[pk] = new
    order_changes, lines = {}, []
    for order in orders:
        mine = sorted(steps.step_id[pk] for pk in steps.linked if steps.order[pk] == order.pk)
        lines.append(_history_line(performed, order, mine, user, linked_by_hand))
        if order.status == OrderStatus.CANCELLED:
            continue
        status = Order.status_from(
            {s for pk, s in steps.status.items() if steps.order[pk] == order.pk}
        )
        if status != order.status:
            order_changes[order.pk] = order.status = status
            line = order_status_line(status)
            if line is not None:
                lines.append(
                    OrderEvent(order=order, kind=line[0], detail=line[1], user=_user(user))
                )
    _write_follow(step_changes, order_changes, lines)
    return Outcome(
        performed,
        changed=True,
        patients=[order.patient for order in orders],
        step_ids=sorted(steps.step_id[pk] for pk in steps.linked),
    )


def _user(user):
    return user if getattr(user, "pk", None) else None


def _history_line(performed, order, step_ids, user, linked_by_hand) -> OrderEvent:
    what = (
        f"Performed step {performed.performed_procedure_step_id} on "
        f"{performed.performed_station_ae_title}: {performed.performed_procedure_step_status}"
        f" ({', '.join(step_ids)})"
    )
    if linked_by_hand:
        return OrderEvent(
            order=order, kind=OrderEvent.Kind.LINKED, detail=f"Linked: {what}", user=_user(user)
        )
    return OrderEvent(order=order, kind=OrderEvent.Kind.PERFORMED, detail=what)


def _write_follow(step_changes: dict, order_changes: dict, lines: list[OrderEvent]) -> None:
    """The step and order statuses and the history lines, then post_save for each
    line (_announce)."""
    now = timezone.now()
    for line in lines:
        line.at = now
    if connection.vendor == "postgresql":
        _write_follow_postgresql(step_changes, order_changes, lines, now)
    else:
        _write_follow_orm(step_changes, order_changes, lines, now)
    _announce(lines)


def _announce(lines: list[OrderEvent]) -> None:
    """History lines written in bulk send no post_save; send it for each, as save()
    would, so that what follows an order's history hears of them in this transaction:
    the hospital system's status messages (hl7v2/signals.py: started, completed) go
    into the outbox with the change. On PostgreSQL the lines carry no primary key
    (worklist_follow returns none); the receivers read the kind and the order."""
    for line in lines:
        post_save.send(
            sender=OrderEvent,
            instance=line,
            created=True,
            update_fields=None,
            raw=False,
            using=connection.alias,
        )


def _write_follow_orm(step_changes: dict, order_changes: dict, lines: list[OrderEvent], now):
    for status in set(step_changes.values()):
        ScheduledProcedureStep.objects.filter(
            pk__in=[pk for pk, s in step_changes.items() if s == status]
        ).update(scheduled_procedure_step_status=status, updated_at=now)
    for status in set(order_changes.values()):
        Order.objects.filter(pk__in=[pk for pk, s in order_changes.items() if s == status]).update(
            status=status, updated_at=now
        )
    OrderEvent.objects.bulk_create(lines)


def _write_follow_postgresql(step_changes, order_changes, lines, now) -> None:
    """One call of worklist_follow (migration 0008): the same writes as the ORM path,
    no rule of its own."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT worklist_follow(%s::bigint[], %s::text[], %s::bigint[], %s::text[], "
            "%s::bigint[], %s::text[], %s::text[], %s::integer[], %s)",
            [
                list(step_changes),
                list(step_changes.values()),
                list(order_changes),
                list(order_changes.values()),
                [line.order.pk for line in lines],
                [line.kind for line in lines],
                [line.detail for line in lines],
                [line.user.pk if line.user else None for line in lines],
                now,
            ],
        )
