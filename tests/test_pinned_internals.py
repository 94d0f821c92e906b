"""The pydicom and pynetdicom internals the code relies on, checked against the versions
pinned in constraints.txt, so that moving a pin tells at once what to adapt.

Each test names the place that relies on the internal; a failure says which internal
changed, the pinned version and the installed one. Public, documented API (Dataset,
AE, evt, event.assoc.requestor.ae_title/address/port, DataElement...) is not listed:
the rest of the suite covers it. Django's internals are not listed either.

pynetdicom
  - worklist/dicom/mpps.py, ``_answer_attribute_identifiers_in_n_create``:
    ``dimse_messages._COMMAND_SET_KEYWORDS`` (private module dict, message type such
    as "N-CREATE-RSP" -> tuple of command set keywords, read each time a
    DIMSEMessage is made) gets "AttributeIdentifierList" added to "N-CREATE-RSP", as
    "N-SET-RSP" has it; ``dimse_primitives.N_CREATE.STATUS_OPTIONAL_KEYWORDS``
    (undocumented class attribute, tuple of keywords) gets it too, with a plain class
    attribute ``N_CREATE.AttributeIdentifierList``, because
    ``ServiceClass.validate_status`` copies an element of the handler's status
    Dataset onto the response primitive only when the primitive ``hasattr`` it, and
    ``DIMSEMessage.primitive_to_message`` copies the primitive's attributes into the
    command set by keyword. Together: an MPPS failure names the attributes at fault in
    (0000,1005) of the N-CREATE response.
  - worklist/dicom/policy.py, ``reject``: ``Association.acse`` (the ACSE provider, an
    undocumented attribute) and ``ACSE.send_reject(result, source, diagnostic)``, so
    an EVT_REQUESTED handler can refuse an association with its own reason (calling
    AE title not recognised); pynetdicom has no public way to do that.
  - worklist/dicom/policy.py, ``proposed_services`` and ``check_association``;
    worklist/dicom/listener.py, ``log_rejection``: ``ServiceUser.primitive``, the
    A-ASSOCIATE primitive (``pdu_primitives.A_ASSOCIATE``) behind the requestor and
    the acceptor, read for ``presentation_context_definition_list`` (items with
    ``abstract_syntax``), ``called_ae_title`` and ``calling_ae_title`` (str), and
    ``reason_str`` of a rejection.
  - worklist/dicom/policy.py, ``check_association`` / ``granted``, and
    worklist/dicom/listener.py, ``start`` / ``tls_server``: pynetdicom's
    ``Association`` and ``ThreadedAssociationServer`` take an attribute of ours (the
    caller's grant, the TLS server beside the plain one), which holds while they
    have no ``__slots__`` and no attribute of that name.
  - worklist/dicom/transport.py (the listener's connections): ``AE._servers`` (the
    list ``AE.shutdown`` stops and ``AssociationServer.shutdown`` removes itself
    from), to which ``serve`` adds the server it makes with the public
    ``AE.make_server(server_class=..., request_handler=...)``;
    ``RequestHandler._create_association()`` (the configured acceptor Association,
    its ``dul.socket`` an ``AssociationSocket`` wrapping the request), called by
    ``Handler.handle`` once the A-ASSOCIATE-RQ is read, as pynetdicom's ``handle``
    does; ``AssociationSocket`` having no ``__slots__`` and ``ready`` a property, so
    ``BoundedSocket.adopt`` can make it a ``BoundedSocket``; and the DUL reader
    (``DULServiceProvider._read_pdu_data``) reading a PDU as ``recv(6)`` then
    ``recv(length)`` and taking an empty ``recv(6)`` as "transport closed" (Evt17)
    without logging, which is how ``BoundedSocket`` ends an association in one line
    of its own. ``AssociationServer.get_request`` is overridden (TLS handshake in
    the handler's thread): it relies on ``self.socket`` and ``self.ssl_context``.
  - worklist/dicom/transport.py, ``make_event_driven`` / ``association_loop``: the
    reader (``DULServiceProvider.run_reactor``) checks ``_kill_thread``, then
    ``_process_recv_primitive`` (``to_provider_queue``) before ``_is_transport_event``
    (the socket's ``ready``), one ``event_queue`` event a turn, sleeping
    ``_run_loop_delay`` after an idle turn; ``stop_dul``/``kill_dul`` only set
    ``_kill_thread``; ``to_user_queue`` and ``DIMSEServiceProvider.msg_queue`` are the
    queue.Queue the association's loop reads; ``association_loop`` is
    ``Association._run_reactor`` waiting on an event instead of sleeping 1 ms. Their
    sources are pinned by digest: when one changes, compare it with ours. And
    ``CheapCopies``: negotiation as acceptor does not modify the supported contexts.
    ``guard_reader`` and ``make_event_driven`` wrap the reader's and the association's
    ``run`` (threading.Thread's public hook); ``OneLinePerAssociation`` tells an
    association's threads by their classes (``Association``, ``DULServiceProvider``
    with its ``assoc``), which the tests above construct.

pydicom
  - worklist/dicom/charset.py, ``_encodable``: ``pydicom.charset._encode_string_impl(
    value, encoding)`` (private), which encodes with pydicom's own encoders for the
    ISO 2022 sets (``custom_encoders``) as well as Python codecs, and raises a
    UnicodeError, ValueError or LookupError for what does not fit.
  - worklist/dicom/charset.py, ``_python_encodings`` and ``is_supported``:
    ``convert_encodings`` answering "iso8859" (``default_encoding``) for the default
    repertoire, which the module turns into "ascii", and ``python_encoding``, the
    dict of the DICOM terms pydicom knows.
  - worklist/dicom/mpps_iod.py: ``pydicom.valuerep.validate_value(vr, value,
    validation_mode)`` (not in pydicom's documented API), raising ValueError for a
    value its VR does not allow when the mode is ``config.RAISE``.
"""

