"""The one-line contexts other channels use, and what web requests get."""

from types import SimpleNamespace

import pytest

from audit import context, services
from audit.codes import Action, Channel

from .conftest import events_after, head, patients_of

pytestmark = pytest.mark.django_db


def fake_association(ae_title="CT1", address="192.0.2.10", port=40123):
    return SimpleNamespace(requestor=SimpleNamespace(ae_title=ae_title, address=address, port=port))


def test_a_dicom_handler_records_the_calling_ae_title_and_peer(mark):
    with context.dicom(fake_association()):
        services.record_read(Action.QUERY, patients=[("AV35674", "HOSP")])

    [event] = events_after(mark)
    assert event.channel == Channel.DICOM
    assert (event.ae_title, event.source_ip, event.source_port) == ("CT1", "192.0.2.10", 40123)
    assert event.username == "" and event.actor == "CT1"
    assert event.role == "DICOM peer"
    assert patients_of(event) == [("AV35674", "HOSP")]


def test_dicom_reads_are_written_at_once_not_buffered(mark):
    with context.dicom(fake_association()):
        services.record_read(Action.QUERY, patients=[("P1", "")])
        assert len(events_after(mark)) == 1


def test_a_management_command_records_its_name(mark):
    with context.system("loaddemo"):
        services.record(Action.PATIENT_RECORD, verb="C", patients=[("P1", "")])
    [event] = events_after(mark)
    assert (event.channel, event.detail) == (Channel.COMMAND, "loaddemo")


def test_contexts_nest_and_restore(mark):
    with context.system("outer"):
        with context.dicom(fake_association()):
            assert context.current().channel == Channel.DICOM
        assert context.current().channel == Channel.COMMAND
    assert context.current().channel == Channel.UNKNOWN


def test_an_ipv6_peer_is_stored_in_its_canonical_form(mark):
    with context.dicom(fake_association(address="2001:DB8::0:1")):
        services.record(Action.QUERY)
    [event] = events_after(mark)
    assert event.source_ip == "2001:db8::1"


def test_forwarded_for_is_trusted_only_behind_configured_proxies(rf, settings):
    request = rf.get(
        "/api/patients/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9, 10.0.0.2"
    )
    settings.AUDIT_TRUSTED_PROXIES = 0
    assert context.client_ip(request) == "10.0.0.1"
    settings.AUDIT_TRUSTED_PROXIES = 1
    assert context.client_ip(request) == "10.0.0.2"
    settings.AUDIT_TRUSTED_PROXIES = 2
    assert context.client_ip(request) == "203.0.113.9"


def test_the_channel_follows_the_path(rf):
    assert context.for_request(rf.get("/api/orders/")).channel == Channel.API
    assert context.for_request(rf.get("/admin/")).channel == Channel.ADMIN
    assert context.for_request(rf.get("/patients/")).channel == Channel.WEB


def test_a_sent_request_id_is_kept_and_a_bad_one_replaced(rf):
    kept = context.for_request(rf.get("/", HTTP_X_REQUEST_ID="req-42.a:b"))
    replaced = context.for_request(rf.get("/", HTTP_X_REQUEST_ID="bad id;drop"))
    assert kept.correlation_id == "req-42.a:b"
    assert replaced.correlation_id != "bad id;drop" and len(replaced.correlation_id) == 32


def test_a_users_role_is_read_when_the_event_is_written(django_user_model, rf, mark):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_superuser("root2", "r@example.org", "pw-Secret-1")
    for name in ("radiologist", "Administrator", "scheduler"):
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    request = rf.get("/patients/")
    request.user = user
    after_setup = head()
    with context.bind(context.for_request(request)):
        services.record(Action.PATIENT_RECORD)
    [event] = events_after(after_setup)
    assert event.role == context.role_of(user) == "superuser, Administrator, radiologist, scheduler"
