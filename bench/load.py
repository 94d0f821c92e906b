"""The whole service under a department's load, in one command, for a bounded time.

Drops and creates the database named in DATABASE_URL (PostgreSQL; `ris`, `test_ris`
refused), migrates it and fills it with `COPY` with the worklist of bench/mwl_bench.py
(40 stations, 32 fifteen-minute slots a day each, three days); writes the same steps as
worklist files (.wl). Then starts the service as the README's "Processes" says, on
PostgreSQL and the Redis of CELERY_BROKER_URL: `manage.py runris` (gunicorn web
workers and the DICOM listener), one `celery -A ris worker` and one `celery -A ris
beat`, and for --seconds runs at once:

- --modalities simulated modalities (default 20), each a station, each in a loop: a
  worklist query for its station's day (new association), an MPPS pair for the first
  step answered (N-CREATE IN PROGRESS, N-SET COMPLETED naming the series), and the
  study of that step stored (C-STORE of --images small images, the series the N-SET
  named), each on its own association as modalities do;
- --schedulers schedulers booking one exam after another through `POST /api/orders/`
  (token authentication, a keep-alive connection each, a station each, consecutive
  slots from tomorrow on).

After the load, the same worklist queries (a station's day that the load left alone)
for --compare-seconds each from the same number of modalities, only queries now: the
RIS, then DCMTK `wlmscpfs` and Orthanc's worklist plugin serving the .wl files.

Prints per operation throughput, p50/p95/p99 latency and errors (any error of the
RIS, including a worklist answer of the wrong size or a record missing from the
database, makes the exit status 1; the peers' failures are shown, not counted), then CPU (average
cores over the phase) and peak memory (RSS) of each process tree: runris, the worker,
beat, the PostgreSQL backends of the bench database, wlmscpfs, Orthanc. At the end it
counts what the database holds (orders, performed steps, instances, studies decided)
against what was answered Success.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ris_load_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/8 \\
        .venv/bin/python bench/load.py --seconds 60
"""

import argparse
import http.client
import json
import multiprocessing
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import mwl_bench  # noqa: E402
from bench.mpps_bench import n_create, n_set_completed  # noqa: E402
from bench.mwl_bench import (  # noqa: E402
    FIRST_DAY,
    SLOTS_PER_DAY,
    STATIONS,
    free_port,
    load_database,
    recreate_database,
    start_orthanc,
    start_wlmscpfs,
    station_day_query,
    stop,
    wait_for_port,
    write_files,
)

DAYS = 3  # day 0 performed, 1 for the comparison, 2 for the load
COMPARE_DAY = FIRST_DAY + timedelta(days=1)
LOAD_DAYS = [FIRST_DAY + timedelta(days=2)]
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
TZ = "Europe/Berlin"


# --- processes ---------------------------------------------------------------------------


