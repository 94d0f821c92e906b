"""Queries compiled once (worklist/compiled.py): a kept statement gives the rows the
queryset gives, read afresh every time, and two conditions share a statement only
when they compile to the same SQL with the same parameters."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import TruncTime
from django.db.models.lookups import GreaterThanOrEqual

from tests.factories import book_step, future_day, local, station
from worklist import compiled
from worklist.models import Modality, PatientAlias, ScheduledProcedureStep, Station
from worklist.services.stations import modality_save

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (Q(priority=1), Q(priority=True)),
        (Q(start__gte=date(2026, 1, 5)), Q(start__gte=datetime(2026, 1, 5))),
        (
            Q(start__gte=datetime(2026, 1, 5, 1, tzinfo=BERLIN)),
            Q(start__gte=datetime(2026, 1, 5, 0, tzinfo=UTC)),
        ),
        (Q(modality="CT"), Q(modality="CT") | Q(modality="MR")),
        (Q(modality="CT"), ~Q(modality="CT")),
        (Q(modality__in=["CT", "MR"]), Q(modality__in=("CT", "MR"))),
        (
            Q(GreaterThanOrEqual(TruncTime(F("start"), tzinfo=BERLIN), "08:00")),
            Q(GreaterThanOrEqual(TruncTime(F("start"), tzinfo=UTC), "08:00")),
        ),
    ],
)
def test_conditions_that_compile_differently_never_share_a_key(one, other):
    assert compiled.freeze(one) != compiled.freeze(other)


def test_the_same_conditions_built_twice_share_a_key():
    def build():
        return Q(start__gte=datetime(2026, 1, 5, tzinfo=BERLIN), modality="CT") & Q(
            GreaterThanOrEqual(TruncTime(F("start"), tzinfo=BERLIN), "08:00")
        )

    assert compiled.freeze(build()) == compiled.freeze(build())


def test_a_subquery_is_not_kept():
    aliases = PatientAlias.objects.filter(survivor=OuterRef("pk"), patient_id="P1")
    with pytest.raises(compiled.Uncacheable):
        compiled.freeze(Q(Exists(aliases)))


def test_a_kept_statement_gives_the_rows_of_the_queryset_with_their_converters():
    station("CT1", "CT")
    book_step(ae_title="CT1", patient_name="First^Patient")
    modality_save(modality=Modality(), ae_title="VIEWER", sees_all_stations=True)
    columns = (
        "pk",
        "start",
        "station__scheduled_station_ae_title",
        "requested_procedure__order__patient__patient_birth_date",
    )
    queryset = ScheduledProcedureStep.objects.order_by("pk").values_list(*columns)
    statements = compiled.Statements()
    assert statements.rows(("steps",), lambda: queryset) == list(queryset)
    modalities = Modality.objects.order_by("pk").values_list("ae_title", "sees_all_stations")
    assert statements.rows(("modalities",), lambda: modalities) == [("VIEWER", True)]
    assert type(statements.rows(("modalities",), lambda: modalities)[0][1]) is bool


def test_a_kept_statement_reads_the_rows_as_they_are_now():
    station("CT1", "CT")
    statements = compiled.Statements()
    compiles = []

    def build():
        compiles.append(1)
        return (
            Station.objects.filter(modality="CT")
            .order_by("pk")
            .values_list("scheduled_station_ae_title", "active")
        )

    assert statements.rows(("ct",), build) == [("CT1", True)]
    station("CT2", "CT")
    Station.objects.filter(scheduled_station_ae_title="CT1").update(active=False)
    assert statements.rows(("ct",), build) == [("CT1", False), ("CT2", True)]
    assert len(compiles) == 1


def test_the_least_recently_used_statement_is_dropped_first():
    statements = compiled.Statements(size=2)
    queryset = Station.objects.values_list("pk")
    for key in ("a", "b", "a", "c"):
        statements.rows((key,), lambda: queryset)
    assert len(statements) == 2
    compiles = []
    statements.rows(("a",), lambda: compiles.append(1) or queryset)
    statements.rows(("b",), lambda: compiles.append(1) or queryset)
    assert compiles == [1]  # "a" was kept, "b" was dropped


def patient_id(step) -> str:
    return step.requested_procedure.order.patient.patient_id


def test_a_worklist_query_asked_twice_sees_a_step_booked_in_between():
    from worklist import selectors
    from worklist.dicom import worklist_item

    station("CT1", "CT")
    day = future_day(3)
    first = book_step(ae_title="CT1", start=local(day, 9))
    match = Q(start__gte=local(day, 0), start__lt=local(day, 23), modality="CT")
    stations = list(Station.objects.filter(scheduled_station_ae_title="CT1"))
    columns = worklist_item.query_columns()

    def names():
        rows = selectors.modality_worklist(
            match=match, stations=stations, columns=columns, limit=10
        )
        return [worklist_item.Row(row)[worklist_item.PATIENT_ID] for row in rows]

    assert names() == [patient_id(first)]
    second = book_step(ae_title="CT1", start=local(day, 10))
    assert names() == [patient_id(first), patient_id(second)]


# --- templates: compiled once, run with the values of each call ----------------------


class Text(str):
    """A str subclass, as pydicom's UID is."""