import inspect
import logging
import queue
import re
from importlib.metadata import version
from pathlib import Path

import pytest
from pydicom import charset, config
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pynetdicom import AE, dimse_messages, dimse_primitives
from pynetdicom.acse import ACSE
from pynetdicom.association import Association, ServiceUser
from pynetdicom.pdu_primitives import A_ASSOCIATE
from pynetdicom.presentation import PresentationContext
from pynetdicom.service_class import ServiceClass
from pynetdicom.sop_class import ModalityWorklistInformationFind

CONSTRAINTS = Path(__file__).resolve().parent.parent / "constraints.txt"


def pinned(package: str) -> str:
    pattern = re.compile(rf"^{re.escape(package)}==(\S+)", re.IGNORECASE | re.MULTILINE)
    found = pattern.search(CONSTRAINTS.read_text()) if CONSTRAINTS.exists() else None
    return found.group(1) if found else "(not pinned)"


def changed(package: str, what: str, where: str) -> str:
    return (
        f"{package} internal changed: {what}. Relied on by {where}. "
        f"constraints.txt pins {package}=={pinned(package)}, "
        f"{version(package)} is installed: adapt {where} before moving the pin."
    )


def require(condition: bool, package: str, what: str, where: str) -> None:
    if not condition:
        pytest.fail(changed(package, what, where), pytrace=False)


def signature_starts(function, names: list[str]) -> bool:
    try:
        parameters = list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return False
    return parameters[: len(names)] == names


# --- pynetdicom: AttributeIdentifierList in N-CREATE responses (mpps.py) ------------

MPPS = "worklist/dicom/mpps.py (_answer_attribute_identifiers_in_n_create)"


