"""The export REST endpoints: a researcher requests, a compliance officer approves or
refuses (never their own request), the requester downloads the ZIP; bad input is a
400 naming the field."""

import io
import zipfile

import pytest
from django.contrib.auth.models import Group
from django.test import TestCase
from rest_framework.test import APIClient

from audit.codes import Action
from audit.models import Event
from export.models import Export, ExportStatus
from tests.export.conftest import YEAR, member

pytestmark = pytest.mark.django_db

REQUEST = {
    "project_name": "Headache study",
    "purpose": "Headache cohort for a retrospective study",
    "cohort": {"since": f"{YEAR}-01-01", "until": f"{YEAR}-01-31", "modalities": ["ct"]},
    "formats": ["csv"],
    "options": ["rtn_long_modified_dates"],
}


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def requested(researcher, **changes) -> dict:
    response = api(researcher).post("/api/exports/", {**REQUEST, **changes}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def decide(officer, export_id: int, decision: str, comment="Ethics committee ref. EC-2026-17"):
    """POST approve/refuse; an approval's build runs when the request commits (in-process)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return api(officer).post(
            f"/api/exports/{export_id}/{decision}/", {"comment": comment}, format="json"
        )


def test_a_researcher_requests_an_export(department, researcher):
    export = requested(researcher)
    assert export["status"] == "requested"
    assert (export["requested_by"], export["project_name"]) == ("rita", "Headache study")
    assert export["cohort"]["modalities"] == ["CT"]
    assert export["cohort"]["since"] == f"{YEAR}-01-01"
    assert export["download"] is None
    stored = Export.objects.get(pk=export["id"])
    assert stored.options == ["rtn_long_modified_dates"] and stored.formats == ["csv"]
    assert Event.objects.filter(action=Action.EXPORT, username="rita").exists()


def test_a_second_request_names_its_project_by_id(department, researcher):
    first = requested(researcher)
    second = requested(researcher, project=first["project"], project_name="")
    assert second["project"] == first["project"]
    [project] = api(researcher).get("/api/export-projects/").json()["results"]
    assert project["name"] == "Headache study"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"purpose": ""}, "purpose"),
        ({"project_name": ""}, "project_name"),
        ({"options": ["keep_everything"]}, "options"),
        ({"formats": ["xlsx"]}, "formats"),
        ({"cohort": {"since": "2026-02-01", "until": "2026-01-01"}}, "cohort"),
        ({"cohort": {"statuses": ["DONE"]}}, "cohort"),
        ({"include_worklist": False, "include_performed": False}, "parts"),
        ({"include_images": True}, "include_images"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(department, researcher, changes, field):
    response = api(researcher).post("/api/exports/", {**REQUEST, **changes}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Export.objects.exists()


def test_a_project_of_someone_else_is_refused(department, researcher, other_researcher):
    theirs = requested(other_researcher)["project"]
    response = api(researcher).post(
        "/api/exports/", {**REQUEST, "project": theirs, "project_name": ""}, format="json"
    )
    assert response.status_code == 400 and "project" in response.json()


def test_who_sees_which_exports(department, researcher, other_researcher, officer):
    mine = requested(researcher)["id"]
    requested(other_researcher, project_name="Knee study")
    assert [e["id"] for e in api(researcher).get("/api/exports/").json()["results"]] == [mine]
    assert len(api(officer).get("/api/exports/").json()["results"]) == 2
    assert api(other_researcher).get(f"/api/exports/{mine}/").status_code == 404
    assert api().get("/api/exports/").status_code == 401


def test_only_a_researcher_requests(department, officer):
    response = api(officer).post("/api/exports/", REQUEST, format="json")
    assert response.status_code == 403


def test_an_officer_approves_and_the_requester_downloads_the_zip(department, researcher, officer):
    export = requested(researcher)

    response = decide(officer, export["id"], "approve")

    assert response.status_code == 200
    assert response.json()["decided_by"] == "carol"
    ready = api(researcher).get(f"/api/exports/{export['id']}/").json()
    assert ready["status"] == "ready" and ready["progress_percent"] == 100
    assert ready["download"].endswith(f"/api/exports/{export['id']}/download/")
    download = api(researcher).get(ready["download"])
    assert download.status_code == 200
    assert f'filename="export-{export["id"]}.zip"' in download["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    assert any(name.endswith("/worklist.csv") for name in archive.namelist())
    assert api(officer).get(ready["download"]).status_code == 404  # the requester's only


def test_a_requester_cannot_approve_their_own_export(department, django_user_model):
    olga = member(django_user_model, "olga", "compliance officer")
    olga.groups.add(Group.objects.get(name="researcher"))
    export = requested(olga)

    response = decide(olga, export["id"], "approve")

    assert response.status_code == 403
    assert Export.objects.get(pk=export["id"]).status == ExportStatus.REQUESTED


def test_a_researcher_cannot_decide(department, researcher, other_researcher):
    export = requested(researcher)
    assert decide(researcher, export["id"], "approve").status_code == 403
    assert decide(other_researcher, export["id"], "approve").status_code == 404
    assert Export.objects.get(pk=export["id"]).status == ExportStatus.REQUESTED


def test_a_decision_needs_a_comment(department, researcher, officer):
    export = requested(researcher)
    response = decide(officer, export["id"], "approve", comment="")
    assert response.status_code == 400 and "comment" in response.json()


def test_a_refused_export_is_never_built_nor_downloaded(department, researcher, officer):
    export = requested(researcher)

    response = decide(officer, export["id"], "refuse", comment="No ethics approval")

    assert response.json()["status"] == "refused"
    assert response.json()["decision_comment"] == "No ethics approval"
    assert api(researcher).get(f"/api/exports/{export['id']}/download/").status_code == 409
    assert decide(officer, export["id"], "approve").status_code == 409  # decided already
