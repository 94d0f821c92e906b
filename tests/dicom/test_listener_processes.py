"""`manage.py dicomserver` with RIS_DICOM_PROCESSES=2: two listener processes on one
port (picked by the kernel: port 0), answering DCMTK's echoscu, findscu and storescu,
MPPS and IAN, sharing one association cap, a killed one started again while the other
serves on, and all of them stopping on SIGTERM with their open associations aborted;
a killed supervisor is replaced with listener processes of its own."""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import ModalityPerformedProcedureStep, Verification

from tests.conftest import require_peer
from tests.studies.dicom_files import StudySpec, short_uid, storescu, write_study
from tests.studies.test_instance_availability import notification
from tests.studies.test_instance_availability import send as send_ian

from .mpps_messages import n_create, n_set_completed
from .test_dicomserver_command import SETUP, manage

ROOT = Path(__file__).resolve().parent.parent.parent
STARTED = re.compile(r"DICOM listener process (\d) started \(pid (\d+)\)")
LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+) in 2 processes")


@pytest.fixture(scope="module")
def database_env(tmp_path_factory):
    """A migrated SQLite database with station CT1 and its 20 steps, shared by the
    module's servers (each test starts its own)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RIS_") and k not in {"DATABASE_URL", "DEBUG", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="ris.settings",
        SECRET_KEY="processes-test-secret",
        RIS_AUDIT_KEY="processes-test-audit-key-0123456789",
        RIS_DATA_DIR=str(tmp_path_factory.mktemp("processes") / "data"),
        PYTHONUNBUFFERED="1",
    )
    manage(env, "migrate", "-v", "0")
    manage(env, "shell", "-c", SETUP + PACS)
    return env


PACS = """
from worklist.models import Modality
Modality.objects.create(ae_title="PACS1", kind=Modality.Kind.PACS)
"""


class Listener:
    """A dicomserver process with its output in a file (a full pipe never blocks it)."""

    def __init__(self, env, tmp_path, new_session=False, **variables):
        self.log = tmp_path / "dicomserver.log"
        with open(self.log, "wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "dicomserver", "--port", "0"],
                cwd=ROOT,
                env=dict(env, RIS_DICOM_PROCESSES="2", **variables),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=new_session,  # a process group of its own, as a terminal's
            )
        self.port = int(self.wait_for(LISTENING).group(1))
        self.wait_for(STARTED, count=2)

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern, count=1, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = list(pattern.finditer(self.output))
            if len(found) >= count:
                return found[count - 1]
            assert self.process.poll() is None, self.output
            time.sleep(0.1)
        raise AssertionError(f"no {pattern.pattern!r} in:\n{self.output}")

    def children(self) -> dict[int, int]:
        """Process number -> pid, the last started of each."""
        return {int(m.group(1)): int(m.group(2)) for m in STARTED.finditer(self.output)}

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def start_listener(database_env, tmp_path):
    started = []

    def start(new_session=False, **variables):
        started.append(Listener(database_env, tmp_path, new_session, **variables))
        return started[-1]

    yield start
    for listener in started:
        for pid in listener.children().values():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        listener.stop()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def associate(port: int):
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    return ae.associate("127.0.0.1", port, ae_title="RIS")


def associate_soon(port: int, seconds: float = 5):
    """An association, asked for again while the cap is still full (a slot being given
    back)."""
    deadline = time.monotonic() + seconds
    while True:
        assoc = associate(port)
        if not assoc.is_rejected or time.monotonic() > deadline:
            return assoc
        time.sleep(0.1)


def serving_pid(assoc, server_port: int, pids) -> int | None:
    """Which of `pids` holds the server's end of the association's connection: its
    socket's inode in /proc/net/tcp, found among the processes' open files."""
    client_port = assoc.dul.socket.socket.getsockname()[1]
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = (int(f.rsplit(":", 1)[1], 16) for f in fields[1:3])
            if (local, remote) == (server_port, client_port):
                inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) in inodes:
                    return pid
            except OSError:
                continue
    return None


def echoscu(port: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["echoscu", "-to", "10", "-aec", "RIS", "127.0.0.1", str(port)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def findscu(port: int, folder: Path) -> int:
    """The number of worklist items findscu gets for station CT1 (-X: one file each)."""
    folder.mkdir()
    result = subprocess.run(
        ["findscu", "-W", "-X", "-to", "10", "-aet", "CT1", "-aec", "RIS"]
        + ["-k", "PatientName", "-k", "ScheduledProcedureStepSequence[0].Modality"]
        + ["127.0.0.1", str(port)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return len(list(folder.glob("rsp*.dcm")))


def test_both_processes_answer_dcmtk_on_the_one_port(start_listener, tmp_path):
    for program in ("echoscu", "findscu"):
        require_peer(f"/usr/bin/{program}", "dcmtk")
    server = start_listener()

    for _ in range(12):
        result = echoscu(server.port)
        assert result.returncode == 0, result.stderr
    assert [findscu(server.port, tmp_path / f"q{n}") for n in range(8)] == [20] * 8

    # Which process holds each open association: both take connections.
    pids = set(server.children().values())
    held, answered_by = [], set()
    while len(held) < 24 and answered_by != pids:
        assoc = associate(server.port)
        assert assoc.is_established
        held.append(assoc)
        answered_by.add(serving_pid(assoc, server.port, pids))
    for assoc in held:
        assert assoc.send_c_echo().Status == 0x0000
        assoc.release()
    assert answered_by == pids


def test_every_service_is_answered_by_the_listener_processes(
    start_listener, database_env, tmp_path
):
    storescu_path = require_peer("/usr/bin/storescu", "dcmtk")
    server = start_listener()

    stored = StudySpec(series=(3,))
    sent = storescu(storescu_path, server.port, write_study(stored, tmp_path / "study"))
    assert sent.returncode == 0, sent.stderr

    modality = AE(ae_title="CT1")
    modality.add_requested_context(ModalityPerformedProcedureStep)
    assoc = modality.associate("127.0.0.1", server.port, ae_title="RIS")
    assert assoc.is_established
    performed = generate_uid()
    status, _ = assoc.send_n_create(n_create(), ModalityPerformedProcedureStep, performed)
    assert status.Status == 0x0000
    status, _ = assoc.send_n_set(n_set_completed(), ModalityPerformedProcedureStep, performed)
    assert status.Status == 0x0000
    assoc.release()

    announced = short_uid()
    assert send_ian(server.port, notification(announced, {short_uid(): 2})).Status == 0x0000

    # All written to the one database the processes share.
    database = Path(database_env["RIS_DATA_DIR"]) / "ris.sqlite3"
    with sqlite3.connect(database, timeout=10) as db:
        counts = dict(
            db.execute(
                "SELECT study_instance_uid, number_of_study_related_instances "
                "FROM worklist_study WHERE study_instance_uid IN (?, ?)",
                (stored.study_instance_uid, announced),
            ).fetchall()
        )
        states = db.execute(
            "SELECT performed_procedure_step_status FROM worklist_performedprocedurestep "
            "WHERE sop_instance_uid = ?",
            (performed,),
        ).fetchall()
    assert counts == {stored.study_instance_uid: 3, announced: 2}
    assert states == [("COMPLETED",)]


def test_the_association_cap_holds_across_processes(start_listener):
    server = start_listener(RIS_DICOM_MAX_ASSOCIATIONS="3")
    held = [associate(server.port) for _ in range(3)]
    assert all(assoc.is_established for assoc in held)

    # Each process alone is under 3; only the count they share is full.
    for _ in range(4):
        refused = associate(server.port)
        assert refused.is_rejected
    assert "Local limit exceeded (3 associations in all listener processes)" in server.output

    # A slot is free once the released association's thread has ended, just after the
    # release answer (so too for pynetdicom's own cap).
    held.pop().release()
    again = associate_soon(server.port)
    assert again.is_established
    assert again.send_c_echo().Status == 0x0000
    for assoc in [again, *held]:
        assoc.release()


def test_a_killed_process_is_started_again_and_the_port_answers_meanwhile(start_listener):
    server = start_listener(RIS_DICOM_MAX_ASSOCIATIONS="2")
    first = server.children()
    held = associate(server.port)
    assert held.is_established
    victim = serving_pid(held, server.port, first.values())
    number = next(n for n, pid in first.items() if pid == victim)

    os.kill(victim, signal.SIGKILL)
    # The other process answers at once; the killed one's association is gone with it.
    meanwhile = associate(server.port)
    assert meanwhile.send_c_echo().Status == 0x0000
    meanwhile.release()
    server.wait_for(re.compile(rf"DICOM listener process {number} \(pid {victim}\) was killed"))
    server.wait_for(STARTED, count=3)

    replaced = server.children()
    assert replaced[number] != victim and alive(replaced[number])
    assert replaced[3 - number] == first[3 - number]
    # The dead process's slot of the cap is free again: two associations open at once.
    both = [associate_soon(server.port) for _ in range(2)]
    assert all(assoc.is_established for assoc in both)
    for assoc in both:
        assoc.release()


def test_sigterm_stops_every_process_and_aborts_open_associations(start_listener):
    server = start_listener()
    pids = list(server.children().values())
    held = associate(server.port)
    assert held.is_established

    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=10) == 0, server.output
    deadline = time.monotonic() + 5
    while held.is_established and time.monotonic() < deadline:
        time.sleep(0.05)
    assert held.is_aborted
    assert not any(alive(pid) for pid in pids)
    for number, pid in server.children().items():
        assert f"DICOM listener process {number} stopped (pid {pid})" in server.output
    assert echoscu(server.port).returncode != 0


def test_a_stop_signal_to_the_whole_group_stops_it_without_a_restart(start_listener):
    """Ctrl-C in a terminal, or a service manager stopping the unit's control group,
    signals every process of the tree at once: the supervisor's clean exit is then
    part of the stop, not a loss to replace."""
    server = start_listener(new_session=True)
    pids = list(server.children().values())

    os.killpg(server.process.pid, signal.SIGTERM)
    assert server.process.wait(timeout=10) == 0, server.output
    assert "starting another" not in server.output
    assert len(STARTED.findall(server.output)) == 2  # no listener process started again
    assert not any(alive(pid) for pid in pids)


def test_a_process_killed_while_counting_does_not_lock_the_cap_for_the_others():
    from worklist.dicom.processes import FORK, AssociationCap

    cap = AssociationCap(limit=2, processes=2)
    cap.index = 0
    assert cap.take()

    def die_counting():
        cap.index = 1
        cap.take()
        cap._lock.acquire()  # killed inside the count: the lock stays taken
        os.kill(os.getpid(), signal.SIGKILL)

    dying = FORK.Process(target=die_counting)
    dying.start()
    dying.join(10)
    assert dying.exitcode == -signal.SIGKILL

    # What the parent does before starting another in its place.
    cap.forget(1)
    assert cap.held() == 1  # the dead process's association is gone with it
    assert cap.take()
    assert not cap.take()  # the limit still holds


def test_a_killed_supervisor_is_replaced_with_its_listener_processes(start_listener):
    server = start_listener()
    first = server.children()
    supervisor = int(
        Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
        .read_text()
        .split()[0]
    )

    os.kill(supervisor, signal.SIGKILL)
    # Its listener processes stop when they see it gone; another supervisor starts two more.
    server.wait_for(re.compile(rf"DICOM listener supervisor \(pid {supervisor}\) was killed"))
    server.wait_for(STARTED, count=4)
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in first.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in first.values())
    assoc = associate_soon(server.port)
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()

    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=15) == 0, server.output
    assert not any(alive(pid) for pid in server.children().values())
