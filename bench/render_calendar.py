"""Calendar rendering: server-side time of the busiest calendar pages.

Builds a throwaway test database (SQLite in memory, or `test_<name>` on the
PostgreSQL server of DATABASE_URL), books through the booking service

  * a full department on one day: 500 steps over 10 rooms (50 each, 07:00-17:00), and
  * one busy room on the next day: 60 steps of 12 minutes on CT1 (06:00-18:00),

then requests, as a logged-in scheduler through Django's test client, the day view
of CT1 and the all-rooms day view, and prints the best run (the least disturbed by
other load on the machine), the median, p95 and SQL queries of each. The time covers
the whole request: middleware, session, permission checks, the access audit's record
of the patients shown, queries, layout and template.

    .venv/bin/python bench/render_calendar.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ris .venv/bin/python bench/render_calendar.py
"""

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time as clock
from datetime import datetime, time, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ris.settings")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault("RIS_AUDIT_KEY", secrets.token_urlsafe(32))
os.environ.setdefault("RIS_DATA_DIR", tempfile.mkdtemp(prefix="ris-bench-"))
os.environ.setdefault("RIS_LOG_LEVEL", "WARNING")
(Path(os.environ["RIS_DATA_DIR"]) / "static").mkdir(parents=True, exist_ok=True)

ROOMS = [f"{modality}{n}" for modality in ("CT", "MR", "US", "CR", "MG") for n in (1, 2)]


def book(ae_title, start, minutes, number) -> None:
    from worklist.services.booking import StepBooking, order_create

    order_create(
        patient={"patient_id": f"B{number:05d}", "patient_name": f"Bench^Patient{number}"},
        steps=[
            StepBooking(
                scheduled_station_ae_title=ae_title,
                start=start,
                duration_minutes=minutes,
                details={"scheduled_procedure_step_description": "Bench exam"},
            )
        ],
    )


def book_days(department_day, busy_day, tz) -> None:
    """department_day: 50 steps of 12 minutes in each of the 10 rooms (500);
    busy_day: 60 steps of 12 minutes on CT1 alone."""
    from worklist.services.stations import station_create

    for ae_title in ROOMS:
        station_create(
            scheduled_station_ae_title=ae_title,
            modality=ae_title[:2],
            scheduled_station_name=ae_title,
        )
    number = 0
    start = datetime.combine(department_day, time(7), tzinfo=tz)
    for ae_title in ROOMS:
        for index in range(50):
            number += 1
            book(ae_title, start + timedelta(minutes=12 * index), 12, number)
    start = datetime.combine(busy_day, time(6), tzinfo=tz)
    for index in range(60):
        number += 1
        book("CT1", start + timedelta(minutes=12 * index), 12, number)


def measure(client, url, runs, connection):
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # warm: template loading, first-use caches
    times = []
    for _ in range(runs):
        started = clock.perf_counter()
        response = client.get(url)
        times.append((clock.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    times.sort()
    return {
        "best": times[0],
        "median": statistics.median(times),
        "p95": times[int(0.95 * (len(times) - 1))],
        "queries": len(queries),
        "bytes": len(response.content),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.utils import timezone

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        tz = timezone.get_default_timezone()
        department_day = timezone.localdate() + timedelta(days=3)
        busy_day = department_day + timedelta(days=1)
        book_days(department_day, busy_day, tz)
        user = User.objects.create_user("bench-scheduler")
        user.groups.add(Group.objects.get(name="scheduler"))
        client = Client()
        client.force_login(user)
        print(f"database: {connection.vendor}, python {sys.version.split()[0]}, {args.runs} runs")
        for label, url in (
            ("room day view, 60 steps", f"/calendar/?station=CT1&day={busy_day}"),
            ("all-rooms day view, 500 steps", f"/calendar/?day={department_day}"),
        ):
            result = measure(client, url, args.runs, connection)
            print(
                f"{label:30} best {result['best']:6.1f} ms  median {result['median']:6.1f} ms  "
                f"p95 {result['p95']:6.1f} ms  "
                f"{result['queries']} queries  {result['bytes'] / 1024:.0f} KiB"
            )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
