"""Known modalities through the REST API (/api/modalities/) and the admin: AE title,
allowed addresses, stations it sees, wider scope, response character set."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from worklist.models import Modality

pytestmark = pytest.mark.django_db


@pytest.fixture
def stations(api):
    for ae_title in ("CT1", "CT2"):
        api.post(
            "/api/stations/",
            {"scheduled_station_ae_title": ae_title, "modality": "CT"},
            format="json",
        )


def test_a_known_modality_is_created_and_listed(api, stations):
    created = api.post(
        "/api/modalities/",
        {
            "ae_title": "CTVIEW",
            "description": "CT console, room 1",
            "allowed_addresses": ["10.1.2.3", "10.1.3.0/24"],
            "stations": ["CT1", "CT2"],
            "character_set": "ISO_IR 100",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["allowed_addresses"] == ["10.1.2.3", "10.1.3.0/24"]
    assert body["stations"] == ["CT1", "CT2"]
    assert body["sees_all_stations"] is False
    assert body["active"] is True
    listed = api.get("/api/modalities/", {"ae_title": "CTVIEW"}).json()
    assert [m["ae_title"] for m in listed["results"]] == ["CTVIEW"]


def test_a_known_modality_is_changed_with_patch(api, stations):
    pk = api.post(
        "/api/modalities/", {"ae_title": "CTVIEW", "stations": ["CT1"]}, format="json"
    ).json()["id"]
    changed = api.patch(
        f"/api/modalities/{pk}/", {"stations": ["CT2"], "sees_all_stations": True}, format="json"
    )
    assert changed.status_code == 200
    assert changed.json()["stations"] == ["CT2"]
    assert Modality.objects.get(pk=pk).sees_all_stations


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ae_title", "A" * 17),
        ("ae_title", "BAD\\AE"),
        ("allowed_addresses", ["10.1.2.300"]),
        ("allowed_addresses", ["ct-room-1.example.org"]),
        ("stations", ["NOSUCH"]),
        ("character_set", "EBCDIC"),
    ],
)
def test_invalid_values_are_a_400_naming_the_field(api, stations, field, value):
    payload = {"ae_title": "CTVIEW", field: value}
    answer = api.post("/api/modalities/", payload, format="json")
    assert answer.status_code == 400
    assert field in answer.json()


def test_an_ae_title_is_known_once(api):
    api.post("/api/modalities/", {"ae_title": "CTVIEW"}, format="json")
    answer = api.post("/api/modalities/", {"ae_title": "CTVIEW"}, format="json")
    assert answer.status_code == 400
    assert "ae_title" in answer.json()


def test_changing_known_modalities_needs_the_permission(django_user_model):
    viewer = django_user_model.objects.create_user("tech", password="pw-tech-1")
    viewer.user_permissions.add(Permission.objects.get(codename="view_modality"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=viewer).key}")
    assert client.get("/api/modalities/").status_code == 200
    assert client.post("/api/modalities/", {"ae_title": "X"}, format="json").status_code == 403


def test_administrators_manage_known_modalities_technologists_see_them():
    administrator = Group.objects.get(name="administrator")
    technologist = Group.objects.get(name="technologist")
    codes = lambda group: set(group.permissions.values_list("codename", flat=True))  # noqa: E731
    assert {"view_modality", "add_modality", "change_modality"} <= codes(administrator)
    assert "view_modality" in codes(technologist)
    assert "add_modality" not in codes(technologist)


def test_known_modalities_in_the_admin(admin_user, client, stations):
    client.force_login(admin_user)
    added = client.post(
        reverse("admin:worklist_modality_add"),
        {
            "ae_title": "CTVIEW",
            "kind": "MODALITY",
            "description": "",
            "allowed_addresses": "10.1.2.0/24",
            "character_set": "ISO_IR 192",
            "active": "on",
        },
    )
    assert added.status_code == 302
    assert Modality.objects.get().allowed_addresses == "10.1.2.0/24"
    refused = client.post(
        reverse("admin:worklist_modality_add"),
        {
            "ae_title": "CTVIEW2",
            "kind": "MODALITY",
            "allowed_addresses": "not-an-address",
            "character_set": "ISO_IR 192",
        },
    )
    assert refused.status_code == 200
    assert "is not an IP address or network" in refused.content.decode()
