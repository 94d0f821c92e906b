"""The compliance officer's audit pages over ten million events (target: each page
≤ 300 ms at p50, issue 13).

Drops and creates the PostgreSQL database named in DATABASE_URL (default
ris_auditui), migrates it and fills the trail with N events (default 10 million) by
INSERT ... SELECT over generate_series (bench/audit_setup.py: a year of events by 500
users and 40 modalities over 200,000 patients, every 20th event a list page naming 20
patients). Then it adds

  * a patient (HEAVY^^^HOSP) named by 10,000 events spread over the year,
  * a user who opened 30 distinct patients within 20 minutes yesterday, a burst the
    unusual-access page must find,

rolls the closed hours' opened records up as the periodic task audit.roll_up_openings
does (audit.rollup; the first time the whole trail), and requests, as a logged-in
compliance officer through Django's test client (the
whole request: session, permission, form, queries, template, and the Audit Log Used
event each page writes), every audit page: the search by patient (first and a deep
page), by user, the newest events with no filter, the heavy patient's access report
(first page and a deep page), and unusual access (the default period, the last 7
days, and the next page of each list). The first row, the search form with nothing
searched (session, permission, template, no query of the trail), is the floor: what
any page costs on the machine as loaded during the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ris_auditui \\
        .venv/bin/python bench/audit_pages.py
    .venv/bin/python bench/audit_pages.py --events 1000000 --samples 20
    .venv/bin/python bench/audit_pages.py --reuse       # keep the generated trail
"""

import argparse
import os
import random
import re
import time
from datetime import timedelta

import audit_setup

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/ris_auditui"
HEAVY = "HEAVY"
HEAVY_EVENTS = 10_000
BURST_USER = "burst-user"

HEAVY_SQL = """
INSERT INTO audit_eventpatient (event_id, patient_id, issuer_of_patient_id, event_date_time)
SELECT e.seq, %(patient)s, 'HOSP', e.event_date_time
FROM audit_event e
WHERE e.seq %% %(every)s = 7 AND e.seq %% 20 <> 0 AND e.username <> ''
ORDER BY e.seq
LIMIT %(count)s
"""

BURST_EVENTS_SQL = """
INSERT INTO audit_event (seq, event_date_time, action, event_action_code,
    event_outcome_indicator, event_type_code, username, user_pk, role, ae_title,
    source_ip, source_port, channel, correlation_id, detail, participant_objects,
    prev_hash, hash, key_id)
SELECT h.seq + k, now() - interval '1 day' + k * interval '40 seconds', '110110', 'R', 0, '',
    %(user)s, 99999, 'scheduler', '', '10.9.9.9', NULL, 'web', md5(k::text),
    'GET /patients/', '[]'::jsonb, md5(k::text) || md5(k::text), md5(k::text) || md5(k::text), ''
FROM (SELECT max(seq) AS seq FROM audit_event) h CROSS JOIN generate_series(1, 30) AS k
"""

BURST_PATIENTS_SQL = """
INSERT INTO audit_eventpatient (event_id, patient_id, issuer_of_patient_id, event_date_time)
SELECT seq, 'BURST' || seq, 'HOSP', event_date_time FROM audit_event WHERE username = %(user)s
"""


INDEXES_SQL = """
SELECT indexname, indexdef FROM pg_indexes
WHERE tablename IN ('audit_event', 'audit_eventpatient') AND indexname NOT LIKE '%%_pkey'
"""


def load(events: int, patients: int) -> None:
    """The trail, made with the secondary indexes dropped and built again after (a
    bulk load's usual order: several times faster than maintaining them row by row)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(INDEXES_SQL)
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    print(f"generating {events:,} events ...", flush=True)
    seconds = audit_setup.generate_trail(events=events, patients=patients)
    print(f"generated in {seconds:.0f} s", flush=True)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for _name, definition in indexes:
            cursor.execute(definition)
    print(f"{len(indexes)} indexes built in {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    every = max(1, events // HEAVY_EVENTS)
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(HEAVY_SQL, {"patient": HEAVY, "every": every, "count": HEAVY_EVENTS})
        cursor.execute(BURST_EVENTS_SQL, {"user": BURST_USER})
        cursor.execute(BURST_PATIENTS_SQL, {"user": BURST_USER})
        cursor.execute("SET session_replication_role = DEFAULT")
        # VACUUM as autovacuum would after the inserts: the visibility map lets the
        # covering indexes (audit.0008) answer without reading the tables
        cursor.execute("VACUUM ANALYZE audit_event")
        cursor.execute("VACUUM ANALYZE audit_eventpatient")
    print(f"heavy patient and burst added in {time.perf_counter() - started:.0f} s", flush=True)


def officer_client():
    from django.contrib.auth.models import Permission, User
    from django.test import Client

    user, _ = User.objects.get_or_create(username="bench-officer")
    user.user_permissions.add(Permission.objects.get(codename="view_event"))
    client = Client()
    client.force_login(user)
    return client


def timed(client, url_of, samples: int) -> tuple[list[float], int]:
    """Milliseconds per request, after one warm-up request; and the page's size."""
    size = len(get(client, url_of(0)))
    took = []
    for index in range(samples):
        url = url_of(index)
        started = time.perf_counter()
        get(client, url)
        took.append((time.perf_counter() - started) * 1000)
    return took, size