def counting(build):
    """`build`, and the list of the calls made to it (one per compilation)."""
    calls = []

    def counted(*values):
        calls.append(values)
        return build(*values)

    return counted, calls


def test_a_template_gives_each_call_the_rows_of_its_values_compiled_once():
    for title in ("CT1", "CT2", "MR1"):
        station(title, title[:2])
    build, calls = counting(
        lambda title, modality: Station.objects.filter(
            scheduled_station_ae_title=title, modality=modality
        ).values_list("scheduled_station_ae_title", "active")
    )
    template = compiled.Template(build)
    assert template.rows("CT2", "CT") == [("CT2", True)]
    assert template.rows("MR1", "MR") == [("MR1", True)]
    assert template.rows("MR1", "CT") == []
    assert template.rows(Text("CT1"), "CT") == [("CT1", True)]  # a str subclass is text
    Station.objects.filter(scheduled_station_ae_title="CT1").update(active=False)
    assert template.rows("CT1", "CT") == [("CT1", False)]  # read as it is now
    assert len(calls) == 1


def test_a_list_of_keys_is_compiled_once_per_length():
    station("CT1", "CT")
    day = future_day(3)
    steps = [book_step(ae_title="CT1", start=local(day, hour)) for hour in (9, 10, 11)]
    pks = sorted(step.pk for step in steps)
    build, calls = counting(
        lambda keys: (
            ScheduledProcedureStep.objects.filter(pk__in=keys)
            .order_by("pk")
            .values_list("pk", "scheduled_procedure_step_id")
        )
    )
    template = compiled.Template(build)
    assert [row[0] for row in template.rows(pks[:2])] == pks[:2]
    assert [row[0] for row in template.rows(pks[1:])] == pks[1:]
    assert [row[0] for row in template.rows(pks)] == pks
    assert template.rows([]) == []
    assert [len(values[0]) for values in calls] == [2, 3, 0]


def test_a_value_folded_into_a_pattern_is_built_every_time():
    station("CT1", "CT")
    station("MR1", "MR")
    build, calls = counting(
        lambda part: (
            Station.objects.filter(scheduled_station_ae_title__contains=part)
            .order_by("pk")
            .values_list("scheduled_station_ae_title")
        )
    )
    template = compiled.Template(build)
    assert template.rows("T1") == [("CT1",)]
    assert template.rows("1") == [("CT1",), ("MR1",)]
    # Placeholders compiled once, found folded into the pattern: each call builds.
    assert calls[1:] == [("T1",), ("1",)]


def test_a_value_of_another_type_than_text_or_integer_is_built_every_time():
    step = book_step(ae_title=station("CT1", "CT").scheduled_station_ae_title)
    build, calls = counting(
        lambda start: ScheduledProcedureStep.objects.filter(start=start).values_list("pk")
    )
    template = compiled.Template(build)
    assert template.rows(step.start) == [(step.pk,)]
    assert template.rows(step.start) == [(step.pk,)]
    assert len(calls) == 2


def test_a_graph_links_its_instances_as_select_related_does(django_assert_num_queries):
    step = book_step(ae_title=station("CT1", "CT").scheduled_station_ae_title)
    graph = compiled.Graph(
        ScheduledProcedureStep,
        {
            "": ("id", "requested_procedure_id", "station_id", "modality"),
            "station": ("id", "scheduled_station_ae_title"),
            "requested_procedure": ("id", "order_id"),
            "requested_procedure__order": ("id", "patient_id", "accession_number"),
            "requested_procedure__order__patient": ("id", "patient_id"),
        },
    )
    template = compiled.Template(
        lambda pk: ScheduledProcedureStep.objects.filter(pk=pk).values_list(*graph.columns())
    )
    (row,) = template.rows(step.pk)
    with django_assert_num_queries(0):
        made = graph.instances(row)
        order = made.requested_procedure.order
        assert (made.pk, made.modality, made.scheduled_station_ae_title) == (step.pk, "CT", "CT1")
        assert order.accession_number == step.requested_procedure.order.accession_number
        assert order.patient.patient_id == patient_id(step)
    with django_assert_num_queries(1):  # a column not read is loaded when asked, as only()
        assert made.requested_procedure.order.patient.patient_name
    assert not made._state.adding


def test_a_graph_wants_the_primary_key_first():
    with pytest.raises(ValueError, match="primary key"):
        compiled.Graph(Station, {"": ("scheduled_station_ae_title", "id")})
