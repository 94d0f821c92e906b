"""Editing a patient's demographics on their page, in the browser."""

import pytest
from playwright.sync_api import expect

from tests import factories
from worklist.models import Patient

from .conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_scheduler_edits_demographics(page, make_user):
    make_user("sam", "scheduler")
    anna = factories.patient("P1", patient_name="Müller^Anna")
    log_in(page, "sam")
    page.goto(f"/patients/{anna.pk}/")
    page.get_by_role("link", name="Edit details").click()
    page.get_by_role("textbox", name="Given name").fill("Anne")
    page.get_by_role("textbox", name="Allergies").fill("Latex")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Müller, Anne")
    expect(page.get_by_role("note", name="Patient alerts")).to_contain_text("Latex")
    assert Patient.objects.get().allergies == "Latex"
