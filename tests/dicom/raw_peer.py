"""A DICOM peer over a plain socket, for tests that send what no library would: every
byte on the wire is the test's, and every log record the test sees is the
listener's. PDUs are built with pynetdicom's encoders where they are well formed."""

import socket
import struct
import time
from io import BytesIO

from pydicom.uid import ImplicitVRLittleEndian
from pynetdicom import dimse_messages, dimse_primitives
from pynetdicom.pdu import A_ASSOCIATE_RQ, P_DATA_TF
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    ImplementationClassUIDNotification,
    MaximumLengthNotification,
)
from pynetdicom.presentation import build_context
from pynetdicom.sop_class import ModalityWorklistInformationFind, Verification

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
MAX_PDU = 16384


def associate_rq(*, calling="MODALITY", called="RIS", contexts=(Verification,)) -> bytes:
    primitive = A_ASSOCIATE()
    primitive.application_context_name = APPLICATION_CONTEXT
    primitive.calling_ae_title = calling
    primitive.called_ae_title = called
    proposed = []
    for number, abstract in enumerate(contexts):
        context = build_context(abstract, [ImplicitVRLittleEndian])
        context.context_id = 2 * number + 1
        proposed.append(context)
    primitive.presentation_context_definition_list = proposed
    length = MaximumLengthNotification()
    length.maximum_length_received = MAX_PDU
    implementation = ImplementationClassUIDNotification()
    implementation.implementation_class_uid = "1.2.826.0.1.3680043.9.9999.1"
    primitive.user_information = [length, implementation]
    pdu = A_ASSOCIATE_RQ()
    pdu.from_primitive(primitive)
    return pdu.encode()


def message_pdus(primitive, context_id: int, message_class) -> list[bytes]:
    message = message_class()
    message.primitive_to_message(primitive)
    pdus = []
    for p_data in message.encode_msg(context_id, MAX_PDU):
        pdu = P_DATA_TF()
        pdu.from_primitive(p_data)
        pdus.append(pdu.encode())
    return pdus


def c_echo(message_id=1) -> list[bytes]:
    primitive = dimse_primitives.C_ECHO()
    primitive.MessageID = message_id
    primitive.AffectedSOPClassUID = Verification
    return message_pdus(primitive, 1, dimse_messages.C_ECHO_RQ)


def c_find(identifier: bytes, message_id=1) -> list[bytes]:
    """A Modality Worklist C-FIND whose identifier is `identifier`, as encoded bytes
    (implicit VR little endian, or whatever the test makes)."""
    primitive = dimse_primitives.C_FIND()
    primitive.MessageID = message_id
    primitive.AffectedSOPClassUID = ModalityWorklistInformationFind
    primitive.Priority = 2
    primitive.Identifier = BytesIO(identifier)
    return message_pdus(primitive, 3, dimse_messages.C_FIND_RQ)


class RawPeer:
    def __init__(self, port: int, timeout: float = 10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    @property
    def local_port(self) -> int:
        return self.sock.getsockname()[1]

    def send(self, data: bytes) -> bool:
        """False if the listener had closed the connection already."""
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def read_pdu(self) -> tuple[int, bytes] | None:
        """(PDU type, whole PDU), or None when the connection ends."""
        header = self._read(6)
        if header is None:
            return None
        pdu_type, _, length = struct.unpack(">BBL", header)
        body = self._read(length)
        return None if body is None else (pdu_type, header + body)

    def _read(self, count: int) -> bytes | None:
        data = bytearray()
        while len(data) < count:
            try:
                chunk = self.sock.recv(count - len(data))
            except (TimeoutError, OSError):
                return None
            if not chunk:
                return None
            data += chunk
        return bytes(data)

    def associate(self, **kwargs) -> bool:
        self.send(associate_rq(**kwargs))
        answer = self.read_pdu()
        return answer is not None and answer[0] == 0x02

    def echo(self) -> int | None:
        """The status of a C-ECHO on this association, or None."""
        for pdu in c_echo():
            self.send(pdu)
        return self.read_status()

    def read_status(self) -> int | None:
        """The status of the next final DIMSE response (pending ones skipped)."""
        command = b""
        while True:
            answer = self.read_pdu()
            if answer is None or answer[0] != 0x04:
                return None
            data = answer[1][6:]
            while data:
                length = struct.unpack(">L", data[:4])[0]
                control, value = data[5], data[6 : 4 + length]
                data = data[4 + length :]
                if control & 0x01:
                    command += value
                    if control & 0x02:
                        status = status_of(command)
                        command = b""
                        if status not in (0xFF00, 0xFF01):
                            return status

    def release(self) -> None:
        self.send(struct.pack(">BBLL", 0x05, 0, 4, 0))
        self.read_pdu()
        self.close()

    def ended_by_listener(self, within: float) -> bool:
        """True when the listener ends the connection (A-ABORT and/or close)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return False
            except OSError:
                return True
            if not chunk:
                return True
        return False

    def close(self) -> None:
        self.sock.close()


def status_of(command: bytes) -> int | None:
    """(0000,0900) Status of an implicit VR little endian command set."""
    offset = 0
    while offset + 8 <= len(command):
        group, element, length = struct.unpack("<HHL", command[offset : offset + 8])
        value = command[offset + 8 : offset + 8 + length]
        if (group, element) == (0x0000, 0x0900):
            return struct.unpack("<H", value)[0]
        offset += 8 + length
    return None
