"""Order status back to the hospital system (IHE RAD-3) and the procedure to the
image manager (RAD-4, RAD-13): a durable outbox.

Every change of an order that its history records (booked, rescheduled, started,
completed, cancelled, discontinued) writes, in the same transaction, one outbound
Message per destination of RIS_HL7_DESTINATIONS: ORM^O01 for HL7 before 2.5,
OMI^O23 from 2.5. `drain` (a Celery task) sends a destination's pending messages in
the order they were written, so each order's messages arrive in order. A receiver
that cannot be reached keeps them pending, retried with a growing delay; an AE or AR
answer is recorded on the message (shown in the message log) and the next is sent.

RIS_HL7_DESTINATIONS: comma-separated `[APPLICATION[^FACILITY]@]host:port[/version]`,
e.g. `HIS^HOSP@10.0.0.5:2575, PACS@10.0.0.9:2576/2.3.1`.
"""

import logging
import socket
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from worklist import names
from worklist.models import Order, OrderEvent

from . import codec
from .models import Direction, Message, Status

logger = logging.getLogger(__name__)

CHARSET = "UNICODE UTF-8"

# History kind -> (ORC-1 order control, ORC-5 order status), HL7 tables 0119 and 0038.
SENT_FOR = {
    OrderEvent.Kind.BOOKED: ("SC", "SC"),
    OrderEvent.Kind.RESCHEDULED: ("SC", "SC"),
    OrderEvent.Kind.STARTED: ("SC", "IP"),
    OrderEvent.Kind.COMPLETED: ("SC", "CM"),
    OrderEvent.Kind.CANCELLED: ("OC", "CA"),
    OrderEvent.Kind.DISCONTINUED: ("OD", "DC"),
}
PRIORITY_CODES = {"STAT": "S", "HIGH": "A", "MEDIUM": "C", "ROUTINE": "R", "LOW": "R"}


@dataclass(frozen=True)
class Destination:
    key: str
    application: str
    facility: str
    host: str
    port: int
    version: str

    @property
    def modern(self) -> bool:
        return codec._version_tuple(self.version) >= (2, 5)


def destinations() -> dict[str, Destination]:
    found = {}
    for item in settings.RIS_HL7_DESTINATIONS.replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        name, _, address = item.rpartition("@")
        address, _, version = address.partition("/")
        host, _, port = address.rpartition(":")
        application, _, facility = name.partition("^")
        if not host or not port.isdigit():
            # A typo must not stop bookings: the entry is skipped, and said so.
            logger.error("RIS_HL7_DESTINATIONS: %r is not [APP[^FACILITY]@]host:port", item)
            continue
        found[item] = Destination(
            key=item,
            application=application,
            facility=facility,
            host=host,
            port=int(port),
            version=version or settings.RIS_HL7_VERSION,
        )
    return found


# --- writing the outbox -------------------------------------------------------------


def enqueue_status(event: OrderEvent) -> list[Message]:
    """The status messages of one history line, one per destination (none when the
    change is not one the hospital system hears of, or nobody listens)."""
    if event.kind not in SENT_FOR:
        return []
    targets = destinations()
    if not targets:
        return []
    order = (
        Order.objects.select_related("patient")
        .prefetch_related("requested_procedures__scheduled_procedure_steps__station")
        .get(pk=event.order_id)
    )
    control, status = SENT_FOR[event.kind]
    written = []
    for destination in targets.values():
        control_id = _control_id()
        text = status_message(order, destination, control, status, control_id)
        written.append(
            Message.objects.create(
                direction=Direction.OUT,
                status=Status.PENDING,
                control_id=control_id,
                sending_application=settings.RIS_HL7_APPLICATION,
                sending_facility=settings.RIS_HL7_FACILITY,
                message_type="OMI^O23" if destination.modern else "ORM^O01",
                peer=destination.key,
                patient_id=order.patient.patient_id,
                issuer_of_patient_id=order.patient.issuer_of_patient_id,
                placer_order_number=order.placer_order_number,
                order=order,
                raw=text,
                charset=CHARSET,
            )
        )
    return written


def _control_id() -> str:
    return f"RIS{time.time_ns() // 1000:x}"[:20] + f"{next(_sequence) % 100:02d}"


