"""The order page shows its study: series with modality, description, image counts and
arrival, the outcome; with files kept a preview per series (audited as an access to
the images), and the link to the viewer."""

import html
import re

import pytest
from django.urls import reverse

from audit.models import Event
from tests.conftest import require_peer
from tests.studies.dicom_files import StudySpec, compress, storescu, write_study
from worklist.models import Instance, Series, Study

from .conftest import arrive, book, decide, keep
from .test_previews import read_png

VIEWER = "https://viewer.example.org/viewer?StudyInstanceUIDs={study_instance_uid}"


def text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def matched(db, station):
    order = book("A0001", study_instance_uid="1.2.3.1")
    study = decide(arrive(series=(("1.2.3.1.1", 2), ("1.2.3.1.2", 3))))
    assert study.outcome == "MATCHED"
    return order, study


@pytest.fixture
def kept(db, station, study_settings, tmp_path):
    """A study of three CT images, files kept, matched to order A0001."""
    study_settings.RIS_STORE_FILES = True
    spec = StudySpec(series=(3,), accession_number="A0001")
    order = book("A0001")
    for path in write_study(spec, tmp_path / "ct"):
        keep(path)
    study = decide(Study.objects.get(study_instance_uid=spec.study_instance_uid))
    return order, study


@pytest.mark.django_db
def test_the_order_page_shows_its_study_and_series(scheduler_client, matched):
    order, study = matched

    page = text(scheduler_client.get(reverse("ui:order", args=[order.pk])))

    panel = page[page.index('<h2 id="images">') :]
    assert "1.2.3.1" in panel and ">MATCHED<" in panel
    assert "5 images in 2 series from CT1," in re.sub(r"<[^>]+>", "", panel)
    rows = re.findall(r"<tr>\s*<td>(\d)<br>.*?</td>\s*<td>(\w+)</td>\s*<td>([^<]+)", panel, re.S)
    assert rows == [("1", "CT", "Series 1"), ("2", "CT", "Series 2")]
    counts = re.findall(r"</td>\s*<td>(\d+)(?: <small|</td>)", panel)
    assert counts[:2] == ["2", "3"]
    assert "<img" not in panel  # files are not kept
    assert "Open in viewer" not in panel


@pytest.mark.django_db
def test_who_may_not_see_studies_sees_the_order_without_them(user_in, matched):
    order, _ = matched

    page = text(user_in("compliance officer").get(reverse("ui:order", args=[order.pk])))

    assert "Order A0001" in page and 'id="images"' not in page


@pytest.mark.django_db
def test_with_files_kept_each_series_shows_its_middle_image(user_in, kept):
    order, study = kept
    technologist = user_in("technologist")

    page = text(technologist.get(reverse("ui:order", args=[order.pk])))
    series = study.series.get()
    src = reverse("ui:series_preview", args=[series.pk])
    assert f'<img class="preview" src="{src}"' in page

    response = technologist.get(src)

    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "private, no-store"
    assert read_png(response.content).shape == (64, 64)
    middle = Instance.objects.get(series=series, instance_number=2)
    event = Event.objects.get(action="110103", username="technologist")
    assert event.event_action_code == "R"
    assert ["sop_instance_uid", middle.sop_instance_uid] in event.participant_objects
    assert [p.patient_id for p in event.patients.all()] == ["AV35674"]


@pytest.mark.django_db
def test_no_preview_for_who_may_not_see_studies(user_in, kept):
    _, study = kept
    series = study.series.get()

    response = user_in("compliance officer").get(reverse("ui:series_preview", args=[series.pk]))

    assert response.status_code == 403
    assert not Event.objects.filter(action="110103").exists()


@pytest.mark.django_db
def test_no_preview_when_files_are_not_kept(scheduler_client, kept, study_settings):
    _, study = kept
    study_settings.RIS_STORE_FILES = False
    series = study.series.get()

    assert scheduler_client.get(reverse("ui:series_preview", args=[series.pk])).status_code == 404
    missing = Series.objects.order_by("-pk").first().pk + 1
    study_settings.RIS_STORE_FILES = True
    assert scheduler_client.get(reverse("ui:series_preview", args=[missing])).status_code == 404


@pytest.mark.django_db
def test_open_in_viewer_goes_to_the_configured_viewer_and_is_recorded(
    scheduler_client, matched, study_settings
):
    order, study = matched
    study_settings.RIS_VIEWER_URL = VIEWER

    page = text(scheduler_client.get(reverse("ui:order", args=[order.pk])))
    link = reverse("ui:study_viewer", args=[study.pk])
    assert f'href="{link}" target="_blank" rel="noopener">Open in viewer</a>' in page

    response = scheduler_client.get(link)

    assert response.status_code == 302
    assert response["Location"] == ("https://viewer.example.org/viewer?StudyInstanceUIDs=1.2.3.1")
    event = Event.objects.get(action="110103", username="scheduler")
    assert ["study_instance_uid", "1.2.3.1"] in event.participant_objects
    study_settings.RIS_VIEWER_URL = ""
    assert scheduler_client.get(link).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_previews_of_images_stored_compressed_by_a_modality(
    dicom_port,
    storescu_path,
    studies_settings,
    user_in,
    station,
    tmp_path,  # noqa: F811
):
    """DCMTK's storescu sends JPEG-LS and RLE images as they are; the RIS keeps them
    so and shows each series' middle image, decoded, exactly as its original."""
    studies_settings.RIS_STORE_FILES = True
    expected = {}
    for tool, proposal in (("dcmcjpls", "-xt"), ("dcmcrle", "-xr")):
        spec = StudySpec(series=(1,), accession_number=tool[:16])
        original = write_study(spec, tmp_path / f"{tool}-original")[0]
        sent = compress(write_study(spec, tmp_path / tool)[0], require_peer(tool, "dcmtk"))
        sent = storescu(storescu_path, dicom_port, [sent], extra=(proposal,))
        assert sent.returncode == 0, sent.stderr
        expected[spec.study_instance_uid] = original
    viewer = user_in("radiologist")

    for uid, original in expected.items():
        series = Series.objects.get(study__study_instance_uid=uid)
        assert series.instances.get().transfer_syntax_uid != "1.2.840.10008.1.2.1"
        response = viewer.get(reverse("ui:series_preview", args=[series.pk]))
        assert response.status_code == 200
        from worklist.services.images import render_png

        assert (read_png(response.content) == read_png(render_png(original))).all()