def get(client, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content


def next_link(client, url: str, name: str) -> str:
    """The href of the page's pager link `name` (Older, or a list's More)."""
    html = get(client, url).decode()
    found = re.search(rf'<a[^>]*href="([^"]+)"[^>]*>\s*{name}', html)
    assert found, f"no {name} link on {url}"
    href = found.group(1).replace("&amp;", "&")
    return url.split("?")[0] + href if href.startswith("?") else href


def deep(client, url: str, name: str, pages: int) -> str:
    """The URL of the page reached by following `name` `pages` times."""
    for _ in range(pages):
        url = next_link(client, url, name)
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--patients", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--reuse", action="store_true", help="keep the database as it is")
    parser.add_argument("--load-only", action="store_true", help="make the trail, time nothing")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    audit_setup.setup_django(url, fresh=not args.reuse)
    if not args.reuse:
        load(args.events, args.patients)
    if not args.load_only:
        run(args)


def run(args) -> None:
    from django.db import connection
    from django.utils import timezone

    from audit import rollup
    from audit.models import Event, EventPatient

    print(f"events: {Event.objects.count():,}   patient rows: {EventPatient.objects.count():,}")
    # what the periodic task audit.roll_up_openings keeps: the closed hours' opened
    # records (the first time, the whole trail) for the unusual-access review
    started = time.perf_counter()
    rows = rollup.roll_up_openings()
    print(f"opened records rolled up: {rows:,} rows in {time.perf_counter() - started:.1f} s")
    # as autovacuum would after the inserts (an insert-only table is vacuumed too): the
    # visibility map lets the roll-up's covering indexes answer without its tables
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE audit_openedhour")
        cursor.execute("VACUUM ANALYZE audit_openeduserhour")
    heavy_events = EventPatient.objects.filter(patient_id=HEAVY).count()
    print(f"events of {HEAVY}: {heavy_events:,}", flush=True)
    rng = random.Random(42)
    patients = [f"P{rng.randrange(args.patients)}" for _ in range(args.samples)]
    client = officer_client()
    week = (timezone.localdate() - timedelta(days=7)).isoformat()
    report = f"/audit/report/?patient_id={HEAVY}&issuer=HOSP&since=&until="
    unusual_week = f"/audit/unusual/?since={week}&until="
    heavy = f"/audit/?patient_id={HEAVY}"
    newest = "/audit/?patient_id="
    pages = [
        ("floor: the search form, nothing searched", fixed("/audit/")),
        ("search by patient, first page", lambda i: f"/audit/?patient_id={patients[i]}"),
        ("search by patient (10,000 events), page 1", fixed(heavy)),
        ("search by patient (10,000 events), page 40", fixed(deep(client, heavy, "Older", 39))),
        ("search, no filter (newest events)", fixed(newest)),
        ("search, no filter, page 100", fixed(deep(client, newest, "Older", 99))),
        ("search by user", lambda i: f"/audit/?user=user{10 * i + 1}"),
        ("access report (10,000 events), page 1", fixed(report)),
        ("access report (10,000 events), page 40", fixed(deep(client, report, "Older", 39))),
        ("unusual access, default period (24 h)", fixed("/audit/unusual/")),
        ("unusual access, last 7 days", fixed(unusual_week)),
        (
            "unusual access, 7 days, next off-hours page",
            fixed(next_link(client, unusual_week, "More accesses outside")),
        ),
        (
            "unusual access, 7 days, next unrelated page",
            fixed(next_link(client, unusual_week, "More accesses without")),
        ),
    ]
    rows = []
    for label, url_of in pages:
        samples, size = timed(client, url_of, args.samples)
        rows.append((label, samples, size))
        print(audit_setup.line(label, samples) + f"  {size // 1024} KiB", flush=True)
    print()
    print("| page | p50 | p95 | max | HTML |")
    print("| --- | --- | --- | --- | --- |")
    for label, samples, size in rows:
        p = audit_setup.percentiles(samples)
        print(
            f"| {label} | {p['p50']:.1f} ms | {p['p95']:.1f} ms | {p['max']:.1f} ms "
            f"| {size // 1024} KiB |"
        )


def fixed(url: str):
    return lambda _index: url


if __name__ == "__main__":
    main()
