"""A store the RIS cannot keep is answered with a failure status and its reason, never
a hang and never Success: a full disk (files kept), the database down. Files are only
ever visible whole."""

import os
import subprocess
import sys
import time

import pytest
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from tests.faults.rig import ROOT, PrivatePostgres, Process, free_port, wait_for
from tests.faults.rig import answers as _answers
from worklist.models import Instance, Study

from .dicom_files import StudySpec, storescu, write_study


def test_kept_files_are_whole_and_named_by_their_uids(
    dicom_port, ct_station, storescu_path, tmp_path, studies_settings
):
    studies_settings.RIS_STORE_FILES = True
    spec = StudySpec(series=(3,))
    paths = write_study(spec, tmp_path / "study")

    assert storescu(storescu_path, dicom_port, paths).returncode == 0

    directory = studies_settings.DATA_DIR / "studies" / spec.study_instance_uid
    kept = sorted(directory.rglob("*"))
    assert [p.suffix for p in kept if p.is_file()] == [".dcm"] * 3  # no temporary left
    for path in paths:
        instance = Instance.objects.get(sop_instance_uid=path.stem)
        stored = studies_settings.DATA_DIR / instance.file
        assert instance.file_size == stored.stat().st_size
        kept, original = dcmread(stored), dcmread(path)
        assert kept == original  # every element of the data set, pixel data included


@pytest.fixture
def full_disk(tmp_path):
    """A 256 KiB file system, filled up: room for no image."""
    mount = tmp_path / "full"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {made.stderr!r}")
    try:
        (mount / "studies").mkdir()
        with open(mount / "filler", "wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(b"\0" * 4096)
            except OSError:
                pass
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_is_answered_out_of_resources(
    dicom_port, ct_station, storescu_path, tmp_path, studies_settings, full_disk
):
    studies_settings.RIS_STORE_FILES = True
    studies_settings.DATA_DIR = full_disk
    spec = StudySpec(series=(2,))
    paths = write_study(spec, tmp_path / "study")

    started = time.monotonic()
    sent = storescu(storescu_path, dicom_port, paths, extra=("-d",))

    assert time.monotonic() - started < 20
    assert "DIMSE Status                  : 0xa700: Refused: Out of resources" in sent.stderr
    assert "Out of resources: cannot keep the file (No space left on device)" in sent.stderr
    assert not Study.objects.filter(study_instance_uid=spec.study_instance_uid).exists()
    assert not list((full_disk / "studies").rglob("*.dcm"))
    assert not list((full_disk / "studies").rglob("*.tmp"))


def test_a_store_while_the_database_is_down_is_refused_then_the_association_goes_on(tmp_path):
    database = PrivatePostgres()
    database.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RIS_", "CELERY_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="ris.settings",
        SECRET_KEY="database-down-test-secret",
        RIS_AUDIT_KEY="database-down-test-audit-key-0123456789",
        DATABASE_URL=database.url("postgres"),
        RIS_DATA_DIR=str(tmp_path / "data"),
        RIS_DICOM_STRICT_AE="0",
        PYTHONUNBUFFERED="1",
    )
    migrated = subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    server = Process(
        "dicomserver",
        [sys.executable, "manage.py", "dicomserver", "--port", str(port)],
        env,
        tmp_path,
    )
    try:
        wait_for(lambda: _answers(port), 60, server.output())
        files = write_study(StudySpec(series=(3,)), tmp_path / "study")
        ae = AE(ae_title="CT1")
        ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
        ae.dimse_timeout = 90
        assoc = ae.associate("127.0.0.1", port, ae_title="RIS")
        assert assoc.is_established
        try:
            assert assoc.send_c_store(dcmread(files[0])).Status == 0x0000

            database.stop()
            started = time.monotonic()
            refused = assoc.send_c_store(dcmread(files[1]))
            refused_after = time.monotonic() - started

            assert refused.Status == 0xA700, server.output()
            assert refused.ErrorComment == "Out of resources: the RIS database is unavailable"
            # Answered, not hung: at the latest when the connection pool gives up (30 s).
            assert refused_after < 45, refused_after

            database.start()
            # The same association goes on once the database is back.
            assert assoc.send_c_store(dcmread(files[1])).Status == 0x0000
            assert assoc.send_c_store(dcmread(files[2])).Status == 0x0000
        finally:
            assoc.release()
        # A new association while the database is down is turned away at once (the
        # listener cannot check the caller): the sender tries again later.
        database.stop()
        started = time.monotonic()
        refused = ae.associate("127.0.0.1", port, ae_title="RIS")
        assert not refused.is_established
        assert time.monotonic() - started < 45
    finally:
        server.stop()
        database.remove()
