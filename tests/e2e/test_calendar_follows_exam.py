"""The calendar follows the exam: while a scheduler looks at the day, the modality in the
room starts the booked exam (an MPPS N-CREATE, IN PROGRESS, sent over DICOM to the
running listener) and the page shows the step in progress by itself: no reload, no
navigation; the toolbar still moves to another day afterwards."""

import re
from datetime import date, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import ModalityPerformedProcedureStep

from tests.dicom.mpps_messages import n_create
from tests.factories import book_step, future_day, local
from worklist.dicom import listener
from worklist.models import StepStatus

from .conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

POLL_SECONDS = 1


@pytest.fixture
def dicom_port(transactional_db, settings):
    """The DICOM listener on a free port, answering from its own threads: they read
    and write the test database through their own connections, which is why these
    tests commit (transactional database)."""
    settings.RIS_AE_TITLE = "RIS"
    settings.RIS_DICOM_STRICT_AE = True
    server = listener.start(host="127.0.0.1", port=0, tls_port=0)
    yield server.server_address[1]
    listener.stop(server)


def in_progress(step) -> Dataset:
    """The N-CREATE attribute list a CT sends when it starts the worklist entry (PS3.4
    Table F.7.2-1), started now."""
    started = timezone.localtime()
    return n_create(
        step,
        PerformedStationName="CT room 1",
        PerformedProcedureStepStartDate=f"{started:%Y%m%d}",
        PerformedProcedureStepStartTime=f"{started:%H%M%S}",
    )


def start_exam(port, step) -> None:
    """The CT in room CT1 starts the exam: N-CREATE of a Modality Performed Procedure
    Step on an association of its own, as a modality does."""
    ae = AE(ae_title="CT1")
    ae.add_requested_context(ModalityPerformedProcedureStep)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    assoc = ae.associate("127.0.0.1", port, ae_title="RIS")
    assert assoc.is_established, "the listener refused the association for MPPS"
    try:
        status, _ = assoc.send_n_create(
            in_progress(step), ModalityPerformedProcedureStep, generate_uid()
        )
    finally:
        assoc.release()
    assert status is not None and status.Status == 0x0000, status


def test_the_calendar_shows_the_exam_a_modality_started_without_a_reload(
    page, make_user, rooms, dicom_port, settings
):
    settings.RIS_UI_POLL_SECONDS = POLL_SECONDS
    make_user("sam", "scheduler")
    day = future_day(1)
    step = book_step(
        start=local(day, 9),
        patient={
            "patient_id": "E2E-MPPS-1",
            "patient_name": "Vivaldi^Antonio",
            "patient_birth_date": date(1978, 3, 4),
            "patient_sex": "M",
        },
        step={"scheduled_procedure_step_description": "CT head"},
        requested_procedure_description="CT head without contrast",
    )

    log_in(page, "sam")
    expect(page.get_by_text("Signed in as")).to_contain_text("sam")
    page.goto(f"/calendar/?station=CT1&day={day.isoformat()}")
    block = page.locator(".blk", has_text="Vivaldi, Antonio")
    expect(block).to_have_class(re.compile(r"\bscheduled\b"))
    page.evaluate("() => { window.stillTheSamePage = true; }")
    url = page.url

    start_exam(dicom_port, step)
    step.refresh_from_db()
    assert step.scheduled_procedure_step_status == StepStatus.IN_PROGRESS

    expect(block).to_have_class(re.compile(r"\bin-progress\b"), timeout=10_000)
    expect(block).to_have_attribute("aria-label", re.compile("IN PROGRESS"))
    expect(block.locator(".mark")).to_have_text("▶")
    assert page.evaluate("() => window.stillTheSamePage") is True
    assert page.url == url

    # The toolbar still navigates (and pushes its URL); polling then follows the new
    # day instead of bringing the old one back.
    page.get_by_role("link", name="Next →").click()
    next_day = day + timedelta(days=1)
    expect(page).to_have_url(re.compile(f"day={next_day.isoformat()}"))
    heading = page.locator("#calendar-body h2")
    expect(heading).to_contain_text(f"{next_day:%a %Y-%m-%d}")
    page.wait_for_timeout(POLL_SECONDS * 2500)
    expect(heading).to_contain_text(f"{next_day:%a %Y-%m-%d}")
    expect(page.locator(".blk", has_text="Vivaldi, Antonio")).to_have_count(0)
    assert page.evaluate("() => window.stillTheSamePage") is True
