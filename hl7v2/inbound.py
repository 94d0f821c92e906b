"""What each accepted message does: HL7 segments translated into calls of the
worklist services (patients, booking), where the rules live. A service's refusal
comes back as a MessageError naming the segment and field the refused value came
from, for the ACK's ERR segment.

Accepted: ADT^A01/A04/A05/A08 (register or update the patient), ADT^A40 (merge),
ORM^O01 and OMI^O23 with order control NW (new order), CA and DC (cancel).
"""

from dataclasses import dataclass, field
from datetime import date

from django.core.exceptions import ObjectDoesNotExist

from ris.errors import Conflict, Invalid
from worklist import names
from worklist.models import Order, OrderStatus, Patient
from worklist.services import booking, patients

from .codec import MessageError, Parsed

# Model field -> (segment, field) it is read from, to name a refused value in the ERR.
FIELD_SOURCES = {
    "patient_id": ("PID", 3),
    "issuer_of_patient_id": ("PID", 3),
    "patient_name": ("PID", 5),
    "patient_birth_date": ("PID", 7),
    "patient_sex": ("PID", 8),
    "placer_order_number": ("ORC", 2),
    "referring_physician_name": ("PV1", 8),
    "requesting_physician": ("ORC", 12),
    "requesting_service": ("PV1", 3),
    "reason_for_the_requested_procedure": ("OBR", 31),
    "requested_procedure_code_sequence": ("OBR", 4),
    "requested_procedure_description": ("OBR", 4),
    "requested_procedure_priority": ("OBR", 27),
}

PRIORITIES = {"S": "STAT", "A": "HIGH", "P": "HIGH", "T": "HIGH", "C": "MEDIUM", "R": "ROUTINE"}
SEXES = {"M": "M", "F": "F", "O": "O", "U": "", "A": "O", "N": ""}


@dataclass
class Outcome:
    """What applying a message did, for the message log."""

    text: str = ""
    order: Order | None = None
    patient_ids: list = field(default_factory=list)


# --- reading segments -----------------------------------------------------------------


def patient_identity(parsed: Parsed, segment: str = "PID", field_no: int = 3) -> tuple[str, str]:
    """(ID, issuer) of the first repetition of a CX field: PID-3, MRG-1."""
    found = parsed.segments(segment)
    reps = parsed.repetitions(found[0], field_no) if found else []
    if not reps or not parsed.component(reps[0], 1):
        raise MessageError(
            "Patient identifier missing.", error_code="101", segment=segment, field=field_no
        )
    return parsed.component(reps[0], 1), parsed.component(reps[0], 4)


def person_name(parsed: Parsed, segment: str, field_no: int, offset: int = 0) -> str:
    """An XPN (offset 0) or XCN (offset 1, after the ID) as a DICOM PN:
    family^given^middle^prefix^suffix (HL7 has suffix before prefix)."""
    found = parsed.segments(segment)
    reps = parsed.repetitions(found[0], field_no) if found else []
    if not reps:
        return ""
    family, given, middle, suffix, prefix = (
        parsed.component(reps[0], offset + n) for n in range(1, 6)
    )
    return names.from_components(family, given, middle, prefix, suffix)


def birth_date(parsed: Parsed) -> date | None:
    text = parsed.value("PID", 7)
    if not text:
        return None
    try:
        return date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except ValueError as exc:
        raise MessageError(
            f"Birth date {text!r} is not a date (YYYYMMDD).",
            error_code="102",
            segment="PID",
            field=7,
        ) from exc


def sex(parsed: Parsed) -> str:
    value = parsed.value("PID", 8).upper()
    if value and value not in SEXES:
        raise MessageError(
            f"Sex {value!r} is not in table 0001.", error_code="103", segment="PID", field=8
        )
    return SEXES.get(value, "")


def patient_fields(parsed: Parsed) -> dict:
    patient_id, issuer = patient_identity(parsed)
    name = person_name(parsed, "PID", 5)
    if not name:
        raise MessageError("Patient name missing.", error_code="101", segment="PID", field=5)
    return {
        "patient_id": patient_id,
        "issuer_of_patient_id": issuer,
        "patient_name": name,
        "patient_birth_date": birth_date(parsed),
        "patient_sex": sex(parsed),
    }


