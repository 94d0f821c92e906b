"""The booking desk by keyboard alone: from a patient's page to a booked exam in at
most 15 keystrokes, counted here (a chord such as Alt+F is one keystroke). Then the
appointment letter, printable, with the catalogue's preparation instructions; and the
booking state kept in the address."""

import re

import pytest
from playwright.sync_api import expect

from tests import factories
from worklist.models import Order

from .conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PREPARATION = "Nothing to eat for 4 hours before the scan."


def settled(page):
    page.wait_for_timeout(50)
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


class Keyboard:
    """Presses keys and counts them."""

    def __init__(self, page):
        self.page = page
        self.count = 0

    def press(self, key: str):
        self.page.keyboard.press(key)
        self.count += 1

    def type(self, text: str):
        for character in text:
            self.press(character)


@pytest.fixture
def ct_head(catalogue):
    procedure = catalogue["CTHEAD"]
    procedure.preparation_instructions = PREPARATION
    procedure.save()
    return procedure


def test_book_from_the_patients_page_by_keyboard(page, make_user, rooms, ct_head, artifacts):
    make_user("sam", "scheduler")
    patient = factories.patient("KB1", patient_name="Vivaldi^Antonio")
    log_in(page, "sam")
    page.goto(f"/patients/{patient.pk}/")
    keys = Keyboard(page)

    keys.press("b")  # Book an exam
    picker = page.get_by_role("combobox", name="Procedure")
    expect(picker).to_be_focused()
    keys.type("head")
    expect(page.get_by_role("option", name="CT · CT head (15 min)")).to_be_visible()
    expect(page.get_by_role("option", name="CT · CT chest (20 min)")).to_be_hidden()
    keys.press("Enter")  # picks it: one request for the slots
    settled(page)
    expect(page.locator("#modality")).to_have_text("CT")
    expect(picker).to_be_focused()  # focus stays where the user was
    assert "procedure=" in page.url  # the booking state is in the address

    keys.press("Alt+f")  # first free slot
    settled(page)
    first = page.locator("#first-free-slots input[name=slot]").first
    expect(first).to_be_focused()
    page.screenshot(path=str(artifacts / "first-available.png"), full_page=True)
    keys.press("Enter")  # books it

    expect(page.locator(".messages")).to_contain_text("Booked CT head for Vivaldi, Antonio")
    assert keys.count <= 15, keys.count
    order = Order.objects.get()

    # After booking: book another, or print the appointment letter
    expect(page.get_by_role("link", name="Book another for this patient")).to_have_attribute(
        "href", f"/book/?patient={patient.pk}"
    )
    page.get_by_role("link", name="Appointment letter").click()
    letter = page.get_by_role("article")
    expect(letter).to_contain_text(PREPARATION)
    expect(letter).to_contain_text(order.accession_number)
    page.emulate_media(media="print")
    expect(page.locator("header.topbar")).to_be_hidden()
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    page.screenshot(path=str(artifacts / "appointment-letter-print.png"), full_page=True)


def test_booking_state_survives_a_reload(page, make_user, rooms, ct_head):
    make_user("sam", "scheduler")
    patient = factories.patient("KB2")
    log_in(page, "sam")
    page.goto(f"/book/?patient={patient.pk}")
    picker = page.get_by_role("combobox", name="Procedure")
    picker.fill("CT head")
    picker.press("Enter")
    settled(page)
    page.get_by_label("Room").select_option("CT2")
    expect(page).to_have_url(re.compile(r"station=CT2"))
    settled(page)
    today = page.locator(".range-nav strong").inner_text()
    page.keyboard.press("Alt+n")  # next day
    expect(page.locator(".range-nav strong")).not_to_have_text(today)
    settled(page)
    assert "station=CT2" in page.url and "move" not in page.url
    shown = page.locator(".range-nav strong").inner_text()
    page.reload()
    expect(page.get_by_role("combobox", name="Procedure")).to_have_value("CT · CT head (15 min)")
    expect(page.get_by_label("Room")).to_have_value("CT2")
    expect(page.locator(".range-nav strong")).to_have_text(shown)
