"""An export from request to download in headless Chromium: a researcher requests it,
a compliance officer approves it, the build runs, the researcher downloads the ZIP;
its CSV holds no name, patient ID, birth date or accession number and DCMTK's dcmdump
reads every image in it."""

import csv
import io
import subprocess
import zipfile

import pytest
from playwright.sync_api import expect

from tests.conftest import require_peer
from tests.e2e.conftest import browser, log_in  # noqa: F401  (the module's Chromium)
from tests.export.conftest import PATIENTS, YEAR, member
from tests.export.test_export_images import store
from worklist.models import Order

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-Secret-1"


@pytest.fixture
def people(django_user_model):
    return member(django_user_model, "rita", "researcher"), member(
        django_user_model, "carol", "compliance officer"
    )


@pytest.fixture
def images_kept(department, settings):
    """The CT heads arrived and were kept as files (two images each)."""
    settings.RIS_STORE_FILES = True
    cts = [o for o in department if o.requested_procedure.requested_procedure_description]
    cts = [o for o in cts if "CT head" in o.requested_procedure.requested_procedure_description]
    return [store(order) for order in cts]


def browser_page(browser, live_server, username):  # noqa: F811
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, username, PASSWORD)
    return page


def request_export(page) -> str:
    page.goto("/exports/")
    page.get_by_role("link", name="Request an export").click()
    page.get_by_label("New project name").fill("Headache study")
    page.get_by_label("Purpose").fill("Headache cohort for a retrospective study")
    page.get_by_label("Since").fill(f"{YEAR}-01-01")
    page.get_by_label("Until").fill(f"{YEAR}-03-31")
    page.get_by_label("Modalities").fill("CT")
    page.get_by_label("Images (where their files are kept)").check()
    page.get_by_label("JSON (DICOM JSON model)").check()
    page.get_by_label("Retain Longitudinal Temporal Information Modified Dates").check()
    page.get_by_role("button", name="Request").click()
    expect(page.locator("#progress")).to_contain_text("Waiting for approval")
    return page.url


def approve(page, export_url: str, artifacts) -> None:
    page.goto("/exports/")
    pk = export_url.rstrip("/").rsplit("/", 1)[1]
    page.get_by_role("link", name=f"Export {pk}", exact=True).first.click()
    assert page.url == export_url
    page.get_by_label("Comment").fill("Ethics committee ref. EC-2026-17")
    page.screenshot(path=artifacts / "export-decision.png", full_page=True)
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#progress")).to_contain_text("Ready to download")
    expect(page.get_by_role("link", name="Download the ZIP")).to_have_count(0)


def download(page, export_url: str, artifacts, tmp_path):
    page.goto(export_url)
    expect(page.locator("#progress")).to_contain_text("Ready to download")
    page.screenshot(path=artifacts / "export-ready.png", full_page=True)
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the ZIP").click()
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    return saved


@pytest.fixture
def artifacts():
    from tests.e2e.conftest import ARTIFACTS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def identifiers() -> set[str]:
    """What must not leave: every name part, patient ID, birth date (both forms) and
    accession number of the department."""
    found = set()
    for patient_id, name, born, _sex in PATIENTS:
        found |= {patient_id, born.isoformat(), f"{born:%Y%m%d}"}
        found |= {part for part in name.split("^") if part}
    found |= set(Order.objects.values_list("accession_number", flat=True))
    return found


def test_a_researcher_gets_an_approved_export_through_the_browser(
    browser,  # noqa: F811
    live_server,
    people,
    images_kept,
    artifacts,
    tmp_path,
):
    dcmdump = require_peer("dcmdump", "dcmtk")
    researcher = browser_page(browser, live_server, "rita")
    export_url = request_export(researcher)
    officer = browser_page(browser, live_server, "carol")

    approve(officer, export_url, artifacts)
    saved = download(researcher, export_url, artifacts, tmp_path)

    archive = zipfile.ZipFile(saved)
    root = archive.namelist()[0].split("/")[0]
    text = archive.read(f"{root}/worklist.csv").decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 4  # the four CT heads of the first quarter
    tables = [name for name in archive.namelist() if name.endswith(".csv")]
    assert sorted(n.split("/")[-1] for n in tables) == ["performed_steps.csv", "worklist.csv"]
    for name in tables:
        table = archive.read(name).decode("utf-8")
        assert not {value for value in identifiers() if value in table}, name
    assert all(row["PatientID"].startswith("R") for row in rows)
    images = [name for name in archive.namelist() if name.endswith(".dcm")]
    assert len(images) == 8
    archive.extractall(tmp_path / "unzipped")
    for name in images:
        run = subprocess.run(
            [dcmdump, "-q", str(tmp_path / "unzipped" / name)], capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        assert not {value for value in identifiers() if value in run.stdout}