_sequence = iter(range(1 << 62))


def status_message(order, destination: Destination, control: str, status: str, control_id: str):
    """ORM^O01 (2.3.x: ZDS carries the Study Instance UID, as IHE RAD-4 does) or
    OMI^O23 (2.5+: TQ1 and IPC) for one order, in its current state."""
    e = codec.escape
    patient = order.patient
    procedure = order.requested_procedure
    steps = list(procedure.scheduled_procedure_steps.all()) if procedure else []
    step = steps[0] if steps else None
    start = timezone.localtime(step.start).strftime("%Y%m%d%H%M") if step else ""
    priority = PRIORITY_CODES.get(procedure.requested_procedure_priority, "R") if procedure else "R"
    code = (procedure.requested_procedure_code_sequence or [{}])[0] if procedure else {}
    universal = (
        "^".join(
            e(code.get(k, "")) for k in ("code_value", "code_meaning", "coding_scheme_designator")
        )
        if code
        else e(procedure.requested_procedure_description if procedure else "")
    )
    placer = e(order.placer_order_number)
    filler = f"{e(order.accession_number)}^{e(settings.RIS_HL7_APPLICATION)}"
    msh = "|".join(
        [
            "MSH",
            "^~\\&",
            e(settings.RIS_HL7_APPLICATION),
            e(settings.RIS_HL7_FACILITY),
            e(destination.application),
            e(destination.facility),
            timezone.localtime().strftime("%Y%m%d%H%M%S"),
            "",
            "OMI^O23^OMI_O23" if destination.modern else "ORM^O01",
            control_id,
            "P",
            destination.version,
            "",
            "",
            "",
            "",
            "",
            CHARSET,
        ]
    )
    pid = _segment(
        "PID",
        {
            1: "1",
            3: f"{e(patient.patient_id)}^^^{e(patient.issuer_of_patient_id)}",
            5: _xpn(patient.patient_name),
            7: patient.patient_birth_date.strftime("%Y%m%d") if patient.patient_birth_date else "",
            8: patient.patient_sex,
        },
    )
    pv1 = _segment(
        "PV1",
        {
            1: "1",
            2: "O",
            3: e(order.requesting_service),
            8: "^" + _xpn(order.referring_physician_name),
        },
    )
    orc = _segment(
        "ORC",
        {
            1: control,
            2: placer,
            3: filler,
            5: status,
            7: "" if destination.modern else f"^^^{start}^^{priority}",
        },
    )
    obr = _segment(
        "OBR",
        {
            1: "1",
            2: placer,
            3: filler,
            4: universal,
            13: "",
            18: e(order.accession_number),
            19: e(procedure.requested_procedure_id) if procedure else "",
            20: e(step.scheduled_procedure_step_id) if step else "",
            24: e(step.modality) if step else "",
            27: "" if destination.modern else f"^^^{start}^^{priority}",
            31: "^" + e(order.reason_for_the_requested_procedure),
        },
    )
    segments = [msh, pid, pv1, orc]
    if destination.modern:
        segments.append(_segment("TQ1", {1: "1", 7: start, 9: priority}))
        segments.append(obr)
        segments.append(
            _segment(
                "IPC",
                {
                    1: e(order.accession_number),
                    2: e(procedure.requested_procedure_id) if procedure else "",
                    3: e(procedure.study_instance_uid) if procedure else "",
                    4: e(step.scheduled_procedure_step_id) if step else "",
                    5: e(step.modality) if step else "",
                    9: e(step.station.scheduled_station_ae_title) if step else "",
                },
            )
        )
    else:
        segments.append(obr)
        uid = procedure.study_instance_uid if procedure else ""
        segments.append(f"ZDS|{e(uid)}^{e(settings.RIS_HL7_APPLICATION)}^Application^DICOM")
    return "\r".join(segments) + "\r"


def _segment(name: str, fields: dict[int, str]) -> str:
    last = max(fields)
    return "|".join([name, *(fields.get(n, "") for n in range(1, last + 1))]).rstrip("|")


def _xpn(pn: str) -> str:
    """DICOM PN (family^given^middle^prefix^suffix) as an HL7 XPN
    (family^given^middle^suffix^prefix), first component group only."""
    parts = (names.components(names.alphabetic(pn)) + [""] * 5)[:5]
    family, given, middle, prefix, suffix = (codec.escape(p) for p in parts)
    return "^".join([family, given, middle, suffix, prefix]).rstrip("^")


