"""Order status to the hospital system through the outbox, received by python-hl7's
MLLP server (tests/hl7/peer.py, its own process) standing in for the HIS."""

import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from hl7v2 import outbound
from hl7v2.models import Direction, Message, Status
from tests import factories
from tests.hl7.conftest import PEER, peer_env
from worklist.services.booking import order_cancel, step_update


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class His:
    def __init__(self, port: int, log, ack_code: str = "AA"):
        self.port, self.log, self.ack_code = port, log, ack_code
        self.process = None

    def start(self):
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, str(PEER), "his", str(self.port), str(self.log), self.ack_code],
            stdout=subprocess.PIPE,
            text=True,
            env=peer_env(),
            cwd="/",
        )
        assert self.process.stdout.readline().strip() == "ready"
        return self

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def received(self) -> list[list[list[str]]]:
        """Each message received, as its segments split into fields."""
        if not self.log.exists():
            return []
        return [
            [segment.split("|") for segment in line.rstrip("\n").split("\\r") if segment]
            for line in self.log.read_text(encoding="utf-8").splitlines()
        ]


@pytest.fixture
def his(tmp_path, settings):
    port = free_port()
    settings.RIS_HL7_DESTINATIONS = f"HIS^HOSP@127.0.0.1:{port}"
    settings.RIS_HL7_RETRY_SECONDS = 5
    receiver = His(port, tmp_path / "received.txt")
    yield receiver
    receiver.stop()


def orc(message) -> list[str]:
    return next(s for s in message if s[0] == "ORC")


def test_status_changes_wait_while_the_his_is_down_then_arrive_in_order(db, his):
    factories.station("CT1", "CT")
    order = factories.book(accession_number="ACC1")
    step = factories.step_of(order)
    step_update(step=step, start=step.start + timedelta(hours=1), reason="room")
    order_cancel(order=order, reason="patient ill")
    key = f"HIS^HOSP@127.0.0.1:{his.port}"

    down = outbound.drain(key)

    assert down.delivered == 0 and down.retry_in == 5
    pending = Message.objects.filter(direction=Direction.OUT, status=Status.PENDING)
    assert pending.count() == 3
    first = pending.order_by("id").first()
    assert first.attempts == 1 and "Not delivered" in first.error
    # Not due yet: the drain waits for the backoff instead of hammering the receiver.
    assert outbound.drain(key).delivered == 0
    assert Message.objects.get(pk=first.pk).attempts == 1

    his.start()
    later = timezone.now() + timedelta(seconds=6)
    back = outbound.drain(key, now=later)

    assert back.delivered == 3
    received = his.received()
    assert [orc(m)[1] for m in received] == ["SC", "SC", "OC"]
    assert [orc(m)[5] for m in received] == ["SC", "SC", "CA"]
    assert all(orc(m)[3] == "ACC1^RIS" for m in received)
    assert not Message.objects.filter(status=Status.PENDING).exists()
    assert set(Message.objects.values_list("ack_code", flat=True)) == {"AA"}


def test_orm_o01_before_2_5_and_omi_o23_from_2_5(db, his, settings):
    settings.RIS_HL7_DESTINATIONS = (
        f"HIS^HOSP@127.0.0.1:{his.port}, PACS@127.0.0.1:{his.port}/2.5.1"
    )
    settings.RIS_HL7_VERSION = "2.3.1"
    factories.station("CT1", "CT")
    his.start()
    order = factories.book(accession_number="ACC2")

    for key in outbound.destinations():
        outbound.drain(key)

    types = sorted(m[0][8] for m in his.received())
    assert types == ["OMI^O23^OMI_O23", "ORM^O01"]
    uid = order.requested_procedure.study_instance_uid
    by_type = {m[0][8]: m for m in his.received()}
    assert next(s for s in by_type["ORM^O01"] if s[0] == "ZDS")[1].startswith(uid)
    assert next(s for s in by_type["OMI^O23^OMI_O23"] if s[0] == "IPC")[3] == uid


def test_an_ae_answer_is_recorded_and_the_next_message_still_goes(db, tmp_path, his):
    his.ack_code = "AE"
    his.start()
    factories.station("CT1", "CT")
    order = factories.book()
    order_cancel(order=order)

    result = outbound.drain(f"HIS^HOSP@127.0.0.1:{his.port}")

    assert result.refused == 2
    refused = Message.objects.filter(direction=Direction.OUT, status=Status.REFUSED)
    assert refused.count() == 2
    assert all(m.ack_code == "AE" and m.error.startswith("AE") for m in refused)


def test_nothing_is_written_without_destinations(db, settings):
    settings.RIS_HL7_DESTINATIONS = ""
    factories.station("CT1", "CT")
    factories.book()

    assert not Message.objects.exists()


def test_a_booking_that_fails_leaves_no_status_message(db, his):
    from ris.errors import Conflict

    factories.station("CT1", "CT")
    start = factories.local(factories.future_day())
    factories.book(start=start)
    with pytest.raises(Conflict):
        factories.book(start=start)  # the slot is taken

    assert Message.objects.filter(direction=Direction.OUT).count() == 1


def test_the_status_goes_out_once_the_booking_commits(
    db, his, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the task runs here, not on a worker
    his.start()
    factories.station("CT1", "CT")

    with django_capture_on_commit_callbacks(execute=True):
        factories.book(accession_number="ACC3")

    assert [orc(m)[3] for m in his.received()] == ["ACC3^RIS"]
    assert Message.objects.get(direction=Direction.OUT).status == Status.DELIVERED


@pytest.mark.postgres
def test_two_workers_draining_at_once_send_each_message_once_in_order(transactional_db, his):
    """Two drains of the same destination at the same moment (two Celery workers):
    the second finds the oldest pending messages locked and stops; every message is
    delivered once, in the order it was written."""
    import threading

    from django.db import connection

    factories.station("CT1", "CT")
    accessions = [f"ACC{n:02d}" for n in range(12)]
    for n, accession in enumerate(accessions):
        factories.book(
            accession_number=accession,
            start=factories.local(factories.future_day(), 8 + n // 4, 15 * (n % 4)),
        )
    his.start()
    key = f"HIS^HOSP@127.0.0.1:{his.port}"
    ready = threading.Barrier(2)

    def drain():
        try:
            ready.wait(10)
            outbound.drain(key)
        finally:
            connection.close()

    threads = [threading.Thread(target=drain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    outbound.drain(key)  # whatever the second left when the first stopped

    assert [orc(m)[3].split("^")[0] for m in his.received()] == accessions
    assert Message.objects.filter(status=Status.DELIVERED).count() == len(accessions)


def test_a_malformed_destination_is_skipped_and_bookings_go_on(db, settings, his):
    settings.RIS_HL7_DESTINATIONS = f"HIS@nowhere, HIS^HOSP@127.0.0.1:{his.port}"
    factories.station("CT1", "CT")

    factories.book()

    assert list(Message.objects.values_list("peer", flat=True)) == [
        f"HIS^HOSP@127.0.0.1:{his.port}"
    ]
