"""Who may query the worklist, and which steps each caller sees.

A calling AE title is allowed when it is

- a known modality (worklist.models.Modality, admin and /api/modalities/) calling
  from one of its allowed addresses: it sees the steps of the stations listed for it,
  or of every station when it has the wider scope; or
- the AE title of a station: the modality in that room, from any address, sees that
  station's steps.

Both may apply; the caller then sees the union. Anyone else is refused at association
when RIS_DICOM_STRICT_AE is on (the default outside DEBUG); with it off an unknown
caller is let in and sees every step, as a conventional worklist server would.
Data minimisation is the default: nobody sees more than their own stations unless
granted.

The listener applies this once per association, for every service it offers
(`check_association`, bound to EVT_REQUESTED): an association proposing anything but
Verification needs a caller `resolve` grants; C-ECHO stays open to anyone (health
checks, a modality being set up). The handlers of each service read the grant with
`granted(assoc)`.
"""

import ipaddress
import logging
from dataclasses import dataclass
from typing import NamedTuple

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections
from django.db.models import Q
from pynetdicom import evt
from pynetdicom.sop_class import Verification

from worklist import compiled
from worklist.models import Modality, Station, ip_network_list

from . import charset

logger = logging.getLogger(__name__)


class GrantedStation(NamedTuple):
    """A station a caller may see: what the worklist and MPPS read of it."""

    pk: int
    scheduled_station_ae_title: str


@dataclass(frozen=True)
class Access:
    """What one caller may see: `stations` None means every station."""

    calling_ae: str
    stations: tuple[GrantedStation | Station, ...] | None
    character_set: str = charset.UTF_8
    grounds: str = ""

    @property
    def station_list(self) -> list[GrantedStation | Station] | None:
        return None if self.stations is None else list(self.stations)


