"""The export pages as each role sees them: a researcher requests and follows their
own exports, a compliance officer sees every request with the size of its cohort and
decides."""

import pytest
from django.test import TestCase
from django.urls import reverse

from export.models import Export, ExportStatus
from tests.export.conftest import YEAR, request_export

pytestmark = pytest.mark.django_db


def test_a_researcher_requests_an_export_from_the_form(department, researcher, client):
    client.force_login(researcher)
    assert client.get(reverse("export:new")).status_code == 200
    response = client.post(
        reverse("export:new"),
        {
            "project_name": "Knee study",
            "purpose": "Knee MR cohort",
            "since": f"{YEAR}-02-01",
            "until": f"{YEAR}-02-28",
            "modalities": "mr",
            "include_worklist": "on",
            "formats": ["csv"],
            "options": ["rtn_long_modified_dates", "clean_descriptors"],
        },
    )
    export = Export.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "export:detail", args=[export.pk]
    )
    assert export.cohort["modalities"] == ["MR"] and export.cohort["since"] == f"{YEAR}-02-01"
    assert export.options == ["rtn_long_modified_dates", "clean_descriptors"]
    assert export.status == ExportStatus.REQUESTED
    page = client.get(export_url(export)).content.decode()
    assert "Waiting for approval" in page and "Approve" not in page


def export_url(export):
    return reverse("export:detail", args=[export.pk])


def test_a_bad_request_says_what_is_wrong(researcher, client):
    client.force_login(researcher)
    response = client.post(
        reverse("export:new"), {"purpose": "", "since": f"{YEAR}-03-01", "until": f"{YEAR}-02-01"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert (
        "Choose a project or name a new one." in page
        and "The period ends before it starts." in page
    )
    assert not Export.objects.exists()


def test_researchers_see_only_their_own_exports(department, researcher, other_researcher, client):
    export = request_export(researcher)
    client.force_login(other_researcher)
    assert client.get(export_url(export)).status_code == 404
    assert f"Export {export.pk}" not in client.get(reverse("export:list")).content.decode()


def test_an_officer_sees_the_cohort_size_and_approves(department, researcher, officer, client):
    export = request_export(researcher)
    client.force_login(officer)
    listing = client.get(reverse("export:list")).content.decode()
    assert "Waiting for a decision" in listing and f"Export {export.pk}" in listing
    page = client.get(export_url(export)).content.decode()
    assert "7 orders of 3 patients" in page
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            reverse("export:decide", args=[export.pk]), {"decision": "approve", "comment": "EC-1"}
        )
    assert response.status_code == 302
    progress = client.get(reverse("export:progress", args=[export.pk])).content.decode()
    assert "Ready to download" in progress
    assert "Download the ZIP" not in progress  # only the requester downloads


def test_the_nav_shows_exports_to_their_roles(researcher, client, django_user_model):
    client.force_login(researcher)
    assert 'href="/exports/"' in client.get(reverse("export:list")).content.decode()
    nobody = django_user_model.objects.create_user("nobody", password="pw-Secret-1")
    client.force_login(nobody)
    assert client.get(reverse("export:list")).status_code == 403