# --- working the outbox -----------------------------------------------------------------


@dataclass
class DrainResult:
    delivered: int = 0
    refused: int = 0
    retry_in: float | None = None  # seconds, when the receiver could not be reached


BATCH = 100


def drain(key: str, *, now=None) -> DrainResult:
    """Send the destination's pending messages, oldest first, on one connection, up to
    BATCH of them locked and recorded per transaction. Stops at the first one that
    cannot be delivered (receiver down, no answer), keeping it and those after it
    pending; another worker draining the same destination makes this one stop at once
    (the oldest pending messages are locked). A worker that dies mid-batch leaves the
    batch pending: those messages are sent again, with the same control IDs."""
    destination = destinations().get(key)
    result = DrainResult()
    if destination is None:
        return result
    connection = None
    try:
        while True:
            with transaction.atomic():
                batch = _oldest_pending(key)
                if not batch:
                    return result
                for message in batch:
                    current = now or timezone.now()
                    due = message.next_attempt_at
                    if due is not None and due > current:
                        result.retry_in = (due - current).total_seconds()
                        return result
                    try:
                        connection = connection or _connect(destination)
                        answer = _exchange(connection, message.raw)
                    except OSError as exc:
                        _postpone(message, exc, current)
                        result.retry_in = (message.next_attempt_at - current).total_seconds()
                        if connection is not None:
                            connection.close()
                            connection = None
                        return result
                    _record_answer(message, answer)
                    if message.status == Status.DELIVERED:
                        result.delivered += 1
                    else:
                        result.refused += 1
    except _Busy:
        return result
    finally:
        if connection is not None:
            connection.close()


class _Busy(Exception):
    pass


def _oldest_pending(key: str) -> list[Message]:
    pending = Message.objects.filter(direction=Direction.OUT, status=Status.PENDING, peer=key)
    try:
        return list(pending.select_for_update(nowait=True).order_by("id")[:BATCH])
    except DatabaseError as exc:  # locked: another worker is sending them
        raise _Busy from exc


def _connect(destination: Destination) -> socket.socket:
    sock = socket.create_connection((destination.host, destination.port), timeout=10)
    sock.settimeout(settings.RIS_HL7_TIMEOUT)
    return sock


def _exchange(sock: socket.socket, text: str) -> bytes:
    sock.sendall(codec.frame(text.encode("utf-8")))
    data = b""
    while codec.END_BLOCK not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("The receiver closed the connection without an answer.")
        data += chunk
    start = data.find(codec.START_BLOCK)
    return data[start + 1 : data.find(codec.END_BLOCK)]


def _postpone(message: Message, exc: Exception, now) -> None:
    message.attempts += 1
    delay = min(settings.RIS_HL7_RETRY_SECONDS * 2 ** (message.attempts - 1), 600)
    message.next_attempt_at = now + timedelta(seconds=delay)
    message.error = f"Not delivered (attempt {message.attempts}): {exc}"[:255]
    message.save(update_fields=["attempts", "next_attempt_at", "error"])
    logger.warning("HL7 to %s not delivered, retry in %s s: %s", message.peer, delay, exc)


def _record_answer(message: Message, answer: bytes) -> None:
    text = answer.decode("utf-8", "replace")
    msa = next((line.split("|") for line in text.split("\r") if line.startswith("MSA")), [])
    code = msa[1] if len(msa) > 1 else ""
    message.attempts += 1
    message.ack = text
    message.ack_code = code[:2]
    message.processed_at = timezone.now()
    message.duration_ms = (message.processed_at - message.received_at).total_seconds() * 1000
    if code in ("AA", "CA"):
        message.status = Status.DELIVERED
        message.error = ""
    else:
        message.status = Status.REFUSED
        message.error = (f"{code or 'no MSA'}: " + (msa[3] if len(msa) > 3 else ""))[:255]
    message.next_attempt_at = None
    message.save()


def pending_destinations() -> list[str]:
    return list(
        Message.objects.filter(direction=Direction.OUT, status=Status.PENDING)
        .values_list("peer", flat=True)
        .distinct()
    )
