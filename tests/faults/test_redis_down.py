"""Redis (broker and cache) down, with `runris`, a Celery worker and beat running as
the README says: booking through the API, the worklist and storage keep working, the
sign-in page answers (it counts failed passwords in the cache), and no task is lost:
a study stored during the outage is decided once Redis is back, exactly once. Signing
in to the UI works, without the failed-password throttle (worklist/ui/lockout.py
logs that the cache is unreachable)."""

import re
import time
import urllib.parse
import urllib.request
from datetime import date, timedelta
from http.cookiejar import CookieJar

import pytest

from tests.conftest import require_peer
from tests.studies.dicom_files import StudySpec, storescu, write_study

from .rig import find, http, modality_ae, station_query, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

DAY = date.today() + timedelta(days=1)


def sign_in(port: int, username: str, password: str) -> tuple[int, str]:
    """Sign in to the scheduler UI as a browser does: (status, where it ends up)."""
    jar = CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    url = f"http://127.0.0.1:{port}/login/"
    try:
        with browser.open(url, timeout=30) as page:
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode())
        form = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token[1], "username": username, "password": password}
        ).encode()
        request = urllib.request.Request(url, data=form, headers={"Referer": url})
        with browser.open(request, timeout=30) as answer:
            return answer.status, answer.url
    except urllib.error.HTTPError as error:
        return error.code, error.url


def decided(rig, study_uid: str) -> list[tuple]:
    return rig.sql(
        "SELECT d.outcome FROM worklist_studydecision d JOIN worklist_study s "
        "ON s.id = d.study_id WHERE s.study_instance_uid = %s",
        (study_uid,),
    )


def test_with_redis_down_the_service_works_and_no_task_is_lost(rig, tmp_path):
    redis = rig.with_redis()
    rig.variables.update(RIS_RECONCILE_QUIET_SECONDS="1", RIS_RECONCILE_SWEEP_SECONDS="1")
    rig.runris()
    rig.worker()
    rig.beat()
    booked = rig.book("CT1", 11)

    redis.stop()

    # Booking through the API, at once.
    started = time.monotonic()
    other = rig.book("CT1", 12)
    assert time.monotonic() - started < 10
    # The worklist has both exams (and the one the template booked at 09:00).
    assoc = modality_ae("CT1").associate("127.0.0.1", rig.dicom_port, ae_title="RIS")
    assert assoc.is_established
    status, _, found = find(assoc, station_query("CT1", DAY))
    assoc.release()
    assert status == 0x0000
    assert {f.AccessionNumber for f in found} >= {
        booked["accession_number"],
        other["accession_number"],
    }
    # A study arrives for the first; the sender is not held up.
    spec = StudySpec(
        series=(2,),
        rows=8,
        columns=8,
        accession_number=booked["accession_number"],
        patient_id=booked["patient"]["patient_id"],
    )
    started = time.monotonic()
    sent = storescu(
        require_peer("storescu", "dcmtk"), rig.dicom_port, write_study(spec, tmp_path / "s")
    )
    assert sent.returncode == 0 and "Store Failed" not in sent.stderr, sent.stderr
    assert time.monotonic() - started < 20
    assert http(rig.http_port, "/healthz")[0] == 200
    time.sleep(2)  # past the quiet period: with no broker, nobody decides it yet
    assert not decided(rig, spec.study_instance_uid)

    redis.start()

    wait_for(lambda: decided(rig, spec.study_instance_uid), 60, rig.logs)
    time.sleep(3)  # the sweeper's later rounds change nothing
    assert decided(rig, spec.study_instance_uid) == [("MATCHED",)]


def test_signing_in_while_redis_is_down(rig):
    redis = rig.with_redis()
    rig.runris("--no-dicom")
    redis.stop()

    status, landed = sign_in(rig.http_port, "faults", "faults-pw-1")

    assert status == 200 and not landed.endswith("/login/"), (status, landed)
