"""What writing the audit record adds to a request (target: ≤ 2 ms).

Drops and creates the PostgreSQL database named in DATABASE_URL (default
ris_bench_audit), migrates it, preloads a trail (default one million events) so the
indexes have a realistic size, then measures:

  * audit.services.record() alone: one event naming one patient, and a list page
    naming 50 (each in its own transaction: lock, head, event, patient rows, commit);
  * the same with 4 writers at once (the chain lock serialises them);
  * GET /api/patients/{id}/ (a read: its event is written when the response is
    ready) and POST /api/orders/ (a booking: its event is written in the booking's
    transaction) through Django, with the audit as it is and with the audit write
    switched off in this process only, interleaved; the difference of the medians is
    what the audit adds to the request.

    .venv/bin/python bench/audit_write.py
    .venv/bin/python bench/audit_write.py --preload 0 --samples 500
"""

import argparse
import os
import threading
import time

import audit_setup


def timed(function, samples: int) -> list[float]:
    took = []
    for index in range(samples):
        started = time.perf_counter()
        function(index)
        took.append((time.perf_counter() - started) * 1000)
    return took


def record_alone(samples: int) -> list[tuple[str, list[float]]]:
    from audit import context, services
    from audit.codes import Action, Verb

    page = [(f"L{n}", "HOSP") for n in range(50)]
    with context.system("bench audit_write"):
        one = timed(
            lambda i: services.record(Action.PATIENT_RECORD, patients=[(f"W{i}", "HOSP")]),
            samples,
        )
        listed = timed(lambda i: services.record(Action.PATIENT_RECORD, patients=page), samples)
        update = timed(
            lambda i: services.record(
                Action.ORDER_RECORD,
                verb=Verb.UPDATE,
                patients=[(f"W{i}", "HOSP")],
                objects=[("accession_number", f"A{i}"), ("study_instance_uid", f"1.2.3.{i}")],
            ),
            samples,
        )
    return [
        ("record(): 1 patient", one),
        ("record(): list page of 50 patients", listed),
        ("record(): order update, 1 patient + 2 objects", update),
    ]


def record_concurrently(samples: int, writers: int = 4) -> list[float]:
    from django.db import connections

    from audit import context, services
    from audit.codes import Action

    took: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(writers)

    def writer(number):
        mine = []
        with context.system("bench audit_write"):
            barrier.wait()
            for i in range(samples // writers):
                started = time.perf_counter()
                services.record(Action.PATIENT_RECORD, patients=[(f"C{number}-{i}", "HOSP")])
                mine.append((time.perf_counter() - started) * 1000)
        connections.close_all()
        with lock:
            took.extend(mine)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    print(
        f"  {len(took)} events by {writers} writers in {elapsed:.2f} s: {len(took) / elapsed:.0f}/s"
    )
    return took


def _switched_off(services):
    """Leave the audit out of this process's requests (the bench's baseline only)."""
    saved = (services.flush_reads, services.record)
    services.flush_reads = lambda ctx: ctx.pending_reads.clear()
    services.record = lambda *args, **kwargs: None
    return lambda: (
        setattr(services, "flush_reads", saved[0]),
        setattr(services, "record", saved[1]),
    )


def booking_overhead(client, samples: int) -> list[tuple[str, list[float]]]:
    """POST /api/orders/: the booking's own transaction writes its Order Record event."""
    from datetime import UTC, datetime, timedelta

    from audit import services
    from worklist.services.stations import station_create

    station_create(scheduled_station_ae_title="BENCH1", modality="CT")
    first = datetime(2031, 1, 6, tzinfo=UTC)

    def book(number):
        start = first + timedelta(minutes=15 * number)
        payload = {
            "patient": {"patient_id": f"B{number}", "patient_name": f"Bench^P{number}"},
            "scheduled_procedure_steps": [
                {
                    "scheduled_station_ae_title": "BENCH1",
                    "modality": "CT",
                    "scheduled_procedure_step_start_datetime": start.isoformat(),
                }
            ],
        }
        assert client.post("/api/orders/", payload, format="json").status_code == 201

    counter = iter(range(10**6))
    timed(lambda _: book(next(counter)), 20)  # warm up
    audited, bare = [], []
    for _ in range(10):
        audited += timed(lambda _: book(next(counter)), samples // 10)
        restore = _switched_off(services)
        try:
            bare += timed(lambda _: book(next(counter)), samples // 10)
        finally:
            restore()
    return [
        ("POST /api/orders/ with the audit", audited),
        ("POST /api/orders/ audit switched off", bare),
    ]


def request_overhead(samples: int) -> list[tuple[str, list[float]]]:
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from audit import services
    from worklist.models import Patient

    patient = Patient.objects.create(
        patient_id="AV35674", issuer_of_patient_id="HOSP", patient_name="Vivaldi^Antonio"
    )
    user = User.objects.create_superuser("bench", "bench@example.org", "bench-pw-1")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    url = f"/api/patients/{patient.pk}/"

    def get(_):
        assert client.get(url).status_code == 200

    timed(get, 50)  # warm up both paths' code and connections
    audited, bare = [], []
    for _ in range(10):  # interleaved, so drift affects both alike
        audited += timed(get, samples // 10)
        restore = _switched_off(services)
        try:
            bare += timed(get, samples // 10)
        finally:
            restore()
    return [
        ("GET /api/patients/{id}/ with the audit", audited),
        ("GET /api/patients/{id}/ audit switched off", bare),
        *booking_overhead(client, samples),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preload", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    audit_setup.setup_django(os.environ.get("DATABASE_URL", audit_setup.DEFAULT_URL), fresh=True)
    if args.preload:
        print(f"preloading {args.preload:,} events ...", flush=True)
        audit_setup.generate_trail(events=args.preload)

    rows = record_alone(args.samples)
    rows.append(("record(): 1 patient, 4 concurrent writers", record_concurrently(args.samples)))
    requests = request_overhead(args.samples)
    print()
    for label, samples in rows + requests:
        print(audit_setup.line(label, samples))
    print()
    for (label, with_audit), (_, without) in zip(requests[::2], requests[1::2], strict=True):
        added = audit_setup.percentiles(with_audit)["p50"] - audit_setup.percentiles(without)["p50"]
        print(f"audit adds {added:.2f} ms at the median to {label.split(' with')[0]}")


if __name__ == "__main__":
    main()
