"""MPPS receiver: N-CREATE (IN PROGRESS) + N-SET (COMPLETED) pairs per second from
concurrent modalities, on PostgreSQL.

Drops and creates the database named by --database-url (default
postgres://postgres@127.0.0.1:5432/ris_bench_mpps), migrates it, creates one station
per modality (CT1, CT2, MR1, US1, ...: each station's AE title is the modality's
calling AE title, which is what grants it MPPS under strict AE checking) and books
--pairs-per-modality orders (+1 for a warm-up) on each through the booking service.
Then starts the DICOM listener as its own process (`manage.py dicomserver`), waits for
it to answer C-ECHO, and lets M modality processes report, all at once, each of its
booked steps as a modality does: N-CREATE IN PROGRESS naming the step in the Scheduled
Step Attributes Sequence, then N-SET COMPLETED with one performed series of --images
image references. By default each pair has an association of its own (associate,
N-CREATE, N-SET, release), as many modalities do; --reuse-association sends every
pair of a modality on one association.

    .venv/bin/python bench/mpps_bench.py --pairs-per-modality 500 --modalities 4
    .venv/bin/python bench/mpps_bench.py --pairs-per-modality 500 --reuse-association

Prints pairs/s (timed phase: from the start signal to the last modality's last
release; the warm-up pair of each modality is not counted), p50/p95/p99 of N-CREATE,
N-SET, association set-up and whole pair, every status other than 0x0000, the CPU the
listener, the client processes, the PostgreSQL cluster and the whole machine used per
pair, PostgreSQL's new sessions and commits per pair (pg_stat_database), and then checks
in the database that every scheduled step and order is COMPLETED and that the audit
chain verifies; the exit status is 1 if anything failed. Last, the SQL statements of
one N-CREATE and one completing N-SET, counted with Django's CaptureQueriesContext
around the real handlers in a `manage.py shell` on the same database (the listener's
code path without the network); --statements-only prints just those, with each
statement. The clients, the listener and PostgreSQL share the machine's cores.
--nodelay makes the modalities send with TCP_NODELAY; --profile samples the listener
with py-spy (not a dependency). The database is dropped at the end unless --keep-db.

--floor then runs the same modalities, with the same messages, against a floor in the
same run: a bare pynetdicom MPPS SCP that keeps the instances in memory and answers
them (bench/mpps_floor_scp.py: no database, no checks, no audit), and prints the RIS's
pairs/s, listener CPU a pair and whole-pair p50 as ratios to the floor's, so that runs
on machines of different speed can be compared.

    .venv/bin/python bench/mpps_bench.py --pairs-per-modality 200 --floor
"""

import argparse
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.mwl_bench import ratio  # noqa: E402
from bench.proctree import tree_cpu  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/ris_bench_mpps"
REFUSED_DATABASES = {"ris", "test_ris", "postgres", "template0", "template1"}
CALLED_AE = "RIS"
TZ = "Europe/Berlin"
FIRST_STATIONS = [("CT1", "CT"), ("CT2", "CT"), ("MR1", "MR"), ("US1", "US")]
MORE_MODALITIES = ("CT", "MR", "US", "CR")
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
TARGET_PAIRS_PER_SECOND = 50


def stations(count: int) -> list[tuple[str, str]]:
    """CT1, CT2, MR1, US1, then CT3, MR2, US2, CR1, CT4..."""
    chosen = list(FIRST_STATIONS[:count])
    used = {modality: sum(1 for _, m in chosen if m == modality) for modality in MORE_MODALITIES}
    n = 0
    while len(chosen) < count:
        modality = MORE_MODALITIES[n % len(MORE_MODALITIES)]
        used[modality] += 1
        chosen.append((f"{modality}{used[modality]}", modality))
        n += 1
    return chosen


# --- the database and the listener ----------------------------------------------------


def database_name(url: str) -> str:
    name = urlparse(url).path.lstrip("/")
    if not name or name in REFUSED_DATABASES:
        sys.exit(f"refusing to use database {name!r}: name a bench database, e.g. ris_bench_mpps")
    return name


def admin_url(url: str) -> str:
    return url.rsplit("/", 1)[0] + "/postgres"


