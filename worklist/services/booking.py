"""Booking: orders, their requested procedure and scheduled procedure steps, on free
slots of open stations; changing, rescheduling, cancelling them.

Views, admin actions, the UI and integrations call these functions; none of them
repeats a rule. Each function that writes runs in one transaction, so a refused
booking leaves nothing behind. Those that write patient data are @audited: the access
audit event is written in that same transaction, and a refusal is recorded too.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.audited import audited
from audit.codes import Action, Verb
from ris.errors import Conflict, Invalid
from worklist import audit_subjects, identifiers, vr
from worklist.models import (
    OCCUPYING_STEP_STATUSES,
    Order,
    OrderEvent,
    OrderStatus,
    Procedure,
    RequestedProcedure,
    ScheduledProcedureStep,
    Station,
    StepStatus,
)

from . import history, safety
from .patients import patient_for_order
from .validation import full_clean, invalid, nest


@dataclass
class StepBooking:
    """One step to book, as validated input: where, when, and the DICOM details."""

    scheduled_station_ae_title: str
    start: datetime
    duration_minutes: int | None = None
    modality: str = ""
    scheduled_procedure_step_id: str = ""
    details: dict = field(default_factory=dict)


def _lock_stations(ae_titles: list[str]) -> dict[str, Station]:
    """Lock the stations about to be booked, in a fixed order, so two bookings of the
    same room queue instead of both seeing a free slot."""
    stations = (
        Station.objects.select_for_update()
        .filter(scheduled_station_ae_title__in=set(ae_titles))
        .order_by("pk")
    )
    return {s.scheduled_station_ae_title: s for s in stations}


SLOT_MINUTES = 15


def earliest_start(now: datetime | None = None) -> datetime:
    """The earliest start a booking or a move may have: the beginning of the current
    15-minute slot (local wall clock), so the patient standing at the desk can still be
    booked into the slot under way. An exam that really happened unbooked is reported
    by the modality and linked as an unscheduled exam instead."""
    local = timezone.localtime(now or timezone.now())
    return local - timedelta(
        minutes=local.minute % SLOT_MINUTES, seconds=local.second, microseconds=local.microsecond
    )


def _check_not_past(start: datetime, path: tuple, now: datetime | None = None) -> None:
    earliest = earliest_start(now)
    if start < earliest:
        raise invalid(
            (*path, "scheduled_procedure_step_start_datetime"),
            f"Must not be in the past: the earliest start now is {earliest:%Y-%m-%d %H:%M}.",
        )


def _check_station(station: Station, modality: str, path: tuple) -> None:
    """A step is booked on an active station of its own modality."""
    if not station.active:
        raise invalid(
            (*path, "scheduled_station_ae_title"),
            f"Station {station.scheduled_station_ae_title} is not active.",
        )
    if modality and modality != station.modality:
        raise invalid(
            (*path, "scheduled_station_ae_title"),
            f"Station {station.scheduled_station_ae_title} is a {station.modality} room; "
            f"the step is {modality}.",
        )


def _end_of(start: datetime, minutes: int, path: tuple) -> datetime:
    """When a step starting at `start` ends; a start at the end of the calendar is
    refused naming the field (vr.validate_date_time, the API's own bound)."""
    try:
        vr.validate_date_time(start)
        return start + timedelta(minutes=minutes)
    except (ValidationError, OverflowError) as exc:
        raise invalid(
            (*path, "scheduled_procedure_step_start_datetime"),
            "Out of range: " + " ".join(getattr(exc, "messages", [str(exc)])),
        ) from exc


def _check_slot(*, station: Station, start: datetime, end: datetime, path: tuple, exclude=None):
    if not station.is_open(start, end):
        raise invalid(
            (*path, "scheduled_procedure_step_start_datetime"),
            f"Station {station.scheduled_station_ae_title} is closed at that time.",
        )
    clash = (
        ScheduledProcedureStep.objects.filter(
            station=station,
            scheduled_procedure_step_status__in=OCCUPYING_STEP_STATUSES,
            start__lt=end,
            end__gt=start,
        )
        .exclude(pk=exclude)
        .values(
            "pk",
            "scheduled_procedure_step_id",
            "start",
            "end",
            "requested_procedure__order__accession_number",
        )[:1]
    )
    for step in clash:
        raise Conflict(
            f"Station {station.scheduled_station_ae_title} is already booked from "
            f"{timezone.localtime(step['start']):%Y-%m-%d %H:%M} to "
            f"{timezone.localtime(step['end']):%H:%M} "
            f"by step {step['scheduled_procedure_step_id']}.",
            conflicting_step={
                "id": step["pk"],
                "scheduled_procedure_step_id": step["scheduled_procedure_step_id"],
                "accession_number": step["requested_procedure__order__accession_number"],
                "scheduled_station_ae_title": station.scheduled_station_ae_title,
                "start": step["start"].isoformat(),
                "end": step["end"].isoformat(),
            },
        )


def catalogue_entry(code_sequence: list[dict]) -> Procedure | None:
    """The catalogue procedure matching the first code sent, if the catalogue has it."""
    if not code_sequence:
        return None
    first = code_sequence[0]
    return Procedure.objects.filter(
        code_value=first["code_value"],
        coding_scheme_designator=first["coding_scheme_designator"],
    ).first()


def _book_step(
    *,
    requested_procedure: RequestedProcedure,
    booking: StepBooking,
    station: Station,
    procedure: Procedure | None,
    path: tuple,
    booked_at: datetime | None,
) -> ScheduledProcedureStep:
    unknown = set(booking.details) - set(STEP_BOOKING_DETAILS)
    if unknown:
        raise Invalid(nest(path, {name: ["Unknown field."] for name in sorted(unknown)}))
    duration = booking.duration_minutes or (procedure.duration_minutes if procedure else 15)
    step = ScheduledProcedureStep(
        requested_procedure=requested_procedure,
        station=station,
        scheduled_procedure_step_id=(
            booking.scheduled_procedure_step_id or identifiers.new_scheduled_procedure_step_id()
        ),
        modality=booking.modality or (procedure.modality if procedure else station.modality),
        start=booking.start,
        duration_minutes=duration,
        **booking.details,
    )
    step.scheduled_station_name = step.scheduled_station_name or station.scheduled_station_name
    step.scheduled_procedure_step_location = (
        step.scheduled_procedure_step_location or station.scheduled_procedure_step_location
    )
    step.end = _end_of(step.start, duration, path)
    _check_station(station, step.modality, path)
    _check_not_past(step.start, path, booked_at)
    _check_slot(station=station, start=step.start, end=step.end, path=path)
    full_clean(step, path, exclude=["requested_procedure", "station", "end"], identity_checked=True)
    step.save()
    return step


@audited(
    Action.ORDER_RECORD,
    verb=Verb.CREATE,
    patient=lambda order: order.patient,
    objects=audit_subjects.order_objects,
    patient_of_call=lambda kwargs: kwargs["patient"],
)
@transaction.atomic
def order_create(
    *,
    patient: dict,
    steps: list[StepBooking],
    accession_number: str = "",
    requested_procedure_id: str = "",
    requested_procedure_code_sequence: list[dict] | None = None,
    requested_procedure_description: str = "",
    requested_procedure_priority: str = "ROUTINE",
    study_instance_uid: str = "",
    user=None,
    booked_at: datetime | None = None,
    allow_patient_overlap: bool = False,
    acknowledged_alerts: list[str] | None = None,
    **order_fields,
) -> Order:
    """Book an exam: patient matched or registered, order, requested procedure, and each
    scheduled procedure step on a free slot of an open station, not in the past. `user`,
    when given, is named in the order's history. `booked_at` is the moment the booking
    counts as made, for replaying a department's history (loaddemo); None is now.
    The patient safety rules apply (services.safety): `allow_patient_overlap` and
    `acknowledged_alerts` are the explicit overrides they ask for."""
    if not steps:
        raise Invalid({"scheduled_procedure_steps": ["At least one step is required."]})
    stations = _lock_stations([s.scheduled_station_ae_title for s in steps])
    for index, booking in enumerate(steps):
        if booking.scheduled_station_ae_title not in stations:
            raise invalid(
                ("scheduled_procedure_steps", index, "scheduled_station_ae_title"),
                f"No station with AE title {booking.scheduled_station_ae_title!r}.",
            )
    _check_unique(accession_number, requested_procedure_id, study_instance_uid, steps)
    code_sequence = requested_procedure_code_sequence or []
    procedure = catalogue_entry(code_sequence)

    patient_record = patient_for_order(**patient)
    acknowledgements = safety.check_alerts_acknowledged(
        patient=patient_record,
        procedure=procedure,
        modality=steps[0].modality,
        acknowledged=acknowledged_alerts,
        user=user,
    )
    order = Order(
        patient=patient_record,
        accession_number=accession_number or identifiers.new_accession_number(),
        alert_acknowledgements=acknowledgements,
        **order_fields,
    )
    full_clean(order, exclude=["patient"], identity_checked=True)
    order.save()
    requested = RequestedProcedure(
        order=order,
        requested_procedure_id=requested_procedure_id or identifiers.new_requested_procedure_id(),
        requested_procedure_description=(
            requested_procedure_description or (procedure.code_meaning if procedure else "")
        ),
        requested_procedure_code_sequence=code_sequence,
        procedure=procedure,
        study_instance_uid=study_instance_uid or identifiers.new_study_instance_uid(),
        requested_procedure_priority=requested_procedure_priority,
    )
    full_clean(requested, exclude=["order", "procedure"], identity_checked=True)
    requested.save()
    booked = [
        _book_step(
            requested_procedure=requested,
            booking=booking,
            station=stations[booking.scheduled_station_ae_title],
            procedure=procedure,
            path=("scheduled_procedure_steps", index),
            booked_at=booked_at,
        )
        for index, booking in enumerate(steps)
    ]
    history.record(
        order,
        OrderEvent.Kind.BOOKED,
        user=user,
        detail="; ".join(
            [f"{s.scheduled_procedure_step_id} on {history.slot_text(s)}" for s in booked]
            + ([safety.acknowledgement_text(acknowledgements)] if acknowledgements else [])
        ),
    )
    safety.check_patient_free(
        patient=patient_record,
        steps=booked,
        allow_patient_overlap=allow_patient_overlap,
        user=user,
    )
    return _with_relations(order, requested, booked)


def _with_relations(order: Order, requested, steps) -> Order:
    """The order just written, its procedure and steps attached as prefetch_related
    would attach them, so answering the booking costs no second round of queries."""
    _prefetched(requested, "scheduled_procedure_steps", steps)
    _prefetched(order, "requested_procedures", [requested])
    return order


def _prefetched(instance, relation: str, objects: list) -> None:
    queryset = getattr(instance, relation).get_queryset()
    queryset._result_cache = objects
    queryset._prefetch_done = True
    instance._prefetched_objects_cache = {relation: queryset}


def _check_unique(accession_number, requested_procedure_id, study_instance_uid, steps) -> None:
    if accession_number and Order.objects.filter(accession_number=accession_number).exists():
        raise Conflict(
            f"Accession number {accession_number} is already used.",
            accession_number=accession_number,
        )
    if (
        study_instance_uid
        and RequestedProcedure.objects.filter(study_instance_uid=study_instance_uid).exists()
    ):
        raise Conflict("Study Instance UID is already used.", study_instance_uid=study_instance_uid)
    step_ids = [s.scheduled_procedure_step_id for s in steps if s.scheduled_procedure_step_id]
    if len(step_ids) != len(set(step_ids)):
        raise Invalid({"scheduled_procedure_steps": ["Scheduled procedure step IDs repeat."]})
    taken = ScheduledProcedureStep.objects.filter(scheduled_procedure_step_id__in=step_ids)
    for step in taken:
        raise Conflict(
            f"Scheduled procedure step ID {step.scheduled_procedure_step_id} is already used.",
            scheduled_procedure_step_id=step.scheduled_procedure_step_id,
        )


# The descriptive fields of an order and of its requested procedure: what a booking
# may send and order_update may change. The API's serializers are built from these.
ORDER_EDITABLE = (
    "referring_physician_name",
    "requesting_physician",
    "requesting_service",
    "reason_for_the_requested_procedure",
    "imaging_service_request_comments",
)
PROCEDURE_EDITABLE = (
    "requested_procedure_description",
    "requested_procedure_code_sequence",
    "requested_procedure_priority",
)


@audited(
    Action.ORDER_RECORD,
    verb=Verb.UPDATE,
    patient=lambda order: order.patient,
    objects=audit_subjects.order_objects,
    patient_of_call=lambda kwargs: kwargs["order"].patient,
)
@transaction.atomic
def order_update(
    *, order: Order, acknowledged_alerts: list[str] | None = None, user=None, **fields
) -> Order:
    """Change the descriptive fields of an order that is not finished. Another
    procedure is checked against the patient's alerts as a booking is
    (safety.check_change_acknowledged): `acknowledged_alerts` acknowledges what it
    makes needed."""
    order = Order.objects.select_for_update().select_related("patient").get(pk=order.pk)
    if order.status in (OrderStatus.CANCELLED, OrderStatus.COMPLETED, OrderStatus.DISCONTINUED):
        raise Conflict(f"Order {order.accession_number} is {order.status} and cannot change.")
    requested = order.requested_procedures.first()
    for name, value in fields.items():
        if name in ORDER_EDITABLE:
            setattr(order, name, value)
        elif name in PROCEDURE_EDITABLE:
            setattr(requested, name, value)
        else:
            raise Invalid({name: ["This field cannot be changed."]})
    if "requested_procedure_code_sequence" in fields:
        requested.procedure = catalogue_entry(requested.requested_procedure_code_sequence)
    full_clean(order, exclude=["patient"], identity_checked=True)
    order.save()
    full_clean(requested, exclude=["order", "procedure"], identity_checked=True)
    requested.save()
    if "requested_procedure_code_sequence" in fields:
        first_step = requested.scheduled_procedure_steps.order_by("start", "pk").first()
        safety.check_change_acknowledged(
            order=order,
            procedure=requested.procedure,
            modality=first_step.modality if first_step else "",
            acknowledged=acknowledged_alerts,
            user=user,
        )
    return order


@audited(
    Action.ORDER_RECORD,
    verb=Verb.UPDATE,
    patient=lambda order: order.patient,
    objects=audit_subjects.order_objects,
    patient_of_call=lambda kwargs: kwargs["order"].patient,
)
@transaction.atomic
def order_cancel(*, order: Order, reason: str = "", user=None) -> Order:
    """Cancel an order: its scheduled steps are discontinued and leave the worklist.

    An order whose exam has started or finished cannot be cancelled; cancelling twice
    is harmless.
    """
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.status == OrderStatus.CANCELLED:
        return order
    if order.status not in (OrderStatus.SCHEDULED, OrderStatus.REQUESTED):
        raise Conflict(f"Order {order.accession_number} is {order.status} and cannot be cancelled.")
    return _cancel(order, reason=reason, user=user)


def _cancel(order: Order, *, reason: str, user) -> Order:
    """Cancel a (locked, SCHEDULED) order: its scheduled steps are discontinued."""
    try:
        vr.validate_lo(reason)
    except ValidationError as exc:
        raise Invalid({"reason": exc.messages}) from exc
    ScheduledProcedureStep.objects.filter(
        requested_procedure__order=order,
        scheduled_procedure_step_status=StepStatus.SCHEDULED,
    ).update(scheduled_procedure_step_status=StepStatus.DISCONTINUED, updated_at=timezone.now())
    order.status = OrderStatus.CANCELLED
    order.cancel_reason = reason
    order.save(update_fields=["status", "cancel_reason", "updated_at"])
    history.record(order, OrderEvent.Kind.CANCELLED, user=user, detail=reason)
    return order


ORDER_STATUS_EVENTS = {
    OrderStatus.IN_PROGRESS: OrderEvent.Kind.STARTED,
    OrderStatus.COMPLETED: OrderEvent.Kind.COMPLETED,
    OrderStatus.DISCONTINUED: OrderEvent.Kind.DISCONTINUED,
}


def order_refresh_status(order: Order, *, user=None) -> None:
    """Derive a (non-cancelled) order's status from its steps; a change is recorded in
    the order's history."""
    if order.status == OrderStatus.CANCELLED:
        return
    statuses = set(
        ScheduledProcedureStep.objects.filter(requested_procedure__order=order).values_list(
            "scheduled_procedure_step_status", flat=True
        )
    )
    status = Order.status_from(statuses)
    if status != order.status:
        order.status = status
        order.save(update_fields=["status", "updated_at"])
        line = order_status_line(status)
        if line is not None:
            history.record(order, line[0], user=user, detail=line[1])


def order_status_line(status: str) -> tuple[str, str] | None:
    """The history line (kind, detail) an order taking `status` gets, if any."""
    if status not in ORDER_STATUS_EVENTS:
        return None
    return ORDER_STATUS_EVENTS[status], f"Order {status}."


# The descriptive fields of a step: what step_update may change besides its slot
# and status. A booking may also send the station's name and location as the step
# carries them, and further AE titles (STEP_BOOKING_DETAILS).
STEP_DESCRIPTIVE = (
    "scheduled_performing_physician_name",
    "scheduled_procedure_step_description",
    "scheduled_protocol_code_sequence",
    "requested_contrast_agent",
    "pre_medication",
    "comments_on_the_scheduled_procedure_step",
    "modality",
)
STEP_BOOKING_DETAILS = (
    "additional_station_ae_titles",
    "scheduled_station_name",
    "scheduled_procedure_step_location",
    *(name for name in STEP_DESCRIPTIVE if name != "modality"),
)


def _lock_order_of(step: ScheduledProcedureStep) -> None:
    """Lock the step's order before the step itself: stations, order, steps is the
    order every writer takes its locks in (order_cancel locks the order, then updates
    its steps), so a cancel and a step change never deadlock."""
    list(
        Order.objects.select_for_update(of=("self",))
        .filter(requested_procedures__scheduled_procedure_steps=step.pk)
        .values_list("pk", flat=True)
    )


@audited(
    Action.PROCEDURE_RECORD,
    verb=Verb.UPDATE,
    patient=audit_subjects.step_patient,
    objects=audit_subjects.step_objects,
    patient_of_call=lambda kwargs: audit_subjects.step_patient(kwargs["step"]),
)
@transaction.atomic
def step_update(
    *,
    step: ScheduledProcedureStep,
    scheduled_station_ae_title: str | None = None,
    start: datetime | None = None,
    duration_minutes: int | None = None,
    scheduled_procedure_step_status: str | None = None,
    user=None,
    reason: str = "",
    allow_patient_overlap: bool = False,
    acknowledged_alerts: list[str] | None = None,
    **details,
) -> ScheduledProcedureStep:
    """Reschedule (new time, duration or room), discontinue, or edit a scheduled step.

    A move is checked like a new booking: the room exists, is open, and is free, and a
    new time or room does not start in the past (a longer or shorter step keeps its
    start, past or not). A move or another modality is checked against the patient's
    alerts as a booking is (safety.check_change_acknowledged: an alert recorded since
    the booking, or MR now, asks for `acknowledged_alerts`). Discontinuing the order's
    last step still to be done cancels the order (cancelling_ends_order). Moves and
    discontinuations are recorded in the order's history, with `user` and `reason`.
    """
    current = Station.objects.values_list("scheduled_station_ae_title", flat=True).get(
        pk=step.station_id
    )
    stations = _lock_stations([current, scheduled_station_ae_title or current])
    _lock_order_of(step)
    step = (
        ScheduledProcedureStep.objects.select_for_update(of=("self",))
        .select_related("station")
        .get(pk=step.pk)
    )
    if step.scheduled_procedure_step_status != StepStatus.SCHEDULED:
        raise Conflict(
            f"Step {step.scheduled_procedure_step_id} is "
            f"{step.scheduled_procedure_step_status} and cannot change."
        )
    unknown = set(details) - set(STEP_DESCRIPTIVE)
    if unknown:
        raise Invalid({name: ["This field cannot be changed."] for name in unknown})
    for name, value in details.items():
        setattr(step, name, value)
    if scheduled_procedure_step_status is not None:
        return _step_discontinue(step, scheduled_procedure_step_status, user=user, reason=reason)
    was, was_start, was_station = history.slot_text(step), step.start, step.station_id
    moved = _apply_move(step, stations, scheduled_station_ae_title, start, duration_minutes)
    if step.start != was_start or step.station_id != was_station:
        _check_not_past(step.start, ())
    if step.station_id != was_station or "modality" in details:
        _check_station(step.station, step.modality, ())
    if moved:
        _check_slot(station=step.station, start=step.start, end=step.end, path=(), exclude=step.pk)
    full_clean(step, exclude=["requested_procedure", "station", "end"], identity_checked=True)
    step.save()
    acknowledged = []
    if moved or "modality" in details:
        acknowledged = safety.check_change_acknowledged(
            order=Order.objects.select_related("patient").get(pk=step.requested_procedure.order_id),
            procedure=step.requested_procedure.procedure,
            modality=step.modality,
            acknowledged=acknowledged_alerts,
            user=user,
        )
    if moved:
        safety.check_patient_free(
            patient=safety.locked_patient_of(step),
            steps=[step],
            allow_patient_overlap=allow_patient_overlap,
            user=user,
            moved=True,
        )
    if moved:
        history.record(
            step.requested_procedure.order,
            OrderEvent.Kind.RESCHEDULED,
            user=user,
            detail=f"{step.scheduled_procedure_step_id} from {was} to {history.slot_text(step)}"
            + (f": {reason}" if reason else "")
            + (f"; {safety.acknowledgement_text(acknowledged)}" if acknowledged else ""),
        )
    return step


def _apply_move(step, stations, ae_title, start, duration_minutes) -> bool:
    if ae_title and ae_title not in stations:
        raise Invalid({"scheduled_station_ae_title": [f"No station with AE title {ae_title!r}."]})
    moved = False
    if ae_title and stations[ae_title].pk != step.station_id:
        station = stations[ae_title]
        step.station = station
        step.scheduled_station_name = station.scheduled_station_name
        step.scheduled_procedure_step_location = station.scheduled_procedure_step_location
        moved = True
    if start is not None and start != step.start:
        step.start = start
        moved = True
    if duration_minutes is not None and duration_minutes != step.duration_minutes:
        step.duration_minutes = duration_minutes
        moved = True
    step.end = _end_of(step.start, step.duration_minutes, ())
    return moved


def cancelling_ends_order(step: ScheduledProcedureStep) -> bool:
    """The rule for cancelling one step: when it is the last step of its order still
    to be done (no other SCHEDULED or IN PROGRESS step) and nothing of the order was
    performed (no COMPLETED step), the whole order is cancelled (CANCELLED); otherwise
    the step alone is discontinued and the order follows its steps."""
    others = (
        ScheduledProcedureStep.objects.filter(
            requested_procedure__order_id=step.requested_procedure.order_id
        )
        .exclude(pk=step.pk)
        .values_list("scheduled_procedure_step_status", flat=True)
    )
    return not set(others) & {StepStatus.SCHEDULED, StepStatus.IN_PROGRESS, StepStatus.COMPLETED}


def _step_discontinue(
    step: ScheduledProcedureStep, status: str, *, user=None, reason: str = ""
) -> ScheduledProcedureStep:
    if status != StepStatus.DISCONTINUED:
        raise Invalid(
            {
                "scheduled_procedure_step_status": [
                    "Only DISCONTINUED can be set here; the modality reports the rest (MPPS)."
                ]
            }
        )
    step.scheduled_procedure_step_status = StepStatus.DISCONTINUED
    full_clean(step, exclude=["requested_procedure", "station", "end"], identity_checked=True)
    step.save()
    order = step.requested_procedure.order
    if cancelling_ends_order(step) and order.status == OrderStatus.SCHEDULED:
        _cancel(order, reason=reason, user=user)
        return step
    history.record(
        order,
        OrderEvent.Kind.DISCONTINUED,
        user=user,
        detail=f"{step.scheduled_procedure_step_id} discontinued"
        + (f": {reason}" if reason else ""),
    )
    order_refresh_status(order, user=user)
    return step


# --- orders requested by the hospital system (HL7 ORM/OMI), scheduled later ----------


@audited(
    Action.ORDER_RECORD,
    verb=Verb.CREATE,
    patient=lambda order: order.patient,
    objects=audit_subjects.order_objects,
    patient_of_call=lambda kwargs: kwargs["patient"],
)
@transaction.atomic
def order_request(
    *,
    patient: dict,
    placer_order_number: str,
    requested_procedure_code_sequence: list[dict] | None = None,
    requested_procedure_description: str = "",
    requested_procedure_priority: str = "ROUTINE",
    **order_fields,
) -> Order:
    """An order the hospital system placed: patient matched or registered, order and
    requested procedure, no step yet (status REQUESTED, waiting for a scheduler).
    The procedure code is matched against the catalogue; an unknown code is kept as
    sent (the requested procedure then has no catalogue entry)."""
    if Order.objects.filter(placer_order_number=placer_order_number).exists():
        raise Conflict(
            f"Placer order number {placer_order_number} is already known.",
            placer_order_number=placer_order_number,
        )
    code_sequence = requested_procedure_code_sequence or []
    procedure = catalogue_entry(code_sequence)
    order = Order(
        patient=patient_for_order(**patient),
        accession_number=identifiers.new_accession_number(),
        placer_order_number=placer_order_number,
        status=OrderStatus.REQUESTED,
        **order_fields,
    )
    full_clean(order, exclude=["patient"], identity_checked=True)
    order.save()
    requested = RequestedProcedure(
        order=order,
        requested_procedure_id=identifiers.new_requested_procedure_id(),
        requested_procedure_description=(
            requested_procedure_description or (procedure.code_meaning if procedure else "")
        )[:64],
        requested_procedure_code_sequence=code_sequence,
        procedure=procedure,
        study_instance_uid=identifiers.new_study_instance_uid(),
        requested_procedure_priority=requested_procedure_priority,
    )
    full_clean(requested, exclude=["order", "procedure"], identity_checked=True)
    requested.save()
    history.record(order, OrderEvent.Kind.REQUESTED, detail=f"Placer order {placer_order_number}")
    return _with_relations(order, requested, [])


@audited(
    Action.ORDER_RECORD,
    verb=Verb.UPDATE,
    patient=lambda order: order.patient,
    objects=audit_subjects.order_objects,
    patient_of_call=lambda kwargs: kwargs["order"].patient,
)
@transaction.atomic
def order_schedule(
    *,
    order: Order,
    steps: list[StepBooking],
    user=None,
    allow_patient_overlap: bool = False,
    acknowledged_alerts: list[str] | None = None,
) -> Order:
    """Book the steps of an order waiting to be scheduled (REQUESTED): the same checks
    as a new booking (patient safety included, with the same overrides), on the order's
    own requested procedure, instead of a second order. Stations are locked before the
    order, as every writer does."""
    if not steps:
        raise Invalid({"scheduled_procedure_steps": ["At least one step is required."]})
    stations = _lock_stations([s.scheduled_station_ae_title for s in steps])
    order = Order.objects.select_for_update().select_related("patient").get(pk=order.pk)
    if order.status != OrderStatus.REQUESTED:
        raise Conflict(f"Order {order.accession_number} is {order.status}, not waiting.")
    for index, booking in enumerate(steps):
        if booking.scheduled_station_ae_title not in stations:
            raise invalid(
                ("scheduled_procedure_steps", index, "scheduled_station_ae_title"),
                f"No station with AE title {booking.scheduled_station_ae_title!r}.",
            )
    _check_unique("", "", "", steps)
    requested = order.requested_procedures.select_related("procedure").first()
    acknowledged = safety.check_change_acknowledged(
        order=order,
        procedure=requested.procedure,
        modality=steps[0].modality,
        acknowledged=acknowledged_alerts,
        user=user,
    )
    booked = [
        _book_step(
            requested_procedure=requested,
            booking=booking,
            station=stations[booking.scheduled_station_ae_title],
            procedure=requested.procedure,
            path=("scheduled_procedure_steps", index),
            booked_at=None,
        )
        for index, booking in enumerate(steps)
    ]
    order.status = OrderStatus.SCHEDULED
    order.save(update_fields=["status", "updated_at"])
    history.record(
        order,
        OrderEvent.Kind.BOOKED,
        user=user,
        detail="; ".join(
            [f"{s.scheduled_procedure_step_id} on {history.slot_text(s)}" for s in booked]
            + ([safety.acknowledgement_text(acknowledged)] if acknowledged else [])
        ),
    )
    safety.check_patient_free(
        patient=safety.locked_patient_of(booked[0]),
        steps=booked,
        allow_patient_overlap=allow_patient_overlap,
        user=user,
    )
    return _with_relations(order, requested, booked)