def refusal(exc: Exception) -> MessageError:
    """A service's refusal as the ACK names it."""
    if isinstance(exc, MessageError):
        return exc
    if isinstance(exc, Invalid):
        name, messages = _first_error(exc.errors)
        segment, field_no = FIELD_SOURCES.get(name, ("", None))
        return MessageError(
            f"{name}: {messages}", error_code="102", segment=segment, field=field_no
        )
    if isinstance(exc, Conflict):
        differing = sorted(exc.details.get("patient", {}).get("differing_fields", {}))
        segment, field_no = FIELD_SOURCES.get(differing[0] if differing else "", ("", None))
        if "placer_order_number" in exc.details:
            segment, field_no = FIELD_SOURCES["placer_order_number"]
        return MessageError(
            exc.message,
            error_code="205" if "already" in exc.message else "207",
            segment=segment,
            field=field_no,
        )
    raise exc


def _first_error(errors) -> tuple[str, str]:
    name, value = next(iter(errors.items()))
    while isinstance(value, dict):
        name, value = next(iter(value.items()))
    return name, "; ".join(str(m) for m in value) if isinstance(value, list) else str(value)


# --- patients (RAD-1, RAD-12) -----------------------------------------------------------


def register_or_update(parsed: Parsed) -> Outcome:
    fields = patient_fields(parsed)
    patient = patients.patient_resolve(fields["patient_id"], fields["issuer_of_patient_id"])
    if patient is None:
        patients.patient_create(**fields)
        return Outcome("Patient registered.", patient_ids=[fields["patient_id"]])
    changes = {
        name: value
        for name, value in fields.items()
        if value not in ("", None)
        and name not in patients.PATIENT_IDENTITY
        and getattr(patient, name) != value
    }
    if changes:
        patients.patient_update(patient=patient, **changes)
    return Outcome(
        "Patient updated." if changes else "Patient unchanged.", patient_ids=[fields["patient_id"]]
    )


def merge(parsed: Parsed) -> Outcome:
    """A40: each PID/MRG pair merges the MRG-1 patient into the PID-3 one."""
    survivor_id, survivor_issuer = patient_identity(parsed)
    merged_id, merged_issuer = patient_identity(parsed, "MRG", 1)
    survivor = Patient.objects.filter(
        patient_id=survivor_id, issuer_of_patient_id=survivor_issuer
    ).first()
    if survivor is None:
        raise MessageError(
            f"Patient {survivor_id} is not known.", error_code="204", segment="PID", field=3
        )
    merged = Patient.objects.filter(
        patient_id=merged_id, issuer_of_patient_id=merged_issuer
    ).first()
    if merged is None:
        if patients.patient_resolve(merged_id, merged_issuer) == survivor:
            return Outcome("Already merged.", patient_ids=[survivor_id, merged_id])
        raise MessageError(
            f"Patient {merged_id} is not known.", error_code="204", segment="MRG", field=1
        )
    patients.patient_merge(survivor=survivor, merged=merged)
    return Outcome(
        f"Patient {merged_id} merged into {survivor_id}.", patient_ids=[survivor_id, merged_id]
    )


# --- orders (RAD-2) -------------------------------------------------------------------------


def placer_order_number(parsed: Parsed) -> str:
    number = parsed.value("ORC", 2) or parsed.value("OBR", 2)
    if not number:
        raise MessageError("Placer order number missing.", error_code="101", segment="ORC", field=2)
    return number


def priority(parsed: Parsed) -> str:
    """TQ1-9 (2.5+), else ORC-7.6 or OBR-27.6 (quantity/timing), else OBR-5."""
    for segment, field_no, component in (
        ("TQ1", 9, 1),
        ("ORC", 7, 6),
        ("OBR", 27, 6),
        ("OBR", 5, 1),
    ):
        code = parsed.value(segment, field_no, component).upper()
        if code:
            if code not in PRIORITIES:
                raise MessageError(
                    f"Priority {code!r} is not in table 0027.",
                    error_code="103",
                    segment=segment,
                    field=field_no,
                )
            return PRIORITIES[code]
    return "ROUTINE"


