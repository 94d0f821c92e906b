"""A failure to write the audit record fails the request: the data is not sent and
the change is not kept."""

import pytest
from django.db import DatabaseError

from audit import chain
from tests.factories import order_payload
from worklist.models import Order

from .conftest import api_client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def audit_down(monkeypatch):
    def refuse(*args, **kwargs):
        raise DatabaseError("audit table unavailable")

    def down():
        monkeypatch.setattr(chain, "append", refuse)

    return down


@pytest.fixture
def alice_api(scheduler):
    client = api_client_for(scheduler)
    client.raise_request_exception = False
    return client


def test_a_read_is_refused_when_it_cannot_be_recorded(alice_api, station, audit_down):
    assert alice_api.post("/api/orders/", order_payload(), format="json").status_code == 201
    audit_down()
    response = alice_api.get("/api/patients/")
    assert response.status_code == 500
    assert b"Vivaldi" not in response.content


def test_a_booking_is_undone_when_it_cannot_be_recorded(alice_api, station, audit_down):
    audit_down()
    response = alice_api.post("/api/orders/", order_payload(), format="json")
    assert response.status_code == 500
    assert not Order.objects.exists()


def test_a_page_is_refused_when_it_cannot_be_recorded(client, scheduler, station, audit_down):
    api_client_for(scheduler).post("/api/orders/", order_payload(), format="json")
    client.force_login(scheduler)
    client.raise_request_exception = False
    audit_down()
    response = client.post("/patients/", {"q": "vivaldi"})
    assert response.status_code == 500
    assert b"Vivaldi" not in response.content