def test_command_set_keywords_is_a_dict_of_keyword_tuples():
    table = getattr(dimse_messages, "_COMMAND_SET_KEYWORDS", None)
    require(
        isinstance(table, dict),
        "pynetdicom",
        "pynetdicom.dimse_messages._COMMAND_SET_KEYWORDS is missing or not a dict",
        MPPS,
    )
    for message in ("N-CREATE-RSP", "N-SET-RSP"):
        keywords = table.get(message)
        require(
            isinstance(keywords, tuple) and all(isinstance(k, str) for k in keywords),
            "pynetdicom",
            f'_COMMAND_SET_KEYWORDS["{message}"] is not a tuple of keywords: {keywords!r}',
            MPPS,
        )
    require(
        "AttributeIdentifierList" in table["N-SET-RSP"],
        "pynetdicom",
        '_COMMAND_SET_KEYWORDS["N-SET-RSP"] no longer carries AttributeIdentifierList',
        MPPS,
    )


def test_primitives_declare_their_optional_status_keywords():
    for name in ("N_CREATE", "N_SET"):
        primitive = getattr(dimse_primitives, name, None)
        keywords = getattr(primitive, "STATUS_OPTIONAL_KEYWORDS", None)
        require(
            isinstance(keywords, tuple) and all(isinstance(k, str) for k in keywords),
            "pynetdicom",
            f"dimse_primitives.{name}.STATUS_OPTIONAL_KEYWORDS is not a tuple of keywords: "
            f"{keywords!r}",
            MPPS,
        )
    require(
        "AttributeIdentifierList" in dimse_primitives.N_SET.STATUS_OPTIONAL_KEYWORDS
        and hasattr(dimse_primitives.N_SET(), "AttributeIdentifierList"),
        "pynetdicom",
        "N_SET no longer has AttributeIdentifierList, the model mpps.py copies for N_CREATE",
        MPPS,
    )


def test_a_status_dataset_sets_what_the_response_primitive_has():
    """ServiceClass.validate_status copies the handler's status elements onto the
    response by hasattr: the plain class attribute mpps.py adds is enough."""
    require(
        signature_starts(getattr(ServiceClass, "validate_status", None), ["self", "status", "rsp"]),
        "pynetdicom",
        "ServiceClass.validate_status(self, status, rsp) changed signature",
        MPPS,
    )

    class Response:
        Status = None
        ErrorComment = None
        AttributeIdentifierList = None

    status = Dataset()
    status.Status = 0x0120
    status.ErrorComment = "missing"
    status.AttributeIdentifierList = [Tag(0x0040, 0x0252)]
    try:
        response = ServiceClass(None).validate_status(status, Response())
    except Exception as exc:  # any change of shape is the finding
        pytest.fail(
            changed("pynetdicom", f"ServiceClass(assoc).validate_status fails: {exc!r}", MPPS),
            pytrace=False,
        )
    require(
        response.AttributeIdentifierList == Tag(0x0040, 0x0252) and response.Status == 0x0120,
        "pynetdicom",
        "ServiceClass.validate_status no longer copies status elements onto the response "
        "primitive's attributes of the same keyword",
        MPPS,
    )


def test_n_create_response_carries_attribute_identifier_list():
    """End to end: with mpps.py loaded, an N-CREATE response primitive holding the
    failing tags is encoded with (0000,1005) in its command set."""
    try:
        from worklist.dicom import mpps  # noqa: F401  (applies the addition)
    except (AttributeError, KeyError, TypeError) as exc:
        pytest.fail(changed("pynetdicom", f"mpps.py cannot load: {exc!r}", MPPS), pytrace=False)

    primitive = dimse_primitives.N_CREATE()
    primitive.MessageIDBeingRespondedTo = 1
    primitive.AffectedSOPClassUID = "1.2.840.10008.3.1.2.3.3"
    primitive.Status = 0x0120
    try:
        primitive.AttributeIdentifierList = [Tag(0x0040, 0x0252)]
    except (AttributeError, TypeError, ValueError) as exc:
        pytest.fail(
            changed("pynetdicom", f"N_CREATE.AttributeIdentifierList cannot be set ({exc})", MPPS),
            pytrace=False,
        )
    message = dimse_messages.N_CREATE_RSP()
    message.primitive_to_message(primitive)
    require(
        "AttributeIdentifierList" in message.command_set
        and message.command_set.AttributeIdentifierList == Tag(0x0040, 0x0252),
        "pynetdicom",
        "an N-CREATE-RSP message no longer takes AttributeIdentifierList from "
        "_COMMAND_SET_KEYWORDS and the primitive (DIMSEMessage.primitive_to_message)",
        MPPS,
    )


