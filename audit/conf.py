"""The audit settings, with the defaults that apply when ris/settings.py sets none.

RIS_AUDIT_* environment variables feed them (see the README, "Access audit").
"""

import functools
import hashlib
import hmac
from dataclasses import dataclass
from datetime import time

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULTS = {
    # Whether the event of a read (not a change) waits for PostgreSQL's WAL flush
    # before the response is sent. Off: the commit returns at once (synchronous_commit
    # off for that transaction alone), saving one disk flush per request; a database
    # server crash can then lose the last fraction of a second of read events. A change
    # is recorded in the change's own transaction, as durable as the change itself.
    "AUDIT_SYNCHRONOUS_READS": False,
    # Months of events kept; `audit expire` drops whole months older than that.
    # 0 keeps every event for ever.
    "AUDIT_RETENTION_MONTHS": 0,
    # Forwarding to an external audit record repository (syslog over TLS, RFC 5425).
    "AUDIT_SYSLOG_HOST": "",
    "AUDIT_SYSLOG_PORT": 6514,
    "AUDIT_SYSLOG_TLS": True,
    "AUDIT_SYSLOG_CA_FILE": "",
    "AUDIT_SYSLOG_CERT_FILE": "",
    "AUDIT_SYSLOG_KEY_FILE": "",
    "AUDIT_SYSLOG_BATCH": 500,
    # AuditSourceID and AuditEnterpriseSiteID of the DICOM audit messages.
    "AUDIT_SOURCE_ID": "RIS",
    "AUDIT_ENTERPRISE_SITE_ID": "",
    # Unusual-access view.
    "AUDIT_WORKING_HOURS": "07:00-19:00",
    "AUDIT_WORKING_DAYS": "0,1,2,3,4",
    "AUDIT_UNUSUAL_PATIENTS": 20,
    "AUDIT_UNUSUAL_WINDOW_MINUTES": 60,
    # Reverse proxies in front of the web server whose X-Forwarded-For is trusted.
    "AUDIT_TRUSTED_PROXIES": 0,
    # The key of the chain (HMAC-SHA256), kept outside the database: the current one
    # chains new events and signs checkpoints; retired ones only verify.
    "AUDIT_KEY": "",
    "AUDIT_KEYS_RETIRED": [],
    # Events up to this seq were chained by an earlier version, without a key.
    "AUDIT_UNKEYED_THROUGH": 0,
    # The append-only file of signed checkpoints; empty: RIS_DATA_DIR/audit/checkpoints.log.
    "AUDIT_CHECKPOINT_FILE": "",
}

MIN_KEY_LENGTH = 32


def get(name: str):
    return getattr(settings, name, DEFAULTS[name])


@dataclass(frozen=True)
class WorkingHours:
    opens: time
    closes: time
    weekdays: frozenset[int]

    def contains(self, local) -> bool:
        return local.weekday() in self.weekdays and self.opens <= local.time() < self.closes


def working_hours() -> WorkingHours:
    try:
        opens, closes = (
            time.fromisoformat(t.strip()) for t in get("AUDIT_WORKING_HOURS").split("-")
        )
        days = frozenset(int(d) for d in str(get("AUDIT_WORKING_DAYS")).split(",") if d.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(
            "AUDIT_WORKING_HOURS must read like 07:00-19:00 and AUDIT_WORKING_DAYS like "
            "0,1,2,3,4 (Monday is 0)"
        ) from exc
    return WorkingHours(opens=opens, closes=closes, weekdays=days)


@dataclass(frozen=True)
class ChainKey:
    """A key of the chain and its ID, which every event chained with it records. The
    ID is derived from the key (an HMAC of a constant), so it names the key without
    revealing it and needs no bookkeeping when keys rotate."""

    id: str
    secret: bytes

    def mac(self, text: str) -> str:
        return hmac.new(self.secret, text.encode(), hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=8)
def _make_key(value: str) -> ChainKey:
    if len(value) < MIN_KEY_LENGTH:
        raise ImproperlyConfigured(
            f"An audit key must have at least {MIN_KEY_LENGTH} characters "
            "(RIS_AUDIT_KEY, RIS_AUDIT_KEYS_RETIRED)"
        )
    secret = value.encode()
    key_id = hmac.new(secret, b"ris audit key id", hashlib.sha256).hexdigest()[:16]
    return ChainKey(id=key_id, secret=secret)


def current_key() -> ChainKey:
    value = get("AUDIT_KEY")
    if not value:
        raise ImproperlyConfigured("RIS_AUDIT_KEY is not set: the audit chain needs its key")
    return _make_key(value)


def chain_keys() -> dict[str, ChainKey]:
    """Every key that may have chained an event, by ID: the current one and the
    retired ones."""
    keys = [_make_key(value) for value in get("AUDIT_KEYS_RETIRED")]
    keys.append(current_key())
    return {key.id: key for key in keys}
