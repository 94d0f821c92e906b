"""Shared by the access-audit benchmarks: a PostgreSQL database of their own, Django
set up on it, and a fast generator of a large audit trail.

Not a benchmark itself. The database named in DATABASE_URL is dropped and created
anew; nothing else is touched.
"""

import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/ris_bench_audit"


def recreate_database(url: str) -> None:
    import psycopg

    name = urlparse(url).path.lstrip("/")
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str, *, fresh: bool) -> None:
    """Point Django at the bench database (made anew when `fresh`) and migrate it."""
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("The audit benchmarks run on PostgreSQL: set DATABASE_URL=postgres://...")
    if fresh:
        recreate_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ris.settings")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("RIS_AUDIT_KEY", secrets.token_urlsafe(32))
    os.environ.setdefault("RIS_DATA_DIR", tempfile.mkdtemp(prefix="ris-bench-audit-"))
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1")
    os.environ.setdefault("RIS_LOG_LEVEL", "WARNING")
    (Path(os.environ["RIS_DATA_DIR"]) / "static").mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# The generated trail: a year of events, one per row of generate_series, by 500 users
# and 40 modalities, about 200,000 patients; every 20th event is a list page that
# names 20 patients, the others one. The hashes are placeholders (the chain is not
# verifiable): this measures reads and index maintenance, not verification.
EVENTS_SQL = """
INSERT INTO audit_event (seq, event_date_time, action, event_action_code,
    event_outcome_indicator, event_type_code, username, user_pk, role, ae_title,
    source_ip, source_port, channel, correlation_id, detail, participant_objects,
    prev_hash, hash, key_id)
SELECT %(offset)s + g,
    now() - interval '365 days' + (g::float8 / %(events)s) * interval '365 days',
    (ARRAY['110110','110109','110111','110112','110114'])[1 + g %% 5],
    (ARRAY['R','R','R','C','U'])[1 + (g / 5) %% 5],
    CASE WHEN g %% 97 = 0 THEN 4 ELSE 0 END,
    '',
    CASE WHEN g %% 10 = 0 THEN '' ELSE 'user' || (g %% 500) END,
    CASE WHEN g %% 10 = 0 THEN NULL ELSE g %% 500 END,
    CASE WHEN g %% 10 = 0 THEN 'modality' ELSE 'scheduler' END,
    CASE WHEN g %% 10 = 0 THEN 'CT' || (g %% 40) ELSE '' END,
    ('10.' || (g %% 200) || '.' || ((g / 200) %% 250) || '.' || (g %% 250))::inet,
    NULL,
    CASE WHEN g %% 10 = 0 THEN 'dicom' ELSE 'web' END,
    md5(g::text),
    'GET /patients/',
    ('[["accession_number", "A' || g || '"]]')::jsonb,
    md5((g - 1)::text) || md5((g - 1)::text),
    md5(g::text) || md5(g::text),
    ''
FROM generate_series(%(first)s, %(last)s) AS g
"""

PATIENTS_SQL = """
INSERT INTO audit_eventpatient (event_id, patient_id, issuer_of_patient_id, event_date_time)
SELECT e.seq, 'P' || ((e.seq * 7919 + k * 104729) %% %(patients)s), 'HOSP', e.event_date_time
FROM audit_event e
CROSS JOIN LATERAL generate_series(0, CASE WHEN e.seq %% 20 = 0 THEN 19 ELSE 0 END) AS k
WHERE e.seq BETWEEN %(offset)s + %(first)s AND %(offset)s + %(last)s
"""

BATCH = 1_000_000


def generate_trail(*, events: int, patients: int = 200_000) -> float:
    """Fill the trail with `events` events in batches of a million; returns seconds.
    Foreign-key triggers are skipped for the load (session_replication_role) inside
    this bench only; the append-only triggers do not fire on INSERT."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(seq), 0) FROM audit_event")
        offset = cursor.fetchone()[0]  # after what migrating recorded
        cursor.execute("SET session_replication_role = replica")
        for first in range(1, events + 1, BATCH):
            last = min(first + BATCH - 1, events)
            params = {
                "events": events,
                "first": first,
                "last": last,
                "patients": patients,
                "offset": offset,
            }
            cursor.execute(EVENTS_SQL, params)
            cursor.execute(PATIENTS_SQL, params)
            print(f"  generated events up to {last:,}", flush=True)
        cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute("ANALYZE audit_event")
        cursor.execute("ANALYZE audit_eventpatient")
    return time.perf_counter() - started


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    import statistics

    ordered = sorted(samples_ms)
    cut = statistics.quantiles(ordered, n=100) if len(ordered) > 1 else ordered * 99
    return {"p50": cut[49], "p95": cut[94], "p99": cut[98], "max": ordered[-1]}


def line(label: str, samples_ms: list[float]) -> str:
    p = percentiles(samples_ms)
    return (
        f"{label:<44} n={len(samples_ms):<5} p50 {p['p50']:7.2f} ms  p95 {p['p95']:7.2f} ms  "
        f"p99 {p['p99']:7.2f} ms  max {p['max']:7.2f} ms"
    )
