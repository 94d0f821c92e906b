"""The worklist answers from one SQL query over indexed columns, whatever the
schedule's size, and leaves no database connection behind."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.models import Q
from pydicom.dataset import Dataset

from tests.factories import book_step, dicom_date, future_day, local, station
from worklist import selectors
from worklist.dicom import query, worklist_item
from worklist.models import ScheduledProcedureStep, Station

from .conftest import find, matches, mwl_query

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR")

DAY = future_day(7)  # a day ahead: its bookings are all in the future

BERLIN = ZoneInfo("Europe/Berlin")


def station_day() -> Dataset:
    return mwl_query(
        PatientName="",
        PatientID="",
        sps={
            "ScheduledStationAETitle": "CT1",
            "ScheduledProcedureStepStartDate": dicom_date(DAY),
            "Modality": "",
        },
    )


def test_a_worklist_query_is_one_sql_query(db, django_assert_num_queries):
    ct1 = station("CT1")
    for hour in range(8, 12):
        book_step(start=local(DAY, hour), patient_name="Vivaldi^Antonio")
    where = query.translate(station_day(), tz=BERLIN).where
    with django_assert_num_queries(1):
        rows = list(
            selectors.modality_worklist(
                match=where, stations=[ct1], columns=worklist_item.query_columns()
            )
        )
    assert len(rows) == 4
    # every value an answer reads came with it: patient, order, procedure, station
    row = worklist_item.Row(rows[0])
    assert row[worklist_item.PATIENT + "patient_name"] == "Vivaldi^Antonio"
    assert row[worklist_item.STATION_AE_TITLE] == "CT1"


def test_no_station_granted_means_no_query_at_all(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert list(selectors.modality_worklist(match=Q(), stations=[], columns=["pk"])) == []


@pytest.mark.postgres
def test_the_station_day_query_uses_the_station_start_index(db):
    """With enough rows for the planner to care, the plan reads the step table by
    index, never sequentially."""
    ct1 = station("CT1")
    others = [station(f"CT{n}") for n in range(2, 6)]
    first = ScheduledProcedureStep.objects.count()
    template = book_step(start=local(DAY, 9))
    start = local(DAY, tz=BERLIN) - timedelta(days=200)  # rows around the day queried
    ScheduledProcedureStep.objects.bulk_create(
        ScheduledProcedureStep(
            requested_procedure=template.requested_procedure,
            station=others[n % 4] if n % 5 else ct1,
            scheduled_procedure_step_id=f"B{n:07d}",
            modality="CT",
            start=start + timedelta(minutes=15 * n),
            end=start + timedelta(minutes=15 * n + 15),
        )
        for n in range(40000)
    )
    assert ScheduledProcedureStep.objects.count() > first + 40000 - 1
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    where = query.translate(station_day(), tz=BERLIN).where
    stations = list(Station.objects.filter(scheduled_station_ae_title="CT1"))
    rows = selectors.modality_worklist(
        match=where, stations=stations, columns=worklist_item.query_columns()
    )
    plan = rows_plan(where, stations)
    assert "Seq Scan on worklist_scheduledprocedurestep" not in plan, plan
    assert "sps_station_start" in plan or "sps_status_start" in plan, plan
    assert len(list(rows)) >= 1


def rows_plan(where, stations) -> str:
    return selectors.modality_worklist_query(match=where, stations=stations).explain()


@pytest.mark.postgres
def test_associations_do_not_leave_database_connections_open(dicom_port, settings):
    """Each association's thread gives its connection back (to the pool of
    DATABASE_POOL_SIZE connections, when there is one): sessions do not grow with the
    number of associations."""
    station("CT1")
    book_step(start=local(DAY, 9))

    def sessions() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            )
            return cursor.fetchone()[0]

    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
    room = pool["max_size"] if isinstance(pool, dict) else 1
    before = sessions()
    for _ in range(10):
        assert len(matches(find(dicom_port, station_day()))) == 1
    after_ten = sessions()
    for _ in range(20):
        assert len(matches(find(dicom_port, station_day()))) == 1
    assert sessions() <= after_ten <= before + room
