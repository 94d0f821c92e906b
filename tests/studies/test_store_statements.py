"""The database work of one stored instance: the statements its transaction sends,
an upper bound. Each statement is a round trip to the database under the study's
row lock, and the images a second the modalities can send fall with each one added
(bench/store_bench.py measures the rate)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from worklist.models import Instance, Study
from worklist.services import studies

from .conftest import header

pytestmark = pytest.mark.django_db(transaction=True)

STUDY, SERIES = "1.2.3.7", "1.2.3.7.1"


def store(number: int):
    return studies.instance_received(
        header=header(STUDY, SERIES, f"{STUDY}.9.{number}"),
        calling_ae_title="CT1",
        audit_transfer=False,
    )


def statements(queries: CaptureQueriesContext) -> list[str]:
    """What was sent, without the transaction's own BEGIN and COMMIT (SQLite's are
    statements, PostgreSQL's are not)."""
    return [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].split()[0].upper() not in ("BEGIN", "COMMIT")
    ]


def test_a_further_instance_of_a_known_series_takes_at_most_four_statements():
    store(1)

    with CaptureQueriesContext(connection) as queries:
        received = store(2)

    assert received.created
    assert len(statements(queries)) <= 4, statements(queries)
    study = Study.objects.get(study_instance_uid=STUDY)
    assert study.number_of_study_related_instances == 2
    assert study.series.get().number_of_series_related_instances == 2


def test_a_second_copy_takes_at_most_two_statements_and_changes_nothing():
    store(1)
    before = Study.objects.values().get(study_instance_uid=STUDY)

    with CaptureQueriesContext(connection) as queries:
        received = store(1)

    assert not received.created
    assert len(statements(queries)) <= 2, statements(queries)
    assert Study.objects.values().get(study_instance_uid=STUDY) == before
    assert Instance.objects.count() == 1
