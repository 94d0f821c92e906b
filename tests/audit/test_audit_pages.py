"""The review pages as the trail grows: the search, the per-patient report and the
unusual-access lists go back page by page (keyset), a list event shows its first
patients and "+N more", and the compliance officer's home leads to them."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from audit import selectors
from audit.codes import Action

from .conftest import make_user, record_as, rewrite_history

pytestmark = pytest.mark.django_db

SATURDAY_03 = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
NOVEMBER = {"since": "2026-11-01", "until": "2026-11-30"}


@pytest.fixture
def officer_client(client, compliance_officer):
    client.force_login(compliance_officer)
    return client


def seqs_on(response) -> list[int]:
    return [int(s) for s in re.findall(rb'<tr data-seq="(\d+)"', response.content)]


def link(response, text: str) -> str | None:
    found = re.search(rf'<a href="([^"]*)"[^>]*>[^<]*{re.escape(text)}', response.content.decode())
    return found.group(1).replace("&amp;", "&") if found else None


def walk(client, url: str, text: str) -> list[list[int]]:
    """The events of every page, following the link `text` until there is none."""
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200
        pages.append(seqs_on(response))
        following = link(response, text)
        url = following and url.split("?")[0] + following
    return pages


def test_the_patient_report_lists_every_access_page_by_page(officer_client, scheduler):
    made = [
        record_as(scheduler, Action.PATIENT_RECORD, patients=[("AV35674", "HOSP")]).seq
        for _ in range(120)
    ]

    url = "/audit/report/?patient_id=AV35674&issuer=HOSP&since="
    pages = walk(officer_client, url, "Older")

    assert [len(p) for p in pages] == [50, 50, 20]
    assert [seq for page in pages for seq in page] == sorted(made, reverse=True)
    first = officer_client.get(url)
    actors = {a.actor: a.accesses for a in first.context["report"].actors}
    assert actors["alice"] == 120  # the summary counts them all


def test_a_report_page_leads_back_to_newer_accesses(officer_client, scheduler):
    made = [
        record_as(scheduler, Action.PATIENT_RECORD, patients=[("AV35674", "HOSP")]).seq
        for _ in range(60)
    ]
    second = officer_client.get("/audit/report/", {"patient_id": "AV35674", "before": made[10]})
    assert seqs_on(second) == sorted(made[:10], reverse=True)
    newer = officer_client.get("/audit/report/" + link(second, "Newer"))
    assert seqs_on(newer) == sorted(made[10:], reverse=True)
    assert link(newer, "Older") == f"?patient_id=AV35674&before={made[10]}"


def test_a_list_event_names_its_first_patients_and_how_many_more(officer_client, scheduler):
    patients = [(f"L{i:02}", "HOSP") for i in range(12)]
    record_as(scheduler, Action.PATIENT_RECORD, patients=patients)

    response = officer_client.get("/audit/", {"user": "alice"})

    html = response.content.decode()
    shown, more = re.search(
        r'<td class="patients mono">(.*?)<details class="more"><summary>(.*?)</summary>',
        html,
        re.S,
    ).groups()
    assert re.findall(r"L\d\d", shown) == ["L00", "L01", "L02"]
    assert more == "+9 more"
    hidden = re.search(r"</summary>(.*?)</details>", html, re.S).group(1)
    assert re.findall(r"L\d\d", hidden) == [f"L{i:02}" for i in range(3, 12)]


def test_a_one_patient_event_has_nothing_to_expand(officer_client, scheduler):
    record_as(scheduler, Action.PATIENT_RECORD, patients=[("AV35674", "HOSP")])
    response = officer_client.get("/audit/", {"user": "alice"})
    assert b"AV35674^^^HOSP" in response.content
    assert b"more</summary>" not in response.content


def test_access_outside_working_hours_goes_back_page_by_page(officer_client, scheduler, settings):
    settings.AUDIT_WORKING_HOURS = "07:00-19:00"
    made = [
        record_as(scheduler, Action.PATIENT_RECORD, patients=[(f"N{i}", "H")]).seq
        for i in range(65)
    ]
    rewrite_history(lambda seq: SATURDAY_03 + timedelta(seconds=seq))

    url = "/audit/unusual/?since=2026-11-01&until=2026-11-30"
    first = officer_client.get(url)
    more = link(first, "More accesses outside working hours")
    second = officer_client.get("/audit/unusual/" + more)

    assert [e.seq for e in first.context["off_hours"].events] == sorted(made, reverse=True)[:50]
    assert [e.seq for e in second.context["off_hours"].events] == sorted(made, reverse=True)[50:]
    assert second.context["off_hours"].older is None
    assert link(second, "Newest") is not None


def test_access_without_an_order_relationship_goes_back_page_by_page(
    officer_client, scheduler, django_user_model
):
    bob = make_user(django_user_model, "bob", group="radiologist")
    record_as(bob, Action.ORDER_RECORD, verb="C", patients=[("BOOKED", "H")])
    opened = []
    for i in range(60):
        opened.append(record_as(bob, Action.PATIENT_RECORD, patients=[(f"S{i:02}", "H")]))
        if i % 10 == 0:  # related: bob booked this patient's order
            record_as(bob, Action.PATIENT_RECORD, patients=[("BOOKED", "H")])
    rewrite_history(lambda seq: SATURDAY_03 + timedelta(seconds=seq))

    url = "/audit/unusual/?since=2026-11-01&until=2026-11-30"
    first = officer_client.get(url).context["unrelated"]
    response = officer_client.get(url)
    second = officer_client.get(
        "/audit/unusual/" + link(response, "More accesses without an order relationship")
    ).context["unrelated"]

    listed = [a.patient_id for a in first.accesses + second.accesses]
    assert listed == [f"S{i:02}" for i in reversed(range(60))]
    assert len(first.accesses) == 50 and second.older is None
    assert "BOOKED" not in listed


def test_the_unusual_access_page_reviews_the_last_day_unless_told(officer_client, scheduler):
    old = record_as(scheduler, Action.PATIENT_RECORD, patients=[("OLD", "H")])
    recent = record_as(scheduler, Action.PATIENT_RECORD, patients=[("NEW", "H")])
    now = datetime.now(UTC)
    when = {old.seq: now - timedelta(days=3), recent.seq: now - timedelta(hours=2)}
    rewrite_history(lambda seq: when.get(seq, now - timedelta(days=30)))

    default = officer_client.get("/audit/unusual/").context["unrelated"].accesses
    week = officer_client.get(
        "/audit/unusual/", {"since": (now - timedelta(days=7)).date().isoformat()}
    ).context["unrelated"]

    assert [a.patient_id for a in default] == ["NEW"]
    assert [a.patient_id for a in week.accesses] == ["NEW", "OLD"]


def test_bursts_are_found_from_the_records_opened_in_the_period(scheduler, settings):
    made = [
        record_as(scheduler, Action.PATIENT_RECORD, patients=[(f"B{i}", "H")]) for i in range(8)
    ]
    rewrite_history(lambda seq: SATURDAY_03 + timedelta(minutes=seq % 100))
    period = {"since": SATURDAY_03 - timedelta(hours=1), "until": SATURDAY_03 + timedelta(days=1)}
    opened = selectors.opened_records(**period)
    assert [r.seq for r in opened] == [e.seq for e in made]
    bursts = selectors.many_patients_in_short_window(threshold=8, opened=opened, **period)
    assert [(b.user, b.patients) for b in bursts] == [("alice", 8)]


def test_the_compliance_officers_home_shows_the_audit_entry_points(
    client, compliance_officer, scheduler
):
    client.force_login(compliance_officer)
    html = client.get("/").content.decode()
    for href, name in [
        ("/audit/", "Search events"),
        ("/audit/report/", "Patient access report"),
        ("/audit/unusual/", "Unusual access"),
    ]:
        assert re.search(rf'<a href="{href}"[^>]*>{name}</a>', html), name
    client.force_login(scheduler)
    assert "/audit/report/" not in client.get("/").content.decode()
