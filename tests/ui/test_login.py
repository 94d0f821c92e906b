"""Logging in and out of the scheduler UI, throttling, session expiry."""

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db


def log_in(client, username, password):
    return client.post(reverse("ui:login"), {"username": username, "password": password})


def test_pages_send_an_anonymous_visitor_to_the_login_page(client):
    response = client.get(reverse("ui:calendar"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("ui:login") + "?next=")


def test_scheduler_logs_in_and_lands_on_the_start_page(client, scheduler):
    response = log_in(client, "sam", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    page = client.get(reverse("home")).content.decode()
    assert "Signed in as <strong>sam</strong>" in page
    assert reverse("ui:patients") in page


def test_login_returns_to_the_page_asked_for(client, scheduler):
    response = client.post(
        reverse("ui:login") + "?next=/calendar/",
        {"username": "sam", "password": PASSWORD, "next": "/calendar/"},
    )
    assert response["Location"] == "/calendar/"


def test_wrong_password_is_refused_with_a_message(client, scheduler):
    response = log_in(client, "sam", "not-the-password")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_repeated_failures_lock_the_user_out_even_with_the_right_password(
    client, scheduler, settings
):
    settings.RIS_LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        log_in(client, "sam", "guess")
    response = log_in(client, "sam", PASSWORD)
    assert response.status_code == 200
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_lockout_is_per_user_name(client, scheduler, make_user, settings):
    settings.RIS_LOGIN_MAX_FAILURES = 3
    make_user("other", "scheduler")
    for _ in range(3):
        log_in(client, "sam", "guess")
    assert log_in(client, "other", PASSWORD).status_code == 302


def test_lockout_also_guards_the_admin_login(client, admin_user, settings):
    settings.RIS_LOGIN_MAX_FAILURES = 2
    for _ in range(2):
        client.post(reverse("admin:login"), {"username": "admin", "password": "guess"})
    client.post(reverse("admin:login"), {"username": "admin", "password": "pw-admin-1"})
    assert "_auth_user_id" not in client.session


def test_a_successful_login_clears_earlier_failures(client, scheduler, settings):
    settings.RIS_LOGIN_MAX_FAILURES = 3
    log_in(client, "sam", "guess")
    log_in(client, "sam", "guess")
    assert log_in(client, "sam", PASSWORD).status_code == 302
    client.post(reverse("ui:logout"))
    log_in(client, "sam", "guess")
    log_in(client, "sam", "guess")
    assert log_in(client, "sam", PASSWORD).status_code == 302


def test_logout_ends_the_session(scheduler_client):
    response = scheduler_client.post(reverse("ui:logout"))
    assert response["Location"] == reverse("ui:login")
    assert scheduler_client.get(reverse("ui:patients")).status_code == 302


def test_an_expired_session_asks_to_log_in_again(scheduler_client):
    assert scheduler_client.get(reverse("ui:patients")).status_code == 200
    Session.objects.update(expire_date=timezone.now())
    response = scheduler_client.get(reverse("ui:patients"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("ui:login"))


def test_an_htmx_refresh_after_expiry_sends_the_page_to_the_login(scheduler_client):
    Session.objects.update(expire_date=timezone.now())
    response = scheduler_client.get(
        reverse("ui:board"), HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/board/"
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("ui:login") + "?next=%2Fboard%2F"


def test_behind_a_trusted_proxy_the_lockout_counts_per_client(client, scheduler, settings):
    """One address for the throttle and the audit trail: the client the trusted proxy
    saw. A client locked out does not lock out another client behind the same proxy,
    and a forged X-Forwarded-For hop does not escape the lockout."""
    settings.RIS_LOGIN_MAX_FAILURES = 2
    settings.AUDIT_TRUSTED_PROXIES = 1
    url = reverse("ui:login")
    for _ in range(2):
        client.post(url, {"username": "sam", "password": "guess"}, HTTP_X_FORWARDED_FOR="10.0.0.7")
    forged = client.post(
        url,
        {"username": "sam", "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="1.2.3.4, 10.0.0.7",
    )
    assert "Too many failed logins" in forged.content.decode()
    other = client.post(
        url, {"username": "sam", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="10.0.0.8"
    )
    assert other.status_code == 302
