"""De-identified export: time and peak memory of building one export of N orders (their
worklist rows and MPPS as CSV and JSON) and M stored images (512×512, 16 bit,
generated), to show that the build streams.

Fills a fresh database (an SQLite file in a temporary RIS_DATA_DIR, or the PostgreSQL
database named by --database-url, dropped and created) with --orders orders of
--patients patients on 4 stations, an MPPS for every second order, and --images stored
CT images in studies of 10 reconciled to the first orders; requests and approves one
export of everything with the Modified Dates and Clean Descriptors options. Then, each
in a fresh process so its peak RSS is its own:

  floor   zips the source image files as they are (same zip settings), no database
  build   export.services.export_build, what the Celery task runs

and prints seconds, rows and images per second, the ZIP's size, the process's RSS once
Django is loaded and its peak RSS (ru_maxrss). --scale-check builds a tenth of the same
export first: a build that streams has the same peak RSS at both sizes.

    .venv/bin/python bench/export_bench.py --orders 10000 --images 1000
    .venv/bin/python bench/export_bench.py --orders 10000 --images 1000 --scale-check
"""

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REFUSED_DATABASES = {"ris", "test_ris", "postgres", "template0", "template1"}


def rss_mib(kib: int) -> float:
    return kib / 1024


def setup_django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ris.settings")
    import django

    django.setup()


# --- filling the database ------------------------------------------------------------


