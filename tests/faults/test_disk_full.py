"""The disk of RIS_DATA_DIR full while `dicomserver` keeps study files
(RIS_STORE_FILES on): each C-STORE is answered A700 Out of resources with the reason
in Error Comment, no file (whole or partial) is left and no record committed; once
space is freed the same listener stores again, no restart."""

import subprocess

import pytest
from pydicom import dcmread

from tests.conftest import require_peer
from tests.studies.dicom_files import StudySpec, storescu, write_study

from .rig import modality_ae, store

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB file system (tmpfs) for RIS_DATA_DIR."""
    mount = tmp_path / "data"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small file system here (needs root): {made.stderr!r}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(mount):
    with open(mount / "filler", "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(b"\0" * 4096)
        except OSError:
            pass


def study_rows(rig, study_uid: str) -> int:
    return (
        rig.sql(
            "SELECT count(*) FROM worklist_instance i JOIN worklist_series s ON s.id = i.series_id "
            "JOIN worklist_study t ON t.id = s.study_id WHERE t.study_instance_uid = %s",
            (study_uid,),
        )[0][0]
        + rig.sql(
            "SELECT count(*) FROM worklist_study WHERE study_instance_uid = %s", (study_uid,)
        )[0][0]
    )


def test_a_full_disk_is_answered_out_of_resources_and_nothing_is_kept(rig, tmp_path, small_disk):
    rig.variables["RIS_STORE_FILES"] = "1"
    listener = rig.dicomserver()
    fill(small_disk)
    spec = StudySpec(series=(3,), rows=64, columns=64)
    files = write_study(spec, tmp_path / "study")
    storescu_path = require_peer("storescu", "dcmtk")

    sent = storescu(storescu_path, rig.dicom_port, files[:1], extra=("-d",), timeout=60)
    assert "0xa700: Refused: Out of resources" in sent.stderr, sent.stderr
    assert "Out of resources: cannot keep the file (No space left on device)" in sent.stderr
    # The association stays up: each further store is refused the same way.
    assoc = modality_ae("CT1").associate("127.0.0.1", rig.dicom_port, ae_title="RIS")
    assert assoc.is_established
    for path in files:
        assert store(assoc, dcmread(path)) == (
            0xA700,
            "Out of resources: cannot keep the file (No space left on device)",
        )
    assoc.release()
    assert not list((small_disk / "studies").rglob("*.dcm"))
    assert not list(small_disk.rglob("*.tmp")) and not list(small_disk.rglob(".*.tmp"))
    assert study_rows(rig, spec.study_instance_uid) == 0
    assert listener.running()

    (small_disk / "filler").unlink()
    sent = storescu(storescu_path, rig.dicom_port, files, timeout=60)

    assert sent.returncode == 0 and "Store Failed" not in sent.stderr, sent.stderr
    assert len(list((small_disk / "studies").rglob("*.dcm"))) == 3
    assert study_rows(rig, spec.study_instance_uid) == 3 + 1
