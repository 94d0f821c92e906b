"""The DICOM listener: one pynetdicom application entity serving every DICOM service
of the RIS.

Each service is registered in SERVICES as the SOP class it accepts and the event
handlers that answer it, so Modality Worklist (mwl.py) or MPPS (mpps.py) is one more
entry there, e.g. ``Service(ModalityWorklistInformationFind, ((evt.EVT_C_FIND,
mwl.handle_find),))``.

The same AE listens on RIS_DICOM_PORT and, when RIS_DICOM_TLS_PORT is set, on a
second port speaking DICOM over TLS (PS3.15 Annex B, tls.py); stopping the AE stops
both. Connections are taken and read by transport.py: a pending budget and deadline
for those not yet associated, bounded PDUs, socket options.

`start` runs the listener in this process (threads); `launch`, used by `dicomserver`
and `runris`, runs RIS_DICOM_PROCESSES of them on the same ports (processes.py), or
`start` when that is 1.
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
from pynetdicom import _config as pynetdicom_config
from pynetdicom.sop_class import (
    InstanceAvailabilityNotification,
    ModalityPerformedProcedureStep,
    ModalityWorklistInformationFind,
    Verification,
)
from pynetdicom.transport import ThreadedAssociationServer

from worklist.dicom import echo, ian, mpps, mwl, policy, processes, store, tls, transport

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
    """A DICOM service the RIS offers as SCP: the presentation context it accepts (one
    SOP class, or several answered alike, as the storage classes are), the (event,
    handler) pairs that answer it and, when not the default ones, its transfer
    syntaxes."""

    sop_class: str | tuple[str, ...]
    handlers: tuple
    transfer_syntaxes: tuple = ()

    @property
    def sop_classes(self) -> tuple[str, ...]:
        return (self.sop_class,) if isinstance(self.sop_class, str) else self.sop_class


SERVICES = [
    Service(Verification, ((evt.EVT_C_ECHO, echo.handle_echo),)),
    Service(
        ModalityWorklistInformationFind,
        ((evt.EVT_C_FIND, mwl.handle_find),),
    ),
    Service(
        ModalityPerformedProcedureStep,
        ((evt.EVT_N_CREATE, mpps.handle_create), (evt.EVT_N_SET, mpps.handle_set)),
    ),
    Service(
        store.STORAGE_SOP_CLASSES,
        ((evt.EVT_C_STORE, store.handle_store),),
        transfer_syntaxes=store.TRANSFER_SYNTAXES,
    ),
    Service(InstanceAvailabilityNotification, ((evt.EVT_N_CREATE, ian.handle_create),)),
]


def build_ae(*, ae_title: str) -> AE:
    """The AE with the limits from settings, so a slow or silent peer cannot hold an
    association thread for ever."""
    pynetdicom_config.LOG_HANDLER_LEVEL = standard_log_handlers()
    ae = AE(ae_title=ae_title)
    ae.maximum_pdu_size = settings.RIS_DICOM_MAX_PDU
    ae.acse_timeout = settings.RIS_DICOM_ACSE_TIMEOUT
    ae.dimse_timeout = settings.RIS_DICOM_DIMSE_TIMEOUT
    ae.network_timeout = settings.RIS_DICOM_NETWORK_TIMEOUT
    # Several modalities at once, each association in its own thread.
    ae.maximum_associations = settings.RIS_DICOM_MAX_ASSOCIATIONS
    # A request addressed to another AE title is a misconfigured modality: reject it
    # ("called AE title not recognized", PS3.8 9.3.4) rather than answer as someone else.
    ae.require_called_aet = getattr(settings, "RIS_DICOM_REQUIRE_CALLED_AE", True)
    for service in SERVICES:
        for sop_class in service.sop_classes:
            ae.add_supported_context(sop_class, service.transfer_syntaxes or TRANSFER_SYNTAXES)
    return ae


def standard_log_handlers() -> str:
    """pynetdicom binds to every association handlers that describe each PDU and DIMSE
    message sent and received (the A-ASSOCIATE-AC's contexts, each C-FIND-RSP's command
    set) in lines logged at DEBUG, formatted whatever the log level: a tenth of the
    listener's CPU for a worklist answer. They are bound only when the pynetdicom
    logger writes DEBUG (RIS_DICOM_LOG_LEVEL=DEBUG)."""
    debug = logging.getLogger("pynetdicom").isEnabledFor(logging.DEBUG)
    return "standard" if debug else "none"


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
    handlers = [
        (evt.EVT_REQUESTED, policy.check_association, [settings.RIS_DICOM_REQUIRE_CALLED_AE]),
        (evt.EVT_REJECTED, log_rejection),
    ]
    by_event: dict = {}
    for service in SERVICES:
        for event, handler in service.handlers:
            by_event.setdefault(event, []).append((service.sop_classes, handler))
    for event, bound in by_event.items():
        if event.is_intervention and len(bound) > 1:
            # One handler per intervention event (pynetdicom): N-CREATE answers both MPPS
            # and IAN, chosen by the SOP class of the presentation context.
            handlers.append((event, _by_sop_class(bound)))
        else:
            handlers.extend((event, handler) for _, handler in bound)
    return handlers


def _by_sop_class(bound: list):
    table = {sop_class: handler for sop_classes, handler in bound for sop_class in sop_classes}

    def dispatch(event: evt.Event):
        return table[event.context.abstract_syntax](event)

    return dispatch


def start(
    *,
    host: str | None = None,
    port: int | None = None,
    ae_title: str | None = None,
    tls_port: int | None = None,
) -> ThreadedAssociationServer:
    """Start listening in a background thread and return the server, so the caller's
    main thread stays free to run the web server or wait for a stop signal. Port 0
    picks a free port (read it back from ``server.server_address``).

    With RIS_DICOM_TLS_PORT set (or `tls_port` given) the same AE also listens there
    over TLS; that server is ``tls_server(server)``."""
    ae = build_ae(ae_title=ae_title or settings.RIS_AE_TITLE)
    host = host or settings.RIS_DICOM_HOST
    address = (host, settings.RIS_DICOM_PORT if port is None else port)
    tls_port = settings.RIS_DICOM_TLS_PORT if tls_port is None else tls_port
    # The TLS context is read first: a wrong certificate path stops start-up before
    # anything listens.
    context = tls.server_context() if tls_port else None
    # One pending budget for both ports (worklist/dicom/transport.py).
    budget = transport.PendingBudget(transport.Limits.from_settings())
    server = transport.serve(ae, address, evt_handlers=event_handlers(), budget=budget)
    if context is not None:
        try:
            secure = transport.serve(
                ae,
                (host, tls_port),
                evt_handlers=event_handlers(),
                budget=budget,
                ssl_context=context,
            )
        except Exception:
            ae.shutdown()
            raise
        setattr(server, TLS_SERVER, secure)
    return server


TLS_SERVER = "ris_tls_server"


def tls_server(server: ThreadedAssociationServer) -> ThreadedAssociationServer | None:
    """The TLS server started next to `server`, if any (for listener processes, what
    their TLS socket listens on)."""
    if isinstance(server, processes.ListenerProcesses):
        return server.tls
    return getattr(server, TLS_SERVER, None)


def stop(server: ThreadedAssociationServer) -> None:
    """Abort associations in progress, then close the listening socket: a modality
    mid-query gets an A-ABORT at once instead of waiting out its timeout."""
    if isinstance(server, processes.ListenerProcesses):
        server.stop()
        return
    server.ae.shutdown()


def launch(
    *,
    count: int | None = None,
    host: str | None = None,
    port: int | None = None,
    ae_title: str | None = None,
    tls_port: int | None = None,
    forward_tasks: bool = False,
):
    """The listener as `dicomserver` and `runris` run it: `count` processes on the
    same ports (default RIS_DICOM_PROCESSES), or `start` in this process when 1.
    Either answers `server_address`, `ae_title`, `tls_server()` and `stop()`.
    `forward_tasks`: this process runs the in-process scheduler (runris without a
    broker), which takes the tasks the listener processes ask for later."""
    count = max(1, settings.RIS_DICOM_PROCESSES if count is None else count)
    if count == 1:
        return start(host=host, port=port, ae_title=ae_title, tls_port=tls_port)
    ae_title = ae_title or settings.RIS_AE_TITLE
    host = host or settings.RIS_DICOM_HOST
    port = settings.RIS_DICOM_PORT if port is None else port
    tls_port = settings.RIS_DICOM_TLS_PORT if tls_port is None else tls_port
    context = tls.server_context() if tls_port else None  # a wrong path fails here
    sockets = {"plain": processes.bind(host, port)}
    try:
        if context is not None:
            sockets["tls"] = processes.bind(host, tls_port)
    except BaseException:
        sockets["plain"].close()
        raise
    cap = processes.AssociationCap(settings.RIS_DICOM_MAX_ASSOCIATIONS, count)

    def serve(index, sockets, cap):
        return serve_sockets(
            ae_title=ae_title, sockets=sockets, cap=cap, ssl_context=context, count=count
        )

    group = processes.ListenerProcesses(
        count=count,
        ae_title=ae_title,
        sockets=sockets,
        cap=cap,
        serve=serve,
        shutdown=stop,
        forward_tasks=forward_tasks,
    )
    return group.start()


def serve_sockets(*, ae_title: str, sockets: dict, cap, ssl_context, count: int):
    """In one listener process of `count`: the AE accepting on the sockets its parent
    bound, under the association cap they share, with its part of the pending
    budget."""
    ae = build_ae(ae_title=ae_title)
    budget = transport.PendingBudget(transport.Limits.from_settings(processes=count))
    server = transport.serve(
        ae,
        sockets["plain"].getsockname(),
        evt_handlers=event_handlers(),
        budget=budget,
        listening=sockets["plain"],
        cap=cap,
    )
    if "tls" in sockets:
        secure = transport.serve(
            ae,
            sockets["tls"].getsockname(),
            evt_handlers=event_handlers(),
            budget=budget,
            ssl_context=ssl_context,
            listening=sockets["tls"],
            cap=cap,
        )
        setattr(server, TLS_SERVER, secure)
    return server
