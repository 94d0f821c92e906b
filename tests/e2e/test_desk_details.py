"""Details of the desk in the browser: the orders list opens on today and says when a
filter cannot be read; patient search finds a birth date typed in the box; the board
remembers its room and shows the exam under way."""

from datetime import date, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests import factories
from tests.factories import book

from .conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_orders_search_and_board(page, make_user, rooms, artifacts):
    make_user("sam", "scheduler")
    factories.patient(
        "HOSP-77123", patient_name="Vivaldi^Antonio", patient_birth_date=date(1978, 3, 4)
    )
    factories.station("CT7", "CT")  # open around the clock
    start = timezone.localtime().replace(minute=0, second=0, microsecond=0)
    for hour in range(-6, 2):
        book(
            ae_title="CT7",
            start=start + timedelta(hours=hour),
            minutes=60,
            accession_number=f"B{hour + 6}",
            booked_at=timezone.now() - timedelta(days=1),
        )
    log_in(page, "sam")

    page.goto("/orders/")
    expect(page.get_by_label("Date")).to_have_value(timezone.localdate().isoformat())
    page.goto("/orders/?day=2026-13-45&status=SCHEDULED")
    expect(page.locator("#filter-errors")).to_contain_text("Not understood, so not applied: Date")

    page.goto("/patients/")
    page.get_by_role("searchbox").fill("04.03.1978")
    page.get_by_role("searchbox").press("Enter")
    expect(page.get_by_role("link", name="Vivaldi, Antonio")).to_be_visible()

    page.set_viewport_size({"width": 1280, "height": 420})
    page.goto("/board/?station=CT7")
    page.goto("/board/")
    expect(page.get_by_label("Room")).to_have_value("CT7")
    current = page.locator("#current-exam")
    expect(current).to_contain_text("B6")
    expect(current).to_be_in_viewport()
    page.screenshot(path=str(artifacts / "board-current-exam.png"))
