"""Per-patient search over ten million audit events (target: ≤ 200 ms).

Drops and creates the PostgreSQL database named in DATABASE_URL (default
ris_bench_audit_10m), migrates it, fills the trail with N events (default 10 million, by
INSERT ... SELECT generate_series: a few minutes), then times, for random patients:

  * the search page's query (audit.selectors.event_page, newest 50 events),
  * GET /api/audit/events/?patient_id=... end to end through Django (auth, query,
    serialisation, and the Audit Log Used event the request itself writes),
  * the per-patient access report (grouped by actor, all accesses listed),

and, for comparison, a search by user and by action without a patient.

    .venv/bin/python bench/audit_search.py
    .venv/bin/python bench/audit_search.py --events 1000000 --samples 100
    .venv/bin/python bench/audit_search.py --reuse      # keep the generated trail
"""

import argparse
import os
import random
import time

import audit_setup


def timed(function, samples: int) -> list[float]:
    took = []
    for index in range(samples):
        started = time.perf_counter()
        function(index)
        took.append((time.perf_counter() - started) * 1000)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--patients", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--reuse", action="store_true", help="keep the database as it is")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", audit_setup.DEFAULT_URL + "_10m")
    audit_setup.setup_django(url, fresh=not args.reuse)

    from audit.models import Event, EventPatient

    if not args.reuse:
        print(f"generating {args.events:,} events ...", flush=True)
        seconds = audit_setup.generate_trail(events=args.events, patients=args.patients)
        print(f"generated in {seconds:.0f} s", flush=True)
    print(f"events: {Event.objects.count():,}   patient rows: {EventPatient.objects.count():,}")
    run(args)


def api_client():
    from django.contrib.auth.models import Permission, User
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    user, _ = User.objects.get_or_create(username="bench-officer")
    user.user_permissions.add(Permission.objects.get(codename="view_event"))
    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def run(args) -> None:
    from audit import context, selectors

    rng = random.Random(42)
    patients = [f"P{rng.randrange(args.patients)}" for _ in range(args.samples)]
    client = api_client()

    def page(index):
        found = selectors.event_page(
            selectors.EventSearch(patient_id=patients[index], issuer="HOSP")
        )
        assert found.events

    def page_any_issuer(index):
        selectors.event_page(selectors.EventSearch(patient_id=patients[index]))

    def api(index):
        response = client.get("/api/audit/events/", {"patient_id": patients[index]})
        assert response.status_code == 200 and response.json()["results"]

    def report(index):
        found = selectors.patient_report(patient_id=patients[index], issuer="HOSP")
        assert found.actors

    def by_user(index):
        selectors.event_page(selectors.EventSearch(user=f"user{index % 500}"))

    def by_action_failures(index):
        selectors.event_page(selectors.EventSearch(action="110112", outcome=4))

    with context.system("bench audit_search"):
        rows = [
            ("search page, by patient (50 newest)", timed(page, args.samples)),
            ("search page, by patient, any issuer", timed(page_any_issuer, args.samples)),
            ("GET /api/audit/events/?patient_id=", timed(api, args.samples)),
            ("access report (grouped by actor)", timed(report, args.samples)),
            ("search page, by user", timed(by_user, args.samples)),
            ("search page, by action + failures", timed(by_action_failures, args.samples)),
        ]
    print()
    for label, samples in rows:
        print(audit_setup.line(label, samples))


if __name__ == "__main__":
    main()
