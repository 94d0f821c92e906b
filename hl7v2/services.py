"""Receiving a message: decoded, checked (sender, receiving application, type), kept,
applied in one transaction, answered. A message sent again (same sender and control
ID) is answered with the ACK it had and not applied twice."""

import ipaddress
import logging
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit import chain as audit_chain
from audit import context as audit_context
from worklist.models import ip_network_list

from . import codec, inbound
from .models import Direction, Message, Sender, Status

logger = logging.getLogger(__name__)


@dataclass
class Answer:
    ack: bytes
    ack_code: str
    message: Message | None = None
    duplicate: bool = False


def receive(raw: bytes, *, address: str = "", port: int | None = None) -> Answer:
    """One message's bytes (the MLLP frame removed) -> the ACK's bytes."""
    started = time.perf_counter()
    try:
        msh = codec.msh_fields(raw)
    except codec.MessageError as error:
        return _unlogged_reject(error)
    try:
        parsed = codec.decode(raw)
    except codec.MessageError as error:
        return _answer_unparsed(raw, msh, error, address, started)
    if not parsed.value("MSH", 10):
        error = codec.MessageError(
            "Message control ID missing.", ack_code="AR", error_code="101", segment="MSH", field=10
        )
        return _answer_unparsed(raw, msh, error, address, started)
    header = _header(parsed)
    previous_id, senders = _previous_and_senders(header)
    if previous_id is not None:
        return _again(Message.objects.get(pk=previous_id), parsed)
    message = Message(
        direction=Direction.IN,
        raw=parsed.text,
        charset=parsed.charset,
        peer=address,
        **header,
        **_identifiers(parsed),
    )
    with audit_context.hl7(
        application=header["sending_application"],
        address=address,
        port=port,
        detail=f"HL7 {header['message_type']} {header['control_id']}"[:255],
    ):
        try:
            return _apply(message, parsed, msh, address, started, senders)
        except IntegrityError:
            # The same message on another connection at the same moment: the first
            # one's ACK, once it is written.
            previous = _previous(header)
            if previous is None:
                raise
            return _again(previous, parsed)


def reapply(message: Message) -> Message:
    """Apply a kept message again (after the catalogue or the patient was fixed): its
    status, ACK and order are those of this attempt. The sender is not told."""
    parsed = codec.decode(message.raw.encode(codec.CHARSETS.get(message.charset, "utf-8")))
    msh = codec.msh_fields(message.raw.encode("utf-8"))
    started = time.perf_counter()
    with (
        audit_context.hl7(
            application=message.sending_application,
            detail=f"HL7 re-apply {message.message_type} {message.control_id}"[:255],
        ),
        transaction.atomic(),
    ):
        message = Message.objects.select_for_update().get(pk=message.pk)
        if message.status == Status.APPLIED:
            return message
        message.reapplied += 1
        _apply(message, parsed, msh, None, started)
    return message


def _apply(
    message: Message, parsed: codec.Parsed, msh: list[str], address, started, senders=None
) -> Answer:
    """Check, apply and keep the message with its ACK in one transaction; on a refusal
    that transaction is undone and the message is kept with its error in another. The
    sender of the same control ID twice at once: one of them fails on the message's
    unique constraint (IntegrityError, for the caller). The audit events are written
    last, after the message (audit_chain.appends_at_end): the chain's lock is held
    from there to COMMIT, so other connections' messages overlap the rest."""
    outermost = not transaction.get_connection().in_atomic_block
    try:
        with (
            transaction.atomic(),
            _no_savepoints() if outermost else nullcontext(),
            audit_chain.appends_at_end(),
        ):
            if address is not None:
                _check_sender(message, address, senders)
            _check_receiver(parsed)
            handler = inbound.handler_for(*_type(parsed))
            outcome = handler(parsed)
            message.status = Status.APPLIED
            message.error = ""
            if outcome.order is not None:
                message.order = outcome.order
            answer = _answer(message, parsed, msh, "AA", text=outcome.text)
            _finish(message, answer, started)
            return answer
    except IntegrityError:
        if message.pk is None and _previous(_header(parsed)) is not None:
            raise
        error = _as_error(codec.MessageError("Conflicting write, send again."))
    except Exception as exc:  # noqa: BLE001 - every failure is answered, none lost
        error = _as_error(exc)
    message.status = Status.REJECTED if error.ack_code == "AR" else Status.ERROR
    message.error = (f"{error.location}: " if error.location else "") + error.text[:200]
    answer = _answer(message, parsed, msh, error.ack_code, error=error)
    with transaction.atomic():
        _finish(message, answer, started)
    return answer


