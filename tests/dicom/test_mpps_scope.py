"""A modality reports performed steps only for the stations it may see, as it only
sees their worklist (issue 10): the Performed Station AE Title of an N-CREATE, and
the station of the instance an N-SET changes, must be in the caller's scope (its own
AE title counts), else 0124 Refused: Not authorized, audited; a scheduled step on a
station outside the scope is not linked."""

import pytest

from audit.codes import Action, Outcome
from audit.models import Event
from tests.factories import book_step, station
from worklist.models import PerformedProcedureStep, StepStatus

from .mpps_messages import n_create, n_set_completed
from .test_mpps_lifecycle import Modality
from .test_mpps_statuses import gateway

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR")


@pytest.fixture
def rooms(dicom_port):
    station("CT1")
    station("CT2")
    return dicom_port


@pytest.fixture
def ct1(rooms):
    modality = Modality(rooms, "CT1")
    yield modality
    modality.close()


@pytest.fixture
def ct2(rooms):
    modality = Modality(rooms, "CT2")
    yield modality
    modality.close()


def refusals():
    return Event.objects.filter(
        action=Action.PROCEDURE_RECORD, event_outcome_indicator__gt=Outcome.SUCCESS
    )


def test_an_n_create_for_a_station_outside_the_scope_is_refused_not_authorized(ct2):
    step = book_step(ae_title="CT1", patient_id="AV35674")
    _, status, _ = ct2.create(n_create(step, ae_title="CT1"))
    assert status.Status == 0x0124
    assert "scope" in status.ErrorComment
    assert not PerformedProcedureStep.objects.exists()
    step.refresh_from_db()
    assert step.scheduled_procedure_step_status == StepStatus.SCHEDULED
    (event,) = refusals()
    assert event.ae_title == "CT2"
    assert [p.patient_id for p in event.patients.all()] == ["AV35674"]


def test_an_n_set_from_a_caller_whose_scope_does_not_cover_the_station_is_refused(ct1, ct2):
    step = book_step(ae_title="CT1")
    uid, status, _ = ct1.create(n_create(step, ae_title="CT1"))
    assert status.Status == 0x0000
    refused = ct2.set(uid, n_set_completed())
    assert refused.Status == 0x0124
    performed = PerformedProcedureStep.objects.get()
    assert performed.performed_procedure_step_status == "IN PROGRESS"
    step.refresh_from_db()
    assert step.scheduled_procedure_step_status == StepStatus.IN_PROGRESS
    (event,) = refusals()
    assert event.ae_title == "CT2"
    assert ct1.set(uid, n_set_completed()).Status == 0x0000


def test_a_scheduled_step_on_a_station_outside_the_scope_is_not_linked(ct2):
    step = book_step(ae_title="CT1")
    uid, status, _ = ct2.create(n_create(step, ae_title="CT2"))
    assert status.Status == 0x0000
    performed = PerformedProcedureStep.objects.get(sop_instance_uid=uid)
    assert performed.unscheduled
    assert "outside CT2's scope" in performed.match_note
    step.refresh_from_db()
    assert step.scheduled_procedure_step_status == StepStatus.SCHEDULED


def test_a_modality_granted_several_stations_reports_for_each_and_for_itself(rooms):
    gateway("CTGW", stations=["CT1", "CT2"])
    first, second = book_step(ae_title="CT1"), book_step(ae_title="CT2")
    modality = Modality(rooms, "CTGW")
    try:
        for step, performed_station in ((first, "CT1"), (second, "CTGW")):
            _, status, _ = modality.create(n_create(step, ae_title=performed_station))
            assert status.Status == 0x0000
    finally:
        modality.close()
    assert not PerformedProcedureStep.objects.filter(unscheduled=True).exists()
