"""A modality reports its exam by MPPS and the order follows (PS3.4 F.7, IHE RAD-6
and RAD-7), driven with pynetdicom as the modality against the running listener:
normal, discontinued, unscheduled then linked, the group and append cases, retries."""

import pytest
from pydicom.uid import generate_uid
from pynetdicom.sop_class import ModalityPerformedProcedureStep

from audit.codes import Action, Channel, Outcome, Verb
from audit.models import Event
from tests.factories import book_step, future_day, local, station
from worklist.models import OrderEvent, OrderStatus, PerformedProcedureStep, StepStatus
from worklist.services import performed_steps

from .conftest import associate
from .mpps_messages import n_create, n_set_completed, n_set_discontinued, series

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR")

DAY = future_day(7)  # a day ahead: its bookings are all in the future

MPPS = ModalityPerformedProcedureStep


@pytest.fixture
def port(dicom_port):
    station("CT1")
    station("MR1", modality="MR")
    return dicom_port


class Modality:
    """One association of a modality to the RIS, kept open across messages."""

    def __init__(self, port, ae_title="CT1"):
        self.assoc = associate(port, calling_ae=ae_title, contexts=(MPPS,))
        assert self.assoc.is_established

    def create(self, attributes, uid=None):
        uid = uid or generate_uid()
        status, answer = self.assoc.send_n_create(attributes, MPPS, uid)
        return uid, status, answer

    def set(self, uid, modifications):
        status, _ = self.assoc.send_n_set(modifications, MPPS, uid)
        return status

    def close(self):
        self.assoc.release()


@pytest.fixture
def ct(port):
    modality = Modality(port, "CT1")
    yield modality
    modality.close()


def status_of(step):
    step.refresh_from_db()
    order = step.requested_procedure.order
    order.refresh_from_db()
    return step.scheduled_procedure_step_status, order.status


def test_n_create_starts_the_scheduled_step_and_its_order(ct):
    step = book_step()
    uid, status, _ = ct.create(n_create(step))
    assert status.Status == 0x0000
    assert status_of(step) == (StepStatus.IN_PROGRESS, OrderStatus.IN_PROGRESS)
    performed_step = PerformedProcedureStep.objects.get(sop_instance_uid=uid)
    assert list(performed_step.scheduled_procedure_steps.all()) == [step]
    assert not performed_step.unscheduled


def test_n_set_completed_completes_the_order_and_keeps_what_was_performed(ct):
    step = book_step()
    uid, _, _ = ct.create(n_create(step))
    done = n_set_completed(series(images=12, protocol="Head routine", operator="Tech^Tina"))
    assert ct.set(uid, done).Status == 0x0000
    assert status_of(step) == (StepStatus.COMPLETED, OrderStatus.COMPLETED)
    performed_step = PerformedProcedureStep.objects.get(sop_instance_uid=uid)
    [performed_series] = performed_step.performed_series_sequence
    assert performed_series["number_of_images"] == 12
    assert performed_series["protocol_name"] == "Head routine"
    assert performed_series["operators_name"] == "Tech^Tina"
    assert performed_step.end is not None
    history = list(step.requested_procedure.order.events.values_list("kind", flat=True))
    assert history == ["booked", "performed", "started", "performed", "completed"]


def test_an_n_set_that_stays_in_progress_adds_data_without_ending(ct):
    step = book_step()
    uid, _, _ = ct.create(n_create(step))
    update = n_set_completed()
    update.PerformedProcedureStepStatus = "IN PROGRESS"
    assert ct.set(uid, update).Status == 0x0000
    assert status_of(step) == (StepStatus.IN_PROGRESS, OrderStatus.IN_PROGRESS)
    assert len(PerformedProcedureStep.objects.get().performed_series_sequence) == 1


def test_discontinued_records_the_reason_and_discontinues_step_and_order(ct):
    step = book_step()
    uid, _, _ = ct.create(n_create(step))
    assert ct.set(uid, n_set_discontinued()).Status == 0x0000
    assert status_of(step) == (StepStatus.DISCONTINUED, OrderStatus.DISCONTINUED)
    stored = PerformedProcedureStep.objects.get()
    assert stored.performed_procedure_step_discontinuation_reason_code_sequence == [
        {
            "code_value": "110514",
            "coding_scheme_designator": "DCM",
            "code_meaning": "Incorrect worklist entry selected",
        }
    ]


