"""The DICOM listener: one pynetdicom application entity serving every DICOM service
of the RIS.

Each service is registered in SERVICES as the SOP class it accepts and the event
handlers that answer it, so Modality Worklist (mwl.py) or MPPS (mpps.py) is one more
entry there, e.g. ``Service(ModalityWorklistInformationFind, ((evt.EVT_C_FIND,
mwl.handle_find),))``.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification
from pynetdicom.transport import ThreadedAssociationServer

from worklist.dicom import echo

logger = logging.getLogger(__name__)

# What modalities in the field propose; implicit VR little endian is the one every
# peer must support (PS3.5 10.1), the others are offered so no peer is turned away.
TRANSFER_SYNTAXES = [
    ImplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    DeflatedExplicitVRLittleEndian,
]


@dataclass(frozen=True)
class Service:
    """A DICOM service the RIS offers as SCP: the presentation context it accepts and
    the (event, handler) pairs that answer it."""

    sop_class: str
    handlers: tuple


SERVICES = [
    Service(Verification, ((evt.EVT_C_ECHO, echo.handle_echo),)),
]


def build_ae(*, ae_title: str) -> AE:
    """The AE with the limits from settings, so a slow or silent peer cannot hold an
    association thread for ever."""
    ae = AE(ae_title=ae_title)
    ae.maximum_pdu_size = settings.RIS_DICOM_MAX_PDU
    ae.acse_timeout = settings.RIS_DICOM_ACSE_TIMEOUT
    ae.dimse_timeout = settings.RIS_DICOM_DIMSE_TIMEOUT
    ae.network_timeout = settings.RIS_DICOM_NETWORK_TIMEOUT
    # A request addressed to another AE title is a misconfigured modality: reject it
    # ("called AE title not recognized", PS3.8 9.3.4) rather than answer as someone else.
    ae.require_called_aet = getattr(settings, "RIS_DICOM_REQUIRE_CALLED_AE", True)
    for service in SERVICES:
        ae.add_supported_context(service.sop_class, TRANSFER_SYNTAXES)
    return ae


def log_rejection(event: evt.Event) -> None:
    """pynetdicom only notes "Rejecting Association"; a site engineer setting up a
    modality with the wrong called AE title needs to see who was turned away and why."""
    requestor = event.assoc.requestor
    logger.warning(
        "Rejected association from calling AE %s at %s:%s to called AE %s: %s",
        requestor.ae_title,
        requestor.address,
        requestor.port,
        requestor.primitive.called_ae_title,
        event.assoc.acceptor.primitive.reason_str,
    )


def event_handlers() -> list:
    handlers = [(evt.EVT_REJECTED, log_rejection)]
    return handlers + [handler for service in SERVICES for handler in service.handlers]


def start(
    *, host: str | None = None, port: int | None = None, ae_title: str | None = None
) -> ThreadedAssociationServer:
    """Start listening in a background thread and return the server, so the caller's
    main thread stays free to run the web server or wait for a stop signal. Port 0
    picks a free port (read it back from ``server.server_address``)."""
    ae = build_ae(ae_title=ae_title or settings.RIS_AE_TITLE)
    address = (
        host or settings.RIS_DICOM_HOST,
        settings.RIS_DICOM_PORT if port is None else port,
    )
    return ae.start_server(address, block=False, evt_handlers=event_handlers())


def stop(server: ThreadedAssociationServer) -> None:
    """Abort associations in progress, then close the listening socket: a modality
    mid-query gets an A-ABORT at once instead of waiting out its timeout."""
    server.ae.shutdown()
