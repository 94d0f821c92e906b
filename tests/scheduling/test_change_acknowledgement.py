"""A change of a booked order asks for the safety acknowledgement a booking asks for,
when the change makes it needed: another procedure that uses contrast for a
contrast-allergic patient, a move after an allergy or implant was recorded, a step
turned MR for a patient with a pacemaker. What the booking acknowledged is not asked
again. Services and REST API alike (the same 409)."""

import pytest

from ris.errors import Conflict
from tests import factories
from tests.factories import future_day, local, step_of
from worklist.models import Order, OrderEvent, Patient, RequestedProcedure
from worklist.services.booking import order_update, step_update
from worklist.services.patients import patient_update
from worklist.services.safety import CONTRAST_ALLERGY, MR_IMPLANT

pytestmark = pytest.mark.django_db

DAY = future_day(3)


@pytest.fixture
def contrast_ct(db):
    procedure = factories.procedure("CTABDC", "CT abdomen with contrast", "CT", 20)
    procedure.uses_contrast = True
    procedure.save()
    return procedure


@pytest.fixture
def allergic(db):
    return factories.patient("P9", allergies="Iodinated contrast media")


def test_changing_the_procedure_to_a_contrast_one_needs_the_acknowledgement(
    rooms, catalogue, contrast_ct, allergic
):
    order = factories.book(patient=allergic, procedure=catalogue["CTHEAD"], start=local(DAY, 9))
    assert order.alert_acknowledgements == []

    with pytest.raises(Conflict) as refused:
        order_update(order=order, requested_procedure_code_sequence=[contrast_ct.as_code_item()])
    assert refused.value.details["rule"] == "alert_acknowledgement"
    assert refused.value.details["acknowledgement_required"] == [CONTRAST_ALLERGY]
    assert "Acknowledge first: Contrast allergy" in refused.value.message
    assert RequestedProcedure.objects.get(order=order).procedure == catalogue["CTHEAD"]

    order_update(
        order=order,
        requested_procedure_code_sequence=[contrast_ct.as_code_item()],
        acknowledged_alerts=[CONTRAST_ALLERGY],
    )
    order = Order.objects.get(pk=order.pk)
    assert [a["code"] for a in order.alert_acknowledgements] == [CONTRAST_ALLERGY]
    assert order.requested_procedure.procedure == contrast_ct


def test_moving_after_an_allergy_was_recorded_needs_the_acknowledgement(
    rooms, contrast_ct, make_user
):
    anna = factories.patient("P1")
    step = step_of(factories.book(patient=anna, procedure=contrast_ct, start=local(DAY, 9)))
    patient_update(patient=anna, allergies="Contrast (iodine)")

    with pytest.raises(Conflict) as refused:
        step_update(step=step, start=local(DAY, 11))
    assert refused.value.details["acknowledgement_required"] == [CONTRAST_ALLERGY]
    step.refresh_from_db()
    assert step.start == local(DAY, 9)

    sam = make_user("sam", "scheduler")
    step_update(step=step, start=local(DAY, 11), acknowledged_alerts=[CONTRAST_ALLERGY], user=sam)
    step.refresh_from_db()
    assert step.start == local(DAY, 11)
    order = Order.objects.get(pk=step.requested_procedure.order_id)
    assert order.alert_acknowledgements[0]["user"] == "sam"
    line = OrderEvent.objects.get(order=order, kind=OrderEvent.Kind.RESCHEDULED)
    assert "CONTRAST_ALLERGY acknowledged by sam" in line.detail


def test_what_the_booking_acknowledged_is_not_asked_again(rooms, contrast_ct, allergic):
    step = step_of(
        factories.book(
            patient=allergic,
            procedure=contrast_ct,
            start=local(DAY, 9),
            acknowledged_alerts=[CONTRAST_ALLERGY],
        )
    )
    step_update(step=step, start=local(DAY, 12), scheduled_station_ae_title="CT2")
    step.refresh_from_db()
    assert step.station.scheduled_station_ae_title == "CT2"
    order = Order.objects.get(pk=step.requested_procedure.order_id)
    assert len(order.alert_acknowledgements) == 1


def test_a_step_turned_mr_for_a_patient_with_a_pacemaker_needs_the_acknowledgement(rooms):
    paced = factories.patient("P7", medical_alerts="Pacemaker (2019)")
    step = step_of(factories.book(patient=paced, ae_title="CT1", start=local(DAY, 10)))
    with pytest.raises(Conflict) as refused:
        step_update(step=step, scheduled_station_ae_title="MR1", modality="MR")
    assert refused.value.details["acknowledgement_required"] == [MR_IMPLANT]
    step_update(
        step=step, scheduled_station_ae_title="MR1", modality="MR", acknowledged_alerts=[MR_IMPLANT]
    )
    step.refresh_from_db()
    assert step.modality == "MR"


def test_editing_the_text_of_an_order_asks_nothing(rooms, contrast_ct):
    anna = factories.patient("P1")
    order = factories.book(patient=anna, procedure=contrast_ct, start=local(DAY, 9))
    patient_update(patient=anna, allergies="Contrast (iodine)")
    order_update(order=order, reason_for_the_requested_procedure="Pain")
    assert Order.objects.get(pk=order.pk).reason_for_the_requested_procedure == "Pain"


# --- the REST API --------------------------------------------------------------------


def test_api_patch_of_the_procedure_answers_409_until_acknowledged(api, rooms, contrast_ct):
    factories.procedure("CTHEAD", "CT head", "CT", 15)
    factories.patient(
        "AV35674",
        patient_name="Vivaldi^Antonio",
        allergies="Contrast (iodine)",
        patient_birth_date=None,
        patient_sex="M",
    )
    order = factories.api_booked(api)
    change = {"requested_procedure_code_sequence": [contrast_ct.as_code_item()]}

    response = api.patch(f"/api/orders/{order['id']}/", change, format="json")
    assert response.status_code == 409
    assert response.json()["rule"] == "alert_acknowledgement"
    assert response.json()["acknowledgement_required"] == [CONTRAST_ALLERGY]

    response = api.patch(
        f"/api/orders/{order['id']}/",
        {**change, "acknowledged_alerts": [CONTRAST_ALLERGY]},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["alert_acknowledgements"][0]["code"] == CONTRAST_ALLERGY


def test_api_move_after_an_implant_was_recorded_answers_409_until_acknowledged(api, rooms):
    order = factories.api_booked(
        api,
        requested_procedure_code_sequence=[],
        step={"modality": "MR", "scheduled_station_ae_title": "MR1"},
    )
    patient_update(
        patient=Patient.objects.get(patient_id="AV35674"),
        medical_alerts="Cochlear implant",
    )
    step_pk = order["scheduled_procedure_steps"][0]["id"]
    moved = {"scheduled_procedure_step_start_datetime": factories.payload_time(11)}

    response = api.patch(f"/api/procedure-steps/{step_pk}/", moved, format="json")
    assert response.status_code == 409
    assert response.json()["acknowledgement_required"] == [MR_IMPLANT]
    response = api.patch(
        f"/api/procedure-steps/{step_pk}/",
        {**moved, "acknowledged_alerts": [MR_IMPLANT]},
        format="json",
    )
    assert response.status_code == 200
