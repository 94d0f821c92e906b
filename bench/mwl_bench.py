"""Modality worklist: station-day query latency and throughput, the RIS on PostgreSQL
side by side with DCMTK's wlmscpfs and Orthanc's worklist plugin serving the same
entries from files.

For each schedule size the same N scheduled procedure steps (40 stations, 32
fifteen-minute slots a day each, earlier days performed, the middle day and later
still scheduled) are written with COPY into the database named in DATABASE_URL and as
N worklist files (.wl) into one folder that wlmscpfs and Orthanc serve. Then C
concurrent "modalities" (worker processes, each a station) ask, one full association
per query as a modality does, for their station's worklist of the middle day
(Scheduled Station AE Title, Start Date, Modality, and the usual return keys) until
the time budget runs out. Latency is measured around associate + C-FIND + release;
with pynetdicom's client also up to the A-RELEASE-RP's arrival ("p50 to
A-RELEASE-RP"), since its release then stops the client's threads by polling them
every 10 ms, a wait that falls on some queries and not others whatever the server;
the CPU each server process (and its children) used over a measurement, read from
/proc, is divided by the queries it answered. For the RIS, the answer path alone
(translate the identifier, run the worklist query, produce the 32 items, in one
process without the network) is timed too, with every item built and encoded
afresh and with the answers kept from the previous query (worklist/dicom/answers.py).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ris_mwl_bench \\
        .venv/bin/python bench/mwl_bench.py --sizes 10000 100000 1000000

The floor (`--servers floor`, bench/floor_scp.py) is a bare pynetdicom SCP answering
the same query with the same items built in memory before the first query, with
TCP_NODELAY and TCP_QUICKACK on its sockets; every row is also given as a ratio to the
floor's row of the same run (same size, client, answer count and concurrency).
`--answers 32 2` asks the station's whole day (32 answers) and its first two slots (a
Start Time range, 2 answers); `--clients pynetdicom findscu` asks with pynetdicom's
default client and with DCMTK findscu (its defaults, a process per query, one
modality). Issue 14's run:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ris_mwl_bench \\
        .venv/bin/python bench/mwl_bench.py --sizes 10000 --servers floor ris \\
        --answers 32 2 --clients pynetdicom findscu --concurrency 1 16 --seconds 10

`--processes 1 2` runs the RIS once with each number of listener processes
(RIS_DICOM_PROCESSES); the server CPU is then that of `dicomserver` and its listener
processes together.

The database named in DATABASE_URL is dropped and created anew; `ris` and `test_ris`
are refused. A server whose single query takes longer than --slow seconds is not run
at higher concurrency (its row says so).
"""

import argparse
import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.proctree import tree_cpu  # noqa: E402

STATIONS = [f"{m}{n:02d}" for m in ("CT", "MR", "US", "CR") for n in range(1, 11)]
SLOTS_PER_DAY = 32  # 08:00-16:00, 15 minutes each
FIRST_DAY = date(2025, 1, 1)
TZ = "Europe/Berlin"
FAMILIES = ["Vivaldi", "Haydn", "Mozart", "Beethoven", "Schubert", "Brahms", "Bach", "Handel"]
REFUSED_DATABASES = {"ris", "test_ris", "postgres", "template0", "template1"}


# --- the schedule ---------------------------------------------------------------------


