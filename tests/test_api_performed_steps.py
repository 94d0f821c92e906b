"""The performed procedure steps (MPPS instances) received, over the REST API."""

from datetime import UTC, date, datetime

import pytest
from django.contrib.auth.models import Permission
from django.utils.dateparse import parse_datetime
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from audit.codes import Channel
from worklist.models import Patient, PerformedProcedureStep, ScheduledProcedureStep

from .audit.conftest import events_after, head, summary
from .factories import api_booked

pytestmark = pytest.mark.django_db

CT_HEAD = {"code_value": "CTHEAD", "coding_scheme_designator": "LOCAL", "code_meaning": "CT head"}
SERIES = {
    "series_instance_uid": "1.2.3.4.5.1",
    "series_description": "Head 5mm",
    "protocol_name": "HEAD ROUTINE",
    "operators_name": "Tech^Tom",
    "performing_physician_name": "Jones^Ann",
    "retrieve_ae_title": "PACS",
    "number_of_images": 120,
    "number_of_non_image_objects": 1,
}


def performed(**fields):
    values = {
        "sop_instance_uid": "1.2.3.4.100",
        "calling_ae_title": "CT1",
        "performed_procedure_step_id": "PPS1",
        "performed_procedure_step_status": "IN PROGRESS",
        "performed_station_ae_title": "CT1",
        "performed_station_name": "CT Room 1",
        "performed_location": "Radiology B",
        "modality": "CT",
        "study_id": "1",
        "start": datetime(2026, 11, 25, 8, 5, tzinfo=UTC),
        "patient_name": "Vivaldi^Antonio",
        "patient_id": "AV35674",
        "issuer_of_patient_id": "HOSP",
        "patient_birth_date": date(1978, 3, 4),
        "patient_sex": "M",
        "attributes": {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Vivaldi^Antonio"}]}},
    }
    values.update(fields)
    return PerformedProcedureStep.objects.create(**values)


@pytest.fixture
def order(api, station):
    return api_booked(api)


@pytest.fixture
def completed(order):
    """A completed MPPS linked to the booked step, as the listener would leave it."""
    step = ScheduledProcedureStep.objects.get(pk=order["scheduled_procedure_steps"][0]["id"])
    pps = performed(
        performed_procedure_step_status="COMPLETED",
        end=datetime(2026, 11, 25, 8, 20, tzinfo=UTC),
        performed_procedure_step_description="CT head",
        performed_procedure_type_description="CT head without contrast",
        comments_on_the_performed_procedure_step="Patient moved once",
        procedure_code_sequence=[CT_HEAD],
        performed_protocol_code_sequence=[CT_HEAD],
        performed_series_sequence=[SERIES],
        radiation_dose={"CTDIvol": 55.2, "TotalNumberOfExposures": 2},
        matched_patient=Patient.objects.get(patient_id="AV35674"),
        study_instance_uid=order["study_instance_uid"],
        accession_number="A0001",
    )
    pps.scheduled_procedure_steps.add(step)
    return pps


@pytest.fixture
def unscheduled(db):
    """An MPPS for an exam nobody booked: a stranger's, on another modality."""
    return performed(
        sop_instance_uid="1.2.3.4.200",
        calling_ae_title="MR1",
        performed_procedure_step_id="PPS2",
        performed_station_ae_title="MR1",
        performed_station_name="MR Room 1",
        modality="MR",
        start=datetime(2026, 11, 26, 14, 0, tzinfo=UTC),
        patient_name="Doe^Jane",
        patient_id="X99",
        issuer_of_patient_id="OTHER",
        patient_birth_date=None,
        patient_sex="F",
        study_instance_uid="1.2.3.4.999",
        unscheduled=True,
        match_note="No scheduled step with accession number Z1.",
    )


def client_with(django_user_model, username, *codenames):
    user = django_user_model.objects.create_user(username, password=f"pw-{username}-1")
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_detail_shows_the_performed_step_as_the_modality_reported_it(api, order, completed):
    response = api.get(f"/api/performed-steps/{completed.pk}/")
    assert response.status_code == 200
    body = response.json()
    step = order["scheduled_procedure_steps"][0]
    assert body == {
        "id": completed.pk,
        "sop_instance_uid": "1.2.3.4.100",
        "performed_procedure_step_id": "PPS1",
        "performed_procedure_step_status": "COMPLETED",
        "calling_ae_title": "CT1",
        "performed_station_ae_title": "CT1",
        "performed_station_name": "CT Room 1",
        "performed_location": "Radiology B",
        "modality": "CT",
        "study_id": "1",
        "performed_procedure_step_start_datetime": "2026-11-25T08:05:00Z",
        "performed_procedure_step_end_datetime": "2026-11-25T08:20:00Z",
        "performed_procedure_step_description": "CT head",
        "performed_procedure_type_description": "CT head without contrast",
        "comments_on_the_performed_procedure_step": "Patient moved once",
        "procedure_code_sequence": [CT_HEAD],
        "performed_protocol_code_sequence": [CT_HEAD],
        "performed_procedure_step_discontinuation_reason_code_sequence": [],
        "performed_series_sequence": [SERIES],
        "radiation_dose": {"CTDIvol": 55.2, "TotalNumberOfExposures": 2},
        "patient": {
            "patient_name": "Vivaldi^Antonio",
            "patient_id": "AV35674",
            "issuer_of_patient_id": "HOSP",
            "patient_birth_date": "1978-03-04",
            "patient_sex": "M",
        },
        "matched_patient": order["patient"]["id"],
        "study_instance_uid": order["study_instance_uid"],
        "accession_number": "A0001",
        "scheduled_procedure_steps": [
            {
                "id": step["id"],
                "scheduled_procedure_step_id": "SPS0001",
                "accession_number": "A0001",
                "order": order["id"],
            }
        ],
        "unscheduled": False,
        "match_note": "",
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
    }


def test_raw_dicom_attributes_are_not_exposed(api, completed):
    assert "attributes" not in api.get(f"/api/performed-steps/{completed.pk}/").json()
    assert b"00100010" not in api.get("/api/performed-steps/").content


def test_list_is_paginated_newest_first(api, completed, unscheduled):
    listed = api.get("/api/performed-steps/").json()
    assert listed["count"] == 2
    assert [s["performed_procedure_step_id"] for s in listed["results"]] == ["PPS2", "PPS1"]
    page = api.get("/api/performed-steps/", {"page_size": 1}).json()
    assert len(page["results"]) == 1 and page["next"]


def test_an_unscheduled_step_has_no_patient_record_and_says_why(api, unscheduled):
    [body] = api.get("/api/performed-steps/").json()["results"]
    assert body["matched_patient"] is None
    assert body["scheduled_procedure_steps"] == []
    assert body["unscheduled"] is True
    assert body["match_note"] == "No scheduled step with accession number Z1."
    assert body["patient"]["patient_birth_date"] is None
    assert body["performed_procedure_step_end_datetime"] is None


def test_date_times_carry_an_offset_in_the_local_zone(api, completed, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    body = api.get(f"/api/performed-steps/{completed.pk}/").json()
    assert body["performed_procedure_step_start_datetime"] == "2026-11-25T09:05:00+01:00"
    assert body["performed_procedure_step_end_datetime"] == "2026-11-25T09:20:00+01:00"
    for name in ("created_at", "updated_at"):
        assert parse_datetime(body[name]).utcoffset() is not None, name


def ids(api, **params):
    response = api.get("/api/performed-steps/", params)
    assert response.status_code == 200, response.json()
    return [s["performed_procedure_step_id"] for s in response.json()["results"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"performed_procedure_step_status": "COMPLETED"}, ["PPS1"]),
        ({"performed_procedure_step_status": "IN PROGRESS"}, ["PPS2"]),
        ({"modality": "MR"}, ["PPS2"]),
        ({"performed_station_ae_title": "CT1"}, ["PPS1"]),
        ({"unscheduled": "true"}, ["PPS2"]),
        ({"unscheduled": "false"}, ["PPS1"]),
        ({"accession_number": "A0001"}, ["PPS1"]),
        ({"patient_id": "X99"}, ["PPS2"]),
        ({"study_instance_uid": "1.2.3.4.999"}, ["PPS2"]),
        ({"modality": "CT", "unscheduled": "true"}, []),
    ],
)
def test_list_filters(api, completed, unscheduled, params, expected):
    assert ids(api, **params) == expected


