"""Headings are in order on every page: the first is the one h1, and no level is
skipped going down (an h2 before any h3, ...). Screen reader users move through a
page by its headings. The pages are those of the URLconf that take no parameter,
and the detail pages of the demo department's objects, seen by an administrator."""

from html.parser import HTMLParser

import pytest

import audit.context
from tests.ui.conftest import role_groups  # noqa: F401  (fixture)
from tests.web.test_url_permissions import all_urls
from worklist import demo
from worklist.models import Order, Patient, ScheduledProcedureStep

pytestmark = pytest.mark.django_db


class Headings(HTMLParser):
    def __init__(self):
        super().__init__()
        self.levels = []

    def handle_starttag(self, tag, attrs):
        if len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
            self.levels.append(int(tag[1]))


def heading_levels(html: str) -> list[int]:
    parser = Headings()
    parser.feed(html)
    return parser.levels


def out_of_order(levels: list[int]) -> str | None:
    if not levels:
        return "no heading"
    if levels[0] != 1:
        return f"starts with h{levels[0]}"
    if levels.count(1) > 1:
        return "more than one h1"
    for before, after in zip(levels, levels[1:], strict=False):
        if after > before + 1:
            return f"h{before} followed by h{after}"
    return None


def test_the_rule_itself():
    assert out_of_order([1, 2, 3, 2, 3, 3, 2]) is None
    assert out_of_order([2, 1]) == "starts with h2"
    assert out_of_order([1, 3]) == "h1 followed by h3"
    assert out_of_order([1, 2, 1]) == "more than one h1"


@pytest.fixture
def department(role_groups):  # noqa: F811
    with audit.context.system("loaddemo"):
        demo.load(patients=6, days_before=1, days_after=1, fill=0.3, seed=3, password="demo")


# The Swagger UI draws its headings with its script: the HTML served has none.
DRAWN_BY_SCRIPT = {"/api/docs/"}


def pages() -> list[str]:
    plain = [
        path
        for _name, path in all_urls()
        if "<" not in path and "1" not in path and path not in DRAWN_BY_SCRIPT
    ]
    patient = Patient.objects.first()
    order = Order.objects.first()
    step = ScheduledProcedureStep.objects.first()
    return [
        *plain,
        f"/patients/{patient.pk}/",
        f"/orders/{order.pk}/",
        f"/steps/{step.pk}/",
        f"/steps/{step.pk}/reschedule/",
        f"/steps/{step.pk}/cancel/",
        f"/orders/{order.pk}/cancel/",
        f"/book/?patient={patient.pk}",
        f"/audit/report/?patient_id={patient.patient_id}&issuer=DEMO",
        f"/admin/worklist/patient/{patient.pk}/change/",
        "/admin/worklist/patient/",
        "/admin/auth/user/",
        "/does-not-exist/",
    ]


def test_every_page_has_its_headings_in_order(department, client, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    client.login(username="admin", password="demo")
    checked, wrong = [], []
    for path in pages():
        response = client.get(path)
        if not response["Content-Type"].startswith("text/html") or response.status_code in (
            301,
            302,
            405,
        ):
            continue
        checked.append(path)
        problem = out_of_order(heading_levels(response.content.decode()))
        if problem:
            wrong.append(f"{path} ({response.status_code}): {problem}")
    assert len(checked) > 15, checked
    assert wrong == []
