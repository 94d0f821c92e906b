"""The access audit trail: one Event per access, one EventPatient row per patient it
touched, chained by hashes.

Event and EventPatient (and the ChainAnchor kept when old months expire) are
append-only in the database itself: the triggers of migration 0002 refuse UPDATE,
DELETE and TRUNCATE. Nothing here offers save() on an existing row; events are
written by audit.chain.append and nothing else.
"""

from django.db import models
from django.db.models import Q

from .codes import Action, Channel, Outcome, Verb


class Event(models.Model):
    """One access or security event (PS3.15 A.5 AuditMessage, flattened).

    `seq` numbers the events in chain order without gaps; `hash` is the HMAC, with the
    audit key named by `key_id`, of the canonical content, which includes `prev_hash`,
    the hash of event seq - 1 (audit.chain).
    """

    seq = models.BigIntegerField(primary_key=True)
    event_date_time = models.DateTimeField()
    action = models.CharField(max_length=6, choices=Action.choices)
    event_action_code = models.CharField(max_length=1, choices=Verb.choices)
    event_outcome_indicator = models.PositiveSmallIntegerField(choices=Outcome.choices)
    event_type_code = models.CharField(max_length=16, blank=True)
    username = models.CharField(max_length=150, blank=True, help_text="The acting user.")
    user_pk = models.IntegerField(null=True, blank=True)
    role = models.CharField(max_length=200, blank=True)
    ae_title = models.CharField(
        "AE title", max_length=16, blank=True, help_text="Calling AE title of a DICOM peer."
    )
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    source_port = models.PositiveIntegerField(null=True, blank=True)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    correlation_id = models.CharField(max_length=64, blank=True)
    detail = models.CharField(max_length=255, blank=True)
    participant_objects = models.JSONField(
        default=list,
        blank=True,
        help_text="[kind, value] pairs besides the patients: accession numbers, UIDs...",
    )
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    key_id = models.CharField(
        max_length=16,
        blank=True,
        default="",
        help_text="ID of the audit key that chained it; empty: chained without a key "
        "by an earlier version.",
    )

    class Meta:
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["event_date_time"], name="audit_event_time"),
            models.Index(
                fields=["username", "seq"], name="audit_event_user", condition=~Q(username="")
            ),
            models.Index(
                fields=["ae_title", "seq"], name="audit_event_ae", condition=~Q(ae_title="")
            ),
            models.Index(fields=["action", "seq"], name="audit_event_action"),
            models.Index(
                fields=["event_outcome_indicator", "seq"],
                name="audit_event_failure",
                condition=~Q(event_outcome_indicator=0),
            ),
            # covering indexes of the compliance pages (migration 0008)
            models.Index(
                fields=["seq"],
                include=[
                    "username",
                    "ae_title",
                    "role",
                    "channel",
                    "event_action_code",
                    "event_date_time",
                ],
                name="audit_event_actor",
            ),
            models.Index(
                fields=["event_date_time"],
                include=["seq", "user_pk", "username", "action"],
                condition=Q(user_pk__isnull=False),
                name="audit_event_opened",
            ),
            # who booked or changed an order, for the unusual-access review's order
            # relationships (migration 0011): the patient rows' events probed by key
            models.Index(
                fields=["seq"],
                include=["user_pk"],
                condition=Q(
                    action=Action.ORDER_RECORD,
                    event_action_code__in=[Verb.CREATE, Verb.UPDATE],
                    event_outcome_indicator=0,
                ),
                name="audit_event_booking",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.get_action_display()} {self.event_action_code} by {self.actor}"

    @property
    def actor(self) -> str:
        return self.username or self.ae_title or self.get_channel_display()


