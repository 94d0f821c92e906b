"""The fault tests' rig: the RIS as separate processes (`runris`, `dicomserver`,
`celery worker`, `celery beat`) on a PostgreSQL server and a Redis server of the
tests' own, which the tests stop, start and kill. The machine's shared servers are
never touched."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg

from tests.conftest import require_peer

ROOT = Path(__file__).resolve().parents[2]
AUDIT_KEY = "fault-tests-audit-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for(predicate, seconds: float, message=""):
    """Poll `predicate` until it returns something true; fail with `message` (or what
    it returns when called) after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    value = predicate()
    assert value, message() if callable(message) else message
    return value


class Process:
    """A child process in a session of its own (so SIGKILL reaches its children too),
    with its output in a file (a full pipe can never block it)."""

    def __init__(self, name: str, args: list[str], env: dict, directory: Path):
        self.name = name
        self.log = directory / f"{name}.log"
        with open(self.log, "ab") as output:
            self.process = subprocess.Popen(
                args,
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL to the process and every process it started: no clean-up runs."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.running():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        else:
            self.kill()  # children it left behind, if any


class PrivatePostgres:
    """A PostgreSQL server in a temporary directory on a free port (initdb; as the
    postgres account when the tests run as root, which initdb refuses)."""

    def __init__(self):
        self.initdb = require_peer("initdb", "postgresql")
        self.pg_ctl = require_peer("pg_ctl", "postgresql")
        self.directory = Path(tempfile.mkdtemp(prefix="ris-faults-pg-"))
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres")
        self._run(self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres")

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def _run(self, *args: str, check: bool = True):
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(
            [*prefix, *args], check=check, capture_output=True, text=True, timeout=120
        )

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=200"
        )
        self._run(
            self.pg_ctl, "-D", str(self.data), "-o", options, "-l",
            str(self.directory / "log"), "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._run(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def is_running(self) -> bool:
        return self._run(self.pg_ctl, "-D", str(self.data), "status", check=False).returncode == 0

    def sql(self, statement: str, database: str = "postgres", params=()) -> list[tuple]:
        with psycopg.connect(self.url(database), autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class PrivateRedis:
    """A redis-server of the tests' own on a free port, without persistence."""

    def __init__(self, directory: Path):
        self.binary = require_peer("redis-server", "redis-server")
        self.port = free_port()
        self.directory = directory
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = Process(
            "redis",
            [
                self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.directory),
            ],
            dict(os.environ),
            self.directory,
        )  # fmt: skip
        wait_for(lambda: answers(self.port), 10, "redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process = None


def service_env(database_url: str, data_dir: Path, **variables: str) -> dict:
    """The environment of a RIS process: production settings (no DEBUG), nothing of
    the test process's own configuration."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RIS_", "CELERY_", "DATABASE_"))
        and k not in {"DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "ALLOWED_HOSTS"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="ris.settings",
        SECRET_KEY="fault-tests-secret-not-for-production",
        RIS_AUDIT_KEY=AUDIT_KEY,
        DATABASE_URL=database_url,
        DATABASE_POOL_SIZE="4",
        RIS_DATA_DIR=str(data_dir),
        RIS_HTTP_WORKERS="1",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(ROOT),
    )
    env.update(variables)
    return env


def manage(env: dict, *args: str, timeout: float = 300) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def http(port: int, path: str, *, token: str = "", body: bytes | None = None, timeout=40):
    """(status, body) of a request to the web server; a refused connection is status 0."""
    headers = {"Content-Type": "application/json", "Host": "127.0.0.1"}
    if token:
        headers["Authorization"] = f"Token {token}"
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, OSError):  # refused, reset, timed out
        return 0, b""


# Seeds the template database: the stations the simulated modalities are, an API user,
# and one exam booked on each station tomorrow at 09:00 UTC.
SEED = """
from datetime import UTC, date, datetime, time, timedelta
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from worklist.services.booking import StepBooking, order_create
from worklist.services.stations import station_create
start = datetime.combine(date.today() + timedelta(days=1), time(9), tzinfo=UTC)
for n in range(1, 5):
    station_create(scheduled_station_ae_title=f"CT{n}", scheduled_station_name=f"CT {n}",
                   modality="CT")
    order_create(
        patient={"patient_id": f"SEED{n}", "issuer_of_patient_id": "HOSP",
                 "patient_name": "Vivaldi^Antonio", "patient_sex": "M"},
        steps=[StepBooking(scheduled_station_ae_title=f"CT{n}", start=start,
                           duration_minutes=10, modality="CT")],
    )
user = User.objects.create_superuser("faults", "faults@example.org", "faults-pw-1")
print(Token.objects.create(user=user).key)
"""


# --- a modality, as pynetdicom sends it ----------------------------------------------


def modality_ae(ae_title: str, timeout: float = 30):
    """A modality's AE: worklist and CT storage, with `timeout` for every exchange (the
    listener's own RIS_DICOM_DIMSE_TIMEOUT, as modalities commonly use)."""
    from pydicom.uid import ExplicitVRLittleEndian
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage, ModalityWorklistInformationFind

    ae = AE(ae_title=ae_title)
    ae.add_requested_context(ModalityWorklistInformationFind)
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    ae.acse_timeout = ae.dimse_timeout = timeout
    ae.network_timeout = 2 * timeout
    return ae


def station_query(station: str, day):
    from pydicom.dataset import Dataset

    query = Dataset()
    query.PatientName = ""
    query.PatientID = ""
    query.AccessionNumber = ""
    step = Dataset()
    step.ScheduledStationAETitle = station
    step.ScheduledProcedureStepStartDate = day.strftime("%Y%m%d")
    step.ScheduledProcedureStepID = ""
    query.ScheduledProcedureStepSequence = [step]
    return query


def find(assoc, query) -> tuple[int | None, str, list]:
    """(final status, its Error Comment, the pending identifiers); status None when no
    answer came (timeout or a dropped association)."""
    from pynetdicom.sop_class import ModalityWorklistInformationFind

    found = []
    for status, identifier in assoc.send_c_find(query, ModalityWorklistInformationFind):
        if not status:
            return None, "", found
        if status.Status in (0xFF00, 0xFF01):
            found.append(identifier)
        else:
            return status.Status, str(status.get("ErrorComment", "")), found
    return None, "", found


def store(assoc, dataset) -> tuple[int | None, str]:
    status = assoc.send_c_store(dataset)
    if not status:
        return None, ""
    return status.Status, str(status.get("ErrorComment", ""))
