"""What one ORM^O01 new order costs in SQL statements: each is a round trip to the
database while the sender waits for its ACK (issue 15; bench/hl7_bench.py). A bound,
so that a change adding statements to this path is seen and weighed."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from hl7v2 import services
from hl7v2.models import Message, Sender, Status
from tests.hl7.conftest import orm

# PostgreSQL, since 2026-12-01: the duplicate check with the senders, BEGIN, placer
# number, catalogue, patient, alias, patient insert, accession number and its check,
# order, requested procedure ID and insert, history line, the message, the audit
# chain's head and append, COMMIT. SQLite: the services' savepoints, the identifier
# counters and the audit append as three statements make it 22.
NEW_ORDER_STATEMENTS = {"postgresql": 17, "sqlite": 22}


def test_a_new_order_costs_at_most_its_statements(transactional_db, settings, catalogue):
    settings.RIS_HL7_STRICT_SENDERS = True
    Sender.objects.create(sending_application="HIS", sending_facility="HOSP")
    # The first message of a process may read what later ones find cached.
    services.receive(orm(placer="WARM1").encode(), address="127.0.0.1", port=2575)

    with CaptureQueriesContext(connection) as queries:
        answer = services.receive(
            orm(placer="PLACER2", patient={"patient_id": "NEW2"}).encode(),
            address="127.0.0.1",
            port=2575,
        )

    assert answer.ack_code == "AA", answer.ack
    assert Message.objects.get(placer_order_number="PLACER2").status == Status.APPLIED
    statements = [q["sql"][:90] for q in queries.captured_queries]
    assert len(statements) <= NEW_ORDER_STATEMENTS[connection.vendor], "\n".join(statements)
