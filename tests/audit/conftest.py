"""Fixtures of the audit tests: a mark in the trail to read the events written after
it, the users of each role, and a booked patient."""

from contextlib import contextmanager

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection

from audit import chain, conf, triggers
from audit.models import Event


def head() -> int:
    return Event.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def events_after(mark: int) -> list[Event]:
    return list(Event.objects.filter(seq__gt=mark).order_by("seq").prefetch_related("patients"))


def patients_of(event: Event) -> list[tuple[str, str]]:
    return sorted((p.patient_id, p.issuer_of_patient_id) for p in event.patients.all())


def summary(event: Event) -> tuple:
    """What a test compares: action meaning, verb, outcome, channel, actor, patients."""
    return (
        event.get_action_display(),
        event.event_action_code,
        event.event_outcome_indicator,
        event.channel,
        event.actor,
        patients_of(event),
    )


@pytest.fixture(autouse=True)
def _own_cache(settings, request):
    """A cache of the test's own: failed logins counted by login throttling in one
    test never lock out another."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": request.node.nodeid,
        }
    }


@pytest.fixture(autouse=True)
def _own_checkpoint_file(settings, tmp_path):
    """Each test's checkpoints in a file of its own: the database is rolled back
    after every test, a checkpoint file would not be."""
    settings.AUDIT_CHECKPOINT_FILE = str(tmp_path / "audit-checkpoints.log")


@pytest.fixture
def mark(db):
    """The newest event's seq before the test acts: events_after(mark) is what it wrote."""
    return head()


def make_user(django_user_model, username, *, group=None, perms=(), **extra):
    user = django_user_model.objects.create_user(
        username, f"{username}@example.org", "pw-Secret-1", **extra
    )
    if group:
        role, _ = Group.objects.get_or_create(name=group)
        for perm in perms:
            app_label, codename = perm.split(".")
            role.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        user.groups.add(role)
    return user


@pytest.fixture
def compliance_officer(django_user_model):
    return make_user(
        django_user_model,
        "carol",
        group="compliance officer",
        perms=["audit.view_event", "worklist.view_patient"],
        is_staff=True,
    )


@pytest.fixture
def scheduler(django_user_model):
    return make_user(
        django_user_model,
        "alice",
        group="scheduler",
        perms=[
            "worklist.view_patient",
            "worklist.add_patient",
            "worklist.change_patient",
            "worklist.view_order",
            "worklist.add_order",
            "worklist.change_order",
            "worklist.view_scheduledprocedurestep",
        ],
        first_name="Alice",
        last_name="Smith",
    )


def api_client_for(user):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def record_as(user, action, *, patients=(), verb="R", channel="web", ip="10.1.2.3", **kwargs):
    """An event as if `user` had acted through a channel (for the review tests)."""
    from audit import context, services

    ctx = context.AuditContext(
        channel=channel,
        username=user.get_username(),
        user_pk=user.pk,
        role=context.role_of(user),
        source_ip=ip,
    )
    with context.bind(ctx):
        return services.record(action, verb=verb, patients=patients, **kwargs)


@contextmanager
def triggers_bypassed():
    """What an attacker with database access would do, undone afterwards."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        else:
            for statement in triggers.uninstall_statements("sqlite"):
                cursor.execute(statement)
        try:
            yield cursor
        finally:
            if connection.vendor == "postgresql":
                cursor.execute("SET session_replication_role = DEFAULT")
            else:
                for table in triggers.TABLES:
                    for statement in triggers._sqlite_install(table):
                        cursor.execute(statement)


def _stored_key(event):
    """The configured key an event names (None: chained without a key)."""
    return conf.chain_keys()[event.key_id] if event.key_id else None


def rechain(edit=lambda event: None, *, hash_with=_stored_key, start=None):
    """Behind the triggers' back: apply `edit` to every event (from seq `start` on),
    then recompute every hash from there, each with hash_with(event) (a ChainKey, or
    None for the unkeyed SHA-256), as someone with that key would."""
    events = Event.objects.order_by("seq").prefetch_related("patients")
    if start is not None:
        events = events.filter(seq__gte=start)
    prev_hash = None
    with triggers_bypassed() as cursor:
        for event in events:
            edit(event)
            if prev_hash is not None:
                event.prev_hash = prev_hash
            patients = [(p.patient_id, p.issuer_of_patient_id) for p in event.patients.all()]
            event.hash = chain.link_hash(
                hash_with(event),
                event.prev_hash,
                event.seq,
                event.event_date_time,
                event.role,
                chain.content_digest(event, patients),
            )
            cursor.execute(
                "UPDATE audit_event SET event_date_time = %s, username = %s, key_id = %s, "
                "prev_hash = %s, hash = %s WHERE seq = %s",
                [
                    event.event_date_time,
                    event.username,
                    event.key_id,
                    event.prev_hash,
                    event.hash,
                    event.seq,
                ],
            )
            cursor.execute(
                "UPDATE audit_eventpatient SET event_date_time = %s WHERE event_id = %s",
                [event.event_date_time, event.seq],
            )
            prev_hash = event.hash


def rewrite_history(date_of):
    """Redate every event and rechain the trail with the key, behind the triggers'
    back: an intact chain that looks months old."""

    def redate(event):
        event.event_date_time = date_of(event.seq)

    rechain(redate)
    assert chain.verify().intact
