"""In the browser: a compliance officer finds who viewed a patient and downloads the
access report (headless Debian Chromium through Playwright, against a live server)."""

import csv
import threading

import pytest
from django.test import Client

from tests.conftest import require_peer
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.factories import order_payload
from worklist.models import Patient

from .conftest import api_client_for, events_after, head

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def in_browser(base_url: str, steps):
    """Run `steps(page)` in a Chromium of its own, on a thread of its own: Playwright's
    sync API keeps an event loop on its thread, which neither the ORM calls of this
    test nor the session browser of tests/e2e then share."""
    require_peer(CHROMIUM, "chromium")
    outcome = {}

    def run():
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                context = browser.new_context(base_url=base_url, accept_downloads=True)
                page = context.new_page()
                page.set_default_timeout(15_000)
                outcome["value"] = steps(page)
                browser.close()
        except BaseException as exc:  # noqa: BLE001 - re-raised on the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=120)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.fixture
def alice_viewed_the_patient(scheduler, station):
    response = api_client_for(scheduler).post("/api/orders/", order_payload(), format="json")
    assert response.status_code == 201
    web = Client()
    web.force_login(scheduler)
    assert web.get(f"/patients/{Patient.objects.get().pk}/").status_code == 200


def find_who_viewed_and_download(page, tmp_path):
    page.goto("/login/")
    page.get_by_label("Username").fill("carol")
    page.get_by_label("Password").fill("pw-Secret-1")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Audit").click()
    page.get_by_role("link", name="Patient access report").click()
    page.get_by_label("Patient ID", exact=True).fill("AV35674")
    page.get_by_label("Issuer of patient ID").fill("HOSP")
    page.get_by_label("Since").fill("")
    page.get_by_role("button", name="Show report").click()

    first_actor = page.locator("table.by-actor tbody tr").first
    who = (first_actor.locator("td").first.inner_text(), first_actor.inner_text())
    page.screenshot(path=tmp_path / "report.png", full_page=True)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    return who, saved


def test_compliance_officer_finds_who_viewed_a_patient_and_downloads_the_report(
    live_server, compliance_officer, alice_viewed_the_patient, tmp_path
):
    mark = head()

    (actor, row), report = in_browser(
        live_server.url, lambda page: find_who_viewed_and_download(page, tmp_path)
    )

    assert actor == "alice" and "scheduler" in row
    assert report.name == "access-report-AV35674.csv"
    with open(report, encoding="utf-8") as lines:
        rows = list(csv.DictReader(lines))
    viewed = [r for r in rows if r["actor"] == "alice" and r["event_action_code"] == "R"]
    assert {r["action"] for r in viewed} == {"Patient Record", "Order Record"}
    assert all("AV35674^^^HOSP" in r["patients"] for r in viewed)
    reviews = [e.get_action_display() for e in events_after(mark) if e.username == "carol"]
    assert reviews == ["User Authentication", "Audit Log Used", "Export"]
