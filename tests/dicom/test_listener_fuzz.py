"""A bounded fuzz of the listener (issue 10): malformed PDUs and lengths, mangled
association requests, broken P-DATA, and worklist queries whose identifier is
truncated, has values its VR does not allow, nests sequences deeply or names
character sets that do not exist. Whatever arrives, the listener answers or ends the
association within seconds, no thread of it dies, and it still answers C-ECHO after.

Hypothesis draws the cases (no example database: nothing is written to the
checkout); the whole file runs in well under 30 s."""

import os
import socket
import struct
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, note
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from pydicom.dataset import Dataset
from pynetdicom.dsutils import encode
from pynetdicom.sop_class import ModalityWorklistInformationFind, Verification

from worklist.dicom import listener

from .raw_peer import RawPeer, associate_rq, c_find

# Hypothesis keeps a cache of its own: in the test run's data directory.
set_hypothesis_home_dir(Path(os.environ["RIS_DATA_DIR"]) / "hypothesis")

ANSWER_WITHIN = 10  # seconds a case may take before the listener counts as hung

FUZZ = hypothesis_settings(
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def port(transactional_db, settings, monkeypatch):
    # Verification and the worklist only: negotiating the storage classes' hundreds of
    # contexts would spend the time budget on well-formed associations.
    monkeypatch.setattr(listener, "SERVICES", listener.SERVICES[:2])
    settings.RIS_AE_TITLE = "RIS"
    settings.RIS_DICOM_STRICT_AE = False  # any caller may query: the fuzz reaches the handler
    settings.RIS_DICOM_ACSE_TIMEOUT = 5
    server = listener.start(host="127.0.0.1", port=0, tls_port=0)
    yield server.server_address[1]
    listener.stop(server)


@pytest.fixture
def thread_crashes(monkeypatch):
    crashes = []
    monkeypatch.setattr(threading, "excepthook", crashes.append)
    return crashes


def still_answers_echo(port) -> bool:
    peer = RawPeer(port)
    try:
        return peer.associate() and peer.echo() == 0x0000
    finally:
        peer.close()


def header(pdu_type: int, length: int) -> bytes:
    return struct.pack(">BBL", pdu_type, 0, length)


# --- before association ---------------------------------------------------------------

pdu_like = st.builds(
    lambda pdu_type, length, body: header(pdu_type, length) + body,
    st.integers(0, 0x0A),
    st.one_of(st.integers(0, 300), st.integers(0, 2**32 - 1)),
    st.binary(max_size=300),
)
opening = st.one_of(st.binary(max_size=2048), pdu_like)


def mangled_request(data: st.DataObject) -> bytes:
    request = bytearray(associate_rq(contexts=(Verification, ModalityWorklistInformationFind)))
    for _ in range(data.draw(st.integers(1, 4))):
        where = data.draw(st.integers(0, len(request) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            request[where] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del request[where : where + data.draw(st.integers(1, 40))]
        else:
            request[where:where] = data.draw(st.binary(min_size=1, max_size=40))
    return bytes(request)


def test_fuzzed_openings_never_hang_the_listener(port, thread_crashes):
    @hypothesis_settings(FUZZ, max_examples=60)
    @given(sent=opening)
    def case(sent):
        peer = RawPeer(port, timeout=ANSWER_WITHIN)
        peer.send(sent)
        peer.close()

    case()
    assert still_answers_echo(port)
    assert not thread_crashes


def test_fuzzed_association_requests_are_answered_or_closed(port, thread_crashes):
    @hypothesis_settings(FUZZ, max_examples=60)
    @given(data=st.data())
    def case(data):
        peer = RawPeer(port, timeout=ANSWER_WITHIN)
        try:
            sent = mangled_request(data)
            peer.send(sent)
            announced = struct.unpack(">L", sent[2:6])[0] if len(sent) >= 6 else 0
            if len(sent) >= 6 + announced:
                # Complete as far as its header says: answered (AC, RJ or A-ABORT) or
                # closed, never left waiting.
                answer = peer.read_pdu()
                assert answer is None or answer[0] in (0x02, 0x03, 0x07)
        finally:
            peer.close()

    case()
    assert still_answers_echo(port)
    assert not thread_crashes


def test_a_presentation_context_without_an_abstract_syntax_is_refused_in_one_line(
    port, thread_crashes
):
    """Found by the fuzz above: a presentation context item carrying transfer syntaxes
    but no abstract syntax decodes, then crashed the association's thread in
    negotiation ('abstract_syntax' must be str...)."""
    from pynetdicom.pdu import A_ASSOCIATE_RQ
    from pynetdicom.pdu_items import AbstractSyntaxSubItem

    pdu = A_ASSOCIATE_RQ()
    pdu.decode(associate_rq())
    for item in pdu.presentation_context:
        item.abstract_transfer_syntax_sub_items = [
            sub
            for sub in item.abstract_transfer_syntax_sub_items
            if not isinstance(sub, AbstractSyntaxSubItem)
        ]
    peer = RawPeer(port, timeout=ANSWER_WITHIN)
    try:
        peer.send(pdu.encode())
        answer = peer.read_pdu()
        assert answer is None or answer[0] in (0x03, 0x07)  # rejected, aborted or closed
    finally:
        peer.close()
    assert still_answers_echo(port)
    assert not thread_crashes


# --- after association ----------------------------------------------------------------

pdv = st.builds(
    lambda length, context, control, value: struct.pack(">LBB", length, context, control) + value,
    st.one_of(st.integers(0, 64), st.integers(0, 2**32 - 1)),
    st.sampled_from([1, 3, 5, 255]),
    st.integers(0, 255),
    st.binary(max_size=64),
)
p_data = st.builds(
    lambda items: header(0x04, len(b"".join(items))) + b"".join(items),
    st.lists(pdv, min_size=0, max_size=4),
)


def test_fuzzed_p_data_after_association_ends_cleanly(port, thread_crashes):
    @hypothesis_settings(FUZZ, max_examples=30)
    @given(sent=st.one_of(p_data, pdu_like))
    def case(sent):
        note(f"sent {sent!r}")
        peer = RawPeer(port, timeout=ANSWER_WITHIN)
        try:
            assert peer.associate()
            peer.send(sent)
            peer.send(header(0x05, 4) + b"\x00" * 4)  # then ask to release
            # and send no more: what was announced and never came is not waited for.
            try:
                peer.sock.shutdown(socket.SHUT_WR)
            except OSError:  # the listener aborted and closed first: an end, in time
                return
            # An answer (a DIMSE response, release or abort) or the end, in time.
            assert peer.read_pdu() is not None or peer.ended_by_listener(ANSWER_WITHIN)
        finally:
            peer.close()

    case()
    assert still_answers_echo(port)
    assert not thread_crashes


# --- worklist queries with broken identifiers ---------------------------------------


def identifier() -> bytes:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Müller*"
    ds.PatientID = ""
    ds.PatientBirthDate = ""
    step = Dataset()
    step.Modality = "CT"
    step.ScheduledStationAETitle = ""
    step.ScheduledProcedureStepStartDate = "20250101-20351231"
    ds.ScheduledProcedureStepSequence = [step]
    return encode(ds, True, True)


def element(group: int, elem: int, value: bytes) -> bytes:
    return struct.pack("<HHL", group, elem, len(value)) + value


def nested(depth: int) -> bytes:
    """(0040,0100) sequences inside one another, `depth` deep, undefined lengths."""
    inner = element(0x0008, 0x0060, b"CT")
    for _ in range(depth):
        item = b"\xfe\xff\x00\xe0\xff\xff\xff\xff" + inner + b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
        inner = struct.pack("<HHL", 0x0040, 0x0100, 0xFFFFFFFF) + item
        inner += b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    return inner


TAGS = [
    (0x0008, 0x0005),  # Specific Character Set
    (0x0008, 0x0050),  # Accession Number (SH)
    (0x0010, 0x0010),  # Patient's Name (PN)
    (0x0010, 0x0020),  # Patient ID (LO)
    (0x0010, 0x0030),  # Patient's Birth Date (DA)
    (0x0010, 0x1010),  # Patient's Age (AS)
    (0x0028, 0x0010),  # Rows (US)
    (0x0040, 0x0002),  # Scheduled Procedure Step Start Date (DA)
    (0x0040, 0x0003),  # ... Start Time (TM)
    (0x0040, 0x0100),  # Scheduled Procedure Step Sequence (SQ)
    (0x0040, 0x0001),  # Scheduled Station AE Title (AE)
]
CHARACTER_SETS = [b"ISO_IR 999", b"ISO 2022 IR 87\\ISO 2022 IR 999", b"\xff\xfe", b"ISO_IR 100"]

broken_identifier = st.one_of(
    # truncated
    st.integers(1, len(identifier()) - 1).map(lambda n: identifier()[:n]),
    # values their VR does not allow, in tag order
    st.lists(st.tuples(st.sampled_from(TAGS), st.binary(max_size=40)), min_size=1, max_size=6).map(
        lambda items: b"".join(element(*tag, value) for tag, value in sorted(items))
    ),
    # deep sequence nesting
    st.integers(30, 600).map(nested),
    # character sets that do not exist, then text in none
    st.tuples(st.sampled_from(CHARACTER_SETS), st.binary(min_size=1, max_size=40)).map(
        lambda pair: (
            element(0x0008, 0x0005, pair[0] + b" " * (len(pair[0]) % 2))
            + element(0x0010, 0x0010, pair[1] + b" " * (len(pair[1]) % 2))
        )
    ),
    # explicit VR where implicit was agreed, with VRs that do not exist
    st.tuples(st.sampled_from([b"ZZ", b"PN", b"SQ", b"\x00\x00"]), st.binary(max_size=20)).map(
        lambda pair: (
            struct.pack("<HH", 0x0010, 0x0010) + pair[0] + struct.pack("<H", len(pair[1])) + pair[1]
        )
    ),
)


def test_fuzzed_worklist_queries_get_an_answer(port, thread_crashes):
    @hypothesis_settings(FUZZ, max_examples=40)
    @given(query=broken_identifier)
    def case(query):
        peer = RawPeer(port, timeout=ANSWER_WITHIN)
        try:
            assert peer.associate(contexts=(Verification, ModalityWorklistInformationFind))
            for pdu in c_find(query):
                peer.send(pdu)
            status = peer.read_status()
            # A final status (a failure, or success with what matched), or an abort.
            assert status is not None or peer.ended_by_listener(ANSWER_WITHIN)
        finally:
            peer.close()

    case()
    assert still_answers_echo(port)
    assert not thread_crashes
