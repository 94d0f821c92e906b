"""A refused request is one log line without a traceback; /favicon.ico is served."""

import logging

import pytest

pytestmark = pytest.mark.django_db


def test_a_refused_request_is_logged_on_one_line(client, django_user_model, caplog):
    user = django_user_model.objects.create_user("nobody", password="pw-nobody-123")
    client.force_login(user)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get("/patients/new/").status_code == 403
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == "Forbidden (Permission denied): /patients/new/"
    assert record.exc_info is None
    line = caplog.handler.format(record)
    assert "Traceback" not in line and "\n" not in line


def test_a_server_error_keeps_its_traceback(client, caplog, monkeypatch):
    from ris import views

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views.connection, "cursor", broken)
    client.raise_request_exception = False
    with caplog.at_level(logging.ERROR, logger="django.request"):
        assert client.get("/healthz").status_code == 500
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.exc_info is not None


def test_the_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/vnd.microsoft.icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    page = client.get("/login/").content.decode()
    assert '<link rel="icon" href="/favicon.ico">' in page
