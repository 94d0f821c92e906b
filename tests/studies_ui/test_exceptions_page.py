"""The Study exceptions page: open exceptions by outcome, oldest first, counted in the
navigation; one exception shows the study beside its order with the differences
marked, and the orders it may be linked to."""

import html
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from worklist.models import Study

from .conftest import arrive, book, decide

pytestmark = pytest.mark.django_db

EXCEPTIONS = reverse("ui:study_exceptions")


def aged(study: Study, hours: int) -> Study:
    """The study as if its first image came `hours` ago."""
    Study.objects.filter(pk=study.pk).update(
        first_received_at=timezone.now() - timedelta(hours=hours)
    )
    return Study.objects.get(pk=study.pk)


@pytest.fixture
def three(station):
    """An unscheduled study (5 h old), a mismatch (2 h) and a match (not listed)."""
    book("A0001", study_instance_uid="1.2.3.2")
    book("A0002", study_instance_uid="1.2.3.3")
    unscheduled = aged(
        decide(arrive("1.2.3.1", patient_id="WALKIN", series=(("1.2.3.1.1", 1),))), 5
    )
    mismatch = aged(
        decide(arrive("1.2.3.2", patient_name="Vivaldi^Antonia", series=(("1.2.3.2.1", 1),))), 2
    )
    matched = decide(arrive("1.2.3.3", series=(("1.2.3.3.1", 1),)))
    assert (unscheduled.outcome, mismatch.outcome, matched.outcome) == (
        "UNSCHEDULED",
        "MISMATCH",
        "MATCHED",
    )
    return unscheduled, mismatch, matched


def test_open_exceptions_are_listed_oldest_first(scheduler_client, three):
    unscheduled, mismatch, matched = three

    page = scheduler_client.get(EXCEPTIONS).content.decode()

    rows = re.findall(r'href="/studies/(\d+)/"', page)
    assert rows == [str(unscheduled.pk), str(mismatch.pk)]
    assert "5\xa0hours" in page and "2\xa0hours" in page
    assert "WALKIN" in page and "Vivaldi, Antonia" in page


def test_the_outcomes_are_counted_and_filter_the_list(scheduler_client, three):
    unscheduled, mismatch, _ = three

    page = scheduler_client.get(EXCEPTIONS, {"outcome": "MISMATCH"}).content.decode()

    assert re.findall(r'href="/studies/(\d+)/"', page) == [str(mismatch.pk)]
    tabs = dict(re.findall(r'>([A-Za-z ]+) <span class="count">(\d+)</span>', page))
    assert tabs == {"All open": "2", "Mismatch": "1", "Unscheduled": "1", "Incomplete": "0"}


def test_the_navigation_counts_the_open_exceptions(scheduler_client, three):
    page = scheduler_client.get(reverse("ui:orders")).content.decode()

    link = re.search(r'<a href="/studies/exceptions/"[^>]*>Study exceptions(.*?)</a>', page)
    assert link and '<span class="count" aria-label="2 open">2</span>' in link.group(1)


def test_only_those_who_work_studies_see_the_page(user_in, three):
    technologist = user_in("technologist")

    assert technologist.get(EXCEPTIONS).status_code == 403
    assert "Study exceptions" not in technologist.get(reverse("ui:orders")).content.decode()
    assert user_in("administrator").get(EXCEPTIONS).status_code == 200


def test_a_radiologist_sees_a_study_but_cannot_work_it(user_in, three):
    radiologist = user_in("radiologist")
    unscheduled = three[0]

    page = radiologist.get(reverse("ui:study", args=[unscheduled.pk]))

    assert page.status_code == 200
    assert "Work the exception" not in page.content.decode()
    assert "Resolve" not in page.content.decode()
    assert (
        user_in("compliance officer").get(reverse("ui:study", args=[unscheduled.pk])).status_code
        == 403
    )


def test_the_study_is_shown_beside_its_order_with_the_differences_marked(scheduler_client, three):
    mismatch = three[1]

    page = html.unescape(
        scheduler_client.get(reverse("ui:study", args=[mismatch.pk])).content.decode()
    )

    differing = re.findall(r'<tr class="differs">\s*<th scope="row">([^<]+)', page)
    assert differing == ["Patient's name "]
    row = page[page.index('<tr class="differs">') :]
    row = row[: row.index("</tr>")]
    assert "Vivaldi, Antonia" in row and "Vivaldi, Antonio" in row
    assert "order <a" in page and "A0001" in page
    assert "by its Study Instance UID" in page
    assert "Accept the order's demographics" in page
    assert "Create the order" not in page  # it has an order


def test_an_unscheduled_study_offers_the_orders_of_its_patient_first(scheduler_client, station):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    same_day = datetime(2026, 11, 25, 14, 0, tzinfo=ZoneInfo("UTC"))
    other_patient = book("B0001", patient={"patient_id": "OTHER"}, start=same_day)
    own = book("C0001", patient={"patient_id": "WALKIN"}, start=same_day + timedelta(days=30))
    study = decide(arrive(patient_id="WALKIN"))

    page = scheduler_client.get(reverse("ui:study", args=[study.pk])).content.decode()

    offered = re.findall(r'name="order" value="(\d+)"', page)
    assert offered == [str(own.pk), str(other_patient.pk)]
    assert "Create the order" in page


def test_orders_are_found_by_accession_number_without_leaving_the_page(scheduler_client, station):
    wanted = book("X9001", patient={"patient_id": "ELSEWHERE"})
    book("Y0001", patient={"patient_id": "ELSEWHERE2"})
    study = decide(arrive(patient_id="WALKIN"))

    fragment = scheduler_client.get(
        reverse("ui:study", args=[study.pk]), {"accession_number": "X9"}, HTTP_HX_REQUEST="true"
    ).content.decode()

    assert fragment.lstrip().startswith('<div id="candidates">')
    assert re.findall(r'name="order" value="(\d+)"', fragment) == [str(wanted.pk)]
    nothing = scheduler_client.get(
        reverse("ui:study", args=[study.pk]), {"accession_number": "Z"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "No order has an accession number starting with “Z”" in nothing


def test_the_list_and_a_study_are_audited_reads(scheduler_client, three):
    from audit.models import Event

    unscheduled = three[0]
    before = Event.objects.count()

    scheduler_client.get(reverse("ui:study", args=[unscheduled.pk]))

    read = Event.objects.filter(event_action_code="R", username="scheduler").order_by("seq")
    assert Event.objects.count() > before
    assert any(["study_instance_uid", "1.2.3.1"] in e.participant_objects for e in read)
