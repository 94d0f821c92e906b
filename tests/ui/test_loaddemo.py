"""manage.py loaddemo fills an empty database with a living department."""

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from worklist.models import Order, OrderEvent, Patient, Procedure, ScheduledProcedureStep, Station

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(capsys):
    call_command(
        "loaddemo", "--patients", "25", "--days-before", "1", "--days-after", "2", "--fill", "0.3"
    )
    return capsys.readouterr().out


def test_demo_has_rooms_of_every_modality_a_catalogue_and_patients(demo):
    assert Station.objects.count() == 10
    assert set(Station.objects.values_list("modality", flat=True)) == {"CT", "MR", "US", "CR", "MG"}
    assert set(Procedure.objects.values_list("modality", flat=True)) == {
        "CT",
        "MR",
        "US",
        "CR",
        "MG",
    }
    assert Patient.objects.count() == 25
    assert "Demo loaded: 10 rooms" in demo


def test_demo_bookings_span_past_and_future_with_their_history(demo):
    assert Order.objects.count() > 50
    statuses = set(
        ScheduledProcedureStep.objects.values_list("scheduled_procedure_step_status", flat=True)
    )
    assert {"COMPLETED", "SCHEDULED"} <= statuses
    assert OrderEvent.objects.filter(kind="completed").exists()
    assert OrderEvent.objects.filter(kind="booked").count() == Order.objects.count()


def test_demo_users_log_in_with_their_role(demo):
    user = authenticate(username="scheduler", password="demo")
    assert user is not None and user.has_perm("worklist.add_order")
    technologist = authenticate(username="technologist", password="demo")
    assert not technologist.has_perm("worklist.add_order")


def test_loaddemo_refuses_a_database_holding_data(demo):
    with pytest.raises(CommandError, match="only fills an empty database"):
        call_command("loaddemo", "--patients", "1")
