"""Logins, failed logins, logouts, and changes to users, roles and permissions."""

import pytest
from django.contrib.auth.models import Group, Permission

from audit import context
from audit.codes import Outcome

from .conftest import events_after, make_user

pytestmark = pytest.mark.django_db


def test_login_and_logout_through_the_admin(client, django_user_model, mark):
    make_user(django_user_model, "dora", is_staff=True)
    mark_after_setup = events_after(mark)[-1].seq

    client.post("/admin/login/", {"username": "dora", "password": "pw-Secret-1"})
    client.post("/admin/logout/")

    login, logout = events_after(mark_after_setup)
    assert (login.get_action_display(), login.event_type_code, login.username) == (
        "User Authentication",
        "110122",
        "dora",
    )
    assert login.event_outcome_indicator == Outcome.SUCCESS
    assert login.channel == "admin" and login.source_ip == "127.0.0.1"
    assert (logout.event_type_code, logout.username) == ("110123", "dora")


def test_a_failed_login_keeps_the_username_tried(client, mark):
    client.post("/admin/login/", {"username": "mallory", "password": "guess"})
    [failed] = events_after(mark)
    assert failed.get_action_display() == "User Authentication"
    assert failed.event_outcome_indicator == Outcome.MINOR_FAILURE
    assert failed.username == "mallory"
    assert "guess" not in repr(failed.__dict__)


def test_creating_a_user_and_giving_a_role_are_recorded(django_user_model, mark):
    with context.system("createuser"):
        user = django_user_model.objects.create_user("erin", password="pw-Secret-1")
        group = Group.objects.create(name="radiologist-test")
        user.groups.add(group)
        group.permissions.add(Permission.objects.get(codename="view_event"))
        user.groups.remove(group)

    created, group_made, joined, granted, left = events_after(mark)
    assert (created.event_type_code, created.event_action_code) == ("110137", "C")
    assert created.participant_objects == [["user", "erin"]]
    assert (group_made.event_type_code, group_made.event_action_code) == ("110136", "C")
    assert joined.participant_objects == [["user", "erin"], ["group", "radiologist-test"]]
    assert granted.participant_objects == [
        ["group", "radiologist-test"],
        ["permission", "audit.view_event"],
    ]
    assert (left.event_type_code, left.event_action_code) == ("110136", "D")
    assert {e.channel for e in (created, joined, left)} == {"command"}


def test_a_login_does_not_count_as_a_change_of_the_user(client, django_user_model, mark):
    make_user(django_user_model, "fred", is_staff=True)
    after_setup = events_after(mark)[-1].seq
    client.post("/admin/login/", {"username": "fred", "password": "pw-Secret-1"})
    assert [e.event_type_code for e in events_after(after_setup)] == ["110122"]


def test_changing_a_users_permissions_is_recorded(django_user_model, mark):
    user = make_user(django_user_model, "gina")
    after_setup = events_after(mark)[-1].seq
    user.user_permissions.add(Permission.objects.get(codename="view_event"))
    [changed] = events_after(after_setup)
    assert changed.event_type_code == "110137"
    assert changed.participant_objects == [["user", "gina"], ["permission", "audit.view_event"]]
