"""Orders from the hospital system, in a real browser: the HIS sends two orders over
MLLP (python-hl7 as the sender); the scheduler finds them in the order inbox, the STAT
one first, schedules it from there, and it leaves the inbox as a scheduled order; the
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

    rows.first.get_by_role("link", name="Schedule").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Schedule order")
    page.get_by_label("Station").select_option(label="CT1")
    start = factories.local(factories.future_day(), 10)
    page.get_by_label("Start").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Book").click()

    expect(page.get_by_text("scheduled.")).to_be_visible()
    order = Order.objects.get(placer_order_number="STAT-1")
    assert order.status == OrderStatus.SCHEDULED
    assert order.requested_procedure.scheduled_procedure_steps.get().station.pk
    page.get_by_role("link", name="Order inbox").click()
    expect(page.locator("#inbox tbody tr")).to_have_count(1)

    page.get_by_role("button", name="Log out").click()
    log_in(page, "admin", "pw-admin-1")
    page.get_by_role("link", name="HL7 messages").click()
    page.get_by_label("Control ID").fill("HIS-2")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#messages tbody tr")).to_have_count(1)
    page.get_by_role("link", name="HIS-2").click()
    expect(page.locator("#ack")).to_contain_text("MSA|AA|HIS-2")