@contextmanager
def _no_savepoints():
    """The services' own atomic blocks without their SAVEPOINT/RELEASE statements (4
    of a new order's), inside a transaction that any failure rolls back whole: a
    savepoint there could only be rolled back to for the transaction to be rolled back
    anyway. A service's failure marks the transaction for rollback instead."""
    connection = transaction.get_connection()
    connection.features.uses_savepoints = False
    try:
        yield
    finally:
        del connection.features.uses_savepoints


def _as_error(exc: Exception) -> codec.MessageError:
    try:
        return inbound.refusal(exc)
    except Exception:
        logger.exception("HL7 message failed to apply")
        return codec.MessageError(f"Internal error: {type(exc).__name__}", error_code="207")


def _answer(message, parsed, msh, ack_code, *, error=None, text="") -> Answer:
    ack = codec.build_ack(
        msh=msh,
        ack_code=ack_code,
        control_id=_new_control_id(),
        application=settings.RIS_HL7_APPLICATION,
        facility=settings.RIS_HL7_FACILITY,
        error=error,
        text=text,
    )
    message.ack = ack
    message.ack_code = ack_code
    return Answer(ack=ack.encode(parsed.codec, "replace"), ack_code=ack_code, message=message)


def _finish(message: Message, answer: Answer, started: float) -> None:
    message.processed_at = timezone.now()
    message.duration_ms = (time.perf_counter() - started) * 1000
    message.save()


def _again(previous: Message, parsed: codec.Parsed) -> Answer:
    logger.info("HL7 message %s sent again: answered with its ACK", previous.control_id)
    return Answer(
        ack=previous.ack.encode(parsed.codec, "replace"),
        ack_code=previous.ack_code,
        message=previous,
        duplicate=True,
    )


def _previous_and_senders(header: dict) -> tuple[int | None, list[Sender]]:
    """The ID of the message already received with this sender and control ID (with
    its ACK), and the active senders that may match this one: one statement where
    _previous and the sender check would be two."""
    sql = (
        f"SELECT 0, m.id, '', '' FROM {Message._meta.db_table} AS m "  # noqa: S608 - table names
        "WHERE m.direction = %s AND m.sending_application = %s AND m.sending_facility = %s "
        "AND m.control_id = %s AND m.ack <> '' "
        "UNION ALL "
        f"SELECT 1, s.id, s.sending_facility, s.allowed_addresses FROM {Sender._meta.db_table} "
        "AS s WHERE s.active = %s AND s.sending_application = %s "
        "AND s.sending_facility IN ('', %s)"
    )
    application, facility = header["sending_application"], header["sending_facility"]
    with connection.cursor() as cursor:
        control_id = header["control_id"]
        cursor.execute(
            sql,
            [Direction.IN.value, application, facility, control_id, True, application, facility],
        )
        rows = cursor.fetchall()
    previous = next((row[1] for row in rows if row[0] == 0), None)
    senders = [
        Sender(
            id=pk,
            sending_application=application,
            sending_facility=sender_facility,
            allowed_addresses=allowed,
            active=True,
        )
        for kind, pk, sender_facility, allowed in rows
        if kind == 1
    ]
    return previous, senders


def _previous(header: dict) -> Message | None:
    return (
        Message.objects.filter(
            direction=Direction.IN,
            sending_application=header["sending_application"],
            sending_facility=header["sending_facility"],
            control_id=header["control_id"],
        )
        .exclude(ack="")
        .first()
    )