def test_an_exam_matching_nothing_waits_unscheduled_and_linking_makes_the_order_follow(ct):
    step = book_step(patient_id="WALKIN1")
    uid, status, _ = ct.create(n_create(patient=step.requested_procedure.order.patient))
    assert status.Status == 0x0000
    performed_step = PerformedProcedureStep.objects.get(sop_instance_uid=uid)
    assert performed_step.unscheduled
    assert "matches no scheduled step" in performed_step.match_note
    assert status_of(step) == (StepStatus.SCHEDULED, OrderStatus.SCHEDULED)

    performed_steps.performed_step_link(performed_step=performed_step, steps=[step])
    assert status_of(step) == (StepStatus.IN_PROGRESS, OrderStatus.IN_PROGRESS)
    assert ct.set(uid, n_set_completed()).Status == 0x0000
    assert status_of(step) == (StepStatus.COMPLETED, OrderStatus.COMPLETED)
    kinds = list(step.requested_procedure.order.events.values_list("kind", flat=True))
    assert OrderEvent.Kind.LINKED in kinds


def test_group_case_a_step_performed_by_two_mpps_ends_when_both_have(port, ct):
    from worklist.models import Modality as KnownModality
    from worklist.models import Station
    from worklist.services.stations import modality_save

    # A modality granted both rooms may report for a step scheduled in either.
    modality_save(
        modality=KnownModality(),
        ae_title="MRCT",
        stations=list(Station.objects.filter(scheduled_station_ae_title__in=["CT1", "MR1"])),
    )
    step = book_step()
    other = Modality(port, "MRCT")
    try:
        first, _, _ = ct.create(n_create(step))
        second, _, _ = other.create(n_create(step, ae_title="MR1", modality="MR"))
        assert not PerformedProcedureStep.objects.get(sop_instance_uid=second).unscheduled
        assert ct.set(first, n_set_completed()).Status == 0x0000
        assert status_of(step) == (StepStatus.IN_PROGRESS, OrderStatus.IN_PROGRESS)
        assert other.set(second, n_set_discontinued()).Status == 0x0000
        assert status_of(step) == (StepStatus.COMPLETED, OrderStatus.COMPLETED)
    finally:
        other.close()


def test_append_case_one_mpps_performs_steps_of_two_orders(ct):
    first = book_step(patient_id="P-APPEND")
    second = book_step(patient_id="P-APPEND", start=local(DAY, 9, 30))
    uid, status, _ = ct.create(n_create(first, second))
    assert status.Status == 0x0000
    assert status_of(first) == (StepStatus.IN_PROGRESS, OrderStatus.IN_PROGRESS)
    assert status_of(second) == (StepStatus.IN_PROGRESS, OrderStatus.IN_PROGRESS)
    assert ct.set(uid, n_set_completed()).Status == 0x0000
    assert status_of(first) == (StepStatus.COMPLETED, OrderStatus.COMPLETED)
    assert status_of(second) == (StepStatus.COMPLETED, OrderStatus.COMPLETED)


def test_a_retried_n_create_succeeds_and_is_stored_once(ct):
    step = book_step()
    attributes = n_create(step)
    uid, _, _ = ct.create(attributes)
    _, status, _ = ct.create(attributes, uid=uid)
    assert status.Status == 0x0000
    assert PerformedProcedureStep.objects.count() == 1
    performed_lines = step.requested_procedure.order.events.filter(kind="performed")
    assert performed_lines.count() == 1


def test_a_retried_completing_n_set_succeeds_without_doing_it_twice(ct):
    step = book_step()
    uid, _, _ = ct.create(n_create(step))
    done = n_set_completed()
    assert ct.set(uid, done).Status == 0x0000
    events = step.requested_procedure.order.events.count()
    assert ct.set(uid, done).Status == 0x0000
    assert step.requested_procedure.order.events.count() == events


def test_an_n_create_without_instance_uid_gets_one_assigned(ct):
    step = book_step()
    status, _ = ct.assoc.send_n_create(n_create(step), MPPS, None)
    assert status.Status == 0x0000
    assigned = PerformedProcedureStep.objects.get().sop_instance_uid
    assert assigned.startswith("1.2.") and len(assigned) <= 64


def test_each_mpps_message_is_audited_with_calling_ae_and_patient(ct):
    step = book_step(patient_id="AV35674")
    uid, _, _ = ct.create(n_create(step))
    ct.set(uid, n_set_completed())
    events = list(Event.objects.filter(action=Action.PROCEDURE_RECORD).order_by("seq"))
    mpps_events = [event for event in events if event.channel == Channel.DICOM]
    assert [event.event_action_code for event in mpps_events] == [Verb.CREATE, Verb.UPDATE]
    for event in mpps_events:
        assert event.ae_title == "CT1"
        assert event.event_outcome_indicator == Outcome.SUCCESS
        assert [p.patient_id for p in event.patients.all()] == ["AV35674"]
        assert ["sop_instance_uid", uid] in event.participant_objects
