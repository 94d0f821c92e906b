"""The message log (administrators) and the order inbox (schedulers), with the
messages received through the same service the listener calls."""

import pytest

from audit.codes import Action, Channel
from audit.models import Event, EventPatient
from hl7v2 import services
from hl7v2.models import Message, Sender, Status
from tests import factories
from tests.hl7.conftest import adt, orm
from worklist.models import Order, OrderStatus, Patient


@pytest.fixture
def known_sender(db, settings):
    settings.RIS_HL7_STRICT_SENDERS = True
    return Sender.objects.create(sending_application="HIS", sending_facility="HOSP")


def receive(text: str) -> services.Answer:
    return services.receive(text.encode(), address="127.0.0.1", port=40000)


def test_messages_are_kept_with_ack_status_and_timing(known_sender):
    receive(adt("A04", "KEEP-1"))

    message = Message.objects.get(control_id="KEEP-1")
    assert message.status == Status.APPLIED
    assert message.ack_code == "AA"
    assert "MSA|AA|KEEP-1" in message.ack
    assert message.raw.startswith("MSH|")
    assert message.duration_ms is not None
    assert message.patient_id == "PATID1234"
    assert message.peer == "127.0.0.1"


def test_patient_writes_are_audited_on_the_hl7_channel(known_sender):
    receive(adt("A04"))

    event = Event.objects.filter(action=Action.PATIENT_RECORD, event_action_code="C").get()
    assert event.channel == Channel.HL7
    assert event.ae_title == "HIS"
    assert event.source_ip == "127.0.0.1"


def test_the_log_is_searchable_and_reading_it_is_audited(client, admin_user, known_sender):
    receive(adt("A04", "FIND-ME", patient_id="P77"))
    receive(adt("A04", "OTHER", patient_id="P78"))
    client.force_login(admin_user)

    page = client.get("/hl7/messages/", {"control_id": "FIND-ME"}).content.decode()

    assert "FIND-ME" in page and "OTHER" not in page
    read = Event.objects.filter(action=Action.QUERY, channel=Channel.WEB)
    assert list(
        EventPatient.objects.filter(event__in=read).values_list("patient_id", flat=True)
    ) == ["P77"]
    by_patient = client.get("/hl7/messages/", {"patient_id": "P78"}).content.decode()
    assert "OTHER" in by_patient and "FIND-ME" not in by_patient
    failed = client.get("/hl7/messages/", {"status": "error"}).content.decode()
    assert "No message matches" in failed


def test_the_log_is_for_administrators_only(client, django_user_model, known_sender):
    scheduler = django_user_model.objects.create_user("sched", password="pw-sched-1")
    client.force_login(scheduler)

    assert client.get("/hl7/messages/").status_code == 403


def test_a_failed_message_is_reapplied_after_the_patient_is_fixed(client, admin_user, known_sender):
    factories.procedure("CTHEAD", "CT head without contrast", "CT")
    receive(adt("A04", name="JONES^BILL"))
    answer = receive(orm(control_id="ORD-1"))  # the order names JONES^WILLIAM^A^III
    assert answer.ack_code == "AE"
    message = Message.objects.get(control_id="ORD-1")
    assert message.status == Status.ERROR
    assert message.error.startswith("PID-5: The patient is known with different demographics")
    from worklist.services.patients import patient_update

    patient_update(patient=Patient.objects.get(), patient_name="JONES^WILLIAM^A^^III")
    client.force_login(admin_user)

    detail = client.get(f"/hl7/messages/{message.pk}/").content.decode()
    assert "Re-apply" in detail
    client.post(f"/hl7/messages/{message.pk}/reapply/")

    message.refresh_from_db()
    assert message.status == Status.APPLIED
    assert message.reapplied == 1
    assert Order.objects.get().status == OrderStatus.REQUESTED


