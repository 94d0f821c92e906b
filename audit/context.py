"""Who is acting, from where, through which channel: the audit context of the code
running now, kept in a contextvar so that service and selector functions record
events without being handed a request.

Web requests get theirs from audit.middleware. Everything else sets one with a
one-line context manager:

    with audit.context.dicom(event.assoc):          # a DICOM handler
    with audit.context.system("loaddemo"):          # a management command
    with audit.context.task("audit.verify_chain"):  # set for every Celery task

Code that runs with none records with channel "unknown": still a trace, and one the
unusual-access view shows.
"""

import getpass
import ipaddress
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.utils.ipv6 import clean_ipv6_address

from . import conf
from .codes import Channel

CORRELATION_HEADER = "X-Request-ID"
_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@dataclass
class AuditContext:
    """The participant side of the events recorded while it is bound.

    For a web request the user is read from the request when an event is written,
    not when the context is made: DRF authenticates a token inside the view, long
    after the middleware ran.
    """

    channel: str
    correlation_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    username: str = ""
    user_pk: int | None = None
    role: str = ""
    ae_title: str = ""
    source_ip: str | None = None
    source_port: int | None = None
    detail: str = ""
    request: object = None
    buffer_reads: bool = False
    pending_reads: list = field(default_factory=list)

    def participant(self) -> dict:
        """The Event fields that say who acted, from where, how. A role of None stands
        for the user's roles as they are when the event is written: audit.chain reads
        them in the statement that reads the chain head, saving a query per request."""
        user, user_pk, role = self._actor()
        return {
            "username": user[:150],
            "user_pk": user_pk,
            "role": None if role is None else role[:200],
            "ae_title": self.ae_title[:16],
            "source_ip": self.source_ip,
            "source_port": self.source_port,
            "channel": self.channel,
            "correlation_id": self.correlation_id,
        }

    def _actor(self) -> tuple[str, int | None, str | None]:
        user = getattr(self.request, "user", None)
        if user is None or not user.is_authenticated:
            return self.username, self.user_pk, self.role
        return user.get_username(), user.pk, None


def role_of(user) -> str:
    """The actor's role: "superuser" if so, then the groups (roles) the user belongs
    to, in code point order (what audit.chain's SQL gives too)."""
    names = sorted(user.groups.values_list("name", flat=True))
    if user.is_superuser:
        names.insert(0, "superuser")
    return ", ".join(names)


def role_of_pk(user_pk: int) -> str:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=user_pk).first()
    return role_of(user) if user is not None else ""


_current: ContextVar[AuditContext | None] = ContextVar("audit_context", default=None)


def current() -> AuditContext:
    found = _current.get()
    if found is None:
        return AuditContext(channel=Channel.UNKNOWN, correlation_id="")
    return found


def is_bound() -> bool:
    return _current.get() is not None


@contextmanager
def bind(context: AuditContext) -> Iterator[AuditContext]:
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


# --- web requests -------------------------------------------------------------

API_PREFIX = "/api/"
ADMIN_PREFIX = "/admin/"


def channel_of_path(path: str) -> str:
    if path.startswith(API_PREFIX):
        return Channel.API
    if path.startswith(ADMIN_PREFIX):
        return Channel.ADMIN
    return Channel.WEB


def for_request(request) -> AuditContext:
    """The context of one HTTP request; its reads are written when the response is
    ready (audit.middleware), merged per action, before any byte of it is sent."""
    sent = request.headers.get(CORRELATION_HEADER, "")
    return AuditContext(
        channel=channel_of_path(request.path),
        correlation_id=sent if _CORRELATION_ID.match(sent) else uuid.uuid4().hex,
        source_ip=client_ip(request),
        detail=f"{request.method} {request.path}"[:255],
        request=request,
        buffer_reads=True,
    )


def normalised_ip(value: str) -> str | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if address.version == 6:
        return clean_ipv6_address(str(address))
    return str(address)


def client_ip(request) -> str | None:
    """REMOTE_ADDR, or the address the n-th trusted reverse proxy saw
    (AUDIT_TRUSTED_PROXIES) in X-Forwarded-For."""
    proxies = conf.get("AUDIT_TRUSTED_PROXIES")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        hops = [hop for hop in (h.strip() for h in forwarded.split(",")) if hop]
        if hops:
            found = normalised_ip(hops[max(len(hops) - proxies, 0)])
            if found:
                return found
    return normalised_ip(request.META.get("REMOTE_ADDR", ""))


# --- other channels -----------------------------------------------------------


def dicom(assoc, *, role: str = "DICOM peer", detail: str = ""):
    """For a DICOM event handler: the calling AE title and the peer's address and port
    are the actor and source. ``with audit.context.dicom(event.assoc):``"""
    requestor = assoc.requestor
    return bind(
        AuditContext(
            channel=Channel.DICOM,
            ae_title=str(requestor.ae_title).strip(),
            role=role,
            source_ip=normalised_ip(str(requestor.address)),
            source_port=requestor.port,
            detail=detail,
        )
    )


def hl7(*, application: str, address: str = "", port: int | None = None, detail: str = ""):
    """For an HL7 message: the sending application (MSH-3) and the peer's address."""
    return bind(
        AuditContext(
            channel=Channel.HL7,
            ae_title=application[:16],
            role="HL7 sender",
            source_ip=normalised_ip(address) if address else None,
            source_port=port,
            detail=detail[:255],
        )
    )


def system(name: str, *, user: str = ""):
    """For a management command or a script: ``with audit.context.system("loaddemo"):``.
    The operating-system account that ran it stands as the role."""
    return bind(
        AuditContext(
            channel=Channel.COMMAND,
            username=user,
            role=f"os account {_os_account()}",
            detail=name[:255],
        )
    )


def task(name: str, task_id: str = ""):
    """For a Celery task (set for every task by audit.signals)."""
    return bind(
        AuditContext(
            channel=Channel.TASK,
            correlation_id=(task_id or uuid.uuid4().hex)[:64],
            role="scheduled task",
            detail=name[:255],
        )
    )


def _os_account() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
