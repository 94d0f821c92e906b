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
"""

import ipaddress
import logging
from dataclasses import dataclass

from django.conf import settings

from worklist.models import Modality, Station, ip_network_list

from . import charset

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Access:
    """What one caller may see: `stations` None means every station."""

    calling_ae: str
    stations: tuple[Station, ...] | None
    character_set: str = charset.UTF_8
    grounds: str = ""

    @property
    def station_list(self) -> list[Station] | None:
        return None if self.stations is None else list(self.stations)


def peer_address(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        found = ipaddress.ip_address(str(address).split("%")[0])
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def address_allowed(modality: Modality, address: str) -> bool:
    networks = ip_network_list(modality.allowed_addresses)
    if not networks:
        return True
    peer = peer_address(address)
    if peer is None:
        return False
    return any(peer in ipaddress.ip_network(n, strict=False) for n in networks)


def resolve(calling_ae: str, address: str) -> Access | None:
    """The access of a caller, or None when it must be refused."""
    calling_ae = calling_ae.strip()
    modality = (
        Modality.objects.filter(ae_title=calling_ae, active=True)
        .prefetch_related("stations")
        .first()
    )
    own = list(Station.objects.filter(scheduled_station_ae_title=calling_ae, active=True))
    grounds = []
    stations: dict[int, Station] = {s.pk: s for s in own}
    every_station = False
    character_set = charset.UTF_8
    if own:
        grounds.append(f"station {calling_ae}")
    if modality is not None:
        if address_allowed(modality, address):
            grounds.append(f"known modality {calling_ae}")
            character_set = modality.character_set
            every_station = modality.sees_all_stations
            stations.update({s.pk: s for s in modality.stations.all() if s.active})
        else:
            logger.warning(
                "Known modality %s called from %s, not one of its allowed addresses",
                calling_ae,
                address,
            )
    if grounds:
        return Access(
            calling_ae=calling_ae,
            stations=None if every_station else tuple(stations.values()),
            character_set=character_set,
            grounds=", ".join(grounds),
        )
    if modality is None and not settings.RIS_DICOM_STRICT_AE:
        return Access(calling_ae=calling_ae, stations=None, grounds="unknown AE, not strict")
    return None
