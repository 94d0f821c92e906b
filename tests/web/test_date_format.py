"""One date format everywhere: pages, the admin and the pickers show ISO dates (with
the weekday on pages), 24-hour times, and every date-time names the local time zone;
the footer names the zone in full. Templates use the named formats of
ris/formats/en/formats.py, never a format of their own."""

import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.utils import timezone

ROOT = Path(__file__).resolve().parent.parent.parent
NAMED = {
    "DATE_FORMAT",
    "DATETIME_FORMAT",
    "SHORT_DATE_FORMAT",
    "SHORT_DATETIME_FORMAT",
    "TIME_FORMAT",
    "MONTH_DAY_FORMAT",
    "YEAR_MONTH_FORMAT",
}
# To the second where the second matters, the same format otherwise: when exactly a
# record was read (the access audit, its event log to the microsecond), when an image
# was acquired (arrived studies), when a message came or went (the HL7 message log).
PRECISE = {"Y-m-d H:i:s", "D Y-m-d H:i:s", "H:i:s", "Y-m-d H:i:s.u"}
PRECISE_PAGES = ("audit/templates", "templates/ui/studies", "templates/hl7")


def render(text, **context):
    return Template(text).render(Context(context))


@pytest.fixture
def berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    with timezone.override(ZoneInfo("Europe/Berlin")):
        yield


def test_the_named_formats(berlin):
    moment = datetime(2026, 12, 1, 13, 30, tzinfo=ZoneInfo("UTC"))
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo("UTC"))
    assert render('{{ d|date:"DATETIME_FORMAT" }}', d=moment) == "Tue 2026-12-01 14:30 CET"
    assert render('{{ d|date:"DATETIME_FORMAT" }}', d=summer) == "Wed 2026-07-01 14:00 CEST"
    assert render('{{ d|date:"SHORT_DATETIME_FORMAT" }}', d=moment) == "2026-12-01 14:30 CET"
    assert render("{{ d|date }}", d=date(1978, 3, 4)) == "Sat 1978-03-04"
    assert render('{{ d|date:"SHORT_DATE_FORMAT" }}', d=date(1978, 3, 4)) == "1978-03-04"
    assert render('{{ d|time:"TIME_FORMAT" }}', d=moment) == "14:30"
    assert render("{{ d }}", d=moment) == "Tue 2026-12-01 14:30 CET"


def test_templates_use_only_the_named_formats():
    own = re.compile(r'(?:\|date:|\|time:|\{% now )"([^"]*)"')
    found = {}
    for folder in ("templates", "worklist/templates", "audit/templates", "export/templates"):
        for path in (ROOT / folder).rglob("*.html"):
            for used in own.findall(path.read_text()):
                relative = str(path.relative_to(ROOT))
                if used not in NAMED and not (
                    relative.startswith(PRECISE_PAGES) and used in PRECISE
                ):
                    found.setdefault(str(path.relative_to(ROOT)), set()).add(used)
    assert found == {}


@pytest.mark.django_db
def test_the_admin_and_the_pickers_show_the_same_dates(admin_client, berlin):
    from tests import factories

    patient = factories.patient(patient_birth_date=date(1978, 3, 4))
    page = admin_client.get(f"/admin/worklist/patient/{patient.pk}/change/").content.decode()
    assert re.search(r'<div class="readonly">(\w{3} )?1978-03-04</div>', page)  # read-only
    user = admin_client.get("/admin/auth/user/").content.decode()
    first = re.search(r'href="/admin/auth/user/(\d+)/change/"', user).group(1)
    change = admin_client.get(f"/admin/auth/user/{first}/change/").content.decode()
    last_login = timezone.localtime()
    assert f'name="last_login_0" value="{last_login:%Y-%m-%d}"' in change
    assert re.search(r'name="last_login_1" value="\d{2}:\d{2}"', change)
    search = admin_client.get("/patients/", {"birth_date": "1978-03-04"}).content.decode()
    assert 'type="date"' in search and 'value="1978-03-04"' in search
    assert "Times are local (Europe/Berlin)" in search