def fill(*, orders: int, patients: int, images: int, seed: int) -> dict:
    """Orders, MPPS and stored images written straight through the ORM (bulk), then one
    export requested and approved through the services. Returns what the build needs."""
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import transaction

    from audit import context
    from export import services, tasks
    from export.deid import Option
    from export.selectors import Cohort
    from tests.dicom.mpps_messages import n_create, n_set_completed, series
    from tests.export.images import Source, ct_image, write
    from worklist.dicom import mpps_iod
    from worklist.models import (
        ArrivalSource,
        Instance,
        Order,
        Patient,
        PerformedProcedureStep,
        RequestedProcedure,
        ScheduledProcedureStep,
        Series,
        Station,
        Study,
        StudyOutcome,
    )

    call_command("migrate", verbosity=0)
    rng = random.Random(seed)
    stations = [
        Station.objects.create(scheduled_station_ae_title=ae, modality=modality)
        for ae, modality in (("CT1", "CT"), ("CT2", "CT"), ("MR1", "MR"), ("US1", "US"))
    ]
    people = Patient.objects.bulk_create(
        [
            Patient(
                patient_id=f"P{n:07d}",
                issuer_of_patient_id="HOSP",
                patient_name=f"Family{n}^Given{n}",
                patient_name_search=f"FAMILY{n}^GIVEN{n}",
                patient_birth_date=date(1940, 1, 1) + timedelta(days=rng.randrange(25000)),
                patient_sex=rng.choice("MF"),
            )
            for n in range(patients)
        ],
        batch_size=2000,
    )
    first_day = datetime(2026, 1, 1, 7, tzinfo=UTC)
    made = Order.objects.bulk_create(
        [
            Order(
                patient=people[n % patients],
                accession_number=f"B{n:09d}",
                referring_physician_name="Smith^John",
                reason_for_the_requested_procedure=f"Pain, patient P{n % patients:07d}",
                status="COMPLETED",
            )
            for n in range(orders)
        ],
        batch_size=2000,
    )
    procedures = RequestedProcedure.objects.bulk_create(
        [
            RequestedProcedure(
                order=order,
                requested_procedure_id=f"RP{n:08d}",
                requested_procedure_description="CT head without contrast",
                requested_procedure_code_sequence=[
                    {
                        "code_value": "CTHEAD",
                        "coding_scheme_designator": "LOCAL",
                        "code_meaning": "CT head",
                    }
                ],
                study_instance_uid=f"1.2.826.0.1.3680043.10.99.{n + 1}",
            )
            for n, order in enumerate(made)
        ],
        batch_size=2000,
    )
    steps = ScheduledProcedureStep.objects.bulk_create(
        [
            ScheduledProcedureStep(
                requested_procedure=procedure,
                station=stations[n % 4],
                scheduled_procedure_step_id=f"S{n:09d}",
                modality=stations[n % 4].modality,
                start=first_day + timedelta(minutes=15 * n),
                end=first_day + timedelta(minutes=15 * n + 15),
                duration_minutes=15,
                scheduled_procedure_step_description="CT head",
                scheduled_procedure_step_status="COMPLETED",
            )
            for n, procedure in enumerate(procedures)
        ],
        batch_size=2000,
    )
    performed = []
    for n, step in enumerate(steps[::2]):
        step.requested_procedure.order.patient = people[(2 * n) % patients]
        attributes = n_create(step, ae_title=step.station.scheduled_station_ae_title)
        attributes.update(n_set_completed(series(images=10)))
        performed.append(
            PerformedProcedureStep(
                sop_instance_uid=f"1.2.826.0.1.3680043.10.98.{n + 1}",
                calling_ae_title="CT1",
                performed_procedure_step_id=f"PPS{n}",
                performed_procedure_step_status="COMPLETED",
                performed_station_ae_title="CT1",
                modality="CT",
                attributes=mpps_iod.to_stored(attributes),
                create_digest="bench",
            )
        )
    performed = PerformedProcedureStep.objects.bulk_create(performed, batch_size=1000)
    through = PerformedProcedureStep.scheduled_procedure_steps.through
    through.objects.bulk_create(
        [
            through(performedprocedurestep_id=p.pk, scheduledprocedurestep_id=s.pk)
            for p, s in zip(performed, steps[::2], strict=True)
        ],
        batch_size=2000,
    )
    data_dir = Path(settings.DATA_DIR)
    image_bytes = 0
    for n in range(images):
        study_index, number = divmod(n, 10)
        order, procedure = made[study_index], procedures[study_index]
        patient = people[study_index % patients]
        if number == 0:
            source = Source(
                patient_id=patient.patient_id,
                issuer="HOSP",
                patient_name=patient.patient_name,
                birth_date=f"{patient.patient_birth_date:%Y%m%d}",
                accession_number=order.accession_number,
                study_instance_uid=procedure.study_instance_uid,
            )
            study = Study.objects.create(
                study_instance_uid=source.study_instance_uid,
                patient_id=patient.patient_id,
                issuer_of_patient_id="HOSP",
                source=ArrivalSource.STORE,
                order=order,
                outcome=StudyOutcome.MATCHED,
            )
            stored_series = Series.objects.create(
                study=study, series_instance_uid=source.series_instance_uid
            )
        image = ct_image(source, instance_number=number + 1, rows=512, columns=512)
        relative = Path("studies") / source.study_instance_uid / f"{image.SOPInstanceUID}.dcm"
        path = write(image, data_dir / relative)
        image_bytes += path.stat().st_size
        Instance.objects.create(
            series=stored_series,
            sop_instance_uid=image.SOPInstanceUID,
            sop_class_uid=image.SOPClassUID,
            instance_number=number + 1,
            source=ArrivalSource.STORE,
            file=str(relative),
            file_size=path.stat().st_size,
        )
    researcher = User.objects.create_user("researcher")
    researcher.groups.add(Group.objects.get(name="researcher"))
    officer = User.objects.create_user("officer")
    officer.groups.add(Group.objects.get(name="compliance officer"))
    with context.system("export bench"):
        project = services.project_create(owner=researcher, name="Bench")
        export = services.export_request(
            requester=researcher,
            project=project,
            purpose="bench",
            cohort=Cohort(),
            include_images=images > 0,
            formats=["csv", "json"],
            options=[Option.RETAIN_LONGITUDINAL_MODIFIED_DATES, Option.CLEAN_DESCRIPTORS],
        )
        tasks.build_export.delay = lambda export_id: None  # built below, in its own process
        with transaction.atomic():
            services.export_decide(export=export, officer=officer, approve=True, comment="bench")
    return {"export": export.pk, "image_bytes": image_bytes, "data_dir": str(data_dir)}


# --- the measured phases, each in a process of its own ---------------------------------


