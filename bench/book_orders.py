"""Booking throughput: N exams booked through POST /api/orders/ by concurrent clients.

Starts the real service (`manage.py runris --no-dicom`, gunicorn) on a fresh database,
creates stations and an API token, then books N orders on free slots from C client
threads, each with its own keep-alive HTTP connection. Prints orders/s and latency
percentiles.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ris_bench \
        .venv/bin/python bench/book_orders.py --orders 2000 --clients 4

The database named in DATABASE_URL is dropped and created anew (PostgreSQL only).
Without DATABASE_URL it runs on the embedded SQLite in a temporary directory.
"""

import argparse
import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
STATIONS = 20
SLOT_MINUTES = 15


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recreate_postgres_database(url: str) -> None:
    import psycopg

    name = urlparse(url).path.lstrip("/")
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def manage(env, *args) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def start_service(env, port, log_path):
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runris", "--no-dicom", "--http-port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except OSError:
            time.sleep(0.3)
    process.terminate()
    raise SystemExit(f"service did not start, see {log_path}")


class Client:
    """One integration: a keep-alive connection and its token."""

    def __init__(self, port, token):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def post(self, path, body) -> tuple[int, float]:
        started = time.perf_counter()
        self.conn.request("POST", path, json.dumps(body), self.headers)
        response = self.conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - started


def order(index: int, day: datetime) -> dict:
    station = index % STATIONS
    start = day + timedelta(minutes=SLOT_MINUTES * (index // STATIONS))
    return {
        "patient": {
            "patient_id": f"BP{index % 5000:06d}",
            "issuer_of_patient_id": "BENCH",
            "patient_name": f"Bench^Patient{index % 5000}",
            "patient_birth_date": "1970-01-01",
            "patient_sex": "O",
        },
        "referring_physician_name": "Smith^John",
        "requested_procedure_description": "CT head",
        "requested_procedure_code_sequence": [
            {"code_value": "CTHEAD", "coding_scheme_designator": "LOCAL", "code_meaning": "CT head"}
        ],
        "scheduled_procedure_steps": [
            {
                "scheduled_station_ae_title": f"BENCH{station:02d}",
                "modality": "CT",
                "scheduled_procedure_step_start_datetime": start.isoformat(),
                "scheduled_procedure_step_duration_minutes": SLOT_MINUTES,
            }
        ],
    }


def run(args) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_")}
    data_dir = tempfile.mkdtemp(prefix="ris-bench-")
    env.update(
        SECRET_KEY=secrets.token_urlsafe(40),
        RIS_AUDIT_KEY=secrets.token_urlsafe(32),
        RIS_DATA_DIR=data_dir,
    )
    env.pop("DEBUG", None)
    database = env.get("DATABASE_URL", "")
    if database.startswith("postgres"):
        recreate_postgres_database(database)
    port = free_port()
    service = start_service(env, port, Path(data_dir) / "service.log")
    try:
        manage(
            env,
            "shell",
            "-c",
            "from django.contrib.auth.models import User; "
            "User.objects.create_superuser('bench', 'bench@example.org', 'bench-pw-1')",
        )
        token = manage(env, "drf_create_token", "bench").split()[2]
        setup = Client(port, token)
        for n in range(STATIONS):
            status, _ = setup.post(
                "/api/stations/", {"scheduled_station_ae_title": f"BENCH{n:02d}", "modality": "CT"}
            )
            assert status == 201, status
        results = book_all(port, token, args.orders, args.clients)
    finally:
        service.terminate()
        service.wait(timeout=30)
    report(results, args, database or "embedded SQLite")


def book_all(port, token, total, clients):
    day = datetime(2030, 1, 7, tzinfo=UTC)
    local = threading.local()
    payloads = [order(i, day) for i in range(total)]

    def book(payload):
        if not hasattr(local, "client"):
            local.client = Client(port, token)
        return local.client.post("/api/orders/", payload)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        outcomes = list(pool.map(book, payloads))
    return outcomes, time.perf_counter() - started


def report(results, args, database) -> None:
    outcomes, elapsed = results
    latencies = sorted(seconds * 1000 for _, seconds in outcomes)
    failed = [status for status, _ in outcomes if status != 201]
    quantiles = statistics.quantiles(latencies, n=100)
    print(f"database:        {database.split('@')[-1]}")
    print(
        f"orders booked:   {len(outcomes) - len(failed)} of {args.orders} "
        f"({len(failed)} failed: {sorted(set(failed))})"
    )
    print(f"clients:         {args.clients}")
    print(f"elapsed:         {elapsed:.2f} s")
    print(f"throughput:      {len(outcomes) / elapsed:.1f} orders/s")
    print(f"latency p50:     {quantiles[49]:.1f} ms")
    print(f"latency p95:     {quantiles[94]:.1f} ms")
    print(f"latency p99:     {quantiles[98]:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
