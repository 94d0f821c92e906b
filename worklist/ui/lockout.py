"""Login throttling: after RIS_LOGIN_MAX_FAILURES failed passwords for one user name
from one address, that pair is refused for RIS_LOGIN_LOCKOUT_SECONDS.

Failures are counted in Django's default cache, which settings point at Redis when a
broker is configured and at files under the data directory otherwise, so every web
server process sees the same count. The check sits in the authentication backend, so
the admin's login is throttled as the scheduler UI's is.

Parallel guesses cannot slip past the limit: each attempt takes its number from the
counter atomically *before* the password is checked (Redis INCR; with the file cache,
under an exclusive file lock shared by all processes), an attempt numbered past the
limit is refused unchecked, and a right password gives its number back by clearing the
count.

When the cache cannot be reached (Redis down) sign-in goes on without the throttle,
each attempt logged as a warning: the department keeps working, and the outage shows.
"""

import fcntl
import hashlib
import logging
from contextlib import contextmanager, nullcontext

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from redis.exceptions import RedisError

from audit.context import client_ip

logger = logging.getLogger(__name__)
# What the cache raises when it cannot be reached (Redis down, a file cache's disk gone).
UNREACHABLE = (RedisError, OSError)


def _cache_unreachable(exc: Exception) -> None:
    logger.warning("Login throttle off: the cache is unreachable (%s)", type(exc).__name__)


def client_address(request) -> str:
    """The client's address as the access audit records it (audit.context.client_ip:
    behind RIS_AUDIT_TRUSTED_PROXIES reverse proxies, the address the outermost
    trusted one saw; a forged X-Forwarded-For is not believed)."""
    return (client_ip(request) or "") if request is not None else ""


def _key(username: str, address: str) -> str:
    # Hashed: user names are personal data and stay out of cache keys and dumps.
    digest = hashlib.sha256(f"{username.strip().lower()}|{address}".encode()).hexdigest()
    return f"login-failures:{digest}"


def failures(username: str, address: str) -> int:
    try:
        return cache.get(_key(username, address), 0)
    except UNREACHABLE as exc:
        _cache_unreachable(exc)
        return 0


def locked_out(username: str, address: str) -> bool:
    return failures(username, address) >= settings.RIS_LOGIN_MAX_FAILURES


@contextmanager
def _file_lock():
    """One counter update at a time across threads and processes of this host (the
    file cache is per host too)."""
    path = settings.DATA_DIR / "login-failures.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _counter_lock():
    """Redis increments atomically by itself; other caches' incr is a read and a write."""
    backend = settings.CACHES["default"]["BACKEND"]
    return nullcontext() if backend.endswith("RedisCache") else _file_lock()


def take_attempt(username: str, address: str) -> int:
    """Count one more attempt for the pair and return its number (1 for the first)."""
    key = _key(username, address)
    timeout = settings.RIS_LOGIN_LOCKOUT_SECONDS
    with _counter_lock():
        if cache.add(key, 1, timeout):
            return 1
        try:
            number = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout)
            return 1
        cache.touch(key, timeout)
        return number


def take_attempt_or_none(username: str, address: str) -> int | None:
    """The attempt's number, or None when the cache cannot be reached."""
    try:
        return take_attempt(username, address)
    except UNREACHABLE as exc:
        _cache_unreachable(exc)
        return None


def record_failure(username: str, address: str) -> None:
    take_attempt(username, address)


def reset(username: str, address: str) -> None:
    try:
        cache.delete(_key(username, address))
    except UNREACHABLE as exc:
        _cache_unreachable(exc)


class ThrottledModelBackend(ModelBackend):
    """Django's user/password backend, refusing a locked-out user name and address."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get("username", "")
        if not username or password is None:
            return super().authenticate(request, username=username, password=password, **kwargs)
        address = client_address(request)
        number = take_attempt_or_none(username, address)
        if number is not None and number > settings.RIS_LOGIN_MAX_FAILURES:
            raise PermissionDenied("Too many failed logins")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None:
            reset(username, address)
        return user
