"""The export, its approval, every download and every re-identification are audit
events; those that concern patients name them, so each patient's Art. 15 access
report lists the export."""

import pytest
from django.urls import reverse

from audit.codes import Action, EventType, Outcome, Verb
from audit.selectors import patient_report
from export import services
from export.models import Pseudonym
from ris.errors import Invalid
from tests.audit.conftest import events_after, head, patients_of
from tests.export.conftest import PATIENTS, approve, request_export

pytestmark = pytest.mark.django_db
EVERYONE = sorted((patient_id, "HOSP") for patient_id, *_ in PATIENTS)


def test_request_approval_build_and_download_are_recorded(department, researcher, officer, client):
    mark = head()
    export = request_export(researcher)
    approve(export, officer)
    client.force_login(researcher)
    assert client.get(reverse("export:download", args=[export.pk])).status_code == 200
    events = [e for e in events_after(mark) if e.action == Action.EXPORT]
    summary = [(e.event_action_code, e.event_outcome_indicator, patients_of(e)) for e in events]
    assert summary == [
        (Verb.CREATE, Outcome.SUCCESS, []),  # requested
        (Verb.UPDATE, Outcome.SUCCESS, EVERYONE),  # approved: the patients it covers
        (Verb.READ, Outcome.SUCCESS, EVERYONE),  # built
        (Verb.READ, Outcome.SUCCESS, EVERYONE),  # downloaded
    ]
    assert "approved: Ethics committee ref. EC-2026-17" in events[1].detail
    assert events[3].username == "rita" and "downloaded" in events[3].detail


def test_the_patients_access_report_lists_the_export(department, researcher, officer, client):
    export = approve(request_export(researcher), officer)
    client.force_login(researcher)
    client.get(reverse("export:download", args=[export.pk]))
    report = patient_report(patient_id="AV35674", issuer="HOSP")
    exports = [e for e in report.events if e.action == Action.EXPORT]
    assert [e.detail.split(":")[0].split(" (")[0] for e in exports] == [
        f"export {export.pk} downloaded",
        f"export {export.pk} built for rita",
        f"export {export.pk} approved",
    ]
    assert "rita" in {actor.actor for actor in report.actors}


def test_a_refused_self_approval_is_recorded_as_a_failure(department, officer):
    officer.groups.add(*officer.groups.model.objects.filter(name="researcher"))
    export = request_export(officer)
    mark = head()
    with pytest.raises(services.PermissionDenied):
        services.export_decide(export=export, officer=officer, approve=True, comment="mine")
    (event,) = events_after(mark)
    assert (event.action, event.event_outcome_indicator) == (Action.EXPORT, Outcome.MINOR_FAILURE)


def test_reidentification_is_an_audited_access_with_its_reason(department, researcher, officer):
    export = approve(request_export(researcher), officer)
    pseudonym = Pseudonym.objects.get(project=export.project, patient_id="CS20033")
    mark = head()
    found = services.reidentify(
        officer=officer,
        project=export.project,
        pseudonym=pseudonym.pseudonym.lower(),
        reason="Incidental finding to report to the patient's physician",
    )
    assert (found.patient_id, found.issuer_of_patient_id) == ("CS20033", "HOSP")
    (event,) = events_after(mark)
    assert event.action == Action.PATIENT_RECORD and event.event_action_code == Verb.READ
    assert event.event_type_code == EventType.USE_OF_RESTRICTED_FUNCTION
    assert patients_of(event) == [("CS20033", "HOSP")]
    assert "Incidental finding" in event.detail and event.username == "carol"


def test_reidentification_needs_the_permission_and_a_reason(
    department, researcher, officer, client
):
    export = approve(request_export(researcher), officer)
    pseudonym = Pseudonym.objects.filter(project=export.project).first().pseudonym
    with pytest.raises(services.PermissionDenied):
        services.reidentify(
            officer=researcher, project=export.project, pseudonym=pseudonym, reason="x"
        )
    with pytest.raises(Invalid):
        services.reidentify(officer=officer, project=export.project, pseudonym=pseudonym, reason="")
    client.force_login(researcher)
    assert client.get(reverse("export:reidentify")).status_code == 403
    client.force_login(officer)
    response = client.post(
        reverse("export:reidentify"),
        {"project": export.project.pk, "pseudonym": pseudonym, "reason": "Audit request 12"},
    )
    assert response.status_code == 200
    found = Pseudonym.objects.get(project=export.project, pseudonym=pseudonym)
    assert found.patient_id.encode() in response.content
