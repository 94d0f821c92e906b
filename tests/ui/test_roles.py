"""Roles are groups holding model permissions; every page and endpoint checks them."""

import importlib

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from rest_framework.test import APIClient

from tests.factories import book, future_day, local, order_payload, step_of

pytestmark = pytest.mark.django_db

ROLES = ["scheduler", "technologist", "radiologist", "compliance officer", "administrator"]


def perms(role):
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Group.objects.get(name=role).permissions.select_related("content_type")
    }


def test_the_roles_migration_creates_the_five_groups():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    roles = importlib.import_module("worklist.migrations.0004_roles")
    state = MigrationExecutor(connection).loader.project_state(("worklist", "0004_roles"))
    Group.objects.all().delete()
    roles.create_roles(state.apps, None)
    assert set(Group.objects.values_list("name", flat=True)) == set(ROLES)
    assert Group.objects.get(name="scheduler").permissions.filter(codename="add_order").exists()


@pytest.fixture(autouse=True)
def _roles(role_groups):
    pass


def test_scheduler_books_but_does_not_delete():
    held = perms("scheduler")
    assert {"worklist.add_order", "worklist.change_scheduledprocedurestep"} <= held
    assert {"worklist.add_patient", "worklist.view_station", "worklist.view_procedure"} <= held
    assert not any(p.startswith("worklist.delete_") for p in held)
    assert "worklist.change_station" not in held


def test_technologist_and_radiologist_only_view():
    for role in ("technologist", "radiologist"):
        held = perms(role)
        assert "worklist.view_scheduledprocedurestep" in held
        assert all(".view_" in p for p in held), role


def test_compliance_officer_sees_patients_and_orders_only_in_the_worklist():
    worklist = {p for p in perms("compliance officer") if p.startswith("worklist.")}
    assert worklist == {"worklist.view_patient", "worklist.view_order"}


def test_administrator_manages_worklist_and_users():
    held = perms("administrator")
    assert {"worklist.delete_station", "auth.change_user", "auth.add_group"} <= held


@pytest.fixture
def booked_step(rooms, catalogue, patient):
    return step_of(
        book(patient=patient, start=local(future_day(), 9), procedure=catalogue["CTHEAD"])
    )


def test_technologist_views_the_worklist_but_cannot_book(technologist_client, patient, booked_step):
    assert technologist_client.get(reverse("ui:calendar")).status_code == 200
    assert technologist_client.get(reverse("ui:board")).status_code == 200
    assert technologist_client.get(reverse("ui:step", args=[booked_step.pk])).status_code == 200
    forbidden = [
        reverse("ui:book") + f"?patient={patient.pk}",
        reverse("ui:patient_new"),
        reverse("ui:step_reschedule", args=[booked_step.pk]),
        reverse("ui:step_cancel", args=[booked_step.pk]),
    ]
    for url in forbidden:
        response = technologist_client.get(url)
        assert response.status_code == 403, url
        assert "Your role does not allow this page" in response.content.decode()


def test_technologist_is_not_offered_booking_actions(technologist_client, patient, booked_step):
    page = technologist_client.get(reverse("ui:patient", args=[patient.pk])).content.decode()
    assert "Book an exam" not in page
    page = technologist_client.get(reverse("ui:step", args=[booked_step.pk])).content.decode()
    assert "Reschedule" not in page and "Cancel…" not in page


def test_technologist_cannot_book_through_the_api(technologist, rooms):
    api = APIClient()
    api.force_authenticate(technologist)
    assert api.get("/api/procedure-steps/").status_code == 200
    payload = order_payload(step={"scheduled_station_ae_title": "CT1"})
    assert api.post("/api/orders/", payload, format="json").status_code == 403


def test_compliance_officer_cannot_see_the_calendar(make_user, client):
    client.force_login(make_user("carl", "compliance officer"))
    assert client.get(reverse("ui:calendar")).status_code == 403
    assert client.get(reverse("ui:orders")).status_code == 200


def test_a_user_without_role_is_refused_everywhere(make_user, client, patient):
    client.force_login(make_user("nobody"))
    for name in ("ui:patients", "ui:calendar", "ui:board", "ui:orders"):
        assert client.get(reverse(name)).status_code == 403, name


def test_navigation_shows_only_what_the_role_may_open(technologist_client):
    page = technologist_client.get(reverse("home")).content.decode()
    assert reverse("ui:calendar") in page
    assert reverse("ui:patient_new") not in page