# --- pynetdicom: association internals (policy.py, listener.py) ---------------------

REJECT = "worklist/dicom/policy.py (reject)"
REQUEST = (
    "worklist/dicom/policy.py (proposed_services, check_association) and "
    "worklist/dicom/listener.py (log_rejection)"
)
OURS = (
    "worklist/dicom/policy.py (check_association, granted) and "
    "worklist/dicom/listener.py (start, tls_server)"
)


def test_an_association_has_its_acse_provider_with_send_reject():
    assoc = Association(AE(), "acceptor")
    require(
        isinstance(getattr(assoc, "acse", None), ACSE),
        "pynetdicom",
        "Association.acse is missing or not a pynetdicom.acse.ACSE",
        REJECT,
    )
    require(
        signature_starts(
            getattr(ACSE, "send_reject", None), ["self", "result", "source", "diagnostic"]
        ),
        "pynetdicom",
        "ACSE.send_reject(self, result, source, diagnostic) changed signature",
        REJECT,
    )


def test_service_users_hold_the_a_associate_primitive():
    assoc = Association(AE(), "acceptor")
    for side in ("requestor", "acceptor"):
        user = getattr(assoc, side, None)
        require(
            isinstance(user, ServiceUser) and hasattr(user, "primitive"),
            "pynetdicom",
            f"Association.{side} is not a ServiceUser with a primitive attribute",
            REQUEST,
        )


def test_the_a_associate_primitive_answers_what_the_handlers_read():
    request = A_ASSOCIATE()
    try:
        request.called_ae_title = "RIS"
        request.calling_ae_title = "CT1"
        context = PresentationContext()
        context.context_id = 1
        context.abstract_syntax = ModalityWorklistInformationFind
        context.transfer_syntax = ["1.2.840.10008.1.2"]
        request.presentation_context_definition_list = [context]
    except (AttributeError, TypeError, ValueError) as exc:
        pytest.fail(changed("pynetdicom", f"A_ASSOCIATE refuses {exc}", REQUEST), pytrace=False)
    require(
        isinstance(request.called_ae_title, str) and isinstance(request.calling_ae_title, str),
        "pynetdicom",
        "A_ASSOCIATE.called_ae_title / calling_ae_title are no longer str",
        REQUEST,
    )
    contexts = request.presentation_context_definition_list
    require(
        [cx.abstract_syntax for cx in contexts] == [ModalityWorklistInformationFind],
        "pynetdicom",
        "A_ASSOCIATE.presentation_context_definition_list no longer gives the proposed "
        "contexts with their abstract_syntax",
        REQUEST,
    )
    rejection = A_ASSOCIATE()
    rejection.result, rejection.result_source, rejection.diagnostic = 0x01, 0x01, 0x03
    reason = getattr(rejection, "reason_str", None)
    require(
        isinstance(reason, str) and "calling ae title" in reason.lower(),
        "pynetdicom",
        f"A_ASSOCIATE.reason_str no longer describes a rejection: {reason!r}",
        REQUEST,
    )