def recreate_database(url: str) -> None:
    import psycopg

    name = database_name(url)
    with psycopg.connect(admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    import psycopg

    with psycopg.connect(admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database_name(url)}" WITH (FORCE)')


def service_env(url: str, work: Path, **extra) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RIS_") and k not in {"DEBUG", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="ris.settings",
        DATABASE_URL=url,
        SECRET_KEY="mpps-bench-only",  # noqa: S106 - a throwaway bench database
        RIS_AUDIT_KEY="mpps-bench-only-audit-key-0123456789",
        TIME_ZONE=TZ,
        RIS_AE_TITLE=CALLED_AE,
        RIS_DATA_DIR=str(work / "data"),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def manage(env: dict, *args, timeout: float = 1800) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


SETUP = """
import json, os
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo
from audit import context
from worklist.services.booking import StepBooking, order_create
from worklist.services.stations import station_create

stations = json.loads(os.environ["MPPS_BENCH_STATIONS"])
per_station = int(os.environ["MPPS_BENCH_STEPS"])
first = datetime.now(ZoneInfo("UTC")).replace(hour=7, minute=0, second=0, microsecond=0)
first += timedelta(days=2)  # bookings in the past are refused
booked = {ae: [] for ae, _ in stations}
with context.system("mpps_bench"):
    for ae, modality in stations:
        station_create(
            scheduled_station_ae_title=ae,
            scheduled_station_name=ae,
            modality=modality,
            scheduled_procedure_step_location="Radiology",
        )
    for n in range(per_station):
        for s, (ae, modality) in enumerate(stations):
            k = n * len(stations) + s
            order = order_create(
                patient={
                    "patient_id": f"MB{k:07d}",
                    "issuer_of_patient_id": "BENCH",
                    "patient_name": f"Bench^Patient{k}",
                    "patient_birth_date": None,
                    "patient_sex": "O",
                },
                steps=[
                    StepBooking(ae, start=first + timedelta(minutes=15 * n), duration_minutes=15)
                ],
                requested_procedure_description=f"{modality} examination",
            )
            procedure = order.requested_procedures.all()[0]
            step = procedure.scheduled_procedure_steps.all()[0]
            booked[ae].append({
                "patient_name": order.patient.patient_name,
                "patient_id": order.patient.patient_id,
                "issuer": order.patient.issuer_of_patient_id,
                "accession_number": order.accession_number,
                "requested_procedure_id": procedure.requested_procedure_id,
                "requested_procedure_description": procedure.requested_procedure_description,
                "study_instance_uid": procedure.study_instance_uid,
                "scheduled_procedure_step_id": step.scheduled_procedure_step_id,
                "scheduled_procedure_step_description": step.scheduled_procedure_step_description,
            })
with open(os.environ["MPPS_BENCH_OUT"], "w") as out:
    json.dump(booked, out)
"""


def book(env: dict, work: Path, chosen: list[tuple[str, str]], per_station: int) -> dict:
    out = work / "booked.json"
    manage(
        {
            **env,
            "MPPS_BENCH_STATIONS": json.dumps(chosen),
            "MPPS_BENCH_STEPS": str(per_station),
            "MPPS_BENCH_OUT": str(out),
        },
        "shell",
        "-c",
        SETUP,
    )
    return json.loads(out.read_text())


def statements_per_message(env: dict, chosen, images: int) -> dict:
    """The SQL statements of one N-CREATE and one completing N-SET, counted with
    Django's CaptureQueriesContext around the real handlers (the listener's code path
    without the network), on a step booked for it: {"N-CREATE": [sql...], ...}."""
    out = Path(env["RIS_DATA_DIR"]).parent / "statements.json"
    manage(
        {
            **env,
            "MPPS_BENCH_STATION": json.dumps(chosen[0]),
            "MPPS_BENCH_IMAGES": str(images),
            "MPPS_BENCH_OUT": str(out),
        },
        "shell",
        "-c",
        "import sys; sys.path.insert(0, 'bench'); import mpps_bench; mpps_bench.count_statements()",
    )
    return json.loads(out.read_text())


def count_statements() -> None:
    """Run inside `manage.py shell` by statements_per_message."""
    from datetime import datetime, timedelta
    from types import SimpleNamespace
    from zoneinfo import ZoneInfo

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from pydicom.uid import generate_uid

    from audit import context
    from worklist.dicom import mpps, policy
    from worklist.services.booking import StepBooking, order_create

    ae, modality = json.loads(os.environ["MPPS_BENCH_STATION"])
    # Bookings in the past are refused; this one lies after every step of the run.
    after_the_run = datetime.now(ZoneInfo("UTC")).replace(minute=0, second=0, microsecond=0)
    after_the_run += timedelta(days=60)
    with context.system("mpps_bench"):
        order = order_create(
            patient={
                "patient_id": "MBSTATEMENTS",
                "issuer_of_patient_id": "BENCH",
                "patient_name": "Bench^Statements",
                "patient_birth_date": None,
                "patient_sex": "O",
            },
            steps=[StepBooking(ae, start=after_the_run, duration_minutes=15)],
            requested_procedure_description=f"{modality} examination",
        )
    procedure = order.requested_procedures.all()[0]
    step = procedure.scheduled_procedure_steps.all()[0]
    booked = {
        "patient_name": order.patient.patient_name,
        "patient_id": order.patient.patient_id,
        "issuer": order.patient.issuer_of_patient_id,
        "accession_number": order.accession_number,
        "requested_procedure_id": procedure.requested_procedure_id,
        "requested_procedure_description": procedure.requested_procedure_description,
        "study_instance_uid": procedure.study_instance_uid,
        "scheduled_procedure_step_id": step.scheduled_procedure_step_id,
        "scheduled_procedure_step_description": step.scheduled_procedure_step_description,
    }
    assoc = SimpleNamespace(
        requestor=SimpleNamespace(ae_title=ae, address="127.0.0.1", port=11112),
        **{policy.ACCESS: policy.resolve(ae, "127.0.0.1")},
    )
    uid = generate_uid()
    messages = {
        "N-CREATE": (
            mpps.handle_create,
            SimpleNamespace(
                assoc=assoc,
                request=SimpleNamespace(AffectedSOPInstanceUID=uid),
                attribute_list=n_create(booked, ae, modality),
            ),
        ),
        "N-SET": (
            mpps.handle_set,
            SimpleNamespace(
                assoc=assoc,
                request=SimpleNamespace(RequestedSOPInstanceUID=uid),
                modification_list=n_set_completed(int(os.environ["MPPS_BENCH_IMAGES"])),
            ),
        ),
    }
    counted = {}
    for name, (handler, event) in messages.items():
        with CaptureQueriesContext(connection) as captured:
            status, _ = handler(event)
        if getattr(status, "Status", status) != 0:
            sys.exit(f"{name} answered {status}")
        counted[name] = [query["sql"][:200] for query in captured.captured_queries]
    Path(os.environ["MPPS_BENCH_OUT"]).write_text(json.dumps(counted))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_floor(port: int, log_path: Path) -> subprocess.Popen:
    with open(log_path, "w") as log:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "mpps_floor_scp.py"), "--port", str(port)],
            cwd=ROOT / "bench",
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def start_listener(env: dict, port: int, log_path: Path) -> subprocess.Popen:
    with open(log_path, "w") as log:
        return subprocess.Popen(
            [sys.executable, "manage.py", "dicomserver", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def echo(port: int) -> bool:
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    ae = AE(ae_title="BENCH")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    assoc = ae.associate("127.0.0.1", port, ae_title=CALLED_AE)
    if not assoc.is_established:
        return False
    try:
        status = assoc.send_c_echo()
        return bool(status) and status.Status == 0x0000
    finally:
        assoc.release()


def wait_for_echo(port: int, process: subprocess.Popen, log_path: Path, timeout=120) -> None:
    import logging

    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"dicomserver exited with {process.returncode}, see {log_path}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
            if echo(port):
                return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"dicomserver does not answer C-ECHO on {port}, see {log_path}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- CPU accounting ---------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = fields[3] + fields[4]
    total = sum(fields)
    return (total - idle) / TICK, total / TICK


def process_cpu(pid: int) -> float:
    """The listener's CPU seconds: the dicomserver and its listener processes."""
    return tree_cpu(pid)


def postgres_cpu() -> float:
    """CPU seconds of the PostgreSQL cluster: every live postgres process, plus the
    exited backends the postmaster has reaped (its children's time). The cluster is
    shared: other databases' work on it counts too."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        if comm != "postgres":
            continue
        fields = text.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
        parent = Path(f"/proc/{fields[1]}/comm")
        try:
            is_postmaster = parent.read_text().strip() != "postgres"
        except OSError:
            is_postmaster = False
        if is_postmaster:
            total += int(fields[13]) + int(fields[14])
    return total / TICK


PG_STAT = (
    "select sessions, xact_commit, xact_rollback, active_time from pg_stat_database "
    "where datname = %s"
)


def database_stats(url: str) -> tuple:
    """(sessions, commits, rollbacks, active ms) of the bench database so far."""
    import psycopg

    with psycopg.connect(admin_url(url), autocommit=True) as conn:
        conn.execute("select pg_stat_clear_snapshot()")
        return conn.execute(PG_STAT, (database_name(url),)).fetchone()


# --- one modality ---------------------------------------------------------------------


def n_create(step: dict, ae: str, modality: str):
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid

    item = Dataset()
    item.StudyInstanceUID = step["study_instance_uid"]
    item.ReferencedStudySequence = []
    item.AccessionNumber = step["accession_number"]
    item.RequestedProcedureID = step["requested_procedure_id"]
    item.RequestedProcedureDescription = step["requested_procedure_description"]
    item.ScheduledProcedureStepID = step["scheduled_procedure_step_id"]
    item.ScheduledProcedureStepDescription = step["scheduled_procedure_step_description"]
    item.ScheduledProtocolCodeSequence = []
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ScheduledStepAttributesSequence = [item]
    ds.PatientName = step["patient_name"]
    ds.PatientID = step["patient_id"]
    ds.IssuerOfPatientID = step["issuer"]
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.ReferencedPatientSequence = []
    ds.PerformedProcedureStepID = "PPS" + generate_uid()[-10:]
    ds.PerformedStationAETitle = ae
    ds.PerformedStationName = ae
    ds.PerformedLocation = "Radiology"
    ds.PerformedProcedureStepStartDate = "20261125"
    ds.PerformedProcedureStepStartTime = "091500"
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedProcedureStepDescription = step["requested_procedure_description"]
    ds.PerformedProcedureTypeDescription = ""
    ds.ProcedureCodeSequence = []
    ds.PerformedProcedureStepEndDate = ""
    ds.PerformedProcedureStepEndTime = ""
    ds.Modality = modality
    ds.StudyID = "1"
    ds.PerformedProtocolCodeSequence = []
    ds.PerformedSeriesSequence = []
    return ds


def n_set_completed(images: int):
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid

    series = Dataset()
    series.PerformingPhysicianName = "Jones^Ann"
    series.ProtocolName = "Routine"
    series.OperatorsName = "Tech^Tina"
    series.SeriesInstanceUID = generate_uid()
    series.SeriesDescription = "Axial 5mm"
    series.RetrieveAETitle = "PACS"
    references = []
    for _ in range(images):
        reference = Dataset()
        reference.ReferencedSOPClassUID = CT_IMAGE_STORAGE
        reference.ReferencedSOPInstanceUID = generate_uid()
        references.append(reference)
    series.ReferencedImageSequence = references
    series.ReferencedNonImageCompositeSOPInstanceSequence = []
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PerformedProcedureStepStatus = "COMPLETED"
    ds.PerformedProcedureStepEndDate = "20261125"
    ds.PerformedProcedureStepEndTime = "093000"
    ds.PerformedSeriesSequence = [series]
    return ds


class Modality:
    """One modality's client: its AE, and an association opened when needed."""

    def __init__(self, ae: str, port: int, reuse: bool, timeout: float):
        from pynetdicom import AE
        from pynetdicom.sop_class import ModalityPerformedProcedureStep

        self.sop_class = ModalityPerformedProcedureStep
        self.client = AE(ae_title=ae)
        self.client.add_requested_context(ModalityPerformedProcedureStep)
        self.client.acse_timeout = self.client.dimse_timeout = timeout
        self.client.network_timeout = timeout
        self.port, self.reuse, self.assoc = port, reuse, None

    def open(self):
        if self.assoc is None or not self.assoc.is_established:
            self.assoc = self.client.associate("127.0.0.1", self.port, ae_title=CALLED_AE)
        return self.assoc.is_established

    def close(self):
        if self.assoc is not None and self.assoc.is_established:
            self.assoc.release()
        self.assoc = None

    def pair(self, create, update, result: dict) -> None:
        """One exam: [associate,] N-CREATE, N-SET[, release]; times into `result`."""
        from pydicom.uid import generate_uid

        uid = generate_uid()
        started = time.perf_counter()
        if not self.open():
            result["failures"].append("association refused or aborted")
            self.assoc = None
            return
        associated = time.perf_counter()
        status, _ = self.assoc.send_n_create(create, self.sop_class, uid)
        created = time.perf_counter()
        ok = check(status, "N-CREATE", uid, result)
        if ok:
            status, _ = self.assoc.send_n_set(update, self.sop_class, uid)
            ok = check(status, "N-SET", uid, result)
        done = time.perf_counter()
        if not self.reuse or not self.assoc.is_established:
            self.close()
        released = time.perf_counter()
        if not self.reuse:
            result["associate"].append(associated - started)
        result["create"].append(created - associated)
        if ok:
            result["set"].append(done - created)
            result["pair"].append(released - started)
            result["completed"] += 1


def check(status, operation: str, uid: str, result: dict) -> bool:
    if status and "Status" in status and status.Status == 0x0000:
        return True
    if not status or "Status" not in status:
        what = "no response (association aborted or timed out)"
    else:
        comment = str(status.get("ErrorComment", ""))
        what = f"0x{status.Status:04X} {comment}".strip()
    result["failures"].append(f"{operation} {uid}: {what}")
    return False


def disable_nagle() -> None:
    """Send each PDU at once (TCP_NODELAY) from this process's associations, as some
    modalities do; pynetdicom, like DCMTK since 3.6.2, leaves Nagle's algorithm on."""
    from pynetdicom import transport

    create_socket = transport.AssociationSocket._create_socket

    def with_nodelay(self, address):
        sock = create_socket(self, address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    transport.AssociationSocket._create_socket = with_nodelay


def modality_process(ae, modality, steps, port, options, ready, go, results):
    """A modality: prepares its messages, sends one warm-up pair, waits for the start
    signal, reports every other step, and puts its figures on `results`."""
    import logging

    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    reuse, images, timeout, nodelay = options
    if nodelay:
        disable_nagle()
    messages = [(n_create(step, ae, modality), n_set_completed(images)) for step in steps]
    client = Modality(ae, port, reuse, timeout)
    warmup = {"associate": [], "create": [], "set": [], "pair": [], "failures": [], "completed": 0}
    client.pair(*messages[0], warmup)
    result = {"associate": [], "create": [], "set": [], "pair": [], "failures": [], "completed": 0}
    result["warmup_failures"] = warmup["failures"]
    ready.put(ae)
    go.wait()
    cpu_before = sum(os.times()[:2])
    started = time.perf_counter()
    for create, update in messages[1:]:
        client.pair(create, update, result)
    client.close()
    result["elapsed"] = time.perf_counter() - started
    result["finished"] = time.time()
    result["cpu"] = sum(os.times()[:2]) - cpu_before
    result["ae"] = ae
    results.put(result)


# --- the run ----------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile, in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return 1000 * ordered[rank]


def start_profiler(path: str, pid: int, log: Path) -> subprocess.Popen:
    """py-spy (not a dependency: `.venv/bin/pip install py-spy`) sampling the listener
    and its listener processes during the timed phase only: the thread holding the GIL,
    100 times a second, without pausing it (so the figures stay those of an unprofiled run)."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        spy = shutil.which("py-spy") or spy
    formats = {".svg": "flamegraph", ".json": "speedscope"}
    fmt = formats.get(Path(path).suffix, "raw")
    with open(log, "w") as out:
        profiler = subprocess.Popen(
            [str(spy), "record", "-p", str(pid), "-o", path, "-f", fmt, "-r", "100"]
            + ["--threads", "--gil", "--nonblocking", "--subprocesses"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    time.sleep(1.5)  # attached before the start signal
    return profiler


def measure(
    args, booked: dict, port: int, server: subprocess.Popen, work: Path, profile=None
) -> dict:
    context = multiprocessing.get_context("spawn")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    options = (args.reuse_association, args.images, args.timeout, args.nodelay)
    processes = [
        context.Process(
            target=modality_process,
            args=(ae, modality, booked[ae], port, options, ready, go, results),
            name=f"modality-{ae}",
        )
        for ae, modality in stations(args.modalities)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=600)
    profiler = None
    if profile:
        profiler = start_profiler(profile, server.pid, work / "py-spy.log")
    stats_before = database_stats(args.database_url)
    server_before = process_cpu(server.pid)
    postgres_before = postgres_cpu()
    busy_before, total_before = machine_busy()
    start_wall = time.time()
    started = time.perf_counter()
    go.set()
    collected = [results.get(timeout=args.timeout * 10 + 3600) for _ in processes]
    elapsed = time.perf_counter() - started
    busy_after, total_after = machine_busy()
    server_cpu = process_cpu(server.pid) - server_before
    database_cpu = postgres_cpu() - postgres_before
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)
        profiler.wait(timeout=120)
    for process in processes:
        process.join(timeout=60)
    time.sleep(1.5)  # backends report their statistics at most once a second
    stats = [b - a for a, b in zip(stats_before, database_stats(args.database_url), strict=True)]
    merged = {key: [x for r in collected for x in r[key]] for key in ("associate", "create", "set")}
    merged["pair"] = [x for r in collected for x in r["pair"]]
    failures = [f for r in collected for f in r["failures"]]
    warmup_failures = [f for r in collected for f in r["warmup_failures"]]
    completed = sum(r["completed"] for r in collected)
    last = max(r["finished"] for r in collected) - start_wall
    return {
        "modalities": args.modalities,
        "association": (
            "one association per modality" if args.reuse_association else "an association per pair"
        )
        + (", TCP_NODELAY" if args.nodelay else ""),
        "pairs": completed,
        "attempted": sum(len(booked[ae]) - 1 for ae, _ in stations(args.modalities)),
        "elapsed_s": elapsed,
        "last_release_s": last,
        "pairs_per_s": completed / elapsed if elapsed else 0.0,
        "per_modality_pairs_per_s": {
            r["ae"]: r["completed"] / r["elapsed"] if r["elapsed"] else 0.0 for r in collected
        },
        "latency_ms": {
            key: {p: percentile(values, p) for p in (50, 95, 99)}
            for key, values in merged.items()
            if values
        },
        "failures": failures,
        "warmup_failures": warmup_failures,
        "cpu_ms_per_pair": {
            "listener": 1000 * server_cpu / completed if completed else None,
            "clients": 1000 * sum(r["cpu"] for r in collected) / completed if completed else None,
            "postgres": 1000 * database_cpu / completed if completed else None,
            "machine": 1000 * (busy_after - busy_before) / completed if completed else None,
        },
        "postgres_per_pair": {
            "sessions": stats[0] / completed if completed else None,
            "commits": stats[1] / completed if completed else None,
            "rollbacks": stats[2] / completed if completed else None,
            "active_ms": stats[3] / completed if completed else None,
        },
        "machine_utilisation": (busy_after - busy_before) / (total_after - total_before)
        if total_after > total_before
        else None,
    }


VERIFY = """
select
  (select json_object_agg(s, n) from (select scheduled_procedure_step_status s, count(*) n
     from worklist_scheduledprocedurestep group by 1) x),
  (select json_object_agg(s, n) from (select status s, count(*) n
     from worklist_order group by 1) x),
  (select json_object_agg(s, n) from (select performed_procedure_step_status s, count(*) n
     from worklist_performedprocedurestep group by 1) x),
  (select count(*) from worklist_performedprocedurestep where unscheduled),
  (select count(*) from audit_event where action = '110111' and channel = 'dicom'
     and event_outcome_indicator = 0),
  (select count(*) from audit_event where action = '110111' and event_outcome_indicator <> 0)
"""


def verify(url: str, env: dict) -> dict:
    import psycopg

    with psycopg.connect(url) as conn:
        steps, orders, performed, unscheduled, audited, refused = conn.execute(VERIFY).fetchone()
    verified = subprocess.run(
        [sys.executable, "manage.py", "audit", "verify"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    chain = (verified.stdout + verified.stderr).strip().splitlines()
    return {
        "scheduled_steps": steps or {},
        "orders": orders or {},
        "performed_steps": performed or {},
        "unscheduled": unscheduled,
        "mpps_audit_events": audited,
        "refused_audit_events": refused,
        "audit_verify": chain[-1] if chain else "",
        "audit_ok": verified.returncode == 0,
    }


def report(row: dict, checked: dict, expected: int) -> bool:
    lat = row["latency_ms"]
    cpu = {k: v or 0.0 for k, v in row["cpu_ms_per_pair"].items()}
    pg = {k: v or 0.0 for k, v in row["postgres_per_pair"].items()}

    def line(name, key):
        if key not in lat:
            return
        p = lat[key]
        print(f"{name:<22} p50 {p[50]:7.1f} ms   p95 {p[95]:7.1f} ms   p99 {p[99]:7.1f} ms")

    print()
    print(f"modalities:            {row['modalities']} ({row['association']})")
    print(
        f"pairs completed:       {row['pairs']} of {row['attempted']} in {row['elapsed_s']:.2f} s"
    )
    print(
        f"throughput:            {row['pairs_per_s']:.1f} pairs/s "
        f"(target >= {TARGET_PAIRS_PER_SECOND}: "
        f"{'met' if row['pairs_per_s'] >= TARGET_PAIRS_PER_SECOND else 'MISSED'})"
    )
    per = ", ".join(f"{ae} {v:.1f}" for ae, v in row["per_modality_pairs_per_s"].items())
    print(f"per modality:          {per}")
    line("association set-up", "associate")
    line("N-CREATE", "create")
    line("N-SET (COMPLETED)", "set")
    line("whole pair", "pair")
    print(
        f"CPU per pair:          listener {cpu['listener']:.1f} ms, "
        f"clients {cpu['clients']:.1f} ms, PostgreSQL {cpu['postgres']:.1f} ms, "
        f"whole machine {cpu['machine']:.1f} ms "
        f"(machine {100 * (row['machine_utilisation'] or 0):.0f} % busy)"
    )
    print(
        f"PostgreSQL per pair:   {pg['sessions']:.2f} new sessions, {pg['commits']:.2f} commits, "
        f"{pg['rollbacks']:.2f} rollbacks, {pg['active_ms']:.1f} ms active in statements"
    )
    print(f"database check:        scheduled steps {checked['scheduled_steps']}")
    print(f"                       orders {checked['orders']}")
    print(f"                       performed steps {checked['performed_steps']}, ", end="")
    print(f"unscheduled {checked['unscheduled']}")
    print(
        f"                       MPPS audit events {checked['mpps_audit_events']}, refused "
        f"{checked['refused_audit_events']}; audit verify: {checked['audit_verify']}"
    )
    failures = row["failures"] + row["warmup_failures"]
    steps_ok = checked["scheduled_steps"] == {"COMPLETED": expected}
    orders_ok = checked["orders"] == {"COMPLETED": expected}
    good = (
        not failures
        and steps_ok
        and orders_ok
        and checked["unscheduled"] == 0
        and checked["audit_ok"]
    )
    if failures:
        print()
        print("!" * 78)
        print(f"!!! {len(failures)} FAILED MESSAGES: these figures do not count")
        for failure in failures[:20]:
            print(f"!!!   {failure}")
        print("!" * 78)
    if not (steps_ok and orders_ok):
        print(f"!!! NOT ALL {expected} STEPS AND ORDERS ARE COMPLETED")
    if not checked["audit_ok"]:
        print("!!! THE AUDIT CHAIN DOES NOT VERIFY")
    if good:
        print(f"all {expected} scheduled steps and orders COMPLETED, every status 0x0000")
    return good


def measure_floor(args, booked: dict, work: Path) -> dict:
    """The same modalities and messages against the bare SCP of bench/mpps_floor_scp.py."""
    port = free_port()
    log_path = work / "floor.log"
    floor = start_floor(port, log_path)
    try:
        wait_for_echo(port, floor, log_path)
        return measure(args, booked, port, floor, work)
    finally:
        stop(floor)


def report_floor(row: dict, floor: dict) -> bool:
    """The floor's figures and the RIS's as ratios to them; False if the floor failed."""
    cpu, pair = row["cpu_ms_per_pair"], row["latency_ms"].get("pair", {})
    floor_cpu, floor_pair = floor["cpu_ms_per_pair"], floor["latency_ms"].get("pair", {})
    print()
    print("floor:                 bare pynetdicom MPPS SCP (bench/mpps_floor_scp.py), same run")
    print(
        f"floor throughput:      {floor['pairs_per_s']:.1f} pairs/s, whole pair p50 "
        f"{floor_pair.get(50, 0.0):.1f} ms, CPU per pair: SCP {floor_cpu['listener'] or 0:.1f} "
        f"ms, clients {floor_cpu['clients'] or 0:.1f} ms"
    )
    print(
        f"RIS / floor:           pairs/s {ratio(row['pairs_per_s'], floor['pairs_per_s'])}, "
        f"listener CPU a pair {ratio(cpu['listener'], floor_cpu['listener'])}, "
        f"whole pair p50 {ratio(pair.get(50), floor_pair.get(50))}"
    )
    failures = floor["failures"] + floor["warmup_failures"]
    if failures:
        print(f"!!! THE FLOOR FAILED {len(failures)} MESSAGES, e.g. {failures[0]}")
    return not failures


def report_statements(counted: dict, *, verbose: bool) -> None:
    """Statements per message, measured in-process after the run (see
    statements_per_message)."""
    per = ", ".join(f"{name} {len(sql)}" for name, sql in counted.items())
    print(f"SQL statements:        {per} (one message each, CaptureQueriesContext)")
    if verbose:
        for name, sql in counted.items():
            print(f"# {name}:")
            for line in sql:
                print(f"#   {line}")


def run(args) -> int:
    url = args.database_url
    database_name(url)
    work = Path(tempfile.mkdtemp(prefix="ris-mpps-bench-"))
    env = service_env(url, work, RIS_DICOM_MAX_ASSOCIATIONS=str(max(32, 2 * args.modalities)))
    chosen = stations(args.modalities)
    if args.statements_only:
        args.pairs_per_modality = 0
    per_station = args.pairs_per_modality + 1  # the first is the warm-up
    expected = per_station * len(chosen)
    t0 = time.monotonic()
    recreate_database(url)
    manage(env, "migrate", "-v", "0")
    print(f"# migrated {database_name(url)} in {time.monotonic() - t0:.0f} s", flush=True)
    t0 = time.monotonic()
    booked = book(env, work, chosen, per_station)
    print(
        f"# booked {expected} orders on {', '.join(ae for ae, _ in chosen)} "
        f"in {time.monotonic() - t0:.0f} s",
        flush=True,
    )
    if args.statements_only:
        counted = statements_per_message(env, chosen, args.images)
        report_statements(counted, verbose=True)
        good = True
    else:
        port = free_port()
        log_path = work / "dicomserver.log"
        server = start_listener(env, port, log_path)
        try:
            wait_for_echo(port, server, log_path)
            print(f"# dicomserver pid {server.pid} answers C-ECHO on {port}; log {log_path}")
            row = measure(args, booked, port, server, work, profile=args.profile)
        finally:
            stop(server)
        checked = verify(url, env)
        good = report(row, checked, expected)
        floor = measure_floor(args, booked, work) if args.floor else None
        if floor is not None:
            good = report_floor(row, floor) and good
        counted = statements_per_message(env, chosen, args.images)
        report_statements(counted, verbose=False)
        if args.json:
            Path(args.json).write_text(
                json.dumps(
                    {"run": row, "floor": floor, "database": checked, "statements": counted},
                    indent=1,
                )
            )
    if args.keep_db:
        print(f"# kept database {database_name(url)}")
    else:
        drop_database(url)
    return 0 if good else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs-per-modality", type=int, default=500)
    parser.add_argument("--modalities", type=int, default=4)
    parser.add_argument(
        "--reuse-association",
        action="store_true",
        help="send all pairs of a modality on one association (default: one per pair)",
    )
    parser.add_argument(
        "--nodelay",
        action="store_true",
        help="modalities send with TCP_NODELAY (default: Nagle on, as pynetdicom and DCMTK)",
    )
    parser.add_argument("--images", type=int, default=5, help="image references in the series")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep-db", action="store_true", help="keep the database at the end")
    parser.add_argument("--timeout", type=float, default=60, help="ACSE/DIMSE timeout, seconds")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument(
        "--statements-only",
        action="store_true",
        help="only count and list the SQL statements of one N-CREATE and one N-SET",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="then run the same modalities against a bare pynetdicom MPPS SCP, and compare",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="sample the listener with py-spy during the timed phase (.svg flame graph, "
        ".json speedscope, else collapsed stacks); py-spy must be installed in the venv",
    )
    args = parser.parse_args()
    sys.exit(run(args))


if __name__ == "__main__":
    main()