def service_env(url: str, broker: str, data: Path) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RIS_", "CELERY_")) and k not in {"DEBUG", "SECRET_KEY"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="ris.settings",
        DATABASE_URL=url,
        CELERY_BROKER_URL=broker,
        SECRET_KEY=secrets.token_urlsafe(40),
        RIS_AUDIT_KEY=secrets.token_urlsafe(32),
        TIME_ZONE=TZ,
        RIS_DATA_DIR=str(data),
        RIS_LOG_LEVEL="WARNING",
        RIS_DICOM_MAX_ASSOCIATIONS="64",
        RIS_RECONCILE_QUIET_SECONDS="2",
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode:
        sys.exit(f"manage.py {args[0]} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def start(name: str, args: list[str], env: dict, work: Path) -> subprocess.Popen:
    log = open(work / f"{name}.log", "wb")  # noqa: SIM115 - open while the process runs
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_healthy(port: int, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"runris exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    sys.exit("runris did not become healthy")


# --- CPU and memory ------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    """The process and its descendants."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def usage(pids: list[int]) -> tuple[float, float]:
    """(CPU seconds, resident MiB) of these processes."""
    cpu = rss = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu += (int(fields[11]) + int(fields[12])) / TICK
        rss += int(fields[21]) * PAGE / 2**20
    return cpu, rss


def database_backends(url: str) -> list[int]:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchall()
    return [pid for (pid,) in rows]


class Meter:
    """Samples each named process tree every half second: CPU used over the phase (per
    process, so exited children are lost: a lower bound) and the peak RSS."""

    def __init__(self, trees: dict):
        self.trees = trees  # name -> callable giving the pids
        self.first: dict[str, dict[int, float]] = {}
        self.last: dict[str, dict[int, float]] = {}
        self.peak: dict[str, float] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def sample(self) -> None:
        for name, pids in self.trees.items():
            current = {}
            total_rss = 0.0
            for pid in pids():
                cpu, rss = usage([pid])
                current[pid] = cpu
                total_rss += rss
            first = self.first.setdefault(name, {})
            for pid, cpu in current.items():
                first.setdefault(pid, cpu)
            self.last.setdefault(name, {}).update(current)
            self.peak[name] = max(self.peak.get(name, 0.0), total_rss)

    def run(self) -> None:
        while not self.done.is_set():
            self.sample()
            self.done.wait(0.5)

    def __enter__(self):
        self.started = time.monotonic()
        self.sample()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()
        self.sample()
        self.wall = time.monotonic() - self.started

    def rows(self) -> list[tuple[str, float, float]]:
        out = []
        for name in self.trees:
            first, last = self.first.get(name, {}), self.last.get(name, {})
            cpu = sum(last[pid] - first.get(pid, 0.0) for pid in last)
            out.append((name, cpu / self.wall, self.peak.get(name, 0.0)))
        return out


# --- the load ------------------------------------------------------------------------


def quiet_pynetdicom() -> None:
    import logging

    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)


def ae_for(title: str, *contexts):
    from pynetdicom import AE

    ae = AE(ae_title=title)
    for context in contexts:
        ae.add_requested_context(*(context if isinstance(context, tuple) else (context,)))
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    return ae


def worklist(title: str, port: int, day: date) -> tuple[float, bool, str, list]:
    from pynetdicom.sop_class import ModalityWorklistInformationFind

    query = station_day_query(title, day)
    query.IssuerOfPatientID = ""
    started = time.perf_counter()
    assoc = ae_for(title, ModalityWorklistInformationFind).associate(
        "127.0.0.1", port, ae_title="RIS"
    )
    if not assoc.is_established:
        return time.perf_counter() - started, False, "association refused", []
    found, final = [], None
    for status, identifier in assoc.send_c_find(query, ModalityWorklistInformationFind):
        if status and status.Status in (0xFF00, 0xFF01):
            found.append(identifier)
        else:
            final = status.Status if status else None
    assoc.release()
    ok = final == 0x0000
    return time.perf_counter() - started, ok, "" if ok else f"status {final}", found


def step_of(answer) -> dict:
    item = answer.ScheduledProcedureStepSequence[0]
    return {
        "study_instance_uid": answer.StudyInstanceUID,
        "accession_number": answer.AccessionNumber,
        "requested_procedure_id": answer.RequestedProcedureID,
        "requested_procedure_description": answer.RequestedProcedureDescription,
        "scheduled_procedure_step_id": item.ScheduledProcedureStepID,
        "scheduled_procedure_step_description": item.ScheduledProcedureStepDescription,
        "patient_name": str(answer.PatientName),
        "patient_id": answer.PatientID,
        "issuer": answer.get("IssuerOfPatientID", "") or "HOSP",
        "patient_birth_date": answer.PatientBirthDate,
        "patient_sex": answer.PatientSex,
    }


def mpps_pair(title: str, port: int, step: dict, series_uid: str, images: int):
    from pydicom.uid import generate_uid
    from pynetdicom.sop_class import ModalityPerformedProcedureStep

    create = n_create(step, title, title[:2])
    update = n_set_completed(images)
    update.PerformedSeriesSequence[0].SeriesInstanceUID = series_uid
    uid = generate_uid()
    started = time.perf_counter()
    assoc = ae_for(title, ModalityPerformedProcedureStep).associate(
        "127.0.0.1", port, ae_title="RIS"
    )
    if not assoc.is_established:
        return time.perf_counter() - started, False, "association refused"
    status, _ = assoc.send_n_create(create, ModalityPerformedProcedureStep, uid)
    note = "" if status and status.Status == 0 else f"N-CREATE {status and status.Status}"
    if not note:
        status, _ = assoc.send_n_set(update, ModalityPerformedProcedureStep, uid)
        note = "" if status and status.Status == 0 else f"N-SET {status and status.Status}"
    assoc.release()
    return time.perf_counter() - started, not note, note


def study(step: dict, series_uid: str, images: int, title: str) -> list:
    from tests.studies.dicom_files import StudySpec, instance

    spec = StudySpec(
        patient_id=step["patient_id"],
        issuer_of_patient_id=step["issuer"],
        patient_name=step["patient_name"],
        patient_birth_date=step["patient_birth_date"],
        patient_sex=step["patient_sex"],
        character_set="ISO_IR 100",
        accession_number=step["accession_number"],
        study_instance_uid=step["study_instance_uid"],
        series=(images,),
        series_uids=[series_uid],
        rows=16,
        columns=16,
        station_name=title,
    )
    return [instance(spec, 0, n) for n in range(1, images + 1)]


def store(title: str, port: int, datasets: list):
    from pydicom.uid import ExplicitVRLittleEndian
    from pynetdicom.sop_class import CTImageStorage

    started = time.perf_counter()
    assoc = ae_for(title, (CTImageStorage, ExplicitVRLittleEndian)).associate(
        "127.0.0.1", port, ae_title="RIS"
    )
    if not assoc.is_established:
        return time.perf_counter() - started, False, "association refused"
    note = ""
    for ds in datasets:
        status = assoc.send_c_store(ds)
        if not status or status.Status != 0:
            note = f"C-STORE {status and status.Status}"
            break
    assoc.release()
    return time.perf_counter() - started, not note, note


def modality(job) -> list:
    """One modality until the deadline: (operation, seconds, ok, note) of each."""
    title, port, deadline, images = job
    quiet_pynetdicom()
    from pydicom.uid import generate_uid

    samples = []
    days = list(LOAD_DAYS)
    while time.time() < deadline:
        seconds, ok, note, found = worklist(title, port, days[0])
        samples.append(("worklist C-FIND", seconds, ok, note))
        if ok and not found and len(days) > 1:
            days.pop(0)  # this day is done: the next one
            continue
        if not ok or not found:
            continue
        step = step_of(found[0])
        series_uid = generate_uid()
        seconds, ok, note = mpps_pair(title, port, step, series_uid, images)
        samples.append(("MPPS N-CREATE + N-SET", seconds, ok, note))
        if not ok:
            continue
        seconds, ok, note = store(title, port, study(step, series_uid, images, title))
        samples.append((f"C-STORE study ({images} images)", seconds, ok, note))
    return samples


def booking(index: int, station: str, slot: int) -> dict:
    start = date.today() + timedelta(days=1 + slot // 96)
    minutes = 15 * (slot % 96)
    return {
        "patient": {
            "patient_id": f"LP{index:02d}{slot:06d}",
            "issuer_of_patient_id": "BENCH",
            "patient_name": f"Load^Patient{slot}",
            "patient_birth_date": "1970-01-01",
            "patient_sex": "O",
        },
        "requested_procedure_description": "CT head",
        "scheduled_procedure_steps": [
            {
                "scheduled_station_ae_title": station,
                "modality": "CT",
                "scheduled_procedure_step_start_datetime": (
                    f"{start.isoformat()}T{minutes // 60:02d}:{minutes % 60:02d}:00+00:00"
                ),
                "scheduled_procedure_step_duration_minutes": 15,
            }
        ],
    }


def scheduler(job) -> list:
    """One scheduler booking on its own station until the deadline."""
    index, port, token, deadline = job
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    samples, slot = [], 0
    while time.time() < deadline:
        body = json.dumps(booking(index, f"BOOK{index:02d}", slot))
        started = time.perf_counter()
        try:
            conn.request("POST", "/api/orders/", body, headers)
            response = conn.getresponse()
            text = response.read()
            ok, note = response.status == 201, f"HTTP {response.status} {text[:120]!r}"
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            ok, note = False, repr(exc)
        samples.append(("API booking", time.perf_counter() - started, ok, "" if ok else note))
        slot += 1
    return samples


def mwl_only(port: int, called: str, count: int, seconds: float) -> list:
    """The comparison: `count` modalities asking only for their day (bench/mwl_bench.py's
    modality: a new association per query), as samples."""
    deadline = time.time() + seconds
    jobs = [(port, called, STATIONS[m], COMPARE_DAY, deadline, 30) for m in range(count)]
    with multiprocessing.get_context("fork").Pool(count) as pool:
        results = pool.map(mwl_bench.modality, jobs)
    samples = []
    for latencies, answers, failures, _ in results:
        wrong = [a for a in answers if a != SLOTS_PER_DAY]
        samples += [("worklist C-FIND", s, True, "") for s in latencies]
        samples += [("worklist C-FIND", 0.0, False, "failed")] * failures
        samples += [("worklist C-FIND", 0.0, False, f"{a} answers") for a in wrong]
    return samples


# --- figures -------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def report(title: str, samples: list, wall: float) -> int:
    print(f"\n{title}")
    print("| operation | done | per s | p50 ms | p95 ms | p99 ms | errors |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    errors = 0
    for kind in dict.fromkeys(s[0] for s in samples):
        ok = [s[1] for s in samples if s[0] == kind and s[2]]
        bad = [s[3] for s in samples if s[0] == kind and not s[2]]
        errors += len(bad)
        if ok:
            print(
                f"| {kind} | {len(ok)} | {len(ok) / wall:.1f} | "
                f"{1000 * statistics.median(ok):.0f} | {1000 * percentile(ok, 0.95):.0f} | "
                f"{1000 * percentile(ok, 0.99):.0f} | {len(bad)} |"
            )
        else:
            print(f"| {kind} | 0 | 0 | - | - | - | {len(bad)} |")
        for note in sorted(set(bad))[:5]:
            print(f"  error: {note}")
    return errors


def report_processes(meter: Meter) -> None:
    print("| process | CPU (cores) | peak RSS MiB |")
    print("| --- | --- | --- |")
    for name, cores, rss in meter.rows():
        print(f"| {name} | {cores:.2f} | {rss:.0f} |")


def counts(url: str) -> dict:
    import psycopg

    queries = {
        "orders booked by the schedulers": "SELECT count(*) FROM worklist_order o "
        "JOIN worklist_patient p ON p.id = o.patient_id WHERE p.issuer_of_patient_id = 'BENCH'",
        "performed steps COMPLETED": "SELECT count(*) FROM worklist_performedprocedurestep "
        "WHERE performed_procedure_step_status = 'COMPLETED'",
        "instances": "SELECT count(*) FROM worklist_instance",
        "studies": "SELECT count(*) FROM worklist_study",
        "studies decided": "SELECT count(DISTINCT study_id) FROM worklist_studydecision",
        "studies MATCHED": "SELECT count(*) FROM worklist_study WHERE outcome = 'MATCHED'",
    }
    with psycopg.connect(url) as conn:
        return {name: conn.execute(sql).fetchone()[0] for name, sql in queries.items()}


# --- the run -------------------------------------------------------------------------


def text_columns_default_empty(url: str) -> None:
    """Text columns added to the worklist tables after mwl_bench's COPY was written
    (e.g. an order's placer order number) get '' as a database default here, as Django
    would fill them, so its COPY still loads."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_name LIKE 'worklist_%%' AND is_nullable = 'NO' "
            "AND column_default IS NULL AND data_type IN ('character varying', 'text')"
        ).fetchall()
        for table, column in rows:
            conn.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET DEFAULT \'\'')


def run(args) -> int:
    import psycopg

    url = os.environ.get("DATABASE_URL", "")
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("set DATABASE_URL=postgres://.../ris_load_bench (a database of its own)")
    if not broker.startswith("redis://"):
        sys.exit("set CELERY_BROKER_URL=redis://... (a Redis database of its own)")
    warnings.filterwarnings("ignore", "Invalid value for VR")  # the .wl templates' fillers
    work = Path(tempfile.mkdtemp(prefix="ris-load-bench-"))
    env = service_env(url, broker, work / "data")
    started = time.monotonic()
    recreate_database(url)
    manage(env, "migrate", "-v0")
    size = len(STATIONS) * SLOTS_PER_DAY * DAYS
    text_columns_default_empty(url)
    load_database(url, size, COMPARE_DAY)
    with psycopg.connect(url, autocommit=True) as conn:  # stations came with their ids
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('worklist_station', 'id'), "
            "(SELECT max(id) FROM worklist_station))"
        )
    folder = work / "wlmscpfs" / "RIS"
    write_files(folder, size)
    manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        "User.objects.create_superuser('bench', 'bench@example.org', 'bench-pw-1')",
    )
    token = manage(env, "drf_create_token", "bench").split()[2]
    print(
        f"# {size} steps ({len(STATIONS)} stations, {DAYS} days) in PostgreSQL and as .wl "
        f"files, ready in {time.monotonic() - started:.0f} s; logs in {work}",
        flush=True,
    )

    http_port, dicom_port = free_port(), free_port()
    env.update(RIS_HTTP_PORT=str(http_port), RIS_DICOM_PORT=str(dicom_port))
    runris = start("runris", [sys.executable, "manage.py", "runris"], env, work)
    python = [sys.executable, "-m", "celery", "-A", "ris"]
    worker = start(
        "worker", [*python, "worker", "--loglevel", "WARNING", "-n", "load@localhost"], env, work
    )
    beat = start(
        "beat", [*python, "beat", "--loglevel", "WARNING", "-s", str(work / "beat")], env, work
    )
    errors = 0
    try:
        wait_healthy(http_port, runris)
        wait_for_port(dicom_port, runris)
        for n in range(args.schedulers):
            conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=30)
            conn.request(
                "POST",
                "/api/stations/",
                json.dumps({"scheduled_station_ae_title": f"BOOK{n:02d}", "modality": "CT"}),
                {"Authorization": f"Token {token}", "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            if response.status != 201:
                sys.exit(f"cannot create a station: {response.status} {response.read()!r}")
        trees = {
            "runris (gunicorn + DICOM listener)": lambda: tree(runris.pid),
            "celery worker": lambda: tree(worker.pid),
            "celery beat": lambda: tree(beat.pid),
            "PostgreSQL backends of the bench database": lambda: database_backends(url),
        }
        deadline = time.time() + args.seconds
        jobs = [
            ("m", (STATIONS[m], dicom_port, deadline, args.images)) for m in range(args.modalities)
        ]
        jobs += [("s", (n, http_port, token, deadline)) for n in range(args.schedulers)]
        with Meter(trees) as meter, multiprocessing.get_context("fork").Pool(len(jobs)) as pool:
            results = pool.map(run_job, jobs)
        samples = [s for r in results for s in r]
        errors += report(
            f"## Mixed load: {args.modalities} modalities, {args.schedulers} schedulers, "
            f"{meter.wall:.0f} s",
            samples,
            meter.wall,
        )
        report_processes(meter)

        time.sleep(5)  # the last studies' quiet period and reconciliation
        held = counts(url)
        print("\n" + ", ".join(f"{name}: {value}" for name, value in held.items()))
        answered = Counter(s[0] for s in samples if s[2])
        stored = sum(v for k, v in answered.items() if k.startswith("C-STORE")) * args.images
        expected = {
            "orders booked by the schedulers": answered.get("API booking", 0),
            "performed steps COMPLETED": answered.get("MPPS N-CREATE + N-SET", 0),
            "instances": stored,
        }
        for name, value in expected.items():
            if held[name] != value:
                print(f"  MISMATCH: {name}: {held[name]} in the database, {value} answered")
                errors += 1

        print(
            f"\n## Worklist queries only: {args.modalities} modalities, "
            f"{args.compare_seconds:.0f} s each"
        )
        peers = [("RIS (runris, PostgreSQL)", "RIS", dicom_port, runris, trees)]
        for label, samples, meter in compare(args, work, folder, peers):
            failed = report(f"### {label}", samples, meter.wall)
            errors += failed if label.startswith("RIS") else 0  # the peers' are theirs
            report_processes(meter)
    finally:
        for process in (beat, worker, runris):
            stop(process)
        for bulky in ("wlmscpfs", "orthanc-storage"):  # the logs stay
            shutil.rmtree(work / bulky, ignore_errors=True)
    print(f"\nerrors: {errors}")
    return 1 if errors else 0


def run_job(job):
    kind, arguments = job
    return modality(arguments) if kind == "m" else scheduler(arguments)


def compare(args, work: Path, folder: Path, ris):
    label, called, port, _, trees = ris[0]
    only_ris = {k: v for k, v in trees.items() if not k.startswith("celery")}
    with Meter(only_ris) as meter:
        samples = mwl_only(port, called, args.modalities, args.compare_seconds)
    yield label, samples, meter
    peers = [
        ("DCMTK wlmscpfs (files)", "RIS", lambda p: start_wlmscpfs(folder.parent, p)),
        ("Orthanc worklist plugin (files)", "ORTHANC", lambda p: start_orthanc(work, folder, p)),
    ]
    for label, called, launch in peers:
        port = free_port()
        process = launch(port)
        try:
            wait_for_port(port, process)
            with Meter({label: lambda process=process: tree(process.pid)}) as meter:
                samples = mwl_only(port, called, args.modalities, args.compare_seconds)
            yield label, samples, meter
        finally:
            stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="mixed load (default 60)")
    parser.add_argument("--compare-seconds", type=float, default=15)
    parser.add_argument("--modalities", type=int, default=20)
    parser.add_argument("--schedulers", type=int, default=2)
    parser.add_argument("--images", type=int, default=3, help="images per stored study")
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