def test_associations_and_servers_take_an_attribute_of_ours():
    from pynetdicom.transport import ThreadedAssociationServer

    from worklist.dicom import listener, policy

    for cls, name in (
        (Association, policy.ACCESS),
        (ThreadedAssociationServer, listener.TLS_SERVER),
    ):
        require(
            "__slots__" not in cls.__dict__ and not hasattr(cls, name),
            "pynetdicom",
            f"{cls.__name__} has __slots__ or an attribute {name!r} of its own",
            OURS,
        )
    assoc = Association(AE(), "acceptor")
    setattr(assoc, policy.ACCESS, "grant")
    require(
        policy.granted(assoc) == "grant",
        "pynetdicom",
        "an Association no longer keeps an attribute set on it",
        OURS,
    )


# --- pynetdicom: the listener's connections (transport.py) -------------------------

TRANSPORT = "worklist/dicom/transport.py"


def test_the_ae_lists_its_servers_for_shutdown():
    from pynetdicom.transport import AssociationServer

    ae = AE()
    require(
        isinstance(getattr(ae, "_servers", None), list),
        "pynetdicom",
        "AE._servers is no longer the list of servers AE.shutdown() stops",
        f"{TRANSPORT} (serve)",
    )
    require(
        signature_starts(AE.make_server, ["self", "address", "ae_title", "contexts"])
        and "server_class" in inspect.signature(AE.make_server).parameters
        and "request_handler" in inspect.signature(AssociationServer.__init__).parameters,
        "pynetdicom",
        "AE.make_server(server_class=...) / AssociationServer(request_handler=...) changed",
        f"{TRANSPORT} (serve)",
    )
    source = inspect.getsource(AssociationServer.shutdown)
    require(
        "_servers.remove" in source,
        "pynetdicom",
        "AssociationServer.shutdown no longer removes itself from AE._servers",
        f"{TRANSPORT} (serve)",
    )
    require(
        "self.socket.accept()" in inspect.getsource(AssociationServer.get_request)
        and "self.ssl_context" in inspect.getsource(AssociationServer.get_request),
        "pynetdicom",
        "AssociationServer.get_request no longer accepts on self.socket and wraps with "
        "self.ssl_context",
        f"{TRANSPORT} (Server.get_request)",
    )


def test_the_request_handler_creates_the_association_around_the_request():
    import socket as socket_module

    from pynetdicom.sop_class import Verification
    from pynetdicom.transport import AssociationSocket, RequestHandler

    from worklist.dicom import transport

    ae = AE(ae_title="RIS")
    ae.add_supported_context(Verification)
    server = ae.make_server(("127.0.0.1", 0))
    ours, theirs = socket_module.socketpair()
    try:
        handler = RequestHandler.__new__(RequestHandler)
        handler.request, handler.client_address, handler.server = ours, ("127.0.0.1", 1), server
        assoc = handler._create_association()
        sock = assoc.dul.socket
        require(
            isinstance(assoc, Association)
            and isinstance(sock, AssociationSocket)
            and sock.socket is ours,
            "pynetdicom",
            "RequestHandler._create_association() no longer gives an Association whose "
            "dul.socket is an AssociationSocket of the request",
            f"{TRANSPORT} (Handler.handle)",
        )
        require(
            "__slots__" not in AssociationSocket.__dict__
            and isinstance(AssociationSocket.__dict__.get("ready"), property),
            "pynetdicom",
            "AssociationSocket has __slots__ or its ready is no longer a property",
            f"{TRANSPORT} (BoundedSocket.adopt)",
        )
        handle = inspect.getsource(RequestHandler.handle)
        require(
            "_create_association()" in handle
            and "EVT_CONN_OPEN" in handle
            and "assoc.start()" in handle,
            "pynetdicom",
            "RequestHandler.handle does more than create, announce and start the association",
            f"{TRANSPORT} (Handler.handle)",
        )
        bounded = transport.BoundedSocket.adopt(
            sock, transport.Limits(30, 60, 16384, 4, 2), b"\x05\x00\x00\x00\x00\x04" + b"\0" * 4
        )
        require(
            bounded.ready and bytes(bounded.recv(6)) == b"\x05\x00\x00\x00\x00\x04",
            "pynetdicom",
            "an adopted AssociationSocket no longer reads through BoundedSocket",
            f"{TRANSPORT} (BoundedSocket)",
        )
    finally:
        ours.close()
        theirs.close()
        server.server_close()