class EventPatient(models.Model):
    """A patient touched by an event: the per-patient report is one index range scan."""

    event = models.ForeignKey(
        Event, on_delete=models.DO_NOTHING, related_name="patients", db_index=False
    )
    patient_id = models.CharField(max_length=64)
    issuer_of_patient_id = models.CharField(max_length=64, blank=True)
    event_date_time = models.DateTimeField(help_text="The event's, for range scans by patient.")

    class Meta:
        indexes = [
            models.Index(
                fields=["patient_id", "issuer_of_patient_id", "-event"],
                include=["event_date_time"],
                name="audit_patient_seq_time",
            ),
            models.Index(fields=["event"], name="audit_patient_of_event"),
            models.Index(
                fields=["event_date_time"],
                include=["event", "patient_id", "issuer_of_patient_id"],
                name="audit_patient_time_ids",
            ),
        ]

    def __str__(self) -> str:
        issuer = f" ({self.issuer_of_patient_id})" if self.issuer_of_patient_id else ""
        return f"{self.patient_id}{issuer}"


class ChainAnchor(models.Model):
    """Where the chain starts after `audit expire` removed its oldest months: the last
    removed event's seq and hash, so the first kept event still verifies."""

    created_at = models.DateTimeField()
    expired_before = models.DateTimeField()
    expired_through_seq = models.BigIntegerField(unique=True)
    expired_through_hash = models.CharField(max_length=64)
    events_removed = models.BigIntegerField()
    patient_rows_removed = models.BigIntegerField()
    recorded_by_seq = models.BigIntegerField(help_text="The event that records the expiry.")

    class Meta:
        ordering = ["-expired_through_seq"]

    def __str__(self) -> str:
        return f"events up to #{self.expired_through_seq} expired"


class ForwardCursor(models.Model):
    """How far an external audit record repository has been sent the trail (the
    forwarding queue): events after `last_seq` are still to go. Not append-only."""

    name = models.CharField(max_length=32, unique=True)
    last_seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)
    failures = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=255, blank=True)

    def __str__(self) -> str:
        return f"{self.name} at #{self.last_seq}"


class OpenedHour(models.Model):
    """The records people opened in one closed hour (audit.rollup), per user and
    patient: how many times and the last event's seq. Derived from the trail, not part
    of it (not chained, not append-only): kept by the periodic task
    audit.roll_up_openings so that the unusual-access review reads a long period's
    closed hours here instead of every opened record of the trail; rows older than the
    trail's oldest event go with it."""

    hour = models.BigIntegerField(help_text="Hours since the epoch (UTC).")
    user_pk = models.IntegerField()
    patient_id = models.CharField(max_length=64)
    issuer_of_patient_id = models.CharField(max_length=64, blank=True)
    opened = models.PositiveIntegerField()
    last_seq = models.BigIntegerField()

    class Meta:
        indexes = [
            models.Index(
                fields=["hour"],
                include=["user_pk", "patient_id", "issuer_of_patient_id", "opened", "last_seq"],
                name="audit_opened_hour",
            )
        ]

    def __str__(self) -> str:
        return f"hour {self.hour}: user {self.user_pk} opened {self.patient_id} ×{self.opened}"


class OpenedUserHour(models.Model):
    """How many records each user opened in one closed hour: OpenedHour summed over
    the patients, kept with it (audit.rollup). The burst review counts a user's opens
    per hour; reading these rows spares it grouping every (user, patient) row of a
    long period."""

    hour = models.BigIntegerField(help_text="Hours since the epoch (UTC).")
    user_pk = models.IntegerField()
    opened = models.PositiveIntegerField()

    class Meta:
        indexes = [
            models.Index(
                fields=["hour"], include=["user_pk", "opened"], name="audit_opened_user_hour"
            )
        ]

    def __str__(self) -> str:
        return f"hour {self.hour}: user {self.user_pk} opened {self.opened} records"


class OpenedHoursDone(models.Model):
    """Up to which hour (hours since the epoch, excluded) OpenedHour holds the trail."""

    until_hour = models.BigIntegerField()

    def __str__(self) -> str:
        return f"opened records rolled up before hour {self.until_hour}"
