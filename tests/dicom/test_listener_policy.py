"""Calling-AE policy is the listener's, applied once per association to every service
it offers: whatever is registered in listener.SERVICES needs a caller the policy
grants, C-ECHO stays open to anyone, and every handler reads the grant with
policy.granted(assoc)."""

import pytest
from pynetdicom import evt
from pynetdicom.sop_class import (
    CTImageStorage,
    ModalityPerformedProcedureStep,
    Verification,
)

from worklist.dicom import listener, policy

from .conftest import associate, station

SUCCESS = 0x0000


@pytest.fixture
def seen():
    return []


@pytest.fixture
def storage_server(transactional_db, mwl_settings, monkeypatch, seen):
    """A listener offering one more service, as the C-STORE engineer's entry will:
    its handler records what policy.granted answers."""

    def handle_store(event):
        seen.append(policy.granted(event.assoc))
        return SUCCESS

    services = [
        *listener.SERVICES,
        listener.Service(CTImageStorage, ((evt.EVT_C_STORE, handle_store),)),
    ]
    monkeypatch.setattr(listener, "SERVICES", services)
    server = listener.start(host="127.0.0.1", port=0, tls_port=0)
    yield server.server_address[1]
    listener.stop(server)


def test_an_unknown_caller_proposing_a_newly_registered_service_is_rejected(storage_server):
    assoc = associate(storage_server, calling_ae="STRANGER", contexts=[CTImageStorage])
    assert assoc.is_rejected
    rejection = assoc.acceptor.primitive
    assert (rejection.result, rejection.result_source, rejection.diagnostic) == (1, 1, 3)


def test_an_unknown_caller_proposing_mpps_alone_is_rejected(storage_server):
    assoc = associate(
        storage_server, calling_ae="STRANGER", contexts=[ModalityPerformedProcedureStep]
    )
    assert assoc.is_rejected


def test_a_known_caller_gets_the_service_and_its_handler_reads_the_grant(storage_server, seen):
    station("CT1")
    assoc = associate(storage_server, calling_ae="CT1", contexts=[CTImageStorage])
    assert assoc.is_established
    from pydicom.dataset import Dataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    image = Dataset()
    image.SOPClassUID = CTImageStorage
    image.SOPInstanceUID = generate_uid()
    image.file_meta = Dataset()
    image.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    try:
        assert assoc.send_c_store(image).Status == SUCCESS
    finally:
        assoc.release()
    [access] = seen
    assert access.calling_ae == "CT1"
    assert [s.scheduled_station_ae_title for s in access.stations] == ["CT1"]


def test_anyone_may_echo_and_is_granted_nothing(storage_server):
    assoc = associate(storage_server, calling_ae="STRANGER", contexts=[Verification])
    assert assoc.is_established
    try:
        assert assoc.send_c_echo().Status == SUCCESS
    finally:
        assoc.release()


def test_the_check_is_registered_once_for_every_association_not_per_service():
    handlers = listener.event_handlers()
    requested = [h for h in handlers if h[0] is evt.EVT_REQUESTED]
    assert [h[1] for h in requested].count(policy.check_association) == 1
    for service in listener.SERVICES:
        assert all(event is not evt.EVT_REQUESTED for event, *_ in service.handlers)