def test_the_dul_reads_a_pdu_as_header_then_body_and_an_empty_header_as_closed():
    from pynetdicom.dul import DULServiceProvider

    calls = []

    class Fake:
        def __init__(self, chunks):
            self.chunks = list(chunks)

        def recv(self, n):
            calls.append(n)
            return bytearray(self.chunks.pop(0)) if self.chunks else bytearray()

    where = f"{TRANSPORT} (BoundedSocket)"
    assoc = Association(AE(), "acceptor")
    dul = assoc.dul
    dul.socket = Fake([b"\x05\x00\x00\x00\x00\x04", b"\x00" * 4])
    dul._read_pdu_data()
    require(
        calls == [6, 4] and dul.event_queue.get_nowait() == "Evt12",
        "pynetdicom",
        f"DULServiceProvider._read_pdu_data reads {calls}, not recv(6) then recv(length)",
        where,
    )
    calls.clear()
    dul.socket = Fake([])
    logger = logging.getLogger("pynetdicom")
    seen = []

    class Catch(logging.Handler):
        def emit(self, record):
            seen.append(record)

    catch = Catch(logging.DEBUG)
    logger.addHandler(catch)
    try:
        dul._read_pdu_data()
    finally:
        logger.removeHandler(catch)
    require(
        dul.event_queue.get_nowait() == "Evt17"
        and not [r for r in seen if r.levelno >= logging.WARNING],
        "pynetdicom",
        "an empty recv(6) is no longer a quiet Evt17 in DULServiceProvider._read_pdu_data",
        where,
    )
    require(
        isinstance(DULServiceProvider.__dict__.get("_read_pdu_data"), type(lambda: 0)),
        "pynetdicom",
        "DULServiceProvider._read_pdu_data is gone",
        where,
    )


# The sources association_loop and make_event_driven follow (pynetdicom 3.0.4).
PINNED_SOURCES = {
    "Association._run_reactor": "f28838c5559e462a",
    "DULServiceProvider.run_reactor": "e3a10eb3a0931e48",
    "DULServiceProvider.stop_dul": "28a7e0be126e7b30",
    "DULServiceProvider.kill_dul": "5ceccf8dd01c2072",
}


def test_the_loops_made_event_driven_are_those_pinned():
    import hashlib

    from pynetdicom.dul import DULServiceProvider

    functions = {
        "Association._run_reactor": Association._run_reactor,
        "DULServiceProvider.run_reactor": DULServiceProvider.run_reactor,
        "DULServiceProvider.stop_dul": DULServiceProvider.stop_dul,
        "DULServiceProvider.kill_dul": DULServiceProvider.kill_dul,
    }
    for name, function in functions.items():
        digest = hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]
        require(
            digest == PINNED_SOURCES[name],
            "pynetdicom",
            f"the source of {name} changed (digest {digest})",
            f"{TRANSPORT} (make_event_driven, association_loop)",
        )
    assoc = Association(AE(), "acceptor")
    for owner, name in (
        (assoc.dul, "to_provider_queue"),
        (assoc.dul, "to_user_queue"),
        (assoc.dul, "event_queue"),
        (assoc.dimse, "msg_queue"),
    ):
        require(
            type(getattr(owner, name, None)) is queue.Queue,
            "pynetdicom",
            f"{type(owner).__name__}.{name} is no longer a queue.Queue",
            f"{TRANSPORT} (make_event_driven)",
        )
    require(
        assoc.dul._run_loop_delay == 0.001 and assoc.dul._kill_thread is False,
        "pynetdicom",
        "DULServiceProvider._run_loop_delay / _kill_thread changed",
        f"{TRANSPORT} (make_event_driven)",
    )


