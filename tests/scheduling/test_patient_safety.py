"""Patient safety in the booking rules: one patient is never booked into two rooms at
once, and a contrast exam for a contrast-allergic patient or an MR for a patient with
an implant needs an acknowledgement. Service and REST API alike."""

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from rest_framework.test import APIClient

from audit.codes import EventType
from audit.models import Event
from ris.errors import Conflict
from tests import factories
from tests.factories import future_day, local, step_of
from worklist.models import Order, OrderEvent, ScheduledProcedureStep
from worklist.services.booking import step_update
from worklist.services.safety import CONTRAST_ALLERGY, MR_IMPLANT, booking_alerts

pytestmark = pytest.mark.django_db

DAY = future_day(3)


@pytest.fixture
def anna(db):
    return factories.patient("P1")


def test_booking_the_same_patient_at_an_overlapping_time_names_the_other_step(rooms, anna):
    first = step_of(factories.book(patient=anna, ae_title="CT1", start=local(DAY, 9), minutes=30))
    with pytest.raises(Conflict) as refused:
        factories.book(patient=anna, ae_title="CT2", start=local(DAY, 9, 15))
    assert first.scheduled_procedure_step_id in refused.value.message
    assert "Müller, Anna is already booked" in refused.value.message
    assert "in CT1" in refused.value.message
    assert refused.value.details["conflicting_step"]["id"] == first.pk
    assert Order.objects.count() == 1


def test_back_to_back_and_other_patients_are_fine(rooms, anna):
    factories.book(patient=anna, ae_title="CT1", start=local(DAY, 9), minutes=30)
    factories.book(patient=anna, ae_title="CT2", start=local(DAY, 9, 30))
    factories.book(patient_id="P2", ae_title="CT2", start=local(DAY, 9, 0))
    assert Order.objects.count() == 3


def test_a_cancelled_exam_does_not_hold_the_patient(rooms, anna):
    from worklist.services.booking import order_cancel

    order_cancel(order=factories.book(patient=anna, ae_title="CT1", start=local(DAY, 9)))
    factories.book(patient=anna, ae_title="CT2", start=local(DAY, 9))
    assert ScheduledProcedureStep.objects.filter(station__scheduled_station_ae_title="CT2").exists()


def test_moving_a_step_onto_the_patients_other_exam_is_refused(rooms, anna):
    factories.book(patient=anna, ae_title="CT1", start=local(DAY, 9))
    later = step_of(factories.book(patient=anna, ae_title="CT2", start=local(DAY, 11)))
    with pytest.raises(Conflict) as refused:
        step_update(step=later, start=local(DAY, 9, 10))
    assert refused.value.details["rule"] == "patient_overlap"
    later.refresh_from_db()
    assert later.start == local(DAY, 11)


def test_override_needs_the_permission_and_is_recorded(rooms, anna, make_user):
    factories.book(patient=anna, ae_title="CT1", start=local(DAY, 9))
    scheduler = make_user("sam", "scheduler")
    with pytest.raises(PermissionDenied):
        factories.book(
            patient=anna,
            ae_title="CT2",
            start=local(DAY, 9),
            user=scheduler,
            allow_patient_overlap=True,
        )
    scheduler.user_permissions.add(Permission.objects.get(codename="allow_patient_overlap"))
    scheduler = type(scheduler).objects.get(pk=scheduler.pk)  # permission cache
    order = factories.book(
        patient=anna,
        ae_title="CT2",
        start=local(DAY, 9),
        user=scheduler,
        allow_patient_overlap=True,
    )
    line = OrderEvent.objects.get(order=order, detail__startswith="Patient overlap allowed")
    assert line.user == scheduler
    assert Event.objects.filter(
        event_type_code=EventType.USE_OF_RESTRICTED_FUNCTION, detail__contains="overlap"
    ).exists()


# --- alerts ------------------------------------------------------------------------


@pytest.fixture
def contrast_ct(db):
    procedure = factories.procedure("CTABDC", "CT abdomen with contrast", "CT", 20)
    procedure.uses_contrast = True
    procedure.save()
    return procedure


def test_contrast_exam_for_allergic_patient_needs_acknowledgement(rooms, contrast_ct):
    allergic = factories.patient("P9", allergies="Iodinated contrast media")
    with pytest.raises(Conflict) as refused:
        factories.book(patient=allergic, procedure=contrast_ct, start=local(DAY, 10))
    assert refused.value.details["acknowledgement_required"] == [CONTRAST_ALLERGY]
    assert Order.objects.count() == 0
    order = factories.book(
        patient=allergic,
        procedure=contrast_ct,
        start=local(DAY, 10),
        acknowledged_alerts=[CONTRAST_ALLERGY],
    )
    assert order.alert_acknowledgements[0]["code"] == CONTRAST_ALLERGY
    assert "Iodinated" in order.alert_acknowledgements[0]["text"]


