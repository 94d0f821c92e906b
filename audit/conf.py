"""The audit settings, with the defaults that apply when ris/settings.py sets none.

RIS_AUDIT_* environment variables feed them (see the README, "Access audit").
"""

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
}


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
