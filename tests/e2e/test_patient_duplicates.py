"""Registering a patient who may already be registered: the desk sees the candidates,
with links, before anything is saved."""

from datetime import date

import pytest
from playwright.sync_api import expect

from tests import factories
from worklist.models import Patient

from .conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_possible_duplicates_shown_before_saving(page, make_user, artifacts):
    make_user("sam", "scheduler")
    known = factories.patient(
        "H77", patient_name="Dvořák^Antonín", patient_birth_date=date(1941, 9, 8)
    )
    log_in(page, "sam")
    page.goto("/patients/new/")
    page.get_by_role("textbox", name="Patient ID", exact=True).fill("E2E002")
    page.get_by_role("textbox", name="Family name").fill("ANTONIN")  # parts swapped
    page.get_by_role("textbox", name="Given name").fill("dvorak")  # no accents
    page.locator("#id_patient_birth_date").fill("1941-09-08")
    page.get_by_role("combobox", name="Sex").select_option("M")
    page.get_by_role("button", name="Register patient").click()
    candidates = page.get_by_role(
        "region", name="Possible duplicates: is it one of these patients?"
    )
    expect(candidates).to_contain_text("H77")
    page.screenshot(path=str(artifacts / "registration-duplicates.png"), full_page=True)
    assert not Patient.objects.filter(patient_id="E2E002").exists()

    page.get_by_label("None of these: register a new patient").check()
    page.get_by_role("button", name="Register patient").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("ANTONIN, dvorak")
    assert Patient.objects.filter(patient_id="E2E002").exists()

    page.goto("/patients/new/")
    page.get_by_role("textbox", name="Patient ID", exact=True).fill("E2E003")
    page.get_by_role("textbox", name="Family name").fill("Dvorak")
    page.get_by_role("textbox", name="Given name").fill("Antonin")
    page.locator("#id_patient_birth_date").fill("1941-09-08")
    page.get_by_role("combobox", name="Sex").select_option("M")
    page.get_by_role("button", name="Register patient").click()
    page.get_by_role("link", name="Dvořák, Antonín").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dvořák, Antonín")
    assert page.url.endswith(f"/patients/{known.pk}/")
