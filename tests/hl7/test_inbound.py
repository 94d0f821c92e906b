"""Orders and patients from the hospital system over MLLP, sent by python-hl7 in its
own process: what is applied, what each ACK says, and what is refused."""

from datetime import date

from hl7v2.models import Message, Status
from tests.hl7.conftest import a40, ack_code, adt, msh, omi, orm, pid, segments
from worklist.models import Order, OrderStatus, Patient


def test_a04_registers_and_a08_updates_the_patient(send):
    registered, updated = send(adt("A04"), adt("A08", name="JONES^WILLIAM^B"))

    assert ack_code(registered) == "AA"
    assert ack_code(updated) == "AA"
    patient = Patient.objects.get(patient_id="PATID1234", issuer_of_patient_id="HOSP")
    assert patient.patient_name == "JONES^WILLIAM^B"
    assert patient.patient_birth_date == date(1961, 6, 15)
    assert patient.patient_sex == "M"


def test_the_ack_answers_the_message_by_its_control_id(send):
    (answer,) = send(adt("A01", "CTRL-77"))

    found = segments(answer)
    assert found["MSA"][0][1:3] == ["AA", "CTRL-77"]
    assert found["MSH"][0][9] == "ACK^A01^ACK"
    assert found["MSH"][0][3] == "RIS"
    assert found["MSH"][0][5:7] == ["HIS", "HOSP"]


def test_orm_new_order_waits_to_be_scheduled(send, catalogue):
    (answer,) = send(orm(priority="S"))

    assert ack_code(answer) == "AA"
    order = Order.objects.get(placer_order_number="PLACER0001")
    assert order.status == OrderStatus.REQUESTED
    assert order.patient.patient_id == "PATID1234"
    assert order.reason_for_the_requested_procedure == "Headache"
    assert order.referring_physician_name == "REFERRER^ROBERT"
    assert order.requesting_physician == "ORDERER^OLGA"
    assert order.requesting_service == "WARD7"
    procedure = order.requested_procedure
    assert procedure.procedure == catalogue
    assert procedure.requested_procedure_priority == "STAT"
    assert not procedure.scheduled_procedure_steps.exists()


def test_an_unknown_procedure_code_is_kept_as_sent_and_flagged(send, catalogue):
    (answer,) = send(orm(code="MRKNEE^MR knee^LOCAL"))

    assert ack_code(answer) == "AA"
    assert "not in catalogue" in segments(answer)["MSA"][0][3]
    procedure = Order.objects.get(placer_order_number="PLACER0001").requested_procedure
    assert procedure.procedure is None
    assert procedure.requested_procedure_code_sequence == [
        {"code_value": "MRKNEE", "coding_scheme_designator": "LOCAL", "code_meaning": "MR knee"}
    ]


def test_omi_o23_new_order_reads_the_priority_from_tq1(send, catalogue):
    (answer,) = send(omi(priority="S"))

    assert ack_code(answer) == "AA"
    order = Order.objects.get(placer_order_number="PLACER0100")
    assert order.requested_procedure.requested_procedure_priority == "STAT"
    assert order.reason_for_the_requested_procedure == "Suspected bleed"


def test_ca_and_dc_cancel_an_order_that_has_not_started(send, catalogue):
    answers = send(orm(placer="P1"), orm(placer="P2"), orm("CA", "P1"), orm("DC", "P2"))

    assert [ack_code(a) for a in answers] == ["AA"] * 4
    assert set(Order.objects.values_list("status", flat=True)) == {OrderStatus.CANCELLED}


def test_cancel_of_an_order_under_way_is_refused_with_the_reason(send, catalogue):
    (created,) = send(orm(placer="P1"))
    Order.objects.filter(placer_order_number="P1").update(status=OrderStatus.IN_PROGRESS)

    (answer,) = send(orm("CA", "P1"))

    found = segments(answer)
    assert found["MSA"][0][1] == "AE"
    assert "IN PROGRESS and cannot be cancelled" in found["MSA"][0][3]
    assert found["ERR"][0][1].startswith("ORC^1^1")
    assert Order.objects.get(placer_order_number="P1").status == OrderStatus.IN_PROGRESS


def test_a_wrong_field_type_is_an_ae_naming_segment_and_field(send):
    (answer,) = send(adt("A04", birth="1961-06-15"))

    found = segments(answer)
    assert found["MSA"][0][1] == "AE"
    # ERR-1 (2.3.1): segment^sequence^field^code&text&table
    assert found["ERR"][0][1] == "PID^1^7^102&Data type error&HL70357"
    assert not Patient.objects.exists()


def test_version_2_5_names_the_error_location_in_err_2_and_3(send):
    message = adt("A04", birth="19611315").replace("|P|2.3.1", "|P|2.5")
    (answer,) = send(message)

    err = segments(answer)["ERR"][0]
    assert err[2] == "PID^1^7"
    assert err[3].startswith("102^")
    assert err[4] == "E"


def test_a_message_is_applied_in_one_transaction_or_not_at_all(send, catalogue):
    """The patient is new, the order is refused (bad priority): the patient the
    order would have registered is not left behind."""
    (answer,) = send(orm(priority="X", patient={"patient_id": "NEW1"}))

    assert ack_code(answer) == "AE"
    assert segments(answer)["ERR"][0][1].startswith("ORC^1^7")
    assert not Patient.objects.filter(patient_id="NEW1").exists()
    assert not Order.objects.exists()
    assert Message.objects.get().status == Status.ERROR


