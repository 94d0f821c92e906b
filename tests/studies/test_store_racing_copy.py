"""Two associations storing the same new instance at once: both look, find nothing,
and the second insert collides with the first. The second is answered as a second
copy, and nothing of it is kept: no count, no file, no empty study."""

import pytest

from worklist.models import Instance, Series, Study
from worklist.services import studies

from .conftest import header

pytestmark = pytest.mark.django_db(transaction=True)

STUDY, SERIES, SOP = "1.2.3.8", "1.2.3.8.1", "1.2.3.8.9.1"


@pytest.fixture
def first_look_misses(monkeypatch):
    """The second association's look happens before the first one's commit: it does
    not see the instance."""
    look = studies._look
    missed = []

    def racing(header):
        study, held, series_id = look(header)
        if not missed:
            missed.append(header.sop_instance_uid)
            return study, None, series_id
        return study, held, series_id

    monkeypatch.setattr(studies, "_look", racing)
    return missed


def test_a_copy_racing_the_first_is_answered_as_a_second_copy(first_look_misses, studies_settings):
    studies.instance_received(header=header(STUDY, SERIES, SOP), calling_ae_title="CT1")
    first_look_misses.clear()

    received = studies.instance_received(
        header=header(STUDY, SERIES, SOP),
        calling_ae_title="CT2",
        file_bytes=lambda: b"\0" * 128 + b"DICM",
    )

    assert first_look_misses == [SOP]
    assert not received.created
    assert received.instance.sending_ae_title == "CT1"
    assert Instance.objects.count() == 1
    study = Study.objects.get()
    assert study.number_of_study_related_instances == 1
    assert Series.objects.get().number_of_series_related_instances == 1
    assert not list(studies_settings.DATA_DIR.rglob("*.dcm"))


def test_a_racing_copy_claiming_another_study_leaves_no_empty_study(first_look_misses):
    studies.instance_received(header=header(STUDY, SERIES, SOP), calling_ae_title="CT1")
    first_look_misses.clear()

    received = studies.instance_received(
        header=header("1.2.3.9", "1.2.3.9.1", SOP), calling_ae_title="CT2"
    )

    assert not received.created
    assert list(Study.objects.values_list("study_instance_uid", flat=True)) == [STUDY]