def _answer_unparsed(raw, msh, error, address, started) -> Answer:
    """A message whose MSH could be read but whose text could not (character set,
    broken structure): kept as received, answered AE/AR."""
    text = raw.decode("utf-8", "replace")
    get = lambda n: msh[n].split("^")[0] if len(msh) > n else ""  # noqa: E731
    ack = codec.build_ack(
        msh=msh,
        ack_code=error.ack_code,
        control_id=_new_control_id(),
        application=settings.RIS_HL7_APPLICATION,
        facility=settings.RIS_HL7_FACILITY,
        error=error,
    )
    message = Message(
        direction=Direction.IN,
        status=Status.REJECTED if error.ack_code == "AR" else Status.ERROR,
        control_id=get(10)[:64] or f"?{_new_control_id()}",
        sending_application=get(3)[:64],
        sending_facility=get(4)[:64],
        message_type="^".join(msh[9].split("^")[:2])[:16] if len(msh) > 9 else "",
        raw=text,
        peer=address,
        ack=ack,
        ack_code=error.ack_code,
        error=f"{error.location}: {error.text}"[:255],
    )
    answer = Answer(ack=ack.encode("ascii", "replace"), ack_code=error.ack_code, message=message)
    try:
        with transaction.atomic():
            _finish(message, answer, started)
    except IntegrityError:
        pass  # that control ID is kept already
    return answer


def _unlogged_reject(error: codec.MessageError) -> Answer:
    ack = codec.build_ack(
        msh=["MSH", "|", "^~\\&"],
        ack_code="AR",
        control_id=_new_control_id(),
        application=settings.RIS_HL7_APPLICATION,
        facility=settings.RIS_HL7_FACILITY,
        error=error,
    )
    return Answer(ack=ack.encode("ascii"), ack_code="AR")


def _header(parsed: codec.Parsed) -> dict:
    control_id = parsed.value("MSH", 10)
    if not control_id:
        control_id = "?"
    message_type, trigger = _type(parsed)
    return {
        "control_id": control_id[:64],
        "sending_application": parsed.value("MSH", 3)[:64],
        "sending_facility": parsed.value("MSH", 4)[:64],
        "message_type": f"{message_type}^{trigger}"[:16],
    }


def _type(parsed: codec.Parsed) -> tuple[str, str]:
    return parsed.value("MSH", 9, 1).upper(), parsed.value("MSH", 9, 2).upper()


def _identifiers(parsed: codec.Parsed) -> dict:
    """Patient and order identifiers, to find the message in the log."""
    return {
        "patient_id": parsed.value("PID", 3, 1)[:64],
        "issuer_of_patient_id": parsed.value("PID", 3, 4)[:64],
        "placer_order_number": (parsed.value("ORC", 2) or parsed.value("OBR", 2))[:64],
    }


def _check_sender(message: Message, address: str, senders: list[Sender] | None = None) -> None:
    """A known sender (application, and facility when its record names one), connecting
    from an allowed address. Without strict senders, unknown ones are accepted.
    `senders`: the candidates, when read already (_previous_and_senders)."""
    candidates = senders
    if candidates is None:
        candidates = Sender.objects.filter(
            active=True, sending_application=message.sending_application
        ).filter(sending_facility__in=["", message.sending_facility])
    sender = next(iter(sorted(candidates, key=lambda s: s.sending_facility == "")), None)
    if sender is None:
        if settings.RIS_HL7_STRICT_SENDERS:
            raise codec.MessageError(
                f"Sender {message.sending_application}^{message.sending_facility} is not known.",
                ack_code="AR",
                error_code="207",
                segment="MSH",
                field=3,
            )
        return
    if not _address_allowed(sender, address):
        raise codec.MessageError(
            f"Sender {sender} may not send from {address}.",
            ack_code="AR",
            error_code="207",
            segment="MSH",
            field=3,
        )


def _address_allowed(sender: Sender, address: str) -> bool:
    networks = ip_network_list(sender.allowed_addresses)
    if not networks:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n, strict=False) for n in networks)


def _check_receiver(parsed: codec.Parsed) -> None:
    receiver = parsed.value("MSH", 5)
    if receiver != settings.RIS_HL7_APPLICATION:
        raise codec.MessageError(
            f"Receiving application {receiver!r} is not this one ({settings.RIS_HL7_APPLICATION}).",
            ack_code="AR",
            error_code="207",
            segment="MSH",
            field=5,
        )


_counter = iter(range(1, 1 << 62))


def _new_control_id() -> str:
    return f"RIS{time.time_ns() // 1000:x}{next(_counter) % 1000:03d}"[:20]
