"""Answers kept between queries (worklist/dicom/answers.py): a step's item is built
and encoded once for its content and the kind of request, sent as those bytes after,
and never stale: whatever wrote a change (a service, save() with a narrow
update_fields, a queryset update, raw SQL) and whichever table it touched, a change
committed before a query is in its answer, also while writers run beside it."""

import random
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, service_class
from pynetdicom.sop_class import ModalityWorklistInformationFind

from tests.factories import book, book_step, future_day, local, station, step_of
from worklist.dicom import answers, worklist_item
from worklist.models import Modality, Patient, ScheduledProcedureStep, Station
from worklist.services.booking import order_cancel, step_update
from worklist.services.patients import patient_merge, patient_update
from worklist.services.stations import modality_save

from .conftest import find, matches, mwl_query, values

DAY = future_day(7)  # its bookings are all in the future
DAY_BEFORE = DAY - timedelta(days=1)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

# One return key read from each table an item is made of.
RETURN_KEYS = {
    "PatientName": "",
    "MedicalAlerts": "",
    "RequestingService": "",
    "RequestedProcedureDescription": "",
    "sps": {
        "ScheduledProcedureStepDescription": "",
        "ScheduledStationAETitle": "",
        "ScheduledProcedureStepID": "",
    },
}


@pytest.fixture
def ct1(dicom_port):
    answers.ANSWERS.clear()
    station("CT1")
    return dicom_port


@pytest.fixture
def builds(monkeypatch):
    """How many items were built from a row (the rest came from the memo)."""
    made = []
    build = worklist_item.build

    def counted(*args, **kwargs):
        made.append(1)
        return build(*args, **kwargs)

    monkeypatch.setattr(worklist_item, "build", counted)
    return made


def ask(port, **keys):
    return matches(find(port, mwl_query(**{**RETURN_KEYS, **keys})))


def test_pynetdicom_still_sends_c_find_answers_through_the_function_we_wrap():
    """Guard: answers.install() wraps pynetdicom.service_class.encode, which the
    pinned pynetdicom calls for each pending C-FIND identifier. If this fails after an
    upgrade, answers are built and encoded per query again (slower, still correct):
    find the new place pynetdicom encodes identifiers and adapt install()."""
    assert answers.PRE_ENCODED, "pynetdicom changed: answers.install() found no encode()"
    assert getattr(service_class.encode, "sends_encoded_identifiers", False)
    assert "encode" in service_class.ServiceClass._c_find_scp.__code__.co_names


def test_the_same_query_again_is_answered_from_the_memo_byte_for_byte(ct1, builds):
    for hour in range(8, 12):
        book_step(start=local(DAY, hour), patient_name=f"Patient^{hour}")
    first = ask(ct1)
    assert len(builds) == 4
    again = ask(ct1)
    assert len(builds) == 4  # nothing built twice
    assert [a.to_json() for a in again] == [a.to_json() for a in first]
    assert answers.ANSWERS.hits == 4


def test_other_return_keys_are_another_answer(ct1, builds):
    book_step()
    (with_name,) = ask(ct1)
    (without,) = matches(find(ct1, mwl_query(PatientID="", sps={})))
    assert len(builds) == 2
    assert "PatientName" in with_name and "PatientName" not in without


@pytest.mark.parametrize(
    "syntax", [ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian]
)
def test_each_transfer_syntax_gets_its_own_encoding(ct1, syntax):
    book_step(patient_name="Vivaldi^Antonio")
    ask(ct1)  # kept in the syntax the first query negotiated (implicit VR little endian)
    ae = AE(ae_title="CT1")
    ae.add_requested_context(ModalityWorklistInformationFind, [syntax])
    assoc = ae.associate("127.0.0.1", ct1, ae_title="RIS")
    try:
        responses = list(
            assoc.send_c_find(mwl_query(**RETURN_KEYS), ModalityWorklistInformationFind)
        )
    finally:
        assoc.release()
    assert values(responses, "PatientName") == ["Vivaldi^Antonio"]


