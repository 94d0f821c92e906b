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
