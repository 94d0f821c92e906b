"""The hospital system hears what the modality reported (issue 15's status messages,
hl7v2/outbound.py): the N-CREATE that starts a booked exam and the N-SET that
completes it each put the order's new status (ORC-5 IP, then CM) into the outbox, in
the same transaction as the change, as a booking or a cancel does."""

from types import SimpleNamespace

import pytest
from pydicom.uid import generate_uid

from hl7v2.models import Direction, Message
from tests.factories import book_step, future_day, local, station
from worklist.dicom import mpps, policy

from .conftest import free_port
from .mpps_messages import n_create, n_set_completed, series

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore:Invalid value for VR"),
]


@pytest.fixture
def ct1(mwl_settings, settings):
    # Nobody listens there: the messages stay in the outbox, as when the HIS is down.
    settings.RIS_HL7_DESTINATIONS = f"HIS^HOSP@127.0.0.1:{free_port()}"
    return station("CT1")


def event(ct1, **message):
    requestor = SimpleNamespace(ae_title="CT1", address="192.0.2.7", port=40001)
    access = policy.Access(calling_ae="CT1", stations=(ct1,))
    return SimpleNamespace(
        assoc=SimpleNamespace(requestor=requestor, **{policy.ACCESS: access}), **message
    )


def order_statuses(order) -> list[str]:
    """ORC-5 (order status) of each status message written for the order, in order."""
    found = []
    for raw in Message.objects.filter(direction=Direction.OUT, order=order).order_by("id"):
        segments = [s.split("|") for s in raw.raw.replace("\n", "\r").split("\r") if s]
        found.append(next(s for s in segments if s[0] == "ORC")[5])
    return found


def test_starting_and_completing_an_exam_tells_the_hospital_system(ct1):
    step = book_step(start=local(future_day(7), 9))
    order = step.requested_procedure.order
    assert order_statuses(order) == ["SC"]  # booked
    uid = generate_uid()

    status, _ = mpps.handle_create(
        event(
            ct1,
            request=SimpleNamespace(AffectedSOPInstanceUID=uid),
            attribute_list=n_create(step),
        )
    )
    assert status == 0x0000
    assert order_statuses(order) == ["SC", "IP"]

    status, _ = mpps.handle_set(
        event(
            ct1,
            request=SimpleNamespace(RequestedSOPInstanceUID=uid),
            modification_list=n_set_completed(series()),
        )
    )
    assert status == 0x0000
    assert order_statuses(order) == ["SC", "IP", "CM"]
