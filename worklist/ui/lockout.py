"""Login throttling: after RIS_LOGIN_MAX_FAILURES failed passwords for one user name
from one address, that pair is refused for RIS_LOGIN_LOCKOUT_SECONDS.

Failures are counted in Django's default cache, which settings point at Redis when a
broker is configured and at files under the data directory otherwise, so every web
server process sees the same count. The check sits in the authentication backend, so
the admin's login is throttled as the scheduler UI's is.
"""

import hashlib

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied

from audit.context import client_ip


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
    return cache.get(_key(username, address), 0)


def locked_out(username: str, address: str) -> bool:
    return failures(username, address) >= settings.RIS_LOGIN_MAX_FAILURES


def record_failure(username: str, address: str) -> None:
    key = _key(username, address)
    timeout = settings.RIS_LOGIN_LOCKOUT_SECONDS
    if cache.add(key, 1, timeout):
        return
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout)
    else:
        cache.touch(key, timeout)


def reset(username: str, address: str) -> None:
    cache.delete(_key(username, address))


class ThrottledModelBackend(ModelBackend):
    """Django's user/password backend, refusing a locked-out user name and address."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get("username", "")
        address = client_address(request)
        if username and locked_out(username, address):
            raise PermissionDenied("Too many failed logins")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if username and password is not None:
            if user is None:
                record_failure(username, address)
            else:
                reset(username, address)
        return user
