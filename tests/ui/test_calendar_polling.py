"""The calendar follows the exams without a reload: its body asks for itself again
every RIS_UI_POLL_SECONDS (htmx polling), keeping the URL the toolbar pushed, and a
step a modality started is drawn as in progress."""

import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from tests.factories import book, future_day, local, step_of
from worklist.models import StepStatus

pytestmark = pytest.mark.django_db


class Attributes(HTMLParser):
    """The attributes of the element with one id."""

    def __init__(self, element_id):
        super().__init__()
        self.element_id, self.found = element_id, None

    def handle_starttag(self, tag, attrs):
        if dict(attrs).get("id") == self.element_id and self.found is None:
            self.found = dict(attrs)


def attributes(html, element_id) -> dict:
    parser = Attributes(element_id)
    parser.feed(html)
    assert parser.found is not None, f"no #{element_id}"
    return parser.found


@pytest.fixture
def day():
    return future_day()


@pytest.fixture
def step(rooms, patient, day):
    return step_of(book(patient=patient, start=local(day, 9)))


def calendar(client, day, *, htmx=False):
    url = reverse("ui:calendar") + f"?station=CT1&day={day.isoformat()}"
    response = client.get(url, headers={"HX-Request": "true"} if htmx else {})
    assert response.status_code == 200
    return response.content.decode()


def test_the_grid_asks_again_every_few_seconds_for_the_same_view(technologist_client, day):
    body = attributes(calendar(technologist_client, day), "calendar-body")
    assert body["hx-trigger"].startswith("every 5s")
    assert "station=CT1" in body["hx-get"] and f"day={day.isoformat()}" in body["hx-get"]
    assert (body["hx-target"], body["hx-select"], body["hx-swap"]) == (
        "this",
        "#calendar-body",
        "outerHTML",
    )


def test_polling_keeps_the_url_and_the_toolbar_keeps_pushing_it(technologist_client, day):
    html = calendar(technologist_client, day)
    assert attributes(html, "calendar-body")["hx-push-url"] == "false"
    section = attributes(html, "calendar")
    assert section["hx-push-url"] == "true"
    # a poll in flight gives way to the toolbar, and waits while the toolbar loads
    assert section["hx-sync"] == "#calendar:replace"
    assert attributes(html, "calendar-body")["hx-sync"] == "#calendar:drop"


def test_the_poll_interval_is_a_setting(technologist_client, day, settings):
    settings.RIS_UI_POLL_SECONDS = 2
    body = attributes(calendar(technologist_client, day), "calendar-body")
    assert body["hx-trigger"].startswith("every 2s")
    settings.RIS_UI_POLL_SECONDS = 0
    assert "hx-trigger" not in attributes(calendar(technologist_client, day), "calendar-body")


def test_a_poll_gets_the_step_a_modality_started_marked_in_progress(technologist_client, step, day):
    before = calendar(technologist_client, day, htmx=True)
    assert 'class="blk scheduled"' in before
    step.scheduled_procedure_step_status = StepStatus.IN_PROGRESS
    step.save()
    after = calendar(technologist_client, day, htmx=True)
    assert "<html" not in after and 'id="calendar-body"' in after
    [block] = re.findall(r'<a role="listitem" class="blk in-progress"[^>]*>', after)
    assert "IN PROGRESS" in block  # its label says so, not only its colour
    assert '<span class="mark">▶</span>' in after


def poll(client, day, html):
    """The request the calendar body's poll makes, as htmx sends it."""
    return client.get(attributes(html, "calendar-body")["hx-get"], headers={"HX-Request": "true"})


def test_a_poll_while_nothing_changed_gets_no_content_and_reads_no_patient(
    technologist_client, step, day
):
    from audit.models import Event

    html = calendar(technologist_client, day)
    events = Event.objects.count()
    response = poll(technologist_client, day, html)
    assert response.status_code == 204
    assert response.content == b""
    assert Event.objects.count() == events


def test_a_poll_after_a_change_gets_the_new_grid(technologist_client, step, day):
    html = calendar(technologist_client, day)
    step.scheduled_procedure_step_status = StepStatus.IN_PROGRESS
    step.save()
    response = poll(technologist_client, day, html)
    assert response.status_code == 200
    assert "blk in-progress" in response.content.decode()
    assert poll(technologist_client, day, response.content.decode()).status_code == 204