def test_a_modality_with_another_character_set_gets_its_own_answer(ct1):
    book_step(patient_name="Dvořák^Antonín")
    assert values(find(ct1, mwl_query(**RETURN_KEYS)), "PatientName") == ["Dvořák^Antonín"]
    modality_save(
        modality=Modality(), ae_title="LATIN1", sees_all_stations=True, character_set="ISO_IR 100"
    )
    found = find(ct1, mwl_query(**RETURN_KEYS), calling_ae="LATIN1")
    assert values(found, "PatientName") == ["Dvorák^Antonín"]  # ř is not in Latin-1


def _write_every_way(step_pk: int, version: int) -> None:
    """One change to each table an item reads, each by another write path, none of
    which is the booking service."""
    step = ScheduledProcedureStep.objects.select_related("requested_procedure__order").get(
        pk=step_pk
    )
    order = step.requested_procedure.order
    with transaction.atomic():
        Patient.objects.filter(pk=order.patient_id).update(medical_alerts=f"V{version:06d}")
        order.requesting_service = f"V{version:06d}"
        order.save(update_fields=["requesting_service"])  # updated_at left as it was
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE worklist_requestedprocedure SET requested_procedure_description = %s "
                "WHERE id = %s",
                [f"V{version:06d}", step.requested_procedure_id],
            )
        ScheduledProcedureStep.objects.filter(pk=step_pk).update(
            scheduled_procedure_step_description=f"V{version:06d}"
        )


FIELDS = (
    ("MedicalAlerts", False),
    ("RequestingService", False),
    ("RequestedProcedureDescription", False),
    ("ScheduledProcedureStepDescription", True),
)


def _versions(answer: Dataset) -> list[int]:
    found = []
    for keyword, in_step in FIELDS:
        source = answer.ScheduledProcedureStepSequence[0] if in_step else answer
        text = str(source.get(keyword, "") or "")
        found.append(int(text[1:]) if text.startswith("V") else 0)
    return found


def test_a_change_by_any_write_path_is_in_the_next_answer(ct1):
    step = book_step(patient_name="Vivaldi^Antonio")
    for version in range(1, 4):
        _write_every_way(step.pk, version)
        (answer,) = ask(ct1)
        assert _versions(answer) == [version] * 4
    Station.objects.filter(pk=step.station_id).update(scheduled_station_ae_title="CT9")
    station_answer = matches(find(ct1, mwl_query(**RETURN_KEYS), calling_ae="CT9"))
    assert [
        a.ScheduledProcedureStepSequence[0].ScheduledStationAETitle for a in station_answer
    ] == ["CT9"]


def test_a_rebooked_step_is_answered_at_its_new_time(ct1):
    step = book_step(start=local(DAY, 9))
    (before,) = matches(find(ct1, mwl_query(sps={"ScheduledProcedureStepStartTime": ""})))
    ScheduledProcedureStep.objects.filter(pk=step.pk).update(
        start=step.start.replace(hour=14), end=step.end.replace(hour=14)
    )
    (after,) = matches(find(ct1, mwl_query(sps={"ScheduledProcedureStepStartTime": ""})))
    assert before.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime == "090000"
    assert after.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime == "140000"


def test_the_memo_keeps_a_bounded_number_of_answers():
    memo = answers.Answers(max_entries=3)
    request = _FakeRequest()
    for pk in range(10):
        memo.identifier(worklist_item.Row((pk,)), request, (True, True, False))
    assert len(memo) == 3
    assert memo.misses == 10


def test_an_entry_is_only_served_for_the_values_it_was_made_of():
    memo = answers.Answers()
    request = _FakeRequest()
    syntax = (True, True, False)
    first = memo.identifier(worklist_item.Row((1, "old")), request, syntax)
    assert memo.identifier(worklist_item.Row((1, "old")), request, syntax) is first
    changed = memo.identifier(worklist_item.Row((1, "new")), request, syntax)
    assert changed is not first and changed.encoded != first.encoded


