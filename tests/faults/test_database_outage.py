"""PostgreSQL stopped and started again under load: the DICOM listener (`dicomserver`)
keeps running; each DICOM request during the outage is answered with a failure status well
within the DIMSE timeout, never left hanging; new associations are turned away; once
the database is back the same associations and processes serve again, nothing
restarted, and nothing refused was stored."""

import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from pydicom import dcmread

from tests.studies.dicom_files import StudySpec, write_study

from .rig import find, modality_ae, station_query, store, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

DIMSE_TIMEOUT = 30  # the listener's default, and the modalities' here
DAY = date.today() + timedelta(days=1)


@dataclass
class Modality:
    """One simulated modality on one association, querying (and storing) in a loop
    until told to stop; every answer is kept with the time it took."""

    ae_title: str
    port: int
    files: list = field(default_factory=list)
    answers: list = field(default_factory=list)  # (started, seconds, kind, status, comment)
    stored: list = field(default_factory=list)  # SOP instance UIDs answered Success
    refused: list = field(default_factory=list)
    found: int = 0  # matches in the last worklist answer
    dropped: bool = False
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self):
        assoc = modality_ae(self.ae_title, DIMSE_TIMEOUT).associate(
            "127.0.0.1", self.port, ae_title="RIS"
        )
        assert assoc.is_established
        self.assoc = assoc
        pending = list(self.files)
        while not self.stop.is_set():
            started = time.monotonic()
            status, comment, found = find(assoc, station_query(self.ae_title, DAY))
            self.answers.append((started, time.monotonic() - started, "find", status, comment))
            self.found = len(found)
            if status is None or not assoc.is_established:
                self.dropped = True
                return
            if pending:
                dataset = dcmread(pending[0])
                started = time.monotonic()
                status, comment = store(assoc, dataset)
                self.answers.append((started, time.monotonic() - started, "store", status, comment))
                if status == 0x0000:
                    self.stored.append(pending.pop(0).stem)
                elif status is None:
                    self.dropped = True
                    return
                else:
                    self.refused.append(pending[0].stem)
            time.sleep(0.2)
        assoc.release()

    def statuses(self, since: float = 0.0, kind: str = "") -> list:
        return [a[3] for a in self.answers if a[0] >= since and kind in a[2]]

    def answered_again(self, since: float) -> bool:
        """A worklist answer with the booked step, asked after `since`."""
        return 0 in self.statuses(since, "find") and self.found == 1 and not self.dropped


class LateAssociation:
    """A modality associating while the database is down, in a thread of its own."""

    def __init__(self, port: int):
        self.port = port
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        started = time.monotonic()
        assoc = modality_ae("CT1", DIMSE_TIMEOUT).associate("127.0.0.1", self.port, ae_title="RIS")
        self.seconds = time.monotonic() - started
        self.established = assoc.is_established
        if assoc.is_established:
            assoc.release()
        self.done.set()

    def wait(self) -> float:
        assert self.done.wait(DIMSE_TIMEOUT + 5)
        return self.seconds


def test_requests_during_a_database_outage_fail_fast_and_the_service_recovers(rig, tmp_path):
    begun = time.monotonic()
    service = rig.dicomserver()  # each station has one exam booked (the template's)
    modalities = []
    for n in range(1, 5):
        files = write_study(StudySpec(series=(30,), rows=8, columns=8), tmp_path / f"ct{n}")
        modalities.append(Modality(f"CT{n}", rig.dicom_port, files))
    threads = [threading.Thread(target=m.run, daemon=True) for m in modalities]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: all(m.statuses().count(0) >= 2 for m in modalities), 30, rig.logs)

        rig.server.stop()
        outage = time.monotonic()
        late = LateAssociation(rig.dicom_port)
        print(f"\nstopped the database {outage - begun:.1f} s in")
        # Every modality hears of the outage on its open association ...
        wait_for(
            lambda: all(
                any(s not in (0, None) for s in m.statuses(since=outage)) for m in modalities
            ),
            DIMSE_TIMEOUT + 15,
            rig.logs,
        )
        # ... and a new association is turned away, not left waiting.
        assert late.wait() < DIMSE_TIMEOUT
        assert not late.established

        rig.server.start()
        back = time.monotonic()
        print(f"started it again after {back - outage:.1f} s")
        wait_for(
            lambda: all(m.answered_again(back) or m.dropped for m in modalities),
            DIMSE_TIMEOUT + 15,
            rig.logs,
        )
        recovered_after = time.monotonic() - back
    finally:
        for modality in modalities:
            modality.stop.set()
        for thread in threads:
            thread.join(timeout=DIMSE_TIMEOUT + 5)

    assert service.running(), service.output()
    for modality in modalities:
        assert not modality.dropped, (modality.ae_title, modality.answers[-3:])
        failures = [a for a in modality.answers if a[3] not in (0, None)]
        assert failures
        for _, seconds, kind, status, comment in failures:
            # A failure status, with its reason, in time for the modality to hear it.
            assert seconds < DIMSE_TIMEOUT - 5, (kind, seconds)
            if kind == "find":
                assert (status, comment) == (0xC000, "The worklist database is unavailable")
            else:
                assert (status, comment) == (
                    0xA700,
                    "Out of resources: the RIS database is unavailable",
                )
        # The same association answers again: the booked step is there.
        assert modality.answered_again(back)

    # Stored is stored; refused left nothing behind (the sender sends those again).
    stored = {uid for m in modalities for uid in m.stored}
    refused = {uid for m in modalities for uid in m.refused} - stored
    rows = {uid for (uid,) in rig.sql("SELECT sop_instance_uid FROM worklist_instance")}
    assert stored <= rows
    assert not refused & rows
    print(f"recovered {recovered_after:.1f} s after the database came back")
