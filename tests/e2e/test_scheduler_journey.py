"""A scheduler's day in a real browser: log in, register a patient, book an exam, see
it on the calendar, reschedule it, cancel it. A technologist cannot book; a wrong
password is refused."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.factories import future_day
from worklist.models import Order, OrderStatus, StepStatus

from .conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def settled(page):
    """Wait until no htmx request is in flight (htmx marks its element meanwhile)."""
    page.wait_for_timeout(50)
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


def slot(page, ae_title, day, text):
    group = page.get_by_role("group", name=f"{ae_title} · {day:%a %Y-%m-%d}")
    return group.get_by_text(text, exact=True)


def test_scheduler_registers_books_reschedules_and_cancels(
    page, make_user, rooms, catalogue, artifacts
):
    make_user("sam", "scheduler")
    day = future_day(2)

    log_in(page, "sam")
    expect(page.get_by_text("Signed in as")).to_contain_text("sam")

    # Register a patient
    page.get_by_role("link", name="Register a patient").first.click()
    page.get_by_role("textbox", name="Patient ID", exact=True).fill("E2E001")
    page.get_by_role("textbox", name="Family name").fill("Dvořák")
    page.get_by_role("textbox", name="Given name").fill("Antonín")
    page.locator("#id_patient_birth_date").fill("1941-09-08")
    page.get_by_role("combobox", name="Sex").select_option("M")
    page.get_by_role("button", name="Register patient").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dvořák, Antonín")

    # Book: the procedure fills modality and duration, the slots appear (htmx)
    page.get_by_role("link", name="Book an exam").click()
    picker = page.get_by_role("combobox", name="Procedure")
    picker.fill("CT head")
    picker.press("Enter")
    settled(page)
    expect(page.locator("#modality")).to_have_text("CT")
    expect(page.get_by_label("Duration (min)")).to_have_value("15")
    page.get_by_label("From").fill(day.isoformat())  # fires change: htmx reloads the slots
    settled(page)
    slot(page, "CT1", day, "09:00").click()
    page.get_by_label("Reason for the exam").fill("Headache")
    page.get_by_role("button", name="Book exam").click()
    expect(page.locator(".messages")).to_contain_text("Booked CT head for Dvořák, Antonín at 09:00")
    order = Order.objects.get()
    step = order.requested_procedure.scheduled_procedure_steps.get()
    assert timezone.localtime(step.start).hour == 9

    # On the calendar
    page.goto(f"/calendar/?station=CT1&day={day.isoformat()}")
    block = page.locator(".blk", has_text="Dvořák, Antonín")
    expect(block).to_contain_text("09:00")
    expect(block).to_have_class(re.compile(r"\bscheduled\b"))
    page.screenshot(path=str(artifacts / "calendar-day.png"), full_page=True)

    # Reschedule to another room and time
    block.click()
    page.get_by_role("link", name="Reschedule").click()
    page.get_by_label("Room").select_option("CT2")
    settled(page)
    slot(page, "CT2", day, "10:30").click()
    page.get_by_role("button", name="Move to the chosen slot").click()
    moved = page.locator(".blk", has_text="Dvořák, Antonín")
    expect(moved).to_contain_text("10:30")
    expect(page.locator(".cal-head")).to_contain_text("CT2")
    step.refresh_from_db()
    assert step.station.scheduled_station_ae_title == "CT2"

    # Cancel with a reason
    moved.click()
    page.get_by_role("link", name="Cancel…").click()
    page.get_by_role("button", name="Cancel the exam").click()
    expect(page.locator("#id_reason_error")).to_contain_text("This field is required")
    page.get_by_role("textbox", name="Reason").fill("Patient declined")
    page.get_by_role("button", name="Cancel the exam").click()
    expect(page.locator(".messages")).to_contain_text(
        f"Cancelled CT head for Dvořák, Antonín at 10:30 on {day:%a} {day.day} {day:%b %Y} in CT2 "
        f"(order {order.accession_number} cancelled)"
    )
    expect(page.locator(".blk", has_text="Dvořák, Antonín")).to_have_class(
        re.compile(r"\bdiscontinued\b")
    )
    order.refresh_from_db()
    step.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert step.scheduled_procedure_step_status == StepStatus.DISCONTINUED

    # The order's history tells the story
    page.goto(f"/orders/{order.pk}/")
    history = page.get_by_role("list", name="Order history")
    for kind in ("Booked", "Rescheduled", "Cancelled"):
        expect(history).to_contain_text(kind)


def test_technologist_cannot_reach_the_booking_page(page, make_user, rooms):
    make_user("tess", "technologist")
    log_in(page, "tess")
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Calendar")
    ).to_be_visible()
    response = page.goto("/book/?patient=1")
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")


def test_a_wrong_password_is_refused(page, make_user):
    make_user("sam", "scheduler")
    log_in(page, "sam", password="wrong-password")
    expect(page.locator(".errorlist")).to_contain_text("Please enter a correct username")
    assert page.url.endswith("/login/")
    expect(page.get_by_text("Signed in as")).to_have_count(0)