def peer_address(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        found = ipaddress.ip_address(str(address).split("%")[0])
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def address_allowed(allowed_addresses: str, address: str) -> bool:
    """Whether `address` is in one of the networks a modality lists (none listed: any)."""
    networks = ip_network_list(allowed_addresses)
    if not networks:
        return True
    peer = peer_address(address)
    if peer is None:
        return False
    return any(peer in ipaddress.ip_network(n, strict=False) for n in networks)


class KnownModality(NamedTuple):
    pk: int
    allowed_addresses: str
    sees_all_stations: bool
    character_set: str


def resolve(calling_ae: str, address: str) -> Access | None:
    """The access of a caller, or None when it must be refused. Two queries, compiled
    once per AE title (worklist/compiled.py), read afresh every time: the modality of
    that AE title, if known, then the stations it may see (its own, and those listed
    for the modality when it calls from an allowed address)."""
    calling_ae = calling_ae.strip()
    modality = known_modality(calling_ae)
    allowed = modality is not None and address_allowed(modality.allowed_addresses, address)
    if modality is not None and not allowed:
        logger.warning(
            "Known modality %s called from %s, not one of its allowed addresses",
            calling_ae,
            address,
        )
    listed = allowed and not modality.sees_all_stations
    stations = granted_stations(calling_ae, modality.pk if listed else None)
    grounds = []
    if any(s.scheduled_station_ae_title == calling_ae for s in stations):
        grounds.append(f"station {calling_ae}")
    if allowed:
        grounds.append(f"known modality {calling_ae}")
    if grounds:
        return Access(
            calling_ae=calling_ae,
            stations=None if allowed and modality.sees_all_stations else stations,
            character_set=modality.character_set if allowed else charset.UTF_8,
            grounds=", ".join(grounds),
        )
    if modality is None and not settings.RIS_DICOM_STRICT_AE:
        return Access(calling_ae=calling_ae, stations=None, grounds="unknown AE, not strict")
    return None


def known_modality(calling_ae: str) -> KnownModality | None:
    """The active modality of this AE title (unique: one row or none)."""
    rows = compiled.STATEMENTS.rows(
        ("policy.known_modality", compiled.freeze_value(calling_ae)),
        lambda: (
            Modality.objects.filter(ae_title=calling_ae, active=True)
            .order_by()
            .values_list(*KnownModality._fields)[:1]
        ),
    )
    return KnownModality(*rows[0]) if rows else None


def granted_stations(calling_ae: str, listed_for: int | None) -> tuple[GrantedStation, ...]:
    """The active stations whose AE title is the caller's and, with `listed_for`, those
    listed for that modality."""

    def build():
        found = Station.objects.filter(active=True)
        if listed_for is None:
            found = found.filter(scheduled_station_ae_title=calling_ae)
        else:
            # distinct: a station both its own and listed.
            found = found.filter(
                Q(scheduled_station_ae_title=calling_ae) | Q(modalities=listed_for)
            ).distinct()
        return found.order_by("pk").values_list(*GrantedStation._fields)

    rows = compiled.STATEMENTS.rows(
        ("policy.granted_stations", compiled.freeze_value(calling_ae), listed_for), build
    )
    return tuple(GrantedStation(*row) for row in rows)


# --- the association check ----------------------------------------------------------

ACCESS = "ris_access"  # attribute of the pynetdicom Association holding its Access

# A-ASSOCIATE-RJ (PS3.8 9.3.4): result, source, diagnostic.
REJECTED_PERMANENT, REJECTED_TRANSIENT = 0x01, 0x02
SERVICE_USER = 0x01
NO_REASON, CALLING_AE_NOT_RECOGNIZED = 0x01, 0x03

# What anyone may use without a grant.
OPEN_SERVICES = frozenset({Verification})


def granted(assoc) -> Access | None:
    """The access the association was granted when it was requested, or None (a
    Verification-only association, or one accepted before the check ran)."""
    return getattr(assoc, ACCESS, None)


def proposed_services(assoc) -> set[str]:
    contexts = assoc.requestor.primitive.presentation_context_definition_list
    return {str(cx.abstract_syntax) for cx in contexts}


def needs_grant(assoc) -> bool:
    return bool(proposed_services(assoc) - OPEN_SERVICES)


def check_association(event: evt.Event, require_called_ae: bool = True) -> None:
    """EVT_REQUESTED, bound for every association the listener receives: decide, before
    negotiation, whether the caller may use what it proposes. The grant is kept on the
    association for the handlers (`granted`)."""
    assoc = event.assoc
    if assoc.is_rejected or assoc.is_aborted:
        return  # refused by an earlier check (the association cap)
    request = assoc.requestor.primitive
    if require_called_ae and request.called_ae_title.strip() != assoc.acceptor.ae_title.strip():
        return  # refused by the ACSE as "called AE title not recognized"
    if not needs_grant(assoc):
        return
    calling_ae = request.calling_ae_title.strip()
    address = assoc.requestor.address
    close_old_connections()
    try:
        access = resolve(calling_ae, address)
    except DatabaseError:
        logger.exception("Cannot check calling AE %s: database unavailable", calling_ae)
        connections.close_all()
        reject(assoc, REJECTED_TRANSIENT, SERVICE_USER, NO_REASON)
        return
    finally:
        close_old_connections()
    if access is None:
        connections.close_all()
        logger.warning(
            "Rejected association from unknown calling AE %s at %s:%s (proposing %s)",
            calling_ae,
            address,
            assoc.requestor.port,
            ", ".join(sorted(_service_names(assoc))),
        )
        reject(assoc, REJECTED_PERMANENT, SERVICE_USER, CALLING_AE_NOT_RECOGNIZED)
        return
    setattr(assoc, ACCESS, access)


def _service_names(assoc) -> set[str]:
    from pydicom.uid import UID

    return {UID(uid).name for uid in proposed_services(assoc) - OPEN_SERVICES}


def reject(assoc, result: int, source: int, diagnostic: int) -> None:
    """Refuse from an EVT_REQUESTED handler with our own reason; pynetdicom has no public
    way to (the internals used are checked in tests/test_pinned_internals.py)."""
    assoc.acse.send_reject(result, source, diagnostic)
    assoc.kill()
