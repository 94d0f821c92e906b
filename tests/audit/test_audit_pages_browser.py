"""The compliance officer's audit pages in headless Chromium: the home page leads to
them, the access report of a busy patient goes back page by page, a list event's
"+N more" opens on the other patients, unusual access lists the record opened without
an order relationship. Screenshots go to RIS_TEST_ARTIFACTS."""

import pytest
from playwright.sync_api import expect

from audit.codes import Action
from tests.e2e.conftest import ARTIFACTS, browser, log_in  # noqa: F401  (the module's Chromium)

from .conftest import record_as

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def busy_trail(scheduler):
    """Alice opened patient AV35674's record 60 times, and a list of 12 patients."""
    for _ in range(60):
        record_as(scheduler, Action.PATIENT_RECORD, patients=[("AV35674", "HOSP")])
    record_as(scheduler, Action.PATIENT_RECORD, patients=[(f"L{i:02}", "HOSP") for i in range(12)])


@pytest.fixture
def page(browser, live_server, compliance_officer):  # noqa: F811
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, "carol", "pw-Secret-1")
    yield page
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"audit-{name}.png", full_page=True)


def test_a_compliance_officer_walks_the_audit_pages(page, busy_trail):
    rows = page.locator("table.audit-events tbody tr")
    page.goto("/")
    entry = page.locator("section.audit-entry")
    for name in ("Search events", "Patient access report", "Unusual access"):
        expect(entry.get_by_role("link", name=name, exact=True)).to_be_visible()
    shot(page, "home")

    entry.get_by_role("link", name="Patient access report", exact=True).click()
    page.get_by_label("Patient ID", exact=True).fill("AV35674")
    page.get_by_label("Issuer of patient ID").fill("HOSP")
    page.get_by_label("Since").fill("")
    page.get_by_role("button", name="Show report").click()
    expect(page.locator("table.by-actor tbody tr").first).to_contain_text("alice")
    expect(page.locator("table.by-actor tbody tr").first).to_contain_text("60")
    expect(rows).to_have_count(50)
    shot(page, "report-page-1")
    page.get_by_role("link", name="Older").click()
    expect(page.get_by_role("link", name="Newer")).to_be_visible()
    expect(page.get_by_role("link", name="Older")).to_have_count(0)
    # The rest of alice's 60 events, and possibly the officer's own first look at the
    # report (reads are recorded after the answer, so it may land on either page).
    expect(rows.filter(has_text="alice")).to_have_count(10)
    assert rows.count() in (10, 11)
    page.get_by_role("link", name="Newer").click()
    expect(rows).to_have_count(50)

    page.get_by_role("link", name="Search events").click()
    page.get_by_label("User").fill("alice")
    page.get_by_role("button", name="Search").click()
    listed = rows.filter(has_text="L00")
    expect(listed).to_contain_text("+9 more")
    expect(listed.get_by_text("L11")).to_be_hidden()
    listed.get_by_text("+9 more").click()
    expect(listed.get_by_text("L11")).to_be_visible()
    shot(page, "search-expanded")

    page.get_by_role("link", name="Unusual access").click()
    unrelated = page.locator("table.unrelated tbody tr")
    expect(unrelated.filter(has_text="AV35674")).to_contain_text("alice")
    shot(page, "unusual")
