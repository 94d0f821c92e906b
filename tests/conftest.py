import os
import shutil

import pytest
from django.db import connection

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
ON_REDIS = os.environ.get("CELERY_BROKER_URL", "").startswith(("redis://", "rediss://"))


def pytest_collection_modifyitems(config, items):
    """Tests of the production path run where CI points them at PostgreSQL and Redis;
    elsewhere they are skipped with the reason shown."""
    skip_pg = pytest.mark.skip(reason="needs DATABASE_URL=postgres://... (run by .ci/run)")
    skip_redis = pytest.mark.skip(reason="needs CELERY_BROKER_URL=redis://... (run by .ci/run)")
    for item in items:
        if "postgres" in item.keywords and not ON_POSTGRES:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not ON_REDIS:
            item.add_marker(skip_redis)


def require_peer(path: str, package: str) -> str:
    """An external program the tests talk to (DCMTK, Chromium, Orthanc).

    Missing on a developer's fresh machine: the test is skipped, saying what to
    install. Missing where RIS_REQUIRE_PEERS is set (.ci/run sets it): the test fails,
    so CI can never pass by skipping the real peers.
    """
    found = shutil.which(path) or (path if os.path.exists(path) else None)
    if found:
        return found
    message = f"{path} is missing: install the Debian package {package}"
    if os.environ.get("RIS_REQUIRE_PEERS"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def on_postgres():
    return connection.vendor == "postgresql"


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.org", "pw-admin-1")


@pytest.fixture
def api(admin_user):
    """An API client authenticated with the admin's token, as an integration would be."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    token = Token.objects.create(user=admin_user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def station(db):
    from worklist.services.stations import station_create

    return station_create(
        scheduled_station_ae_title="CT1",
        scheduled_station_name="CT Room 1",
        modality="CT",
        scheduled_procedure_step_location="Radiology B",
    )


def order_payload(**overrides):
    """The booking request of the contract's example, with fields overridden."""
    step = {
        "scheduled_procedure_step_id": "SPS0001",
        "modality": "CT",
        "scheduled_station_ae_title": "CT1",
        "scheduled_station_name": "CT Room 1",
        "scheduled_procedure_step_location": "Radiology B",
        "scheduled_procedure_step_start_datetime": "2026-11-25T09:00:00+01:00",
        "scheduled_procedure_step_duration_minutes": 15,
        "scheduled_performing_physician_name": "Jones^Ann",
        "scheduled_procedure_step_description": "CT head",
        "requested_contrast_agent": "",
    }
    step.update(overrides.pop("step", {}))
    payload = {
        "patient": {
            "patient_id": "AV35674",
            "issuer_of_patient_id": "HOSP",
            "patient_name": "Vivaldi^Antonio",
            "patient_birth_date": "1978-03-04",
            "patient_sex": "M",
        },
        "accession_number": "A0001",
        "referring_physician_name": "Smith^John",
        "reason_for_the_requested_procedure": "Headache",
        "requested_procedure_id": "RP0001",
        "requested_procedure_description": "CT head without contrast",
        "requested_procedure_code_sequence": [
            {"code_value": "CTHEAD", "coding_scheme_designator": "LOCAL", "code_meaning": "CT head"}
        ],
        "requested_procedure_priority": "ROUTINE",
        "scheduled_procedure_steps": [step],
    }
    payload["patient"].update(overrides.pop("patient", {}))
    payload.update(overrides)
    return payload