def test_plain_exam_or_other_allergy_needs_nothing(rooms, contrast_ct):
    pollen = factories.patient("P8", allergies="Pollen")
    assert booking_alerts(pollen, contrast_ct) == []
    plain = factories.procedure("CTHEAD", "CT head", "CT", 15)
    allergic = factories.patient("P9", allergies="contrast")
    assert booking_alerts(allergic, plain) == []


def test_mr_for_patient_with_pacemaker_needs_acknowledgement(rooms):
    paced = factories.patient("P7", medical_alerts="Pacemaker (2019)")
    with pytest.raises(Conflict) as refused:
        factories.book(patient=paced, ae_title="MR1", modality="MR", start=local(DAY, 10))
    assert refused.value.details["acknowledgement_required"] == [MR_IMPLANT]
    factories.book(
        patient=paced,
        ae_title="MR1",
        modality="MR",
        start=local(DAY, 10),
        acknowledged_alerts=[MR_IMPLANT],
    )
    # A CT of the same patient needs no acknowledgement.
    factories.book(patient=paced, ae_title="CT1", start=local(DAY, 12))


# --- the REST API --------------------------------------------------------------------


def scheduler_api(make_user, *perms):
    from rest_framework.authtoken.models import Token

    user = make_user("sched-api", "scheduler")
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def two_bookings(client, **second):
    factories.api_booked(client)
    return factories.post_order(
        client,
        accession_number="A0002",
        requested_procedure_id="RP0002",
        step={
            "scheduled_procedure_step_id": "SPS0002",
            "scheduled_station_ae_title": "CT2",
            "scheduled_procedure_step_start_datetime": factories.payload_time(9, 5),
        },
        **second,
    )


def test_api_answers_409_naming_the_other_step(rooms, make_user):
    client = scheduler_api(make_user)
    response = two_bookings(client)
    assert response.status_code == 409
    body = response.json()
    assert body["rule"] == "patient_overlap"
    assert body["conflicting_step"]["scheduled_procedure_step_id"] == "SPS0001"
    assert "SPS0001" in body["detail"]


def test_api_override_without_permission_is_403_with_it_201(rooms, make_user):
    client = scheduler_api(make_user)
    assert two_bookings(client, allow_patient_overlap=True).status_code == 403
    Order.objects.all().delete()
    client = scheduler_api(lambda *a: make_user("other", "scheduler"), "allow_patient_overlap")
    assert two_bookings(client, allow_patient_overlap=True).status_code == 201


def test_api_move_onto_the_patients_other_exam_is_409(rooms, api):
    factories.api_booked(api)
    second = factories.api_booked(
        api,
        accession_number="A0002",
        requested_procedure_id="RP0002",
        step={
            "scheduled_procedure_step_id": "SPS0002",
            "scheduled_procedure_step_start_datetime": factories.payload_time(11),
        },
    )
    step_pk = second["scheduled_procedure_steps"][0]["id"]
    moved = {
        "scheduled_station_ae_title": "CT2",
        "scheduled_procedure_step_start_datetime": factories.payload_time(9),
    }
    response = api.patch(f"/api/procedure-steps/{step_pk}/", moved, format="json")
    assert response.status_code == 409
    assert response.json()["conflicting_step"]["scheduled_procedure_step_id"] == "SPS0001"
    response = api.patch(
        f"/api/procedure-steps/{step_pk}/", {**moved, "allow_patient_overlap": True}, format="json"
    )
    assert response.status_code == 200


def test_api_requires_the_acknowledgement_field(rooms, api, contrast_ct):
    factories.patient(
        "AV35674",
        patient_name="Vivaldi^Antonio",
        allergies="Contrast (iodine)",
        patient_birth_date=None,
        patient_sex="M",
    )
    payload = {"requested_procedure_code_sequence": [contrast_ct.as_code_item()]}
    response = factories.post_order(api, **payload)
    assert response.status_code == 409
    assert response.json()["acknowledgement_required"] == [CONTRAST_ALLERGY]
    response = factories.post_order(api, acknowledged_alerts=["BOGUS"], **payload)
    assert response.status_code == 400
    assert "acknowledged_alerts" in response.json()
    booked = factories.api_booked(api, acknowledged_alerts=[CONTRAST_ALLERGY], **payload)
    assert booked["alert_acknowledgements"][0]["code"] == CONTRAST_ALLERGY
