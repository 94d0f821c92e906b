"""The calendar as a scheduling grid in the browser: closed hours shaded, free gaps
booked by a click for the patient it was opened for, room headers that stay in view."""

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.factories import future_day, local
from worklist.models import Order

from .conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def settled(page):
    page.wait_for_timeout(50)
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


def test_free_gap_booked_by_click(page, make_user, rooms, catalogue, artifacts):
    make_user("sam", "scheduler")
    day = future_day(2)
    patient = factories.patient("GAP1", patient_name="Vivaldi^Antonio")
    factories.book(ae_title="CT1", start=local(day, 7), minutes=120)
    log_in(page, "sam")
    page.goto(f"/patients/{patient.pk}/")
    page.get_by_role("link", name="Find a free gap").click()
    page.get_by_label("Room").select_option("CT1")
    settled(page)
    page.locator("#id_day").fill(day.isoformat())
    settled(page)
    gap = page.get_by_role("link", name="Free 09:00–19:00 in CT1: book")
    expect(gap).to_be_visible()
    head = page.locator(".cal-head").first
    assert head.evaluate("e => getComputedStyle(e).position") == "sticky"
    page.screenshot(path=str(artifacts / "calendar-gaps.png"), full_page=True)
    gap.click()
    picker = page.get_by_role("combobox", name="Procedure")
    picker.fill("CT head")
    picker.press("Enter")
    settled(page)
    chosen = page.locator(f"input[name=slot][value='CT1|{local(day, 9).isoformat()}']")
    expect(chosen).to_be_checked()
    page.get_by_role("button", name="Book exam").click()
    expect(page.locator(".messages")).to_contain_text("Booked CT head for Vivaldi, Antonio")
    assert Order.objects.filter(patient=patient).count() == 1