def test_patient_id_filter_also_finds_steps_matched_to_that_patient(api, completed):
    # The modality keyed the ID in wrongly; the step was matched by its accession number.
    completed.patient_id = "AV3567"
    completed.save()
    assert ids(api, patient_id="AV35674") == ["PPS1"]
    assert ids(api, patient_id="AV3567") == ["PPS1"]


def test_date_filter_is_the_local_day_of_the_performed_start(api, station, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    # 00:30 in Berlin is still 24 November in UTC: the day is the local one.
    performed(start=datetime(2026, 11, 24, 23, 30, tzinfo=UTC))
    assert ids(api, date="2026-11-25") == ["PPS1"]
    assert ids(api, date="2026-11-24") == []


def test_bad_filter_values_are_400(api, completed):
    bad_status = {"performed_procedure_step_status": "X"}
    assert api.get("/api/performed-steps/", bad_status).status_code == 400
    assert api.get("/api/performed-steps/", {"date": "25.11.2026"}).status_code == 400


def test_unknown_performed_step_is_404(api):
    assert api.get("/api/performed-steps/999/").status_code == 404


def test_performed_steps_cannot_be_written(api, completed):
    url = f"/api/performed-steps/{completed.pk}/"
    assert api.post("/api/performed-steps/", {}, format="json").status_code == 405
    assert api.patch(url, {"modality": "MR"}, format="json").status_code == 405
    assert api.put(url, {}, format="json").status_code == 405
    assert api.delete(url).status_code == 405
    completed.refresh_from_db()
    assert completed.modality == "CT"


def test_request_without_token_is_401(client, completed):
    assert client.get("/api/performed-steps/").status_code == 401
    assert client.get(f"/api/performed-steps/{completed.pk}/").status_code == 401


def test_user_without_permission_is_403(django_user_model, completed):
    nobody = client_with(django_user_model, "nobody", "view_patient", "view_order")
    assert nobody.get("/api/performed-steps/").status_code == 403
    assert nobody.get(f"/api/performed-steps/{completed.pk}/").status_code == 403


def test_who_may_read_the_procedure_steps_may_read_the_performed_ones(django_user_model, completed):
    technologist = client_with(django_user_model, "tech", "view_scheduledprocedurestep")
    assert technologist.get("/api/procedure-steps/").status_code == 200
    assert technologist.get("/api/performed-steps/").json()["count"] == 1
    assert technologist.get(f"/api/performed-steps/{completed.pk}/").status_code == 200
    assert technologist.post("/api/performed-steps/", {}, format="json").status_code == 405


def test_listing_records_a_procedure_record_read_naming_each_patient(api, completed, unscheduled):
    mark = head()
    assert api.get("/api/performed-steps/").status_code == 200
    [event] = events_after(mark)
    assert summary(event) == (
        "Procedure Record",
        "R",
        0,
        Channel.API,
        "admin",
        [("AV35674", "HOSP"), ("X99", "OTHER")],
    )
    assert ["sop_instance_uid", "1.2.3.4.100"] in event.participant_objects
    assert ["accession_number", "A0001"] in event.participant_objects


def test_reading_one_records_its_patient_only(api, completed, unscheduled):
    mark = head()
    api.get(f"/api/performed-steps/{unscheduled.pk}/")
    [event] = events_after(mark)
    assert summary(event)[-1] == [("X99", "OTHER")]


def test_the_schema_documents_the_endpoint(api):
    paths = api.get("/api/schema/", {"format": "json"}).json()["paths"]
    assert set(paths["/api/performed-steps/"]) == {"get"}
    assert set(paths["/api/performed-steps/{id}/"]) == {"get"}
