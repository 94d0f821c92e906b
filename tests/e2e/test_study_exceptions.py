"""A scheduler works the study exceptions in a real browser: the navigation counts
them, an unscheduled study is linked to its order from the candidates offered, a
mismatch (the images carry a misspelt name) is shown beside its order with the
difference marked and the order's demographics accepted; the queue is then empty and
the order page shows the images with their preview."""

import importlib
import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, Permission
from playwright.sync_api import expect

from tests.studies.dicom_files import StudySpec, write_study
from tests.studies_ui.conftest import arrive, book, decide, keep
from worklist.models import Study

from .conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def studies_waiting(settings, tmp_path, rooms, make_user):
    """An unscheduled walk-in (no files) and a mismatch whose images are kept."""
    settings.DATA_DIR = tmp_path / "data"
    settings.RIS_STORE_FILES = True
    settings.RIS_RECONCILE_QUIET_SECONDS = 30
    settings.RIS_VIEWER_URL = (
        "https://viewer.example.org/viewer?StudyInstanceUIDs={study_instance_uid}"
    )
    roles = importlib.import_module("worklist.migrations.0010_study_roles")
    make_user("sam", "scheduler")
    roles.grant_study_permissions(Group, Permission)
    # booked for another day: the walk-in came early, reconciliation cannot tell
    walk_in_order = book(
        "A0100",
        patient={"patient_id": "WALKIN", "patient_name": "Walker^Wanda"},
        start=datetime(2026, 11, 27, 10, 0, tzinfo=UTC),
    )
    mismatch_order = book("A0001")
    unscheduled = decide(
        arrive(
            "1.2.3.1",
            patient_id="WALKIN",
            patient_name="Walker^Wanda",
            study_description="CT chest",
        )
    )
    spec = StudySpec(
        patient_name="Vivaldi^Antonia", accession_number="A0001", rows=256, columns=256, series=(3,)
    )
    for path in write_study(spec, tmp_path / "mismatch"):
        keep(path)
    mismatch = decide(Study.objects.get(study_instance_uid=spec.study_instance_uid))
    assert (unscheduled.outcome, mismatch.outcome) == ("UNSCHEDULED", "MISMATCH")
    # the walk-in waited longer
    Study.objects.filter(pk=unscheduled.pk).update(
        first_received_at=mismatch.first_received_at.replace(year=2025)
    )
    return walk_in_order, mismatch_order, unscheduled, mismatch


def nav_link(page):
    return page.get_by_role("navigation", name="Main").get_by_role(
        "link", name=re.compile("^Study exceptions")
    )


def test_scheduler_works_study_exceptions_until_none_is_left(page, studies_waiting, artifacts):
    walk_in_order, mismatch_order, unscheduled, mismatch = studies_waiting

    log_in(page, "sam")
    expect(nav_link(page)).to_have_text("Study exceptions 2")
    nav_link(page).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Study exceptions")
    rows = page.get_by_role("table", name="Open study exceptions").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("UNSCHEDULED")
    expect(rows.nth(1)).to_contain_text("MISMATCH")
    page.screenshot(path=str(artifacts / "study-exceptions.png"), full_page=True)

    # The walk-in: its own patient's order is offered first; link it
    rows.nth(0).get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Walker, Wanda")
    candidates = page.get_by_role("list", name="Orders this study may belong to")
    expect(candidates.locator("li").first).to_contain_text("A0100")
    candidates.get_by_role("button", name="Link to order A0100").click()
    expect(page.locator(".messages")).to_contain_text("Study linked to order A0100, now MATCHED.")
    expect(page.get_by_role("status").filter(has_text="No open exception")).to_be_visible()
    expect(nav_link(page)).to_have_text("Study exceptions 1")

    # The mismatch: the misspelt name is marked beside the order's
    page.get_by_role("link", name="Next exception →").click()
    differing = page.locator("table.compare tr.differs")
    expect(differing).to_have_count(1)
    expect(differing).to_contain_text("Patient's name")
    expect(differing).to_contain_text("Vivaldi, Antonia")
    expect(differing).to_contain_text("Vivaldi, Antonio")
    preview = page.get_by_role("img", name=re.compile("Middle image of series 1"))
    preview.scroll_into_view_if_needed()
    expect(preview).to_have_js_property("naturalWidth", 256)
    page.screenshot(path=str(artifacts / "study-mismatch.png"), full_page=True)
    page.get_by_role("textbox", name="Comment", exact=True).fill(
        "Name misspelt at the console; archive corrected"
    )
    page.get_by_role("button", name="Accept the order's demographics").click()
    expect(page.locator(".messages")).to_contain_text("demographics are accepted")
    expect(nav_link(page)).to_have_text("Study exceptions")

    nav_link(page).click()
    expect(page.get_by_text("No open exception.")).to_be_visible()

    # The order shows its images, a preview and the viewer link
    page.goto(f"/orders/{mismatch_order.pk}/")
    panel = page.locator(".study-panel")
    expect(panel).to_contain_text("MISMATCH")
    expect(panel).to_contain_text("3 images in 1 series from CT1")
    expect(panel.get_by_role("link", name="Open in viewer")).to_be_visible()
    expect(panel.get_by_role("img")).to_have_js_property("naturalWidth", 256)
    page.screenshot(path=str(artifacts / "order-images.png"), full_page=True)
    history = page.get_by_role("list", name="Order history")
    expect(history).to_contain_text("Study exception worked")

    assert not Study.objects.filter(exception_open=True).exists()
    assert Study.objects.get(pk=unscheduled.pk).order == walk_in_order
