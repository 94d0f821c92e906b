"""Arrived studies in the admin: read-only, and reading them is audited."""

import pytest
from django.urls import reverse

from audit.models import Event

from .test_reconciliation import arrive, decide

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "name", ["study", "series", "instance", "studydecision", "studydiscrepancy"]
)
def test_study_pages_open_read_only(client, admin_user, name):
    decide(arrive())
    client.force_login(admin_user)

    listing = client.get(reverse(f"admin:worklist_{name}_changelist"))

    assert listing.status_code == 200
    assert client.get(reverse(f"admin:worklist_{name}_add")).status_code == 403


def test_the_study_list_in_the_admin_is_audited(client, admin_user):
    study = arrive()
    client.force_login(admin_user)

    page = client.get(reverse("admin:worklist_study_change", args=[study.pk]))

    assert page.status_code == 200
    assert "Series 1" in page.content.decode() or "CT" in page.content.decode()
    assert Event.objects.filter(patients__patient_id="AV35674", channel="admin").exists()
