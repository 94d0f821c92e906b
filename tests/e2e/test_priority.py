"""Priority seen in the browser: a STAT exam is marked on the calendar and leads the
orders list sorted by urgency."""

import pytest
from playwright.sync_api import expect

from tests.factories import book, future_day, local

from .conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_stat_marked_on_calendar_and_first_by_urgency(page, make_user, rooms, artifacts):
    make_user("sam", "scheduler")
    day = future_day(2)
    book(start=local(day, 8), accession_number="ROUT1", patient_name="Early^Ann")
    book(
        start=local(day, 12),
        accession_number="STAT1",
        patient_name="Urgent^Bob",
        requested_procedure_priority="STAT",
    )
    log_in(page, "sam")
    page.goto(f"/calendar/?station=CT1&day={day.isoformat()}")
    expect(page.locator(".blk", has_text="Urgent, Bob").locator(".prio")).to_have_text("STAT")
    page.goto(f"/orders/?day={day.isoformat()}")
    rows = page.locator("#orders tbody tr")
    expect(rows.first).to_contain_text("ROUT1")
    page.get_by_label("Sort").select_option("urgency")
    expect(rows.first).to_contain_text("STAT1")
    expect(rows.first.locator(".prio")).to_have_text("STAT")
    page.screenshot(path=str(artifacts / "orders-by-urgency.png"), full_page=True)
