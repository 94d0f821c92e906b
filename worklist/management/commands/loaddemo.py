"""manage.py loaddemo: fill an empty database with a living demo department."""

from django.core.management.base import BaseCommand, CommandError

import audit.context
from worklist import demo


class Command(BaseCommand):
    help = (
        "Fill an empty database with a demo department: 10 rooms (CT, MR, US, CR, MG), "
        "a procedure catalogue, a few hundred patients, a month of bookings around today "
        "and one user per role. Demo data only: never on a production database."
    )

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, default=300)
        parser.add_argument("--days-before", type=int, default=14, help="days of history")
        parser.add_argument("--days-after", type=int, default=16, help="days booked ahead")
        parser.add_argument("--fill", type=float, default=0.7, help="share of slots booked")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--password", default="demo", help="password of the demo users (default: demo)"
        )

    def _progress(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def handle(self, *args, **options):
        try:
            with audit.context.system("loaddemo"):
                summary = demo.load(
                    patients=options["patients"],
                    days_before=options["days_before"],
                    days_after=options["days_after"],
                    fill=options["fill"],
                    seed=options["seed"],
                    password=options["password"],
                    progress=self._progress if options["verbosity"] > 0 else None,
                )
        except demo.NotEmpty as exc:
            raise CommandError(f"{exc} loaddemo only fills an empty database.") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo loaded: {summary.stations} rooms, {summary.procedures} procedures, "
                f"{summary.patients} patients, {summary.orders} orders."
            )
        )
        if summary.users:
            self.stdout.write(
                f"Users (password {options['password']!r}): " + ", ".join(summary.users)
            )