def measure_build(export_id: int) -> dict:
    setup_django()
    from audit import context
    from export import services

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with context.system("export bench"):
        export = services.export_build(export_id=export_id)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "status": export.status,
        "counts": export.counts,
        "zip_bytes": export.file_size,
        "baseline_rss_kib": baseline,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def measure_floor(data_dir: str) -> dict:
    """The source image files zipped as they are: the I/O and compression floor."""
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    files = sorted(Path(data_dir, "studies").rglob("*.dcm"))
    target = Path(data_dir) / "floor.zip"
    started = time.perf_counter()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for path in files:
            archive.write(path, path.name)
    seconds = time.perf_counter() - started
    size = target.stat().st_size
    target.unlink()
    return {
        "seconds": seconds,
        "zip_bytes": size,
        "files": len(files),
        "baseline_rss_kib": baseline,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def child(env: dict, *args: str) -> dict:
    run = subprocess.run(
        [sys.executable, __file__, *args], env=env, capture_output=True, text=True, check=False
    )
    if run.returncode != 0:
        sys.exit(f"{args[0]} failed:\n{run.stderr}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def prepare_database(url: str | None) -> None:
    if not url:
        return
    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if name in REFUSED_DATABASES:
        sys.exit(f"refusing to drop the database {name!r}: name a throwaway one")
    admin = parsed._replace(path="/postgres").geturl()
    import psycopg

    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')


def one_size(args, orders: int, patients: int, images: int) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="ris-export-bench-"))
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "DATABASE_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="ris.settings",
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-only-" + os.urandom(8).hex()),
        RIS_DATA_DIR=str(data_dir),
        RIS_STORE_FILES="1",
        RIS_LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    try:
        prepare_database(args.database_url)
        started = time.perf_counter()
        filled = child(env, "--fill", str(orders), str(patients), str(images), str(args.seed))
        print(
            f"filled in {time.perf_counter() - started:.0f} s: {orders} orders, "
            f"{orders // 2} MPPS, {images} images ({filled['image_bytes'] / 2**20:.0f} MiB)"
        )
        floor = child(env, "--floor", str(data_dir))
        build = child(env, "--build", str(filled["export"]))
        counts = build["counts"]
        rows = counts.get("worklist_rows", 0) + counts.get("performed_steps", 0)
        print(
            f"floor  {floor['seconds']:7.1f} s  zip {floor['zip_bytes'] / 2**20:7.1f} MiB  "
            f"RSS {rss_mib(floor['baseline_rss_kib']):6.1f} → peak "
            f"{rss_mib(floor['peak_rss_kib']):6.1f} MiB  ({floor['files']} files as they are)"
        )
        print(
            f"build  {build['seconds']:7.1f} s  zip {build['zip_bytes'] / 2**20:7.1f} MiB  "
            f"RSS {rss_mib(build['baseline_rss_kib']):6.1f} → peak "
            f"{rss_mib(build['peak_rss_kib']):6.1f} MiB  ({build['status']})"
        )
        print(
            f"       {rows} rows, {counts.get('images', 0)} images "
            f"({counts.get('images_left_out', 0)} left out), {counts.get('patients')} patients; "
            f"{counts.get('images', 0) / build['seconds']:.0f} images/s overall, "
            f"build/floor {build['seconds'] / floor['seconds']:.1f}×"
        )
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"kept {data_dir}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("--fill", "--build", "--floor"):
        phase, *rest = sys.argv[1:]
        if phase == "--fill":
            setup_django()
            result = fill(
                orders=int(rest[0]), patients=int(rest[1]), images=int(rest[2]), seed=int(rest[3])
            )
        elif phase == "--build":
            result = measure_build(int(rest[0]))
        else:
            result = measure_floor(rest[0])
        print(json.dumps(result))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=10000)
    parser.add_argument("--patients", type=int, default=3000)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--database-url", help="a throwaway PostgreSQL database (dropped)")
    parser.add_argument("--scale-check", action="store_true", help="also a tenth of the size")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    args = parser.parse_args()
    print(f"export bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores")
    if args.scale_check:
        print(f"-- a tenth: {args.orders // 10} orders, {args.images // 10} images")
        one_size(args, args.orders // 10, max(args.patients // 10, 1), args.images // 10)
        print(f"-- full: {args.orders} orders, {args.images} images")
    one_size(args, args.orders, args.patients, args.images)


if __name__ == "__main__":
    main()