def test_inbox_lists_waiting_orders_stat_first_then_oldest(client, admin_user, known_sender):
    factories.procedure("CTHEAD", "CT head without contrast", "CT")
    receive(orm(placer="ROUTINE-OLD", priority="R"))
    receive(orm(placer="ROUTINE-NEW", priority="R"))
    receive(orm(placer="STAT-NEW", priority="S"))
    client.force_login(admin_user)

    page = client.get("/hl7/inbox/").content.decode()

    positions = [page.index(p) for p in ("STAT-NEW", "ROUTINE-OLD", "ROUTINE-NEW")]
    assert positions == sorted(positions)
    assert "WARD7" in page and "Headache" in page


def test_schedule_opens_the_booking_page_and_booking_fills_the_waiting_order(
    client, admin_user, known_sender
):
    procedure = factories.procedure("CTHEAD", "CT head without contrast", "CT", 20)
    factories.station("CT1", "CT")
    receive(orm(placer="P-SCHED"))
    order = Order.objects.get()
    assert not order.requested_procedure.scheduled_procedure_steps.exists()
    client.force_login(admin_user)
    day = factories.future_day()

    opened = client.get(f"/hl7/inbox/{order.pk}/schedule/")
    assert opened.status_code == 302
    assert opened.url.startswith("/book/?")
    assert f"order={order.pk}" in opened.url and f"procedure={procedure.pk}" in opened.url
    page = client.get(f"{opened.url}&day={day.isoformat()}").content.decode()
    assert f"Schedule order {order.accession_number}" in page
    assert "CT1 · " in page  # the free slots of the procedure's rooms
    assert 'name="order"' in page and "P-SCHED" in page

    response = client.post(
        "/book/",
        {
            "order": order.pk,
            "patient": order.patient_id,
            "procedure": procedure.pk,
            "shown_procedure": procedure.pk,
            "duration": 20,
            "day": day.isoformat(),
            "span": "day",
            "slot": f"CT1|{factories.local(day, 10).isoformat()}",
        },
    )

    assert response.status_code == 302, response.content.decode()
    assert response.url == f"/orders/{order.pk}/"
    assert Order.objects.count() == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.SCHEDULED
    (step,) = order.requested_procedure.scheduled_procedure_steps.all()
    assert step.station.scheduled_station_ae_title == "CT1" and step.duration_minutes == 20
    assert "P-SCHED" not in client.get("/hl7/inbox/").content.decode()
    # the same address again: the order is no longer waiting, its page says so
    again = client.get("/book/", {"order": order.pk, "patient": order.patient_id})
    assert again.status_code == 302 and again.url == f"/orders/{order.pk}/"


def test_scheduling_a_waiting_order_asks_the_safety_acknowledgement(
    client, admin_user, known_sender
):
    from worklist.services.patients import patient_update

    procedure = factories.procedure("CTHEAD", "CT head without contrast", "CT", 20)
    procedure.uses_contrast = True
    procedure.save()
    factories.station("CT1", "CT")
    receive(orm(placer="P-ALLERGIC"))
    order = Order.objects.get()
    patient_update(patient=order.patient, allergies="Iodinated contrast")
    client.force_login(admin_user)
    day = factories.future_day()
    booking = {
        "order": order.pk,
        "procedure": procedure.pk,
        "shown_procedure": procedure.pk,
        "duration": 20,
        "day": day.isoformat(),
        "slot": f"CT1|{factories.local(day, 10).isoformat()}",
    }

    refused = client.post("/book/", booking)
    assert refused.status_code == 409
    assert "Acknowledge first: Contrast allergy" in refused.content.decode()
    assert Order.objects.get().status == OrderStatus.REQUESTED

    done = client.post("/book/", {**booking, "acknowledged_alerts": "CONTRAST_ALLERGY"})
    assert done.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.SCHEDULED
    assert order.alert_acknowledgements[0]["code"] == "CONTRAST_ALLERGY"
    assert Order.objects.count() == 1


def test_messages_without_a_control_id_are_rejected_never_taken_for_duplicates(known_sender):
    message = adt("A04", "X").replace("|X|P|", "||P|")

    answers = [receive(message), receive(message)]

    assert [a.ack_code for a in answers] == ["AR", "AR"]
    assert b"MSH^1^10^101" in answers[0].ack
    assert Message.objects.filter(status=Status.REJECTED, control_id__startswith="?").count() == 2
    assert not Patient.objects.exists()
