"""The PACS poll against a real archive: Orthanc, started with its own configuration on
free ports and filled by DCMTK storescu, answers the C-FIND; what it holds arrives in
the RIS through the same intake."""

import json
import socket
import subprocess
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.conftest import require_peer
from worklist.dicom import pacs
from worklist.models import Study
from worklist.services import studies

from .dicom_files import StudySpec, storescu, write_study

pytestmark = pytest.mark.django_db(transaction=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def orthanc(tmp_path):
    binary = require_peer("/usr/sbin/Orthanc", "orthanc")
    dicom_port, http_port = free_port(), free_port()
    config = {
        "Name": "RIS test PACS",
        "StorageDirectory": str(tmp_path / "orthanc" / "storage"),
        "IndexDirectory": str(tmp_path / "orthanc" / "index"),
        "DicomAet": "ORTHANC",
        "DicomPort": dicom_port,
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowFind": True,
        "DicomCheckCalledAet": False,
        "DicomCheckModalityHost": False,
        "Plugins": [],
        "StorageCompression": False,
    }
    path = tmp_path / "orthanc.json"
    path.write_text(json.dumps(config))
    log = open(tmp_path / "orthanc.log", "wb")  # noqa: SIM115 - closed at teardown
    process = subprocess.Popen([binary, str(path)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", dicom_port)) == 0:
                break
        time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("Orthanc did not start: " + (tmp_path / "orthanc.log").read_text())
    yield {"port": dicom_port, "ae_title": "ORTHANC"}
    process.terminate()
    process.wait(timeout=20)
    log.close()


@pytest.fixture
def polling(settings, orthanc):
    settings.RIS_PACS_AE_TITLE = orthanc["ae_title"]
    settings.RIS_PACS_HOST = "127.0.0.1"
    settings.RIS_PACS_PORT = orthanc["port"]
    settings.RIS_PACS_POLL_HOURS = 24
    settings.RIS_RECONCILE_QUIET_SECONDS = 30
    return orthanc


def fill(orthanc, tmp_path, spec: StudySpec):
    paths = write_study(spec, tmp_path / spec.study_instance_uid)
    sent = storescu(require_peer("storescu", "dcmtk"), orthanc["port"], paths, called="ORTHANC")
    assert sent.returncode == 0, sent.stderr


def test_the_poll_brings_the_studies_the_pacs_holds(polling, tmp_path):
    spec = StudySpec(series=(2, 3), patient_name="Müller^Jürgen", accession_number="A0900")
    fill(polling, tmp_path, spec)

    result = pacs.poll()

    assert result.error == "" and result.found == 1 and result.changed == 1
    study = Study.objects.get(study_instance_uid=spec.study_instance_uid)
    assert study.source == "C-FIND" and study.sending_ae_title == "ORTHANC"
    assert study.patient_name == "Müller^Jürgen"
    assert study.accession_number == "A0900"
    assert study.reported_instances == 5
    assert study.number_of_study_related_instances == 5
    counts = sorted(s.reported_instances for s in study.series.all())
    assert counts == [2, 3]
    assert study.reconcile_after is not None


def test_a_second_poll_changes_nothing_until_more_arrives(polling, tmp_path):
    spec = StudySpec(series=(2,))
    fill(polling, tmp_path, spec)
    pacs.poll()
    revision = Study.objects.get(study_instance_uid=spec.study_instance_uid).revision

    assert pacs.poll().changed == 0
    assert Study.objects.get(study_instance_uid=spec.study_instance_uid).revision == revision

    more = StudySpec(
        series=(1,), study_instance_uid=spec.study_instance_uid, series_uids=[spec.series_uids[0]]
    )
    fill(polling, tmp_path / "more", more)

    # Orthanc may index what it just stored a moment after answering: poll as the
    # periodic task would, a few times.
    changed = 0
    deadline = time.monotonic() + 15
    while not changed and time.monotonic() < deadline:
        changed = pacs.poll().changed
        time.sleep(0 if changed else 0.5)
    assert changed == 1
    study = Study.objects.get(study_instance_uid=spec.study_instance_uid)
    assert study.revision > revision and study.number_of_study_related_instances == 3


def test_a_polled_study_is_reconciled_like_a_stored_one(polling, tmp_path, book):
    order = book(accession_number="A0901")
    fill(polling, tmp_path, StudySpec(series=(1,), accession_number="A0901"))
    pacs.poll()
    study = Study.objects.get(accession_number="A0901")

    later = timezone.now() + timedelta(seconds=31)
    decision = studies.study_reconcile(study_id=study.pk, now=later).decision

    assert decision.outcome == "MATCHED" and decision.order == order


def test_a_pacs_that_does_not_answer_is_reported(settings, transactional_db):
    settings.RIS_PACS_AE_TITLE = "NOBODY"
    settings.RIS_PACS_HOST = "127.0.0.1"
    settings.RIS_PACS_PORT = free_port()

    assert pacs.poll().error == "the PACS did not accept the association"
