"""Patient safety at the booking desk, in a real browser: the patient's alerts in the
booking header, on the step and on the board; a booking over the patient's other exam
refused with that exam named; a contrast exam for a contrast-allergic patient booked
only once the allergy is acknowledged."""

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


def slot(page, ae_title, day, text):
    group = page.get_by_role("group", name=f"{ae_title} · {day:%a %Y-%m-%d}")
    return group.get_by_text(text, exact=True)


@pytest.fixture
def allergic(db):
    return factories.patient(
        "SAFE1",
        patient_name="Vivaldi^Antonio",
        allergies="Iodinated contrast",
        special_needs="Wheelchair",
    )


@pytest.fixture
def contrast_ct(catalogue):
    procedure = factories.procedure("CTABDC", "CT abdomen with contrast", "CT", 15)
    procedure.uses_contrast = True
    procedure.save()
    return procedure


def test_overlap_refused_and_allergy_acknowledged(
    page, make_user, rooms, contrast_ct, allergic, artifacts
):
    make_user("sam", "scheduler")
    day = future_day(3)
    first = factories.book_step(patient=allergic, ae_title="CT1", start=local(day, 9), minutes=30)
    log_in(page, "sam")
    page.goto(f"/book/?patient={allergic.pk}&procedure={contrast_ct.pk}&day={day.isoformat()}")
    alerts = page.get_by_role("note", name="Patient alerts")
    expect(alerts).to_contain_text("Allergy: Iodinated contrast")
    expect(alerts).to_contain_text("Special needs: Wheelchair")
    confirm = page.locator("#safety-confirm")
    expect(confirm).to_contain_text("Contrast allergy")
    page.screenshot(path=str(artifacts / "booking-header-alerts.png"), full_page=True)

    # The allergy is not acknowledged yet: refused, nothing booked
    slot(page, "CT2", day, "10:00").click()
    page.get_by_role("button", name="Book exam").click()
    expect(page.locator("#safety-refusal")).to_contain_text("Acknowledge first")
    assert Order.objects.count() == 1
    page.get_by_label("I acknowledge: Contrast allergy", exact=False).check()

    # CT2 at 09:15 while the patient is in CT1 09:00-09:30: refused, the other exam named
    slot(page, "CT2", day, "09:15").click()
    page.get_by_role("button", name="Book exam").click()
    refusal = page.locator("#safety-refusal")
    expect(refusal).to_contain_text("already booked")
    expect(refusal).to_contain_text(first.scheduled_procedure_step_id)
    expect(refusal).to_contain_text("in CT1")
    expect(page.locator("#safety-confirm")).to_contain_text("needs the permission")
    assert Order.objects.count() == 1

    # 10:00 is free for the patient; the acknowledgement is kept
    expect(page.get_by_label("I acknowledge: Contrast allergy", exact=False)).to_be_checked()
    slot(page, "CT2", day, "10:00").click()
    page.get_by_role("button", name="Book exam").click()
    expect(page.locator(".messages")).to_contain_text("Booked CT abdomen with contrast")
    order = Order.objects.exclude(pk=first.requested_procedure.order_id).get()
    assert order.alert_acknowledgements[0]["code"] == "CONTRAST_ALLERGY"
    assert order.alert_acknowledgements[0]["user"] == "sam"

    # The step and the board show the alerts too
    step = order.requested_procedure.scheduled_procedure_steps.get()
    page.goto(f"/steps/{step.pk}/")
    expect(page.get_by_role("note", name="Patient alerts")).to_contain_text("Iodinated")


def test_override_with_permission(page, make_user, rooms, catalogue, allergic):
    from django.contrib.auth.models import Permission

    lead = make_user("lea", "scheduler")
    lead.user_permissions.add(Permission.objects.get(codename="allow_patient_overlap"))
    day = future_day(3)
    factories.book_step(patient=allergic, ae_title="CT1", start=local(day, 9))
    log_in(page, "lea")
    page.goto(
        f"/book/?patient={allergic.pk}&procedure={catalogue['CTHEAD'].pk}&day={day.isoformat()}"
    )
    slot(page, "CT2", day, "09:00").click()
    page.get_by_role("button", name="Book exam").click()
    expect(page.locator("#safety-refusal")).to_contain_text("already booked")
    page.get_by_label("Book anyway", exact=False).check()
    slot(page, "CT2", day, "09:00").click()
    page.get_by_role("button", name="Book exam").click()
    expect(page.locator(".messages")).to_contain_text("Booked CT head")
    assert Order.objects.count() == 2


def test_a_move_after_an_allergy_was_recorded_asks_as_booking_does(
    page, make_user, rooms, contrast_ct, artifacts
):
    from worklist.services.patients import patient_update

    make_user("sam", "scheduler")
    day = future_day(3)
    anna = factories.patient("SAFE2", patient_name="Vivaldi^Anna")
    step = factories.book_step(
        patient=anna, procedure=contrast_ct, ae_title="CT1", start=local(day, 9)
    )
    patient_update(patient=anna, allergies="Iodinated contrast")
    log_in(page, "sam")
    page.goto(f"/steps/{step.pk}/reschedule/?day={day.isoformat()}")
    expect(page.locator("#safety-confirm")).to_contain_text("Contrast allergy")
    page.screenshot(path=str(artifacts / "move-asks-acknowledgement.png"), full_page=True)

    # not acknowledged: refused, the step stays
    slot(page, "CT2", day, "11:00").click()
    page.get_by_role("button", name="Move to the chosen slot").click()
    expect(page.locator("#safety-refusal")).to_contain_text("Acknowledge first")
    step.refresh_from_db()
    assert step.station.scheduled_station_ae_title == "CT1"

    page.get_by_label("I acknowledge: Contrast allergy", exact=False).check()
    slot(page, "CT2", day, "11:00").click()
    page.get_by_role("button", name="Move to the chosen slot").click()
    expect(page.locator(".messages")).to_contain_text("Moved CT abdomen with contrast")
    step.refresh_from_db()
    assert step.station.scheduled_station_ae_title == "CT2"
    order = Order.objects.get(pk=step.requested_procedure.order_id)
    assert order.alert_acknowledgements[0]["user"] == "sam"
