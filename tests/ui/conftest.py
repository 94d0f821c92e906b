"""Fixtures of the scheduler UI tests: users in the role groups, rooms open 07-19 every
day, a small catalogue, and a patient; dates are taken in the future so the free
slots offered are really free."""

import pytest

from tests import factories

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
    """The role groups of the data migrations, put back when a transactional test
    flushed them."""
    factories.restore_roles()


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


@pytest.fixture
def rooms(db):
    return {
        ae: factories.station(
            ae,
            modality,
            name=f"{modality} room {ae[-1]}",
            scheduled_procedure_step_location="Radiology",
            opening_hours=factories.open_every_day(),
        )
        for ae, modality in (("CT1", "CT"), ("CT2", "CT"), ("MR1", "MR"))
    }


@pytest.fixture
def catalogue(db):
    return {
        code: factories.procedure(code, meaning, modality, minutes)
        for code, meaning, modality, minutes in (
            ("CTHEAD", "CT head", "CT", 15),
            ("CTCHEST", "CT chest", "CT", 20),
            ("MRKNEE", "MR knee", "MR", 30),
        )
    }


@pytest.fixture
def patient(db):
    return factories.patient("P1001")
