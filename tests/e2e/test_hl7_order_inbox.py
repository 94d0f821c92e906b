"""Orders from the hospital system, in a real browser: the HIS sends two orders over
MLLP (python-hl7 as the sender); the scheduler finds them in the order inbox, the STAT
one first, schedules it from there on the booking page (the order's procedure chosen,
a slot picked) and it leaves the inbox as a scheduled order, no second order made; the
administrator finds the message in the HL7 message log."""

import pytest
from playwright.sync_api import expect

from hl7v2 import listener
from hl7v2.models import Sender
from tests import factories
from tests.hl7.conftest import ack_code, orm, send_all
from worklist.models import Order, OrderStatus

from .conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def settled(page):
    """Wait until no htmx request is in flight (htmx marks its element meanwhile)."""
    page.wait_for_timeout(50)
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


@pytest.fixture
def orders_from_his(settings, rooms, catalogue):
    settings.RIS_HL7_STRICT_SENDERS = True
    Sender.objects.create(sending_application="HIS", sending_facility="HOSP")
    server = listener.start(host="127.0.0.1", port=0)
    try:
        answers = send_all(
            server.server_address[1],
            [
                orm(placer="ROUTINE-1", priority="R", control_id="HIS-1"),
                orm(
                    placer="STAT-1",
                    priority="S",
                    control_id="HIS-2",
                    patient={"patient_id": "P2", "name": "Haydn^Josef"},
                    reason="^Suspected bleed",
                ),
            ],
        )
    finally:
        listener.stop(server)
    assert [ack_code(a) for a in answers] == ["AA", "AA"]


def test_a_scheduler_books_a_stat_order_from_the_inbox(
    page, orders_from_his, make_user, admin_user, artifacts
):
    make_user("sam", "scheduler")
    log_in(page, "sam")

    page.get_by_role("link", name="Order inbox").click()
    rows = page.locator("#inbox tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("STAT")
    expect(rows.first).to_contain_text("Suspected bleed")
    page.screenshot(path=artifacts / "hl7-order-inbox.png", full_page=True)

    # Schedule opens the booking page itself, the order's procedure chosen
    rows.first.get_by_role("link", name="Schedule").click()
    order = Order.objects.get(placer_order_number="STAT-1")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Schedule order {order.accession_number}"
    )
    expect(page.locator("#modality")).to_have_text("CT")
    expect(page.get_by_role("combobox", name="Procedure")).to_have_value("CT · CT head (15 min)")
    expect(page.locator("#waiting-order")).to_contain_text("Suspected bleed")
    day = factories.future_day(2)
    page.get_by_label("From").fill(day.isoformat())  # fires change: htmx reloads the slots
    settled(page)
    # the booking state lives in the address: a reload keeps the order and the day
    assert f"order={order.pk}" in page.url and f"day={day.isoformat()}" in page.url
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_contain_text(order.accession_number)
    page.get_by_role("group", name=f"CT1 · {day:%a %Y-%m-%d}").get_by_text(
        "10:00", exact=True
    ).click()
    page.screenshot(path=artifacts / "hl7-schedule-on-booking-page.png", full_page=True)
    page.get_by_role("button", name="Book exam").click()

    expect(page.locator(".messages")).to_contain_text(
        "Scheduled CT head without contrast for Haydn, Josef at 10:00"
    )
    assert Order.objects.count() == 2  # the two the HIS sent, no third
    order.refresh_from_db()
    assert order.status == OrderStatus.SCHEDULED
    step = order.requested_procedure.scheduled_procedure_steps.get()
    assert step.station.scheduled_station_ae_title == "CT1"
    assert factories.timezone.localtime(step.start) == factories.local(day, 10)
    page.get_by_role("link", name="Order inbox").click()
    expect(page.locator("#inbox tbody tr")).to_have_count(1)
    expect(page.locator("#inbox")).not_to_contain_text("STAT-1")

    page.get_by_role("button", name="Log out").click()
    log_in(page, "admin", "pw-admin-1")
    page.get_by_role("link", name="HL7 messages").click()
    page.get_by_label("Control ID").fill("HIS-2")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#messages tbody tr")).to_have_count(1)
    page.get_by_role("link", name="HIS-2").click()
    expect(page.locator("#ack")).to_contain_text("MSA|AA|HIS-2")
