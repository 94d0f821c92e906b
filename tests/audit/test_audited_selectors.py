"""@audited: reads record exactly the patients fetched, writes record in their own
transaction, refusals are recorded as failures."""

import pytest
from django.core.paginator import Paginator
from django.db.models import QuerySet

from audit import context, services
from audit.audited import audited
from audit.codes import Action, Outcome, Verb
from ris.errors import Conflict
from worklist.models import Patient

from .conftest import events_after, patients_of

pytestmark = pytest.mark.django_db


@audited(Action.PATIENT_RECORD, patient=lambda p: p)
def patients() -> QuerySet[Patient]:
    return Patient.objects.order_by("patient_id")


@audited(Action.PATIENT_RECORD, patient=lambda p: p)
def patient_named(patient_id: str) -> Patient:
    return Patient.objects.get(patient_id=patient_id)


@audited(
    Action.PATIENT_RECORD,
    verb=Verb.UPDATE,
    patient=lambda p: p,
    patient_of_call=lambda kw: kw["patient"],
)
def rename(*, patient: Patient, name: str, refuse: bool = False) -> Patient:
    patient.patient_name = name
    patient.save()
    if refuse:
        raise Conflict("no")
    return patient


@pytest.fixture
def five(db):
    for i in range(5):
        Patient.objects.create(patient_id=f"P{i}", issuer_of_patient_id="H", patient_name=f"N^{i}")


def test_a_page_records_exactly_the_patients_on_it(five, mark):
    page = Paginator(patients().filter(patient_id__gte="P1"), 2).page(1)
    list(page)
    [event] = events_after(mark)
    assert patients_of(event) == [("P1", "H"), ("P2", "H")]


def test_counting_and_projections_record_nothing(five, mark):
    assert patients().count() == 5
    assert patients().exists()
    assert sorted(patients().values_list("pk", flat=True))
    assert events_after(mark) == []


def test_an_unevaluated_queryset_records_nothing_and_a_second_look_nothing_more(five, mark):
    queryset = patients()
    assert events_after(mark) == []
    list(queryset)
    list(queryset)
    assert len(events_after(mark)) == 1


def test_iterator_records_what_it_yields(five, mark):
    assert len(list(patients().iterator(chunk_size=2))) == 5
    assert sum(len(patients_of(e)) for e in events_after(mark)) == 5


def test_a_selector_returning_an_object_records_it(five, mark):
    patient_named("P3")
    [event] = events_after(mark)
    assert patients_of(event) == [("P3", "H")]
    assert event.event_action_code == "R"


def test_an_empty_result_records_nothing(five, mark):
    assert list(patients().filter(patient_id="none")) == []
    assert events_after(mark) == []


def test_reads_in_a_request_are_merged_per_action_until_the_response(five, rf, mark):
    ctx = context.for_request(rf.get("/patients/"))
    with context.bind(ctx):
        list(patients()[:2])
        patient_named("P4")
        assert events_after(mark) == []
    services.flush_reads(ctx)
    [event] = events_after(mark)
    assert patients_of(event) == [("P0", "H"), ("P1", "H"), ("P4", "H")]
    assert event.detail == "GET /patients/"


def test_a_write_is_recorded_with_its_patient(five, mark):
    rename(patient=Patient.objects.get(patient_id="P1"), name="New^Name")
    [event] = events_after(mark)
    assert (event.event_action_code, event.event_outcome_indicator) == ("U", 0)
    assert patients_of(event) == [("P1", "H")]
    assert event.detail.endswith("[rename]")


def test_a_refused_write_is_undone_and_recorded_as_a_minor_failure(five, mark):
    with pytest.raises(Conflict):
        rename(patient=Patient.objects.get(patient_id="P2"), name="X^Y", refuse=True)
    assert Patient.objects.get(patient_id="P2").patient_name == "N^2"
    [event] = events_after(mark)
    assert event.event_outcome_indicator == Outcome.MINOR_FAILURE
    assert patients_of(event) == [("P2", "H")]
    assert event.detail.endswith("[rename: Conflict]")


def test_a_failed_audit_write_undoes_the_change(five, mark, monkeypatch):
    from audit import chain

    def broken(*args, **kwargs):
        raise RuntimeError("audit database unavailable")

    monkeypatch.setattr(chain, "append", broken)
    with pytest.raises(RuntimeError):
        rename(patient=Patient.objects.get(patient_id="P3"), name="Changed^Anyway")
    assert Patient.objects.get(patient_id="P3").patient_name == "N^3"