def schedule(size: int):
    """(index, station, start, patient number) of every step, and the query day."""
    days = -(-size // (len(STATIONS) * SLOTS_PER_DAY))
    query_day = FIRST_DAY + timedelta(days=days // 2)
    return days, query_day


def step_fields(i: int):
    per_day = len(STATIONS) * SLOTS_PER_DAY
    day = FIRST_DAY + timedelta(days=i // per_day)
    slot, station = divmod(i % per_day, len(STATIONS))
    start = datetime(day.year, day.month, day.day, 8, tzinfo=ZoneInfo(TZ)) + timedelta(
        minutes=15 * slot
    )
    return STATIONS[station], start


def patient_fields(p: int):
    family = FAMILIES[p % len(FAMILIES)]
    given = f"G{p:07d}"
    born = date(1930, 1, 1) + timedelta(days=(p * 37) % 25000)
    return f"P{p:08d}", f"{family}^{given}", born, "MF"[p % 2]


# --- PostgreSQL -----------------------------------------------------------------------


def recreate_database(url: str) -> None:
    import psycopg

    name = urlparse(url).path.lstrip("/")
    if name in REFUSED_DATABASES:
        sys.exit(f"refusing to use database {name!r}: name a bench database, e.g. ris_mwl_bench")
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def service_env(url: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RIS_")}
    env.update(
        DJANGO_SETTINGS_MODULE="ris.settings",
        DATABASE_URL=url,
        SECRET_KEY="mwl-bench-only",  # noqa: S106 - a throwaway bench database
        RIS_AUDIT_KEY="mwl-bench-only-audit-key-0123456789",
        TIME_ZONE=TZ,
        RIS_LOG_LEVEL="WARNING",
        RIS_DATA_DIR=str(Path(tempfile.gettempdir()) / "ris-mwl-bench"),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def migrate(url: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"],
        cwd=ROOT,
        env=service_env(url),
        check=True,
        timeout=600,
    )


def fold(name: str) -> str:
    """The patient's name search key, as Patient.save() stores it."""
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))
    from worklist.names import search_key

    return search_key(name)[:64]


def load_database(url: str, size: int, query_day: date) -> float:
    """COPY the schedule into the worklist tables; returns seconds taken."""
    import psycopg

    started = time.monotonic()
    now = datetime.now(ZoneInfo("UTC"))
    patients = max(size // 3, 1)
    with psycopg.connect(url) as conn:
        conn.execute(
            "TRUNCATE worklist_scheduledprocedurestep, worklist_requestedprocedure, "
            "worklist_orderevent, worklist_order, worklist_patient, worklist_station CASCADE"
        )
        with conn.cursor() as cur:
            for n, ae in enumerate(STATIONS, start=1):
                cur.execute(
                    "INSERT INTO worklist_station (id, scheduled_station_ae_title, "
                    "scheduled_station_name, modality, scheduled_procedure_step_location, active)"
                    " VALUES (%s, %s, %s, %s, %s, true)",
                    (n, ae, ae, ae[:2], "Radiology"),
                )
            with cur.copy(
                "COPY worklist_patient (id, patient_id, issuer_of_patient_id, patient_name, "
                "patient_name_search, patient_birth_date, patient_sex, other_patient_ids, "
                "medical_alerts, allergies, additional_patient_history, special_needs, "
                "created_at, updated_at) FROM STDIN"
            ) as copy:
                for p in range(patients):
                    pid, name, born, sex = patient_fields(p)
                    copy.write_row(
                        (
                            p + 1,
                            pid,
                            "HOSP",
                            name,
                            fold(name),
                            born,
                            sex,
                            "",
                            "",
                            "",
                            "",
                            "",
                            now,
                            now,
                        )
                    )
            with cur.copy(
                "COPY worklist_order (id, patient_id, accession_number, referring_physician_name,"
                " requesting_physician, requesting_service, reason_for_the_requested_procedure,"
                " imaging_service_request_comments, status, cancel_reason, created_at, updated_at,"
                " placer_order_number, alert_acknowledgements) FROM STDIN"
            ) as copy:
                for i in range(size):
                    status = "COMPLETED" if step_fields(i)[1].date() < query_day else "SCHEDULED"
                    copy.write_row(
                        (
                            i + 1,
                            i % patients + 1,
                            f"B{i:09d}",
                            "Smith^John",
                            "",
                            "",
                            "",
                            "",
                            status,
                            "",
                            now,
                            now,
                            "",
                            "[]",
                        )
                    )
            with cur.copy(
                "COPY worklist_requestedprocedure (id, order_id, requested_procedure_id, "
                "requested_procedure_description, requested_procedure_code_sequence, "
                "study_instance_uid, requested_procedure_priority) FROM STDIN"
            ) as copy:
                for i in range(size):
                    copy.write_row(
                        (i + 1, i + 1, f"R{i:09d}", "Examination", "[]", study_uid(i), "ROUTINE")
                    )
            with cur.copy(
                "COPY worklist_scheduledprocedurestep (id, requested_procedure_id, station_id, "
                "scheduled_procedure_step_id, modality, scheduled_station_name, "
                'scheduled_procedure_step_location, start, "end", duration_minutes, '
                "scheduled_performing_physician_name, scheduled_procedure_step_description, "
                "scheduled_protocol_code_sequence, requested_contrast_agent, pre_medication, "
                "comments_on_the_scheduled_procedure_step, scheduled_procedure_step_status, "
                "additional_station_ae_titles, updated_at) FROM STDIN"
            ) as copy:
                for i in range(size):
                    ae, start = step_fields(i)
                    status = "COMPLETED" if start.date() < query_day else "SCHEDULED"
                    copy.write_row(
                        (
                            i + 1,
                            i + 1,
                            STATIONS.index(ae) + 1,
                            f"S{i:09d}",
                            ae[:2],
                            ae,
                            "Radiology",
                            start,
                            start + timedelta(minutes=15),
                            15,
                            "Jones^Ann",
                            "Examination",
                            "[]",
                            "",
                            "",
                            "",
                            status,
                            "",
                            now,
                        )
                    )
            for table in ("patient", "order", "requestedprocedure", "scheduledprocedurestep"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('worklist_{table}', 'id'), "  # noqa: S608
                    f"(SELECT max(id) FROM worklist_{table}))"
                )
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return time.monotonic() - started


def study_uid(i: int) -> str:
    return f"1.2.826.0.1.3680043.10.1234.1{i:09d}"


# --- worklist files -------------------------------------------------------------------

PLACEHOLDERS = {
    "accession": b"#" * 10,
    "patient_id": b"~" * 9,
    "given": b"@" * 8,
    "born": b"!" * 8,
    "uid": b"%" * 38,
    "sps_id": b"$" * 10,
    "rp_id": b"&" * 10,
    "date": b"(" * 8,
    "time": b")" * 6,
    "ae": b"{" * 4,
    "modality": b"}" * 2,
}


def file_templates() -> dict[str, bytes]:
    """One encoded worklist file per family name, with fixed-width placeholders that
    each entry's values replace byte for byte."""
    import warnings
    from io import BytesIO

    from pydicom import dcmwrite
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    p = {k: v.decode() for k, v in PLACEHOLDERS.items()}
    templates = {}
    for family in FAMILIES:
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.AccessionNumber = p["accession"]
        ds.PatientName = f"{family}^{p['given']}"
        ds.PatientID = p["patient_id"]
        ds.PatientBirthDate = p["born"]
        ds.PatientSex = "O"
        ds.MedicalAlerts = ""
        ds.Allergies = ""
        ds.StudyInstanceUID = p["uid"]
        ds.RequestingPhysician = ""
        ds.ReferringPhysicianName = "Smith^John"
        ds.RequestedProcedureDescription = "Examination"
        sps = Dataset()
        sps.Modality = p["modality"]
        sps.RequestedContrastAgent = ""
        sps.ScheduledStationAETitle = p["ae"]
        sps.ScheduledProcedureStepStartDate = p["date"]
        sps.ScheduledProcedureStepStartTime = p["time"]
        sps.ScheduledPerformingPhysicianName = "Jones^Ann"
        sps.ScheduledProcedureStepDescription = "Examination"
        sps.ScheduledProcedureStepID = p["sps_id"]
        sps.ScheduledStationName = p["ae"]
        sps.ScheduledProcedureStepLocation = "Radiology"
        sps.PreMedication = ""
        sps.CommentsOnTheScheduledProcedureStep = ""
        ds.ScheduledProcedureStepSequence = [sps]
        ds.RequestedProcedureID = p["rp_id"]
        ds.RequestedProcedurePriority = "ROUTINE"
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = "1.2.276.0.7230010.3.1.0.1"
        ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.10.1234.9"
        buffer = BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dcmwrite(buffer, ds, enforce_file_format=True)
        templates[family] = buffer.getvalue()
    return templates


def _write_files(args) -> None:
    folder, first, last, size, patients, templates = args
    folder = Path(folder)
    for i in range(first, last):
        ae, start = step_fields(i)
        p = i % patients
        pid, name, born, _ = patient_fields(p)
        data = templates[name.split("^")[0]]
        values = {
            "accession": f"B{i:09d}",
            "patient_id": pid,
            "given": name.split("^")[1],
            "born": f"{born:%Y%m%d}",
            "uid": study_uid(i).ljust(38),
            "sps_id": f"S{i:09d}",
            "rp_id": f"R{i:09d}",
            "date": f"{start:%Y%m%d}",
            "time": f"{start:%H%M%S}",
            "ae": ae,
            "modality": ae[:2],
        }
        for key, value in values.items():
            data = data.replace(PLACEHOLDERS[key], value.encode("ascii"))
        (folder / f"{i:09d}.wl").write_bytes(data)


def write_files(folder: Path, size: int) -> float:
    started = time.monotonic()
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / "lockfile").touch()
    templates = file_templates()
    patients = max(size // 3, 1)
    chunk = 20000
    jobs = [
        (str(folder), first, min(first + chunk, size), size, patients, templates)
        for first in range(0, size, chunk)
    ]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(_write_files, jobs)
    return time.monotonic() - started


# --- servers --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port}")


def start_ris(url: str, port: int, root: Path = ROOT, processes: int = 1) -> subprocess.Popen:
    return _start(
        [sys.executable, "manage.py", "dicomserver", "--port", str(port)],
        cwd=root,
        env=service_env(
            url,
            RIS_DICOM_MAX_ASSOCIATIONS="64",
            RIS_MWL_MAX_MATCHES="1000",
            RIS_DICOM_PROCESSES=str(processes),
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_wlmscpfs(database: Path, port: int) -> subprocess.Popen:
    return _start(
        ["wlmscpfs", "-dfp", str(database), "-td", "3600", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_orthanc(work: Path, worklists: Path, port: int) -> subprocess.Popen:
    storage = work / "orthanc-storage"
    shutil.rmtree(storage, ignore_errors=True)
    storage.mkdir(parents=True)
    config = {
        "Name": "mwl-bench",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "HttpPort": free_port(),
        "RemoteAccessAllowed": False,
        "DicomAet": "ORTHANC",
        "DicomPort": port,
        "DicomCheckCalledAet": False,
        "DicomAlwaysAllowFindWorklist": True,
        "DicomThreadsCount": 16,
        "DicomScpTimeout": 3600,
        "Plugins": ["/usr/share/orthanc/plugins/libModalityWorklists.so"],
        "Worklists": {
            "Enable": True,
            "Database": str(worklists),
            "FilterIssuerAet": False,
            "LimitAnswers": 0,
        },
    }
    path = work / "orthanc.json"
    path.write_text(json.dumps(config))
    return _start(["Orthanc", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _start(command: list[str], **kwargs) -> subprocess.Popen:
    """A server in a process group of its own, so that stopping it stops whatever it
    started too."""
    return subprocess.Popen(command, start_new_session=True, **kwargs)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # anything it left behind


# --- the modalities -------------------------------------------------------------------


# Two answers: the first two slots of the day (08:00 and 08:15).
TWO_SLOTS = "080000-081500"


# The return keys outside the Scheduled Procedure Step Sequence, asked alike by the
# pynetdicom client and findscu.
TOP_LEVEL_KEYS = (
    "AccessionNumber",
    "ReferringPhysicianName",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "RequestedProcedureDescription",
    "RequestedProcedureID",
    "RequestedProcedurePriority",
)


def station_day_query(ae: str, day: date, answers: int = 32):
    """The station-day query; with answers=2, only the day's first two slots."""
    from pydicom.dataset import Dataset

    query = Dataset()
    for keyword in TOP_LEVEL_KEYS:
        setattr(query, keyword, "")
    item = Dataset()
    item.ScheduledStationAETitle = ae
    item.ScheduledProcedureStepStartDate = f"{day:%Y%m%d}"
    item.ScheduledProcedureStepStartTime = TWO_SLOTS if answers == 2 else ""
    item.Modality = ae[:2]
    for keyword in (
        "ScheduledPerformingPhysicianName",
        "ScheduledProcedureStepDescription",
        "ScheduledProcedureStepID",
        "ScheduledStationName",
        "ScheduledProcedureStepLocation",
    ):
        setattr(item, keyword, "")
    query.ScheduledProcedureStepSequence = [item]
    return query


def modality(args):
    """One modality: queries its station's day, a new association each time, until
    the deadline. Returns (latencies of the queries after the first, answers each,
    failures, queries answered in all, the same latencies up to the A-RELEASE-RP)."""
    port, called_ae, ae, day, deadline, timeout, answers_asked, client_kind = args
    if client_kind == "findscu":
        return modality_findscu(port, called_ae, ae, day, deadline, timeout, answers_asked)
    import logging

    from pynetdicom import AE, evt
    from pynetdicom.sop_class import ModalityWorklistInformationFind

    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    query = station_day_query(ae, day, answers_asked)
    latencies, answers, failures, answered, exchanges = [], set(), 0, 0, []
    released = []
    # EVT_RELEASED fires as the A-RELEASE-RP arrives, before pynetdicom's client stops
    # its threads (Association.kill polls them every 10 ms: see bench/README.md).
    on_release = [(evt.EVT_RELEASED, lambda _event: released.append(time.perf_counter()))]
    first = True
    while time.time() < deadline or first:
        client = AE(ae_title=ae)
        client.add_requested_context(ModalityWorklistInformationFind)
        client.acse_timeout = 30
        client.dimse_timeout = client.network_timeout = timeout
        started = time.perf_counter()
        released.clear()
        assoc = client.associate("127.0.0.1", port, ae_title=called_ae, evt_handlers=on_release)
        if not assoc.is_established:
            failures += 1
            first = False
            continue
        count, final = 0, None
        for status, _ in assoc.send_c_find(query, ModalityWorklistInformationFind):
            if status and status.Status in (0xFF00, 0xFF01):
                count += 1
            else:
                final = status.Status if status else None
        assoc.release()
        elapsed = time.perf_counter() - started
        if final != 0x0000:
            failures += 1
        elif not first or time.time() >= deadline:  # else the only query there was
            latencies.append(elapsed)
            if released:
                exchanges.append(released[0] - started)
        answered += final == 0x0000
        answers.add(count)
        first = False
    return latencies, sorted(answers), failures, answered, exchanges


def findscu_command(port, called_ae, ae, day, timeout, answers_asked) -> list[str]:
    """DCMTK findscu with its defaults (Nagle on), the same keys as station_day_query."""
    item = "ScheduledProcedureStepSequence[0]."
    keys = [
        f"{item}ScheduledStationAETitle={ae}",
        f"{item}ScheduledProcedureStepStartDate={day:%Y%m%d}",
        f"{item}ScheduledProcedureStepStartTime={TWO_SLOTS if answers_asked == 2 else ''}",
        f"{item}Modality={ae[:2]}",
    ]
    keys += [
        f"{item}{keyword}"
        for keyword in (
            "ScheduledPerformingPhysicianName",
            "ScheduledProcedureStepDescription",
            "ScheduledProcedureStepID",
            "ScheduledStationName",
            "ScheduledProcedureStepLocation",
        )
    ]
    keys += list(TOP_LEVEL_KEYS)
    command = ["findscu", "-v", "-W", "-aet", ae, "-aec", called_ae, "-to", str(int(timeout))]
    for key in keys:
        command += ["-k", key]
    return [*command, "127.0.0.1", str(port)]


def modality_findscu(port, called_ae, ae, day, deadline, timeout, answers_asked):
    """One modality as DCMTK findscu, a process per query (its start-up, about the same
    for every server, is in the latency)."""
    command = findscu_command(port, called_ae, ae, day, timeout, answers_asked)
    latencies, answers, failures, answered = [], set(), 0, 0
    first = True
    while time.time() < deadline or first:
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout + 30)
        elapsed = time.perf_counter() - started
        output = done.stdout + done.stderr
        ok = done.returncode == 0 and "Received Final Find Response (Success)" in output
        count = output.count("(Pending)")
        if not ok:
            failures += 1
        elif not first or time.time() >= deadline:
            latencies.append(elapsed)
        answered += ok
        answers.add(count)
        first = False
    return latencies, sorted(answers), failures, answered, []


def process_cpu(pid: int) -> float:
    """CPU seconds used so far by a server and every process it started that still
    runs (the listener processes of a dicomserver are its grandchildren)."""
    return tree_cpu(pid)


def measure(
    port,
    called_ae,
    day,
    concurrency,
    seconds,
    timeout,
    server_pid=None,
    answers_asked=32,
    client="pynetdicom",
):
    deadline = time.time() + seconds
    jobs = [
        (
            port,
            called_ae,
            STATIONS[w % len(STATIONS)],
            day,
            deadline,
            timeout,
            answers_asked,
            client,
        )
        for w in range(concurrency)
    ]
    # Imported once here, so the forked modalities do not each pay for it.
    import pynetdicom.sop_class  # noqa: F401

    started = time.monotonic()
    cpu_before = process_cpu(server_pid) if server_pid else None
    clients_before = clients_cpu()
    pool = multiprocessing.get_context("fork").Pool(concurrency)
    try:
        results = pool.map(modality, jobs)
    finally:
        pool.close()
        pool.join()
    wall = time.monotonic() - started
    cpu = process_cpu(server_pid) - cpu_before if server_pid else None
    clients = clients_cpu() - clients_before
    answered = sum(r[3] for r in results)
    latencies = sorted(x for r in results for x in r[0])
    answers = sorted({a for r in results for a in r[1]})
    failures = sum(r[2] for r in results)
    exchanges = [x for r in results for x in r[4]]
    queries = len(latencies)
    return {
        "queries": queries,
        "failures": failures,
        "answers": answers,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else None,
        "p95_ms": 1000 * latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
        if latencies
        else None,
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        if latencies
        else None,
        "exchange_p50_ms": 1000 * statistics.median(exchanges) if exchanges else None,
        "qps": queries / wall if wall else None,
        "server_cpu_ms": 1000 * cpu / answered if cpu is not None and answered else None,
        # The modalities' processes (and the findscu they ran): on a machine they share
        # with the server, what the server cannot have.
        "client_cpu_ms": 1000 * clients / queries if queries else None,
    }


def clients_cpu() -> float:
    """CPU seconds of this process's children that have ended (the modalities)."""
    times = os.times()
    return times.children_user + times.children_system


# --- the run --------------------------------------------------------------------------


def start_floor(size: int, day: date, port: int) -> subprocess.Popen:
    return _start(
        [
            sys.executable,
            str(ROOT / "bench" / "floor_scp.py"),
            "--port",
            str(port),
            "--size",
            str(size),
            "--day",
            day.isoformat(),
        ],
        cwd=ROOT / "bench",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def server_table(
    url: str, work: Path, folder: Path, other_root: Path | None = None, size=0, day=None
) -> dict:
    """key -> (label, called AE, start(port, processes))."""
    return {
        "floor": (
            "floor (bare pynetdicom)",
            "RIS",
            lambda port, _: start_floor(size, day, port),
        ),
        "ris": (
            "RIS (PostgreSQL)",
            "RIS",
            lambda port, processes: start_ris(url, port, processes=processes),
        ),
        "ris-other": (
            f"RIS at {other_root}",
            "RIS",
            lambda port, processes: start_ris(url, port, root=other_root, processes=processes),
        ),
        "wlmscpfs": ("wlmscpfs", "RIS", lambda port, _: start_wlmscpfs(folder.parent, port)),
        "orthanc": (
            "Orthanc worklists",
            "ORTHANC",
            lambda port, _: start_orthanc(work, folder, port),
        ),
    }


EXPLAIN = """
from datetime import date
from django.conf import settings
from django.utils import timezone
from pydicom.dataset import Dataset
from worklist import selectors
from worklist.dicom import query
from worklist.models import Station
q = Dataset()
q.PatientName = ""
item = Dataset()
item.ScheduledStationAETitle = "CT01"
item.ScheduledProcedureStepStartDate = "{day}"
item.Modality = "CT"
q.ScheduledProcedureStepSequence = [item]
where = query.translate(q, tz=timezone.get_default_timezone()).where
steps = selectors.modality_worklist_query(
    match=where, stations=list(Station.objects.filter(scheduled_station_ae_title="CT01"))
)
print(steps.explain(analyze=True))
"""


def explain(url: str, day: date) -> str:
    """PostgreSQL's plan for one station-day query, with its actual timing."""
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", EXPLAIN.format(day=f"{day:%Y%m%d}")],
        cwd=ROOT,
        env=service_env(url),
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result.stdout or result.stderr


ANSWER_PATH = """
import time
from django.utils import timezone
from pydicom.dataset import Dataset
from worklist.dicom import answers, mwl, policy, query
import mwl_bench
granted = policy.resolve("CT01", "127.0.0.1")
request = mwl_bench.station_day_query("CT01", mwl_bench.date.fromisoformat("{day}"))

def answer(keep):
    if not keep:
        answers.ANSWERS.clear()
    worklist_query = query.translate(request, tz=timezone.get_default_timezone())
    rows = mwl._matches(worklist_query, granted, 1000)
    shaped = answers.Request(
        request, tz=worklist_query.tz, character_set=granted.character_set,
        item_filters=worklist_query.item_filters,
    )
    return [answers.ANSWERS.identifier(row, shaped, (True, True, False)) for row in rows]

for keep, label in ((False, "built and encoded afresh"), (True, "answers kept")):
    found = answer(keep)
    started = time.process_time()
    for _ in range({repeat}):
        answer(keep)
    each = (time.process_time() - started) / {repeat} * 1000
    print(f"answer path, {{len(found)}} items, {{label}}: {{each:.2f}} ms CPU per query")
"""


def answer_path(url: str, day: date, repeat: int = 50) -> str:
    """CPU of the RIS's own answer path per station-day query (no network, no audit):
    every item built and encoded, then answered from the memo."""
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            ANSWER_PATH.format(day=day.isoformat(), repeat=repeat),
        ],
        cwd=ROOT,
        env=service_env(url, PYTHONPATH=str(ROOT / "bench")),
        capture_output=True,
        text=True,
        timeout=600,
    )
    return result.stdout or result.stderr


def run(args) -> list[dict]:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("set DATABASE_URL=postgres://.../ris_mwl_bench (a database of its own)")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    recreate_database(url)
    migrate(url)
    results = []
    for size in args.sizes:
        days, day = schedule(size)
        loaded = load_database(url, size, day)
        folder = work / "wlmscpfs" / "RIS"
        file_servers = set(args.servers) & {"wlmscpfs", "orthanc"}
        written = write_files(folder, size) if file_servers else 0
        print(
            f"# {size} steps over {days} days: COPY {loaded:.0f} s, files {written:.0f} s; "
            f"query day {day}",
            flush=True,
        )
        print(explain(url, day), flush=True)
        if "ris" in args.servers:
            print(answer_path(url, day), flush=True)
        servers = server_table(url, work, folder, args.other_root, size=size, day=day)
        for key, processes in runs(args):
            label, called_ae, start = servers[key]
            if key in RIS_SERVERS:
                label += f", {processes} process{'es' if processes > 1 else ''}"
            port = free_port()
            process = start(port, processes)
            try:
                wait_for_port(port, process)
                slow = {}  # (client, answers) -> seconds of a single query, when too slow
                for client, answers_asked, concurrency in plan(args, key):
                    too_slow = slow.get((client, answers_asked))
                    if too_slow is not None and concurrency > 1:
                        row = {"skipped": f"one query takes {too_slow:.1f} s"}
                    else:
                        row = measure(
                            port,
                            called_ae,
                            day,
                            concurrency,
                            args.seconds,
                            args.timeout,
                            server_pid=process.pid,
                            answers_asked=answers_asked,
                            client=client,
                        )
                        if concurrency == 1 and row["p50_ms"] and row["p50_ms"] / 1000 > args.slow:
                            slow[client, answers_asked] = row["p50_ms"] / 1000
                    row.update(
                        server=label,
                        key=key,
                        processes=processes if key in RIS_SERVERS else None,
                        size=size,
                        concurrency=concurrency,
                        client=client,
                        asked=answers_asked,
                    )
                    results.append(row)
                    print(json.dumps(row), flush=True)
            finally:
                stop(process)
    return results


RIS_SERVERS = ("ris", "ris-other")


def runs(args):
    """(server, listener processes) of each server run: the RIS once for each count of
    --processes (RIS_DICOM_PROCESSES), the others once."""
    for key in args.servers:
        for processes in args.processes if key in RIS_SERVERS else [None]:
            yield key, processes


def plan(args, key: str):
    """(client, answers, modalities) of each measurement, lowest concurrency first:
    every client at one modality for each answer count, and the pynetdicom client at
    every concurrency for 32 answers (the file servers are only asked the 32-answer
    query)."""
    answer_counts = args.answers if key in ("ris", "ris-other", "floor") else [32]
    for concurrency in sorted(args.concurrency):
        for client in args.clients:
            for answers_asked in answer_counts:
                if concurrency > 1 and (client != "pynetdicom" or answers_asked != 32):
                    continue
                yield client, answers_asked, concurrency


def floor_of(results: list[dict], r: dict) -> dict | None:
    for f in results:
        if f.get("key") == "floor" and all(
            f.get(k) == r.get(k) for k in ("size", "client", "asked", "concurrency")
        ):
            return f
    return None


def ratio(value, floor_value, inverse=False):
    if not value or not floor_value:
        return "—"
    return f"{(floor_value / value) if inverse else (value / floor_value):.2f}"


def table(results: list[dict]) -> str:
    lines = [
        "| steps | server | client | asked | modalities | p50 | p95 | p99 | queries/s "
        "| server CPU/query | clients' CPU/query | p50 ÷ floor | queries/s ÷ floor | queries "
        "| answers each | p50 to A-RELEASE-RP | its ÷ floor |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- "
        "| --- | --- | --- |",
    ]
    for r in results:
        head = (
            f"| {r['size']:,} | {r['server']} | {r.get('client', 'pynetdicom')} "
            f"| {r.get('asked', 32)} | {r['concurrency']} "
        )
        if "skipped" in r:
            lines.append(f"{head}| — | — | — | — | — | — | — | — | not run: {r['skipped']} | | | |")
            continue
        floor = floor_of(results, r) or {}
        p50 = f"{r['p50_ms']:.1f} ms" if r["p50_ms"] is not None else "—"
        p95 = f"{r['p95_ms']:.1f} ms" if r["p95_ms"] is not None else "—"
        qps = f"{r['qps']:.1f}" if r["qps"] else "—"
        cpu = f"{r['server_cpu_ms']:.1f} ms" if r.get("server_cpu_ms") else "—"
        clients = f"{r['client_cpu_ms']:.1f} ms" if r.get("client_cpu_ms") else "—"
        p99 = f"{r['p99_ms']:.1f} ms" if r.get("p99_ms") is not None else "—"
        failed = f" ({r['failures']} failed)" if r["failures"] else ""
        answers = "/".join(str(a) for a in r["answers"])
        exchange = r.get("exchange_p50_ms")
        exchange_text = f"{exchange:.1f} ms" if exchange is not None else "—"
        lines.append(
            f"{head}| {p50} | {p95} | {p99} | {qps} | {cpu} | {clients} "
            f"| {ratio(r['p50_ms'], floor.get('p50_ms'))} | {ratio(r['qps'], floor.get('qps'))} "
            f"| {r['queries']}{failed} | {answers} | {exchange_text} "
            f"| {ratio(exchange, floor.get('exchange_p50_ms'))} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument(
        "--servers",
        nargs="+",
        default=["ris", "wlmscpfs", "orthanc"],
        choices=["ris", "ris-other", "floor", "wlmscpfs", "orthanc"],
    )
    parser.add_argument(
        "--answers",
        type=int,
        nargs="+",
        default=[32],
        choices=[2, 32],
        help="station-day query (32 answers) and/or its first two slots (2)",
    )
    parser.add_argument(
        "--clients",
        nargs="+",
        default=["pynetdicom"],
        choices=["pynetdicom", "findscu"],
        help="pynetdicom's default client and/or DCMTK findscu (one modality only)",
    )
    parser.add_argument(
        "--other-root",
        type=Path,
        help="another checkout of the RIS (ris-other), e.g. an earlier commit to compare with",
    )
    parser.add_argument(
        "--processes",
        type=int,
        nargs="+",
        default=[1],
        help="RIS listener processes (RIS_DICOM_PROCESSES); the RIS is run for each count",
    )
    parser.add_argument("--seconds", type=float, default=20, help="time budget per measurement")
    parser.add_argument("--timeout", type=float, default=600, help="DIMSE timeout per query")
    parser.add_argument("--slow", type=float, default=5, help="skip higher concurrency above this")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "ris-mwl-bench"))
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    results = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    print(table(results))


if __name__ == "__main__":
    main()
