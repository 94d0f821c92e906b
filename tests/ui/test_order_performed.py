"""The order page shows what the modality reported it performed (MPPS): status, station,
times in local time, operators, protocols, each series with its instance counts, the
dose values sent and why an exam was discontinued; in a constant number of queries."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import book, future_day, local, step_of
from worklist.models import PerformedProcedureStep, PerformedStepStatus

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"


def series(n, **fields):
    item = {
        "series_instance_uid": f"1.2.826.0.1.3680043.2.1125.{n}",
        "series_description": f"Series {n}",
        "protocol_name": "Head routine",
        "operators_name": "Curie^Marie",
        "performing_physician_name": "",
        "retrieve_ae_title": "PACS",
        "number_of_images": 10,
        "number_of_non_image_objects": 0,
    }
    return item | fields


_uids = iter(range(1, 10**6))


def performed(step, **fields):
    """A performed step as the MPPS handler stores it, linked to `step`."""
    n = next(_uids)
    values = {
        "sop_instance_uid": f"1.2.826.0.1.3680043.2.1126.{n}",
        "calling_ae_title": "CT1",
        "performed_procedure_step_id": f"PPS{n}",
        "performed_procedure_step_status": PerformedStepStatus.COMPLETED,
        "performed_station_ae_title": "CT1",
        "performed_station_name": "CT Room 1",
        "modality": "CT",
        "patient_id": "P1001",
        "patient_name": "Müller^Anna",
    }
    instance = PerformedProcedureStep.objects.create(**(values | fields))
    instance.scheduled_procedure_steps.add(step)
    return instance


@pytest.fixture
def order(rooms, patient):
    return book(patient=patient, start=local(future_day(), 9))


def page(client, order):
    response = client.get(reverse("ui:order", args=[order.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_performed_exam_is_shown_with_its_series_and_counts(technologist_client, order):
    step = step_of(order)
    performed(
        step,
        performed_procedure_step_id="PPS-HEAD",
        performed_procedure_step_description="CT head plain",
        performed_series_sequence=[
            series(1, series_description="Axial 5 mm", number_of_images=42),
            series(
                2,
                series_description="Dose report",
                protocol_name="Dose SR",
                operators_name="Curie^Marie\\Röntgen^Wilhelm",
                number_of_images=0,
                number_of_non_image_objects=1,
            ),
        ],
        performed_protocol_code_sequence=[
            {"code_value": "P1", "coding_scheme_designator": "LOCAL", "code_meaning": "Head"}
        ],
    )
    html = page(technologist_client, order)
    assert 'id="performed"' in html
    assert "PPS-HEAD" in html and "COMPLETED" in html
    assert "CT Room 1" in html and "CT head plain" in html
    assert "Axial 5 mm" in html and "Dose report" in html
    assert "Curie, Marie; Röntgen, Wilhelm" in html
    assert "Head routine, Dose SR" in html
    assert "42 images, 1 non-image object in 2 series" in html
    assert "(P1, LOCAL)</span> Head" in html
    assert "PACS" in html


def test_times_are_shown_in_local_time(technologist_client, order):
    performed(
        step_of(order),
        start=datetime(2026, 11, 25, 8, 2, tzinfo=UTC),
        end=datetime(2026, 11, 25, 8, 19, tzinfo=UTC),
    )
    html = page(technologist_client, order)
    assert "Wed 2026-11-25 09:02" in html and "Wed 2026-11-25 09:19" in html


def test_dose_values_are_shown_where_the_modality_sent_them(technologist_client, order):
    step = step_of(order)
    performed(step, radiation_dose={"CTDIvol": 12.5, "CommentsOnRadiationDose": "Low dose"})
    html = page(technologist_client, order)
    assert "CTDIvol (mGy)" in html and "12.5" in html
    assert "Low dose" in html
    assert "Entrance dose" not in html


def test_a_discontinued_exam_shows_its_reason(technologist_client, order):
    performed(
        step_of(order),
        performed_procedure_step_status=PerformedStepStatus.DISCONTINUED,
        performed_procedure_step_discontinuation_reason_code_sequence=[
            {
                "code_value": "110514",
                "coding_scheme_designator": "DCM",
                "code_meaning": "Incorrect worklist entry selected",
            }
        ],
    )
    html = page(technologist_client, order)
    assert "Discontinued because" in html
    assert "Incorrect worklist entry selected" in html


def test_an_order_nothing_was_performed_for_has_no_performed_section(technologist_client, order):
    assert 'id="performed"' not in page(technologist_client, order)


def test_the_order_page_reads_performed_steps_in_constant_queries(
    technologist_client, rooms, patient
):
    """One performed step or five, with series each: the same number of queries."""

    def queries(order):
        with CaptureQueriesContext(connection) as captured:
            page(technologist_client, order)
        return len(captured.captured_queries)

    one = book(patient=patient, start=local(future_day(), 9))
    performed(step_of(one), performed_series_sequence=[series(1)])
    day = future_day(3)
    many = book(patient=patient, start=local(day, 9))
    for n in range(5):
        performed(
            step_of(many),
            performed_series_sequence=[series(n), series(n + 10)],
            radiation_dose={"CTDIvol": n},
        )
    assert queries(many) == queries(one)
    html = page(technologist_client, many)
    assert html.count('class="panel performed"') == 5
