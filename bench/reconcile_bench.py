"""Reconciliation latency: a burst of studies, time from each study's last instance to
its recorded outcome, on PostgreSQL, Redis and a real Celery worker.

Drops and creates the database named by --database-url (default
postgres://postgres@127.0.0.1:5432/ris_bench_reconcile), migrates it, starts the
DICOM listener (`manage.py dicomserver`), a Celery worker (`celery -A ris worker`,
concurrency 2) and beat (the sweeper) on the broker in CELERY_BROKER_URL, all with
RIS_RECONCILE_QUIET_SECONDS=--quiet. Then 4 storescu senders send --studies studies
(--instances small CT images each, every study its own patient and accession number;
every other study has a booked order with that accession number, so half are MATCHED
and half UNSCHEDULED) at once, and the bench waits until every study has an outcome.

Prints p50, p95 and the maximum of (decided_at − last_received_at) over the studies,
both taken from the database's clock, against the target p95 ≤ quiet period + 2 s.

    CELERY_BROKER_URL=redis://127.0.0.1:6379/6 .venv/bin/python bench/reconcile_bench.py
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.mpps_bench import drop_database, manage, recreate_database, service_env  # noqa: E402
from bench.store_bench import free_port, wait_for_port  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/ris_bench_reconcile"

BOOK = """
from datetime import datetime, timezone
from worklist.services.booking import StepBooking, order_create
from worklist.services.stations import station_create
station_create(scheduled_station_ae_title="CT1", modality="CT")
for n in range({count}):
    if n % 2:
        continue
    order_create(
        patient={{"patient_id": f"P{{n:05d}}", "patient_name": f"Burst^Patient{{n}}"}},
        steps=[StepBooking(scheduled_station_ae_title="CT1",
                           start=datetime(2026, 1, 1, 8, 0, tzinfo=timezone.utc)
                           .replace(minute=0) + __import__("datetime").timedelta(minutes=15 * n),
                           duration_minutes=15, modality="CT")],
        accession_number=f"R{{n:05d}}",
    )
"""


def write_studies(directory: Path, studies: int, instances: int) -> list[list[Path]]:
    from tests.studies.dicom_files import StudySpec, write_study

    batches: list[list[Path]] = [[] for _ in range(4)]
    for n in range(studies):
        spec = StudySpec(
            patient_id=f"P{n:05d}",
            patient_name=f"Burst^Patient{n}",
            issuer_of_patient_id="",
            accession_number=f"R{n:05d}",
            series=(instances,),
            rows=32,
            columns=32,
        )
        batches[n % 4] += write_study(spec, directory / f"study{n}")
    return batches


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--studies", type=int, default=100)
    parser.add_argument("--instances", type=int, default=5)
    parser.add_argument("--quiet", type=int, default=5, help="RIS_RECONCILE_QUIET_SECONDS")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not broker.startswith("redis://"):
        sys.exit("set CELERY_BROKER_URL=redis://... (a Redis database of your own)")
    url = args.database_url
    work = Path(tempfile.mkdtemp(prefix="ris-reconcile-bench-"))
    processes = []
    try:
        recreate_database(url)
        env = service_env(
            url,
            work,
            CELERY_BROKER_URL=broker,
            RIS_DICOM_STRICT_AE="0",
            RIS_RECONCILE_QUIET_SECONDS=str(args.quiet),
            RIS_RECONCILE_SWEEP_SECONDS="60",
        )
        manage(env, "migrate", "-v0")
        manage(env, "shell", "-c", BOOK.format(count=args.studies))
        batches = write_studies(work / "files", args.studies, args.instances)
        port = free_port()
        for name, command in (
            ("dicomserver", [sys.executable, "manage.py", "dicomserver", "--port", str(port)]),
            (
                "worker",
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "ris",
                    "worker",
                    "--concurrency",
                    "2",
                    "--without-mingle",
                    "--without-gossip",
                    "--loglevel",
                    "WARNING",
                    "-n",
                    f"bench-{os.getpid()}@localhost",
                ],
            ),
            (
                "beat",
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "ris",
                    "beat",
                    "--loglevel",
                    "WARNING",
                    "--schedule",
                    str(work / "beat-schedule"),
                ],
            ),
        ):
            log = open(work / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
            processes.append(
                (
                    subprocess.Popen(
                        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
                    ),
                    log,
                )
            )
        wait_for_port(port, processes[0][0])
        time.sleep(3)  # the worker connects to the broker
        started = time.monotonic()
        senders = [
            subprocess.Popen(
                [
                    "storescu",
                    "-aet",
                    f"CT{n + 1}",
                    "-aec",
                    "RIS",
                    "127.0.0.1",
                    str(port),
                    *map(str, paths),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for n, paths in enumerate(batches)
            if paths
        ]
        for sender in senders:
            _, err = sender.communicate(timeout=1800)
            if sender.returncode != 0:
                sys.exit(f"a sender failed: {err.decode(errors='replace')[-500:]}")
        sent = time.monotonic() - started
        import psycopg

        deadline = time.monotonic() + args.quiet + 300
        with psycopg.connect(url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                left = conn.execute(
                    "SELECT count(*) FROM worklist_study WHERE outcome = ''"
                ).fetchone()[0]
                if left == 0:
                    break
                time.sleep(0.5)
            rows = conn.execute(
                "SELECT extract(epoch FROM d.decided_at - s.last_received_at), d.outcome"
                " FROM worklist_study s JOIN worklist_studydecision d ON d.id = s.decision_id"
            ).fetchall()
            decisions = conn.execute("SELECT count(*) FROM worklist_studydecision").fetchone()[0]
        lags = [float(lag) for lag, _ in rows]
        outcomes = {}
        for _, outcome in rows:
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        print(
            f"{args.studies} studies x {args.instances} instances from 4 storescu in "
            f"{sent:.1f} s; quiet period {args.quiet} s; {len(rows)} decided "
            f"({decisions} decisions), outcomes {outcomes}"
        )
        if len(rows) != args.studies:
            sys.exit(f"only {len(rows)} of {args.studies} studies were decided")
        p95 = percentile(lags, 0.95)
        print(
            f"last instance -> outcome: p50 {statistics.median(lags):.2f} s, p95 {p95:.2f} s, "
            f"max {max(lags):.2f} s; target p95 <= {args.quiet + 2} s "
            f"{'met' if p95 <= args.quiet + 2 else 'NOT met'}"
        )
    finally:
        for process, log in processes:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()
        if not args.keep_db:
            drop_database(url)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
