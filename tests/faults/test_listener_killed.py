"""The DICOM listener killed (SIGKILL) while modalities hold associations open, one of
them in the middle of sending a study: every peer sees its connection drop at once
(no wait for a timeout), nothing half-written is visible (every instance recorded has
its whole file, the study's counts agree with its rows, and a file without its record
can only be the one instance in flight: whole, never confirmed to the sender, written
again when it is sent again, since the file is renamed into place just before its
record commits),
and a listener started again on the same port serves at once; the modality sends
what was not confirmed again and the study is complete, each instance once."""

import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from pydicom import dcmread

from tests.studies.dicom_files import StudySpec, write_study

from .rig import answers, find, modality_ae, station_query, store, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

DAY = date.today() + timedelta(days=1)


class Sender:
    """A modality sending a study on one association, one instance after another."""

    def __init__(self, port: int, files: list[Path]):
        self.assoc = modality_ae("CT1").associate("127.0.0.1", port, ae_title="RIS")
        assert self.assoc.is_established
        self.files = files
        self.confirmed: list[str] = []
        self.lost_at: float | None = None
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        for path in self.files:
            try:
                status, _ = store(self.assoc, dcmread(path))
            except Exception:  # noqa: BLE001 - a dropped connection, however it shows
                status = None
            if status != 0x0000:
                self.lost_at = time.monotonic()
                return
            self.confirmed.append(path.stem)


def study_rows(rig, study_uid: str) -> tuple[int, list[tuple]]:
    """The study's own instance count and its instance rows (uid, file, size)."""
    counted = rig.sql(
        "SELECT number_of_study_related_instances FROM worklist_study "
        "WHERE study_instance_uid = %s",
        (study_uid,),
    )
    rows = rig.sql(
        "SELECT i.sop_instance_uid, i.file, i.file_size FROM worklist_instance i "
        "JOIN worklist_series s ON s.id = i.series_id "
        "JOIN worklist_study t ON t.id = s.study_id WHERE t.study_instance_uid = %s",
        (study_uid,),
    )
    return (counted[0][0] if counted else 0), rows


def assert_nothing_half_written(rig, data: Path, study_uid: str, in_flight=frozenset()):
    """The instances recorded, each with its whole file; a file without its record is
    allowed only among `in_flight` (sent, not confirmed), whole, at most one."""
    counted, rows = study_rows(rig, study_uid)
    assert counted == len(rows)
    for uid, file, size in rows:
        kept = data / file
        assert kept.stat().st_size == size, uid
        assert dcmread(kept).SOPInstanceUID == uid
    files = {p.stem: p for p in (data / "studies").rglob("*.dcm")}
    recorded = {uid for uid, _, _ in rows}
    unrecorded = set(files) - recorded
    assert recorded <= set(files)
    assert unrecorded <= in_flight and len(unrecorded) <= 1, unrecorded
    for uid in unrecorded:
        assert dcmread(files[uid]).SOPInstanceUID == uid  # whole, never a partial file
    return recorded


def test_a_killed_listener_drops_its_peers_leaves_nothing_half_written_and_restarts(rig, tmp_path):
    rig.variables["RIS_STORE_FILES"] = "1"
    listener = rig.dicomserver()
    spec = StudySpec(series=(60,), rows=32, columns=32)
    files = write_study(spec, tmp_path / "study")

    idle = modality_ae("CT2").associate("127.0.0.1", rig.dicom_port, ae_title="RIS")
    assert idle.is_established
    assert find(idle, station_query("CT2", DAY))[0] == 0x0000
    sender = Sender(rig.dicom_port, files)
    wait_for(lambda: len(sender.confirmed) >= 10 or sender.lost_at, 60, rig.logs)
    assert sender.lost_at is None, rig.logs()

    listener.kill()
    killed = time.monotonic()

    # The peers see the connection drop at once, not after their timeouts.
    sender.thread.join(timeout=10)
    assert sender.lost_at is not None and sender.lost_at - killed < 5
    # The idle one too: its association ends without a request being sent.
    wait_for(lambda: not idle.is_established, 5, "the idle association did not see the drop")
    assert idle.is_aborted

    data = tmp_path / "data"
    unconfirmed = {p.stem for p in files} - set(sender.confirmed)
    stored = assert_nothing_half_written(rig, data, spec.study_instance_uid, unconfirmed)
    assert set(sender.confirmed) <= stored

    # Started again on the same port, it serves at once.
    restarted = time.monotonic()
    rig.dicomserver("dicomserver-again")
    wait_for(lambda: answers(rig.dicom_port), 30)
    again = modality_ae("CT1").associate("127.0.0.1", rig.dicom_port, ae_title="RIS")
    assert again.is_established, rig.logs()
    serving_after = time.monotonic() - restarted
    assert find(again, station_query("CT1", DAY))[0] == 0x0000
    # The modality sends again what it did not hear confirmed.
    for path in files:
        if path.stem not in sender.confirmed:
            assert store(again, dcmread(path))[0] == 0x0000
    again.release()

    complete = assert_nothing_half_written(rig, data, spec.study_instance_uid)
    assert complete == {p.stem for p in files}
    print(f"\nthe listener served {serving_after:.1f} s after it was started again")