class _FakeRequest:
    key = ("shape",)

    def build(self, row) -> Dataset:
        answer = Dataset()
        answer.PatientID = str(row.values[-1])
        return answer


@pytest.mark.postgres
def test_changes_committed_before_a_query_are_in_its_answer_while_writers_run(ct1):
    """Two writers change every table of eight items, each by another write path, at
    random moments; two modalities query the sixteen items of the day meanwhile. Every
    answer holds at least the version each writer had committed before the query
    began, and some answers came from the memo."""
    booked = [
        book_step(start=local(DAY, 8 + n // 2, 30 * (n % 2)), patient_name=f"P^{n}")
        for n in range(16)
    ]
    step_ids = {s.pk: s.scheduled_procedure_step_id for s in booked}
    steps = [s.pk for s in booked[:8]]
    committed: dict[int, int] = dict.fromkeys(steps, 0)
    lock = threading.Lock()
    stop = time.monotonic() + 6
    failures: list[str] = []
    queries = [0]

    def writer(mine: list[int]) -> None:
        version = 0
        try:
            while time.monotonic() < stop:
                version += 1
                for pk in mine:
                    if random.random() < 0.5:
                        _write_every_way(pk, version)
                        with lock:
                            committed[pk] = version
                time.sleep(random.uniform(0, 0.2))
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(f"writer: {exc!r}")
        finally:
            connection.close()

    def modality() -> None:
        try:
            while time.monotonic() < stop:
                with lock:
                    before = dict(committed)
                found = ask(ct1)
                by_step = {
                    a.ScheduledProcedureStepSequence[0].ScheduledProcedureStepID: a for a in found
                }
                if len(by_step) != 16:
                    failures.append(f"{len(by_step)} items answered")
                for pk in steps:
                    seen = _versions(by_step[step_ids[pk]])
                    if min(seen) < before[pk]:
                        failures.append(f"step {pk}: answered {seen}, {before[pk]} committed")
                queries[0] += 1
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(f"modality: {exc!r}")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=writer, args=(steps[:4],)),
        threading.Thread(target=writer, args=(steps[4:],)),
        threading.Thread(target=modality),
        threading.Thread(target=modality),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert queries[0] >= 4
    assert max(committed.values()) >= 2
    assert answers.ANSWERS.hits > 0


def test_what_the_services_change_is_in_the_next_answer_of_a_warm_memo(ct1, builds):
    """The write services a department uses (patient edit and merge, moving a step,
    cancelling an order), each committed right before a query whose items were all
    kept: the answer shows the change, and only the changed items are built again."""
    keys = {
        "PatientName": "",
        "PatientID": "",
        "AccessionNumber": "",
        "sps": {"ScheduledProcedureStepStartTime": "", "ScheduledProcedureStepID": ""},
    }
    first = book(start=local(DAY, 9), patient_name="Vivaldi^Antonio", patient_id="P1")
    second = book(start=local(DAY, 10), patient_name="Haydn^Joseph", patient_id="P2")
    third = book(start=local(DAY, 11), patient_name="Haydn^J", patient_id="P3")

    def answer():
        found = matches(find(ct1, mwl_query(**keys)))
        return {
            a.AccessionNumber: (
                str(a.PatientName),
                a.PatientID,
                a.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime,
            )
            for a in found
        }

    answer()
    assert len(answer()) == 3
    builds.clear()

    patient_update(patient=first.patient, patient_name="Vivaldi^Antonio Lucio")
    assert answer()[first.accession_number][0] == "Vivaldi^Antonio Lucio"
    assert len(builds) == 1

    step_update(step=step_of(second), start=local(DAY, 14))
    assert answer()[second.accession_number][2] == "140000"

    patient_merge(survivor=second.patient, merged=third.patient)
    assert answer()[third.accession_number][:2] == ("Haydn^Joseph", "P2")

    order_cancel(order=first, reason="Patient declined")
    assert sorted(answer()) == sorted([second.accession_number, third.accession_number])
