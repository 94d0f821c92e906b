"""Fixtures of the arriving-studies tests: a listener on a free port with the storage
and IAN services, a station for the sending modality, generated studies."""

import pytest

from tests.conftest import require_peer
from worklist.dicom import listener


@pytest.fixture
def studies_settings(settings, tmp_path):
    settings.RIS_AE_TITLE = "RIS"
    settings.RIS_DICOM_STRICT_AE = True
    settings.RIS_RECONCILE_QUIET_SECONDS = 30
    settings.RIS_STORE_FILES = False
    settings.DATA_DIR = tmp_path / "data"
    return settings


@pytest.fixture
def dicom_server(transactional_db, studies_settings):
    server = listener.start(host="127.0.0.1", port=0, tls_port=0)
    yield server
    listener.stop(server)


@pytest.fixture
def dicom_port(dicom_server):
    return dicom_server.server_address[1]


@pytest.fixture
def ct_station(transactional_db):
    from worklist.services.stations import station_create

    return station_create(
        scheduled_station_ae_title="CT1",
        scheduled_station_name="CT Room 1",
        modality="CT",
        scheduled_procedure_step_location="Radiology B",
    )


@pytest.fixture
def storescu_path():
    return require_peer("storescu", "dcmtk")


def header(study_uid: str, series_uid: str, sop_uid: str, **fields):
    """An InstanceHeader as the store handler reads it, with the patient and study of
    the contract's example order unless told otherwise."""
    from datetime import date

    from worklist.services.studies import InstanceHeader

    patient = {
        "patient_id": "AV35674",
        "issuer_of_patient_id": "HOSP",
        "patient_name": "Vivaldi^Antonio",
        "patient_birth_date": date(1978, 3, 4),
        "patient_sex": "M",
    }
    study = {"accession_number": "", "study_date": date(2026, 11, 25), "study_description": "CT"}
    series = {"modality": "CT", "series_number": 1}
    for name, value in fields.items():
        target = patient if name in patient else series if name in series else study
        target[name] = value
    return InstanceHeader(
        sop_instance_uid=sop_uid,
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        study_instance_uid=study_uid,
        series_instance_uid=series_uid,
        patient=patient,
        study=study,
        series=series,
    )


@pytest.fixture
def book(station):
    """Book an order as the API does (the contract's example, fields overridden)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from worklist.services.booking import StepBooking, order_create

    def make(
        accession_number="A0001", study_instance_uid="", patient=None, start=None, modality="CT"
    ):
        person = {
            "patient_id": "AV35674",
            "issuer_of_patient_id": "HOSP",
            "patient_name": "Vivaldi^Antonio",
            "patient_birth_date": "1978-03-04",
            "patient_sex": "M",
        } | (patient or {})
        from datetime import date

        person["patient_birth_date"] = date.fromisoformat(person["patient_birth_date"])
        return order_create(
            patient=person,
            steps=[
                StepBooking(
                    scheduled_station_ae_title="CT1",
                    start=start or datetime(2026, 11, 25, 9, 0, tzinfo=ZoneInfo("UTC")),
                    duration_minutes=15,
                    modality=modality,
                )
            ],
            accession_number=accession_number,
            study_instance_uid=study_instance_uid,
        )

    return make
