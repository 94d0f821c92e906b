"""Orders waiting to be scheduled, elsewhere in the RIS: never on the worklist, listed
by the REST API with a status filter, shown on the order page; messages expire."""

from datetime import timedelta

from django.utils import timezone

from hl7v2 import services, tasks
from hl7v2.models import Direction, Message, Sender, Status
from tests import factories
from tests.hl7.conftest import orm
from worklist.models import Order


def waiting_order(settings) -> Order:
    settings.RIS_HL7_STRICT_SENDERS = True
    Sender.objects.get_or_create(sending_application="HIS", sending_facility="HOSP")
    factories.procedure("CTHEAD", "CT head without contrast", "CT")
    services.receive(orm(placer="W1").encode(), address="127.0.0.1")
    return Order.objects.get(placer_order_number="W1")


def test_the_api_lists_waiting_orders_by_status(api, settings):
    factories.station("CT1", "CT")
    factories.book(accession_number="BOOKED1")
    order = waiting_order(settings)

    response = api.get("/api/orders/", {"status": "REQUESTED"})

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [r["accession_number"] for r in rows] == [order.accession_number]
    assert rows[0]["status"] == "REQUESTED"


def test_a_waiting_order_is_not_on_the_worklist(api, settings):
    factories.station("CT1", "CT")
    order = waiting_order(settings)

    steps = api.get("/api/procedure-steps/").json()["results"]

    assert order.accession_number not in [s["accession_number"] for s in steps]


def test_the_order_page_shows_a_waiting_order(client, admin_user, settings):
    order = waiting_order(settings)
    client.force_login(admin_user)

    page = client.get(f"/orders/{order.pk}/")

    assert page.status_code == 200
    assert "REQUESTED" in page.content.decode()


def test_messages_expire_after_the_kept_period_but_pending_ones_stay(db, settings):
    settings.RIS_HL7_KEEP_DAYS = 30
    old = timezone.now() - timedelta(days=31)
    for direction, status in ((Direction.IN, Status.APPLIED), (Direction.OUT, Status.PENDING)):
        Message.objects.create(
            direction=direction,
            status=status,
            control_id=f"OLD-{direction}",
            raw="MSH|",
            received_at=old,
        )
    Message.objects.create(direction=Direction.IN, status=Status.APPLIED, control_id="NEW", raw="")

    tasks.expire_messages()

    assert sorted(Message.objects.values_list("control_id", flat=True)) == ["NEW", "OLD-out"]
