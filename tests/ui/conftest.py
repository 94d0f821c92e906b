"""Fixtures of the scheduler UI tests: users in the role groups, rooms open 07-19 every
day, a small catalogue, and a patient; dates are taken in the future so the free
slots offered are really free."""

import importlib
from datetime import date, datetime, time, timedelta

import pytest
from django.utils import timezone

from worklist.models import Procedure
from worklist.services.booking import StepBooking, order_create
from worklist.services.patients import patient_create
from worklist.services.stations import procedure_save, station_create

PASSWORD = "correct-horse-battery-1"


@pytest.fixture(autouse=True)
def _own_cache(settings, request):
    """A fresh in-memory cache per test, so login failures counted by one test never
    lock out the next (the real cache is shared: files or Redis)."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": request.node.nodeid,
        }
    }


@pytest.fixture
def role_groups(db):
    """The role groups of migration 0004_roles. A transactional test elsewhere in the
    suite flushes the database, and with it the groups a data migration made; put
    them back when missing."""
    from django.contrib.auth.models import Group, Permission

    roles = importlib.import_module("worklist.migrations.0004_roles")
    if Group.objects.filter(name__in=roles.ROLES).count() < len(roles.ROLES):
        roles.grant_roles(Group, Permission)


@pytest.fixture
def make_user(role_groups, django_user_model):
    from django.contrib.auth.models import Group

    def make(username: str, role: str | None = None):
        user = django_user_model.objects.create_user(username, password=PASSWORD)
        if role:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def scheduler(make_user):
    return make_user("sam", "scheduler")


@pytest.fixture
def technologist(make_user):
    return make_user("tess", "technologist")


@pytest.fixture
def scheduler_client(client, scheduler):
    client.force_login(scheduler)
    return client


@pytest.fixture
def technologist_client(client, technologist):
    client.force_login(technologist)
    return client


def open_every_day(opens=time(7), closes=time(19)):
    return [{"weekday": day, "opens": opens, "closes": closes} for day in range(7)]


@pytest.fixture
def rooms(db):
    return {
        ae: station_create(
            scheduled_station_ae_title=ae,
            scheduled_station_name=f"{modality} room {ae[-1]}",
            modality=modality,
            scheduled_procedure_step_location="Radiology",
            opening_hours=open_every_day(),
        )
        for ae, modality in (("CT1", "CT"), ("CT2", "CT"), ("MR1", "MR"))
    }


@pytest.fixture
def catalogue(db):
    return {
        code: procedure_save(
            procedure=Procedure(),
            code_value=code,
            coding_scheme_designator="LOCAL",
            code_meaning=meaning,
            modality=modality,
            duration_minutes=minutes,
        )
        for code, meaning, modality, minutes in (
            ("CTHEAD", "CT head", "CT", 15),
            ("CTCHEST", "CT chest", "CT", 20),
            ("MRKNEE", "MR knee", "MR", 30),
        )
    }


@pytest.fixture
def patient(db):
    return patient_create(
        patient_id="P1001",
        issuer_of_patient_id="HOSP",
        patient_name="Müller^Anna",
        patient_birth_date=date(1970, 5, 17),
        patient_sex="F",
    )


def future_day(days: int = 2) -> date:
    return timezone.localdate() + timedelta(days=days)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=timezone.get_default_timezone())


def book(*, patient_id="P1001", ae_title="CT1", start, minutes=15, procedure=None, user=None):
    """An order booked through the booking service, as the UI and the API book."""
    return order_create(
        patient={"patient_id": patient_id, "issuer_of_patient_id": "HOSP"},
        steps=[
            StepBooking(scheduled_station_ae_title=ae_title, start=start, duration_minutes=minutes)
        ],
        requested_procedure_code_sequence=[procedure.as_code_item()] if procedure else None,
        user=user,
    )


def step_of(order):
    return order.requested_procedure.scheduled_procedure_steps.all()[0]
