"""A PACS is registered as a known peer (a known modality of kind PACS): it may send
and announce studies, and, listing no stations, sees nobody's worklist."""

import pytest

from worklist.dicom import policy
from worklist.models import Modality

pytestmark = pytest.mark.django_db


def test_a_pacs_is_registered_through_the_api(api, station):
    made = api.post(
        "/api/modalities/",
        {"ae_title": "PACS1", "kind": "PACS", "allowed_addresses": ["127.0.0.1"]},
        format="json",
    )

    assert made.status_code == 201, made.content
    assert made.json()["kind"] == "PACS"
    assert Modality.objects.get(ae_title="PACS1").kind == Modality.Kind.PACS
    assert api.get("/api/modalities/?ae_title=CT1").status_code == 200


def test_a_known_modality_is_of_kind_modality_unless_told(api):
    made = api.post("/api/modalities/", {"ae_title": "CTVIEW"}, format="json")

    assert made.json()["kind"] == "MODALITY"


def test_a_pacs_is_admitted_but_sees_no_scheduled_step(station, settings):
    settings.RIS_DICOM_STRICT_AE = True
    Modality.objects.create(ae_title="PACS1", kind=Modality.Kind.PACS)

    access = policy.resolve("PACS1", "127.0.0.1")

    assert access is not None
    assert access.stations == ()
    assert policy.resolve("STRANGER", "127.0.0.1") is None
