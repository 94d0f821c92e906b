"""`python manage.py audit verify|checkpoint|expire|forward|export`: the audit trail's
upkeep.

verify      walk the keyed chain against the checkpoint file, report the first broken
            link (exit status 1 if any)
checkpoint  sign the chain's head into the checkpoint file (and syslog) now
expire      drop whole months older than AUDIT_RETENTION_MONTHS (or --months)
forward  send pending events to the syslog audit repository now
export   write events as DICOM audit messages (PS3.15 A.5 XML) to stdout or --output

Each run is itself recorded in the trail.
"""

import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from audit import checkpoints, context, retention, selectors, services, syslog
from audit.codes import Action, Verb


class Command(BaseCommand):
    help = "Verify, expire, forward or export the access audit trail."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True)
        sub.add_parser("verify", help="Walk the hash chain and report the first broken link.")
        sub.add_parser("checkpoint", help="Sign the chain's head into the checkpoint file now.")
        expire = sub.add_parser("expire", help="Drop whole months past the retention period.")
        expire.add_argument("--months", type=int, help="Retention in months (default: setting).")
        sub.add_parser("forward", help="Send pending events to the syslog audit repository.")
        export = sub.add_parser("export", help="Write events as DICOM audit messages (XML).")
        export.add_argument("--patient-id", default="")
        export.add_argument("--issuer", default=None)
        export.add_argument("--since", help="ISO 8601 date-time with offset")
        export.add_argument("--until", help="ISO 8601 date-time with offset")
        export.add_argument("--output", help="File to write (default: standard output)")

    def handle(self, *args, subcommand, **options):
        with context.system(f"audit {subcommand}"):
            return getattr(self, f"do_{subcommand}")(**options)

    def do_verify(self, **options):
        report = services.verify_and_record()
        if not report.ok:
            self.stderr.write(self.style.ERROR(report.summary()))
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS(report.summary()))

    def do_checkpoint(self, **options):
        published = checkpoints.publish()
        if published.checkpoint is None:
            if "BROKEN" in published.skipped:
                raise CommandError(f"No checkpoint: {published.skipped}")
            self.stdout.write(f"No checkpoint: {published.skipped}")
            return
        self.stdout.write(
            f"Checkpoint #{published.checkpoint.seq} {published.checkpoint.head[:16]} "
            f"written to {checkpoints.path()}"
        )
        if published.syslog_error:
            raise CommandError(f"Not sent to the syslog repository: {published.syslog_error}")

    def do_expire(self, *, months=None, **options):
        if months is not None and months < 1:
            raise CommandError("--months must be at least 1")
        report = retention.expire(months=months)
        self.stdout.write(report.summary())

    def do_forward(self, **options):
        result = syslog.forward()
        if not result.configured:
            raise CommandError("No audit repository: set RIS_AUDIT_SYSLOG_HOST.")
        if result.error:
            raise CommandError(f"Sent {result.sent}, then failed: {result.error}")
        self.stdout.write(f"Sent {result.sent} events.")

    def do_export(self, *, patient_id, issuer, since, until, output, **options):
        search = selectors.EventSearch(
            patient_id=patient_id, issuer=issuer, since=_when(since), until=_when(until)
        ).freeze()
        services.record(
            Action.EXPORT,
            verb=Verb.READ,
            patients=search.patients_named(),
            detail=f"audit export {search.describe()}"[:255],
        )
        lines = selectors.export_document(search)
        if output:
            with open(output, "w", encoding="utf-8") as handle:
                handle.writelines(lines)
        else:
            self.stdout.writelines(lines, ending="")


def _when(text):
    if not text:
        return None
    moment = parse_datetime(text)
    if moment is None or moment.tzinfo is None:
        raise CommandError(f"{text!r}: give an ISO 8601 date-time with its offset")
    return moment