def test_negotiation_as_acceptor_leaves_the_supported_contexts_alone():
    import copy

    from pynetdicom.presentation import build_context, negotiate_as_acceptor
    from pynetdicom.sop_class import Verification

    supported = [build_context(Verification), build_context(ModalityWorklistInformationFind)]
    for number, context in enumerate(supported):
        context.context_id = 2 * number + 1
    before = [copy.deepcopy(vars(context)) for context in supported]
    requested = build_context(Verification, ["1.2.840.10008.1.2"])
    requested.context_id = 1
    negotiate_as_acceptor([requested], supported, {})
    require(
        [vars(context) for context in supported] == before,
        "pynetdicom",
        "negotiate_as_acceptor modifies the acceptor's supported contexts",
        f"{TRANSPORT} (CheapCopies)",
    )


# --- pydicom: character sets (charset.py) --------------------------------------------

CHARSET = "worklist/dicom/charset.py"


def test_encode_string_impl_encodes_or_raises():
    encode = getattr(charset, "_encode_string_impl", None)
    where = f"{CHARSET} (_encodable)"
    require(
        callable(encode) and signature_starts(encode, ["value", "encoding"]),
        "pydicom",
        "pydicom.charset._encode_string_impl(value, encoding) is missing or changed signature",
        where,
    )
    require(
        isinstance(encode("é", "latin_1"), bytes) and isinstance(encode("山", "iso2022_jp"), bytes),
        "pydicom",
        "_encode_string_impl no longer encodes a character (Python codec, or pydicom's ISO "
        "2022 encoder) into bytes",
        where,
    )
    for character, encoding in (("ř", "latin_1"), ("é", "iso2022_jp"), ("é", "no-such-codec")):
        try:
            encode(character, encoding)
        except (UnicodeError, ValueError, LookupError):
            continue
        pytest.fail(
            changed(
                "pydicom",
                f"_encode_string_impl({character!r}, {encoding!r}) no longer raises "
                "UnicodeError, ValueError or LookupError",
                where,
            ),
            pytrace=False,
        )


def test_default_repertoire_and_known_terms():
    where = f"{CHARSET} (_python_encodings, is_supported)"
    require(
        charset.convert_encodings(["ISO_IR 6"]) == ["iso8859"]
        and charset.convert_encodings(["ISO 2022 IR 6", "ISO 2022 IR 87"])
        == ["iso8859", "iso2022_jp"],
        "pydicom",
        'convert_encodings no longer answers "iso8859" for the default repertoire',
        where,
    )
    known = getattr(charset, "python_encoding", None)
    require(
        isinstance(known, dict) and {"ISO_IR 100", "ISO_IR 192", "ISO 2022 IR 87"} <= set(known),
        "pydicom",
        "pydicom.charset.python_encoding is no longer the dict of DICOM terms it knows",
        where,
    )


# --- pydicom: value checks (mpps_iod.py) ---------------------------------------------


def test_validate_value_raises_for_a_value_its_vr_refuses():
    from pydicom import valuerep

    where = "worklist/dicom/mpps_iod.py"
    validate = getattr(valuerep, "validate_value", None)
    require(
        callable(validate) and signature_starts(validate, ["vr", "value", "validation_mode"]),
        "pydicom",
        "pydicom.valuerep.validate_value(vr, value, validation_mode) is missing or changed",
        where,
    )
    try:
        validate("CS", "COMPLETED", config.RAISE)
    except ValueError as exc:
        pytest.fail(
            changed("pydicom", f"validate_value refuses a valid CS: {exc}", where), pytrace=False
        )
    try:
        validate("CS", "completed", config.RAISE)
    except ValueError:
        return
    pytest.fail(
        changed("pydicom", "validate_value no longer raises ValueError for a bad CS", where),
        pytrace=False,
    )