def test_a_message_sent_again_gets_the_same_ack_and_is_applied_once(send, catalogue):
    first, again = send(orm(control_id="DUP-1"), orm(control_id="DUP-1"))

    assert first == again
    assert Order.objects.count() == 1
    assert Message.objects.filter(control_id="DUP-1").count() == 1


def test_a_refused_message_sent_again_gets_the_same_refusal(send):
    first, again = send(adt("A04", "DUP-2", sex="Q"), adt("A04", "DUP-2", sex="Q"))

    assert ack_code(first) == "AE"
    assert first == again


def test_unknown_message_type_is_rejected(send):
    (answer,) = send("\r".join([msh("ORU^R01"), pid()]))

    found = segments(answer)
    assert found["MSA"][0][1] == "AR"
    assert found["ERR"][0][1].startswith("MSH^1^9^200")


def test_wrong_receiving_application_is_rejected(send):
    message = "\r".join([msh("ADT^A04", receiver="LAB"), pid()])
    (answer,) = send(message)

    assert ack_code(answer) == "AR"
    assert not Patient.objects.exists()


def test_an_unknown_sender_is_rejected(send):
    message = "\r".join([msh("ADT^A04", sender="OTHER"), pid()])
    (answer,) = send(message)

    assert ack_code(answer) == "AR"
    assert "not known" in segments(answer)["MSA"][0][3]


def test_a_sender_outside_its_addresses_is_rejected(send):
    from hl7v2.models import Sender

    Sender.objects.update(allowed_addresses="10.9.9.0/24")
    (answer,) = send(adt("A04"))

    assert ack_code(answer) == "AR"
    assert not Patient.objects.exists()


def test_latin_1_and_utf_8_and_escapes_are_decoded(send):
    latin = "\r".join([msh("ADT^A04", charset="8859/1"), pid("L1", name="Müller^Zoë")]).encode(
        "latin-1"
    )
    utf8 = "\r".join(
        [msh("ADT^A04", charset="UNICODE UTF-8"), pid("U1", name="Łukasz^Żaneta")]
    ).encode("utf-8")
    escaped = "\r".join(
        [msh("ADT^A04", charset="UNICODE UTF-8"), pid("E1", name="M\\XC3BC\\ller^A\\T\\B")]
    ).encode("ascii")

    answers = send(latin, utf8, escaped)

    assert [ack_code(a) for a in answers] == ["AA", "AA", "AA"]
    names = dict(Patient.objects.values_list("patient_id", "patient_name"))
    assert names == {"L1": "Müller^Zoë", "U1": "Łukasz^Żaneta", "E1": "Müller^A&B"}


def test_an_undeclared_character_set_that_is_not_utf_8_is_an_error(send):
    latin = "\r".join([msh("ADT^A04"), pid("L1", name="Müller^Zoë")]).encode("latin-1")

    (answer,) = send(latin)

    assert ack_code(answer) == "AE"
    assert segments(answer, "latin-1")["ERR"][0][1].startswith("MSH^1^18")


def test_a40_merge_moves_orders_and_keeps_the_old_id_resolvable(send, catalogue):
    send(adt("A04", patient_id="SURV"), adt("A04", patient_id="OLD", name="JONES^BILL"))
    send(orm(placer="P9", patient={"patient_id": "OLD", "name": "JONES^BILL"}))

    (answer,) = send(a40("SURV", "OLD"))

    assert ack_code(answer) == "AA"
    assert not Patient.objects.filter(patient_id="OLD").exists()
    assert Order.objects.get(placer_order_number="P9").patient.patient_id == "SURV"
    # An order naming the merged ID lands on the survivor.
    (later,) = send(orm(placer="P10", patient={"patient_id": "OLD", "name": "JONES^WILLIAM^A^III"}))
    assert ack_code(later) == "AA"
    assert Order.objects.get(placer_order_number="P10").patient.patient_id == "SURV"


def test_bad_framing_and_a_truncated_frame_lose_nothing_that_follows(send):
    good = adt("A04", "AFTER-JUNK").encode()
    answers = send(b"\x0bnot framed", b"garbage\x0b" + good + b"\x1c\r", timeout=2)

    # The unended frame is dropped when the next one starts; the good one is applied.
    assert answers[0] == b""
    assert ack_code(answers[1]) == "AA"
    assert Patient.objects.filter(patient_id="PATID1234").exists()


def test_a_truncated_message_is_answered_not_applied(send):
    truncated = "\r".join([msh("ORM^O01"), "PID|1||PAT"])

    (answer,) = send(truncated)

    assert ack_code(answer) == "AE"
    assert not Order.objects.exists()


def test_a_connection_closed_inside_a_frame_applies_nothing(hl7_listener):
    import socket

    with socket.create_connection(hl7_listener.server_address[:2]) as sock:
        sock.sendall(b"\x0b" + adt("A04").encode()[:60])
    from tests.hl7.conftest import send_all

    (answer,) = send_all(hl7_listener.server_address[1], [adt("A04", patient_id="NEXT")])
    assert ack_code(answer) == "AA"
    assert list(Patient.objects.values_list("patient_id", flat=True)) == ["NEXT"]
