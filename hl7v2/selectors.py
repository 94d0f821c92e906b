"""Reads of the HL7 message log and of the orders waiting to be scheduled. Both
hold patient data: every read is audited (the rows fetched, i.e. the page shown)."""

from django.db.models import Q, QuerySet

from audit.audited import audited
from audit.codes import Action, ObjectKind
from worklist import audit_subjects
from worklist.models import Order, OrderStatus
from worklist.selectors import by_urgency

from .models import Message


def _message_patient(message: Message):
    return (message.patient_id, message.issuer_of_patient_id) if message.patient_id else None


def _message_objects(message: Message) -> list[tuple[str, str]]:
    return [(ObjectKind.ACCESSION_NUMBER, message.order.accession_number)] if message.order else []


@audited(Action.QUERY, patient=_message_patient, objects=_message_objects)
def message_list(
    *,
    control_id: str = "",
    patient_id: str = "",
    order: str = "",
    status: str = "",
    direction: str = "",
) -> QuerySet[Message]:
    """The message log, newest first, filtered by control ID, patient ID, order (placer
    order number or accession number) and status."""
    messages = Message.objects.select_related("order")
    if control_id:
        messages = messages.filter(control_id=control_id)
    if patient_id:
        messages = messages.filter(patient_id=patient_id)
    if order:
        messages = messages.filter(Q(placer_order_number=order) | Q(order__accession_number=order))
    if status:
        messages = messages.filter(status=status)
    if direction:
        messages = messages.filter(direction=direction)
    return messages


@audited(Action.PATIENT_RECORD, patient=_message_patient, objects=_message_objects)
def message_get(*, pk: int) -> Message:
    return Message.objects.select_related("order").get(pk=pk)


@audited(
    Action.ORDER_RECORD, patient=lambda order: order.patient, objects=audit_subjects.order_objects
)
def order_inbox() -> QuerySet[Order]:
    """Orders waiting to be scheduled: STAT first, then HIGH, ROUTINE, LOW, oldest first
    (worklist.selectors.by_urgency, as the orders list sorts by urgency)."""
    return by_urgency(
        Order.objects.filter(status=OrderStatus.REQUESTED)
        .select_related("patient")
        .prefetch_related("requested_procedures__procedure")
    )


@audited(
    Action.ORDER_RECORD, patient=lambda order: order.patient, objects=audit_subjects.order_objects
)
def waiting_order_get(*, pk: int) -> Order:
    return (
        Order.objects.select_related("patient")
        .prefetch_related("requested_procedures__procedure")
        .get(pk=pk, status=OrderStatus.REQUESTED)
    )
