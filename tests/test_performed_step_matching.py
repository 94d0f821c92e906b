"""Which scheduled steps a performed procedure step is linked to: only those its
Scheduled Step Attributes Sequence names without contradiction, for the order's own
patient; anything else waits as an unscheduled exam for a scheduler to link."""

import pytest

from audit.codes import Action, Channel, Verb
from audit.models import Event
from ris.errors import Conflict, Invalid
from tests.dicom import mpps_messages
from tests.dicom.mpps_messages import n_create, step_attributes
from tests.factories import book_step, future_day, local, station
from worklist.models import OrderStatus, StepStatus
from worklist.services import performed_steps
from worklist.services.booking import StepBooking, order_create

pytestmark = pytest.mark.django_db

DAY = future_day(7)  # a day ahead: its bookings are all in the future


@pytest.fixture(autouse=True)
def ct1(db):
    station("CT1")
    station("MR1", modality="MR")


def create(attributes, **scope):
    return mpps_messages.create(attributes, **scope).performed_step


def with_items(*items, patient_of=None):
    attributes = n_create(
        patient=patient_of.requested_procedure.order.patient if patient_of else None
    )
    attributes.ScheduledStepAttributesSequence = list(items)
    return attributes


def test_the_step_id_with_agreeing_identifiers_links_the_step():
    step = book_step()
    linked = create(n_create(step))
    assert list(linked.scheduled_procedure_steps.all()) == [step]
    assert linked.matched_patient == step.requested_procedure.order.patient


def test_accession_number_and_procedure_id_link_without_a_step_id():
    step = book_step()
    item = step_attributes(step, ScheduledProcedureStepID="")
    linked = create(with_items(item, patient_of=step))
    assert list(linked.scheduled_procedure_steps.all()) == [step]


def test_a_study_instance_uid_alone_links_the_requested_procedure_step():
    step = book_step()
    item = step_attributes(
        step, ScheduledProcedureStepID="", AccessionNumber="", RequestedProcedureID=""
    )
    linked = create(with_items(item, patient_of=step))
    assert list(linked.scheduled_procedure_steps.all()) == [step]


def test_a_step_id_whose_accession_number_disagrees_links_nothing():
    step = book_step()
    item = step_attributes(step, AccessionNumber="WRONG")
    linked = create(with_items(item, patient_of=step))
    assert linked.unscheduled
    assert "accession number differs" in linked.match_note
    step.refresh_from_db()
    assert step.scheduled_procedure_step_status == StepStatus.SCHEDULED


def test_another_patients_step_is_not_linked():
    step = book_step(patient_id="OWNER")
    attributes = n_create(step, PatientID="SOMEBODY-ELSE")
    linked = create(attributes)
    assert linked.unscheduled
    assert "patient ID differs" in linked.match_note


def test_several_steps_of_one_procedure_are_told_apart_by_modality():
    order = order_create(
        patient={"patient_id": "TWO-STEPS", "patient_name": "Two^Steps"},
        steps=[
            StepBooking(scheduled_station_ae_title=ae_title, start=start, duration_minutes=15)
            for ae_title, start in (("CT1", local(DAY, 9)), ("MR1", local(DAY, 10)))
        ],
    )
    ct_step, mr_step = order.requested_procedure.scheduled_procedure_steps.order_by("modality")
    attributes = with_items(
        step_attributes(ct_step, ScheduledProcedureStepID=""), patient_of=ct_step
    )
    attributes.Modality = "MR"
    linked = create(attributes)
    assert list(linked.scheduled_procedure_steps.all()) == [mr_step]


def test_an_exam_without_any_scheduled_data_is_unscheduled():
    linked = create(n_create())
    assert linked.unscheduled
    assert linked.match_note


def test_linking_refuses_steps_of_two_orders():
    first, second = book_step(), book_step(start=local(DAY, 10))
    unscheduled = create(n_create())
    with pytest.raises(Invalid):
        performed_steps.performed_step_link(performed_step=unscheduled, steps=[first, second])
    unscheduled.refresh_from_db()
    assert unscheduled.unscheduled


def test_linking_twice_is_refused():
    step = book_step()
    unscheduled = create(n_create())
    performed_steps.performed_step_link(performed_step=unscheduled, steps=[step])
    with pytest.raises(Conflict):
        performed_steps.performed_step_link(performed_step=unscheduled, steps=[step])


def test_linking_is_audited_and_starts_the_order(admin_user):
    step = book_step(patient_id="AV35674")
    unscheduled = create(n_create())
    performed_steps.performed_step_link(performed_step=unscheduled, steps=[step], user=admin_user)
    step.refresh_from_db()
    assert step.scheduled_procedure_step_status == StepStatus.IN_PROGRESS
    assert step.requested_procedure.order.status == OrderStatus.IN_PROGRESS
    linked_event = Event.objects.filter(
        action=Action.PROCEDURE_RECORD, event_action_code=Verb.UPDATE
    ).last()
    assert "performed_step_link" in linked_event.detail
    assert "AV35674" in [p.patient_id for p in linked_event.patients.all()]
    assert linked_event.channel != Channel.DICOM


def test_an_empty_patient_id_is_no_match():
    step = book_step(patient_id="OWNER")
    linked = create(n_create(step, PatientID="", IssuerOfPatientID=""))
    assert linked.unscheduled
    assert "no patient ID was sent" in linked.match_note
    step.refresh_from_db()
    assert step.scheduled_procedure_step_status == StepStatus.SCHEDULED


def test_a_caller_limited_to_other_stations_links_nothing():
    step = book_step(ae_title="CT1")
    linked = create(n_create(step, ae_title="MR1"), calling_ae_title="MR1", stations={"MR1"})
    assert linked.unscheduled
    assert "outside MR1's scope" in linked.match_note


def test_a_caller_granted_every_station_links_any():
    step = book_step(ae_title="CT1")
    linked = create(n_create(step, ae_title="MR1"), calling_ae_title="MR1", stations=None)
    assert list(linked.scheduled_procedure_steps.all()) == [step]
