"""Fixtures of the export tests: the roles (groups made by the migrations), a small
department with booked orders and reported exams, and helpers to request, decide and
read an export."""

import csv
import io
import json
import zipfile
from datetime import date, datetime, time

import pytest
from django.contrib.auth.models import Group
from django.test import TestCase
from django.utils import timezone

from export import services
from export.selectors import Cohort
from ris.celery import app
from tests.dicom.mpps_messages import create, n_create
from tests.factories import restore_roles
from worklist.services.booking import StepBooking, order_create
from worklist.services.stations import station_create

PATIENTS = [
    # patient ID, name, birth date, sex
    ("AV35674", "Vivaldi^Antonio", date(1978, 3, 4), "M"),
    ("JS10021", "Bach^Johann^Sebastian", date(1985, 3, 21), "M"),
    ("CS20033", "Schumann^Clara", date(1969, 9, 13), "F"),
]


def member(django_user_model, username: str, role: str):
    restore_roles()
    user = django_user_model.objects.create_user(username, f"{username}@example.org", "pw-Secret-1")
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def researcher(django_user_model):
    return member(django_user_model, "rita", "researcher")


@pytest.fixture
def other_researcher(django_user_model):
    return member(django_user_model, "ralph", "researcher")


@pytest.fixture
def officer(django_user_model):
    return member(django_user_model, "carol", "compliance officer")


@pytest.fixture
def _own_cache(settings, request):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": request.node.nodeid,
        }
    }


@pytest.fixture(autouse=True)
def _exports_in_tmp(settings, tmp_path, _own_cache):
    settings.DATA_DIR = tmp_path / "data"


@pytest.fixture(autouse=True)
def _built_in_process(request):
    """Builds run in-process (as with no broker) even where CI configures Redis; the
    tests marked `redis` send them to a real worker."""
    if "redis" in request.keywords:
        yield
        return
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


# The department's exams: booked through the services, which refuse the past, so in
# the next calendar year.
YEAR = date.today().year + 1


def at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=timezone.get_default_timezone())


@pytest.fixture
def department(db):
    """Two rooms; each patient has a CT head in January and March of next year (two for the
    first patient, 55 days apart) and an MR in February; the CTs were reported by MPPS."""
    station_create(
        scheduled_station_ae_title="CT1", scheduled_station_name="CT Room 1", modality="CT"
    )
    station_create(
        scheduled_station_ae_title="MR1", scheduled_station_name="MR Room 1", modality="MR"
    )
    orders = []
    for n, (patient_id, name, born, sex) in enumerate(PATIENTS):
        patient = {
            "patient_id": patient_id,
            "issuer_of_patient_id": "HOSP",
            "patient_name": name,
            "patient_birth_date": born,
            "patient_sex": sex,
        }
        bookings = [
            ("CT1", at(date(YEAR, 1, 5 + n), 9), "CTHEAD", f"CT head of {name.split('^')[0]}"),
            ("MR1", at(date(YEAR, 2, 2 + n), 10), "MRKNEE", "MR knee"),
        ]
        if n == 0:
            bookings.append(("CT1", at(date(YEAR, 3, 1), 11), "CTHEAD", "CT head follow-up"))
        for ae_title, start, code, description in bookings:
            order = order_create(
                patient=patient,
                steps=[
                    StepBooking(
                        scheduled_station_ae_title=ae_title, start=start, duration_minutes=15
                    )
                ],
                requested_procedure_code_sequence=[
                    {
                        "code_value": code,
                        "coding_scheme_designator": "LOCAL",
                        "code_meaning": description,
                    }
                ],
                requested_procedure_description=description,
                referring_physician_name="Smith^John",
                reason_for_the_requested_procedure=f"Pain since {start:%Y-%m-%d}",
            )
            orders.append(order)
            if ae_title == "CT1":
                step = order.requested_procedure.scheduled_procedure_steps.all()[0]
                create(
                    n_create(step),
                    uid=f"1.2.826.0.1.3680043.10.5.{order.pk}",
                    calling_ae_title="CT1",
                )
    return orders


def request_export(researcher, *, project=None, options=(), cohort=None, **parts):
    project = project or services.project_create(owner=researcher, name="Headache study")
    return services.export_request(
        requester=researcher,
        project=project,
        purpose="Headache cohort for a retrospective study",
        cohort=cohort or Cohort(),
        options=options,
        **parts,
    )


def approve(export, officer, comment="Ethics committee ref. EC-2026-17"):
    """Approve; the build the approval sends on commit runs then, in-process (no broker)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.export_decide(export=export, officer=officer, approve=True, comment=comment)
    export.refresh_from_db()
    return export


def zip_of(export) -> zipfile.ZipFile:
    return zipfile.ZipFile(services.exports_dir() / export.file_name)


def read_csv(archive: zipfile.ZipFile, name: str) -> list[dict]:
    root = archive.namelist()[0].split("/")[0]
    with archive.open(f"{root}/{name}") as handle:
        return list(csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8")))


def read_json(archive: zipfile.ZipFile, name: str):
    root = archive.namelist()[0].split("/")[0]
    return json.loads(archive.read(f"{root}/{name}"))