def procedure_code(parsed: Parsed) -> list[dict]:
    """OBR-4 Universal Service ID as a code item; kept as sent, even when the catalogue
    does not know it (then the order is flagged by having no catalogue entry)."""
    code = parsed.value("OBR", 4, 1)
    if not code:
        raise MessageError(
            "Requested procedure code missing.", error_code="101", segment="OBR", field=4
        )
    return [
        {
            "code_value": code,
            "coding_scheme_designator": parsed.value("OBR", 4, 3) or "L",
            "code_meaning": parsed.value("OBR", 4, 2) or code,
        }
    ]


def reason(parsed: Parsed) -> str:
    return (
        parsed.value("OBR", 31, 2)
        or parsed.value("OBR", 31, 1)
        or parsed.value("OBR", 13)
        or parsed.value("ORC", 16, 2)
    )[:64]


def order_message(parsed: Parsed) -> Outcome:
    control = parsed.value("ORC", 1).upper()
    if not parsed.has("ORC"):
        raise MessageError("ORC segment missing.", error_code="100", segment="ORC")
    if control == "NW":
        return new_order(parsed)
    if control in ("CA", "DC"):
        return cancel_order(parsed, control)
    raise MessageError(
        f"Order control {control!r} is not supported (NW, CA, DC).",
        error_code="103",
        segment="ORC",
        field=1,
    )


def new_order(parsed: Parsed) -> Outcome:
    if not parsed.has("OBR"):
        raise MessageError("OBR segment missing.", error_code="100", segment="OBR")
    fields = patient_fields(parsed)
    codes = procedure_code(parsed)
    order = booking.order_request(
        patient=fields,
        placer_order_number=placer_order_number(parsed),
        requested_procedure_code_sequence=codes,
        requested_procedure_description=parsed.value("OBR", 4, 2)[:64],
        requested_procedure_priority=priority(parsed),
        reason_for_the_requested_procedure=reason(parsed),
        referring_physician_name=person_name(parsed, "PV1", 8, offset=1),
        requesting_physician=person_name(parsed, "ORC", 12, offset=1)
        or person_name(parsed, "OBR", 16, offset=1),
        requesting_service=parsed.value("PV1", 3, 1)[:64],
    )
    known = order.requested_procedure.procedure is not None
    flag = "" if known else f"; code {codes[0]['code_value']} not in catalogue"
    return Outcome(
        f"Order {order.accession_number} waits to be scheduled{flag}",
        order=order,
        patient_ids=[fields["patient_id"]],
    )


def cancel_order(parsed: Parsed, control: str) -> Outcome:
    number = placer_order_number(parsed)
    order = Order.objects.filter(placer_order_number=number).select_related("patient").first()
    if order is None:
        raise MessageError(
            f"Order {number} is not known.", error_code="204", segment="ORC", field=2
        )
    if order.status not in (OrderStatus.REQUESTED, OrderStatus.SCHEDULED, OrderStatus.CANCELLED):
        raise MessageError(
            f"Order {number} is {order.status} and cannot be cancelled.",
            error_code="207",
            segment="ORC",
            field=1,
        )
    why = (
        "Discontinued by the ordering system"
        if control == "DC"
        else "Cancelled by the ordering system"
    )
    try:
        booking.order_cancel(order=order, reason=why)
    except (Conflict, ObjectDoesNotExist) as exc:
        raise MessageError(str(exc), segment="ORC", field=1) from exc
    return Outcome(
        f"Order {order.accession_number} cancelled.",
        order=order,
        patient_ids=[order.patient.patient_id],
    )


HANDLERS = {
    ("ADT", "A01"): register_or_update,
    ("ADT", "A04"): register_or_update,
    ("ADT", "A05"): register_or_update,
    ("ADT", "A08"): register_or_update,
    ("ADT", "A40"): merge,
    ("ORM", "O01"): order_message,
    ("OMI", "O23"): order_message,
}


def handler_for(message_type: str, trigger: str):
    if (message_type, trigger) in HANDLERS:
        return HANDLERS[(message_type, trigger)]
    if message_type not in {m for m, _ in HANDLERS}:
        raise MessageError(
            f"Message type {message_type} is not accepted.",
            ack_code="AR",
            error_code="200",
            segment="MSH",
            field=9,
        )
    raise MessageError(
        f"Event {message_type}^{trigger} is not accepted.",
        ack_code="AR",
        error_code="201",
        segment="MSH",
        field=9,
    )
