"""Fixtures of the tests of the people-facing parts of arriving studies: the
exceptions page, the order page's study and previews, /api/studies/. Studies arrive
through the intake service (as the C-STORE handler calls it), with their files when
the test keeps them, and are decided as the reconciliation task decides them."""

import importlib
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pydicom
import pytest
from django.utils import timezone

from tests.studies.conftest import (  # noqa: F401  (the listener of the studies tests)
    dicom_port,
    dicom_server,
    storescu_path,
    studies_settings,
)
from tests.ui.conftest import (  # noqa: F401  (fixtures shared with the UI tests)
    PASSWORD,
    _own_cache,
    make_user,
    role_groups,
)
from worklist.dicom import study_attributes
from worklist.models import Study
from worklist.services import studies
from worklist.services.booking import StepBooking, order_create

PATIENT = {
    "patient_id": "AV35674",
    "issuer_of_patient_id": "HOSP",
    "patient_name": "Vivaldi^Antonio",
    "patient_birth_date": date(1978, 3, 4),
    "patient_sex": "M",
}
STUDY_DAY = date(2026, 11, 25)


@pytest.fixture(autouse=True)
def study_settings(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    settings.RIS_RECONCILE_QUIET_SECONDS = 30
    settings.RIS_STORE_FILES = False
    settings.RIS_VIEWER_URL = ""
    return settings


@pytest.fixture
def study_roles(role_groups):  # noqa: F811
    """The study permissions of migration 0010 on the role groups (put back after a
    transactional test elsewhere flushed the database)."""
    from django.contrib.auth.models import Group, Permission

    migration = importlib.import_module("worklist.migrations.0010_study_roles")
    migration.grant_study_permissions(Group, Permission)


@pytest.fixture
def user_in(make_user, study_roles):  # noqa: F811
    """A user of a role, logged in on a fresh client."""
    from django.test import Client

    def make(role: str | None, username: str | None = None):
        user = make_user(username or (role or "nobody").replace(" ", "_"), role)
        client = Client()
        client.force_login(user)
        client.user = user
        return client

    return make


@pytest.fixture
def scheduler_client(user_in):
    return user_in("scheduler")


def book(accession_number="A0001", *, study_instance_uid="", patient=None, start=None):
    """An order booked as the API books it (the contract's example patient), by
    default on the study day, each after the one booked before. The exams these
    studies come from are done: each was booked the day before its start."""
    from worklist.models import Order

    person = PATIENT | (patient or {})
    default_start = datetime(2026, 11, 25, 9, 0, tzinfo=ZoneInfo("UTC")) + timedelta(
        minutes=20 * Order.objects.count()
    )
    return order_create(
        patient=person,
        steps=[
            StepBooking(
                scheduled_station_ae_title="CT1",
                start=start or default_start,
                duration_minutes=15,
                modality="CT",
            )
        ],
        accession_number=accession_number,
        study_instance_uid=study_instance_uid,
        booked_at=(start or default_start) - timedelta(days=1),
    )


def arrive(study_uid="1.2.3.1", series=(("1.2.3.1.1", 2),), calling="CT1", **fields) -> Study:
    """Instances of a study received (no files), the contract's patient unless told."""
    patient = {k: fields.pop(k, v) for k, v in PATIENT.items()}
    study = {
        "accession_number": fields.pop("accession_number", ""),
        "study_date": fields.pop("study_date", STUDY_DAY),
        "study_description": fields.pop("study_description", "CT head"),
    }
    number = Study.objects.filter(study_instance_uid=study_uid).count() * 1000
    for index, (series_uid, count) in enumerate(series, start=1):
        for _ in range(count):
            number += 1
            studies.instance_received(
                header=studies.InstanceHeader(
                    sop_instance_uid=f"{study_uid}.9.{number}",
                    sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
                    study_instance_uid=study_uid,
                    series_instance_uid=series_uid,
                    instance_number=number,
                    patient=patient,
                    study=study,
                    series={
                        "modality": fields.get("modality", "CT"),
                        "series_number": index,
                        "series_description": f"Series {index}",
                    },
                ),
                calling_ae_title=calling,
            )
    return Study.objects.get(study_instance_uid=study_uid)


def keep(path: Path, calling="CT1") -> Study:
    """A DICOM file received as the C-STORE handler receives it, its file kept."""
    dataset = pydicom.dcmread(path)
    header = studies.InstanceHeader(
        sop_instance_uid=dataset.SOPInstanceUID,
        sop_class_uid=dataset.SOPClassUID,
        study_instance_uid=dataset.StudyInstanceUID,
        series_instance_uid=dataset.SeriesInstanceUID,
        instance_number=study_attributes.parse_int(str(dataset.get("InstanceNumber", ""))),
        patient=study_attributes.patient_fields(dataset),
        study=study_attributes.study_fields(dataset),
        series=study_attributes.series_fields(dataset),
    )
    data = path.read_bytes()
    studies.instance_received(
        header=header,
        calling_ae_title=calling,
        transfer_syntax_uid=str(dataset.file_meta.TransferSyntaxUID),
        file_bytes=lambda: data,
    )
    return Study.objects.get(study_instance_uid=dataset.StudyInstanceUID)


def decide(study: Study) -> Study:
    """The reconciliation task's decision, once the quiet period is over."""
    later = timezone.now() + timedelta(seconds=31)
    studies.study_reconcile(study_id=study.pk, now=later)
    return Study.objects.get(pk=study.pk)
