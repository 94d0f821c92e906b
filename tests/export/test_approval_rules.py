"""Who may do what with an export: a requester cannot approve their own request, a
refused or pending export is neither built nor downloaded, only the requester
downloads, and an expired export answers 410 with its file gone."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from export import services
from export.models import ExportStatus
from export.tasks import build_export
from ris.errors import Conflict, Invalid
from tests.export.conftest import approve, member, request_export

pytestmark = pytest.mark.django_db


@pytest.fixture
def researching_officer(django_user_model):
    """A compliance officer who is a researcher too: still not their own approver."""
    user = member(django_user_model, "olga", "compliance officer")
    user.groups.add(Group.objects.get(name="researcher"))
    return user


def test_a_requester_cannot_approve_their_own_export(department, researching_officer, client):
    export = request_export(researching_officer)
    with pytest.raises(PermissionDenied):
        services.export_decide(
            export=export, officer=researching_officer, approve=True, comment="ok"
        )
    client.force_login(researching_officer)
    response = client.post(
        reverse("export:decide", args=[export.pk]), {"decision": "approve", "comment": "ok"}
    )
    assert response.status_code == 403
    export.refresh_from_db()
    assert export.status == ExportStatus.REQUESTED and export.decided_by is None


def test_a_researcher_cannot_decide_at_all(department, researcher, other_researcher, client):
    export = request_export(researcher)
    client.force_login(other_researcher)
    response = client.post(
        reverse("export:decide", args=[export.pk]), {"decision": "approve", "comment": "ok"}
    )
    assert response.status_code == 403
    assert services.Export.objects.get(pk=export.pk).status == ExportStatus.REQUESTED


def test_a_decision_needs_a_comment(department, researcher, officer):
    export = request_export(researcher)
    with pytest.raises(Invalid):
        services.export_decide(export=export, officer=officer, approve=False, comment="  ")


def test_a_refused_export_is_never_built_nor_downloaded(department, researcher, officer, client):
    export = request_export(researcher)
    with TestCase.captureOnCommitCallbacks(execute=True) as sent:
        services.export_decide(
            export=export, officer=officer, approve=False, comment="No ethics approval"
        )
    assert sent == []  # no build was sent
    with pytest.raises(Conflict):
        services.export_build(export_id=export.pk)
    assert build_export.delay(export.pk).get()["status"] == "not built"
    export.refresh_from_db()
    assert export.status == ExportStatus.REFUSED and not export.file_name
    assert not services.exports_dir().exists() or not any(services.exports_dir().iterdir())
    client.force_login(researcher)
    assert client.get(reverse("export:download", args=[export.pk])).status_code == 409


def test_a_pending_export_is_neither_built_nor_downloaded(department, researcher, client):
    export = request_export(researcher)
    with pytest.raises(Conflict):
        services.export_build(export_id=export.pk)
    client.force_login(researcher)
    assert client.get(reverse("export:download", args=[export.pk])).status_code == 409


def test_a_decided_export_is_not_decided_again(department, researcher, officer):
    export = approve(request_export(researcher), officer)
    with pytest.raises(Conflict):
        services.export_decide(
            export=export, officer=officer, approve=False, comment="changed my mind"
        )


def test_only_the_requester_downloads(department, researcher, other_researcher, officer, client):
    export = approve(request_export(researcher), officer)
    client.force_login(other_researcher)
    assert client.get(reverse("export:download", args=[export.pk])).status_code == 404
    client.force_login(officer)
    assert client.get(reverse("export:download", args=[export.pk])).status_code == 404
    client.force_login(researcher)
    response = client.get(reverse("export:download", args=[export.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="export-{export.pk}.zip"'
    assert b"".join(response.streaming_content)[:2] == b"PK"


def test_an_expired_export_is_gone_and_its_file_deleted(
    department, researcher, officer, client, settings
):
    export = approve(request_export(researcher), officer)
    path = services.exports_dir() / export.file_name
    assert path.is_file()
    assert export.expires_at - export.finished_at == timedelta(
        hours=settings.RIS_EXPORT_EXPIRY_HOURS
    )
    client.force_login(researcher)
    later = export.expires_at + timedelta(seconds=1)
    services.Export.objects.filter(pk=export.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert client.get(reverse("export:download", args=[export.pk])).status_code == 410
    assert services.expire_exports(now=later) == 1
    assert not path.exists()
    export.refresh_from_db()
    assert export.status == ExportStatus.EXPIRED
    assert client.get(reverse("export:download", args=[export.pk])).status_code == 410


def test_requests_are_made_in_ones_own_project(department, researcher, other_researcher):
    project = services.project_create(owner=researcher, name="Rita's study")
    with pytest.raises(Invalid) as refused:
        request_export(other_researcher, project=project)
    assert "project" in refused.value.errors


def test_images_are_refused_where_files_are_not_kept(department, researcher, settings):
    settings.RIS_STORE_FILES = False
    with pytest.raises(Invalid) as refused:
        request_export(researcher, include_images=True)
    assert "include_images" in refused.value.errors
