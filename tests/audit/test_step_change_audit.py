"""Rescheduling or discontinuing a step is a change of the patient's procedure record:
one event naming the patient and the step, accession and study; a refusal is a
failure event naming the patient."""

import pytest

from audit.codes import Channel, Outcome
from tests.factories import api_booked, payload_time

from .conftest import api_client_for, events_after, head, make_user, summary

pytestmark = pytest.mark.django_db

HOSP = ("AV35674", "HOSP")


@pytest.fixture
def alice_api(django_user_model):
    alice = make_user(
        django_user_model,
        "alice",
        group="scheduler",
        perms=[
            "worklist.view_patient",
            "worklist.add_order",
            "worklist.view_order",
            "worklist.view_scheduledprocedurestep",
            "worklist.change_scheduledprocedurestep",
        ],
    )
    return api_client_for(alice)


@pytest.fixture
def booked(alice_api, station):
    return api_booked(alice_api)


def _step_of(order: dict) -> dict:
    return order["scheduled_procedure_steps"][0]


def _updates(events):
    return [e for e in events if e.event_action_code == "U"]


def test_a_reschedule_records_one_update_naming_patient_and_objects(alice_api, booked):
    step = _step_of(booked)
    mark = head()
    response = alice_api.patch(
        f"/api/procedure-steps/{step['id']}/",
        {"scheduled_procedure_step_start_datetime": payload_time(11)},
        format="json",
    )
    assert response.status_code == 200, response.json()
    [update] = _updates(events_after(mark))
    assert summary(update) == ("Procedure Record", "U", 0, Channel.API, "alice", [HOSP])
    assert update.detail.endswith("[step_update]")
    assert ["scheduled_procedure_step_id", "SPS0001"] in update.participant_objects
    assert ["accession_number", "A0001"] in update.participant_objects
    assert ["study_instance_uid", booked["study_instance_uid"]] in update.participant_objects


def test_a_discontinuation_records_the_update(alice_api, booked):
    step = _step_of(booked)
    mark = head()
    response = alice_api.patch(
        f"/api/procedure-steps/{step['id']}/",
        {"scheduled_procedure_step_status": "DISCONTINUED"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    [update] = _updates(events_after(mark))
    assert summary(update) == ("Procedure Record", "U", 0, Channel.API, "alice", [HOSP])


def test_a_refused_reschedule_is_a_failure_event_naming_the_patient(alice_api, booked):
    other = api_booked(
        alice_api,
        accession_number="A0002",
        requested_procedure_id="RP2",
        step={
            "scheduled_procedure_step_id": "SPS2",
            "scheduled_procedure_step_start_datetime": payload_time(12),
        },
    )
    mark = head()
    response = alice_api.patch(
        f"/api/procedure-steps/{_step_of(other)['id']}/",
        {"scheduled_procedure_step_start_datetime": payload_time(9)},
        format="json",
    )
    assert response.status_code == 409
    [update] = _updates(events_after(mark))
    assert summary(update) == (
        "Procedure Record",
        "U",
        Outcome.MINOR_FAILURE,
        Channel.API,
        "alice",
        [HOSP],
    )
    assert update.detail.endswith("[step_update: Conflict]")


def test_a_reschedule_in_the_ui_records_one_update(client, django_user_model, booked):
    from datetime import datetime

    bob = make_user(
        django_user_model,
        "bob",
        group="scheduler",
        perms=[
            "worklist.view_scheduledprocedurestep",
            "worklist.change_scheduledprocedurestep",
            "worklist.view_station",
        ],
    )
    client.force_login(bob)
    step = _step_of(booked)
    start = datetime.fromisoformat(payload_time(13))
    mark = head()
    response = client.post(
        f"/steps/{step['id']}/reschedule/",
        {"day": start.date().isoformat(), "span": "day", "slot": f"CT1|{start.isoformat()}"},
    )
    assert response.status_code == 302, response.content[:2000]
    [update] = _updates(events_after(mark))
    assert summary(update)[:2] == ("Procedure Record", "U")
    assert summary(update)[4:] == ("bob", [HOSP])
    assert ["scheduled_procedure_step_id", "SPS0001"] in update.participant_objects
