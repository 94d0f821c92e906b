"""How the API answers errors of the database and bugs: a unique constraint refusing
a row is a 409 "retry"; any other integrity error (a foreign key, a NOT NULL) is a
logged 500 in JSON, never a 409 telling the client to retry what can never work."""

import logging

import pytest
from django.db import IntegrityError, connection, transaction

from tests.factories import patient
from worklist.api import views
from worklist.models import Patient

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(admin_user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(admin_user)
    return client


def _patching_does(monkeypatch, write):
    def update(*, patient, **fields):
        with transaction.atomic():  # as every service writes
            write(patient)
        return patient

    monkeypatch.setattr(views, "patient_update", update)


def test_a_unique_violation_is_a_409_to_retry(api, monkeypatch):
    stored = patient("P1")
    patient("P2")

    def taken(p):
        Patient.objects.filter(pk=p.pk).update(patient_id="P2")

    _patching_does(monkeypatch, taken)
    response = api.patch(f"/api/patients/{stored.pk}/", {"allergies": "x"}, format="json")
    assert response.status_code == 409
    assert "retry" in response.json()["detail"]


def test_a_not_null_violation_is_a_logged_500(api, monkeypatch, caplog):
    stored = patient("P1")

    def null(p):
        Patient.objects.filter(pk=p.pk).update(patient_name=None)

    _patching_does(monkeypatch, null)
    with caplog.at_level(logging.ERROR, logger="ris.api_errors"):
        response = api.patch(f"/api/patients/{stored.pk}/", {"allergies": "x"}, format="json")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert "retry" not in response.json()["detail"]
    assert "IntegrityError" in caplog.text


def test_a_foreign_key_violation_is_a_500_not_a_409(api, monkeypatch):
    stored = patient("P1")

    def dangling(p):
        """An order of a patient that does not exist; foreign keys are checked at
        commit, so the check is asked for at once (a test never commits)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO worklist_order (patient_id, accession_number,"
                " referring_physician_name, requesting_physician, requesting_service,"
                " reason_for_the_requested_procedure, imaging_service_request_comments,"
                " status, cancel_reason, created_at, updated_at)"
                " VALUES (987654, 'X1', '', '', '', '', '', 'SCHEDULED', '',"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
            if connection.vendor == "postgresql":
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            else:
                cursor.execute("PRAGMA foreign_key_check")
                if cursor.fetchall():
                    raise IntegrityError("FOREIGN KEY constraint failed")

    _patching_does(monkeypatch, dangling)
    response = api.patch(f"/api/patients/{stored.pk}/", {"allergies": "x"}, format="json")
    assert response.status_code == 500
    assert response.json()["detail"]


def test_an_unexpected_error_is_a_json_500(api, monkeypatch):
    stored = patient("P1")

    def broken(p):
        raise RuntimeError("a bug")

    _patching_does(monkeypatch, broken)
    response = api.patch(f"/api/patients/{stored.pk}/", {"allergies": "x"}, format="json")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert "a bug" not in response.content.decode()
