"""Parallel wrong passwords for one user name stop at the limit: guesses sent at the
same moment, through the real login view, get no more password checks than
RIS_LOGIN_MAX_FAILURES allows, on the file cache (one host's processes) and on Redis.

Ordered by events: every password check that starts is held until each request has
either reached a password check or been answered, so all of them race past the
lockout check together, as they would if the checks were slow. Runs on PostgreSQL
(.ci/run), with the file cache and with Redis."""

import threading
import uuid

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from tests.conftest import ON_REDIS

# Fewer than the connections a process's pool holds (DATABASE_POOL_SIZE, 10).
GUESSES = 8
LIMIT = 3
PASSWORD = "the-right-password-1"


@pytest.fixture(params=["file", "redis"])
def shared_cache(request, settings, tmp_path):
    if request.param == "file":
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                "LOCATION": str(tmp_path / "cache"),
            }
        }
    else:
        if not ON_REDIS:
            pytest.skip("needs CELERY_BROKER_URL=redis://... (run by .ci/run)")
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": settings.CELERY_BROKER_URL,
                "KEY_PREFIX": f"lockout-race-{uuid.uuid4().hex}",
            }
        }
    settings.RIS_LOGIN_MAX_FAILURES = LIMIT
    return request.param


class HeldPasswordChecks:
    """check_password, held until every request has reached it or been answered."""

    def __init__(self, requests: int):
        self.requests = requests
        self.checked = 0
        self.answered = 0
        self.all_arrived = threading.Event()
        self.lock = threading.Lock()
        self.here = threading.local()
        self.original = User.check_password

    def _count(self, *, checked: int = 0, answered: int = 0):
        with self.lock:
            self.checked += checked
            self.answered += answered
            if self.checked + self.answered >= self.requests:
                self.all_arrived.set()

    def check_password(self, user, raw_password):
        self.here.checked = True
        self._count(checked=1)
        assert self.all_arrived.wait(timeout=30), "the requests never all arrived"
        return self.original(user, raw_password)

    def answered_unchecked(self):
        if not getattr(self.here, "checked", False):
            self._count(answered=1)


# Each failed login writes an audit event; parallel writers need PostgreSQL (the
# in-memory SQLite of the tests locks whole tables without waiting).
@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_parallel_guesses_stop_at_the_limit(shared_cache, monkeypatch):
    User.objects.create_user("target", password=PASSWORD)
    held = HeldPasswordChecks(GUESSES)
    monkeypatch.setattr(User, "check_password", lambda user, raw: held.check_password(user, raw))
    statuses = []
    start = threading.Barrier(GUESSES)

    def guess(number):
        client = Client()
        start.wait(timeout=30)
        try:
            response = client.post("/login/", {"username": "target", "password": f"guess-{number}"})
            statuses.append(response.status_code)
        finally:
            held.answered_unchecked()
            connection.close()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(GUESSES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * GUESSES  # every guess refused, none logged in
    assert held.checked == LIMIT
    # Locked now, the right password included, and it is not even checked.
    response = Client().post("/login/", {"username": "target", "password": PASSWORD})
    assert "Too many failed logins" in response.content.decode()
    assert held.checked == LIMIT


@pytest.mark.django_db
def test_with_the_cache_unreachable_sign_in_goes_on_and_says_so(settings, caplog):
    """Redis down: the throttle is off, sign-in works, every attempt logs the outage."""
    from tests.test_runris import free_port

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens
        }
    }
    User.objects.create_user("target", password=PASSWORD)
    client = Client()
    wrong = client.post("/login/", {"username": "target", "password": "guess"})
    assert "Please enter a correct username" in wrong.content.decode()
    right = client.post("/login/", {"username": "target", "password": PASSWORD})
    assert right.status_code == 302
    warnings = [r.getMessage() for r in caplog.records if r.name == "worklist.ui.lockout"]
    assert warnings and all("cache is unreachable" in w for w in warnings)
