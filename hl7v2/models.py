"""The HL7 interface: the hospital systems allowed to send, and every message that
came in or goes out (raw, its acknowledgement, status, timing)."""

from django.db import models
from django.utils import timezone

from worklist.models import Order, validate_ip_networks


class Sender(models.Model):
    """A known sending system: MSH-3 sending application and MSH-4 sending facility,
    and the addresses it may connect from."""

    sending_application = models.CharField(max_length=64, help_text="MSH-3, namespace ID.")
    sending_facility = models.CharField(
        max_length=64, blank=True, help_text="MSH-4, namespace ID; empty: any facility."
    )
    description = models.CharField(max_length=64, blank=True)
    allowed_addresses = models.TextField(
        blank=True,
        validators=[validate_ip_networks],
        help_text="IP addresses or networks it may connect from, separated by commas or "
        "new lines; empty: any address.",
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["sending_application", "sending_facility"]
        constraints = [
            models.UniqueConstraint(
                fields=["sending_application", "sending_facility"], name="hl7_sender_unique"
            )
        ]

    def __str__(self) -> str:
        return "^".join(p for p in (self.sending_application, self.sending_facility) if p)


class Direction(models.TextChoices):
    IN = "in", "Received"
    OUT = "out", "Sent"


class Status(models.TextChoices):
    # inbound
    APPLIED = "applied", "Applied (AA)"
    ERROR = "error", "Error (AE)"
    REJECTED = "rejected", "Rejected (AR)"
    # outbound
    PENDING = "pending", "Waiting to be sent"
    DELIVERED = "delivered", "Delivered (AA)"
    REFUSED = "refused", "Refused by the receiver (AE/AR)"


class Message(models.Model):
    """One HL7 message, received or to send. Inbound: unique by sender and control ID
    (MSH-3, MSH-4, MSH-10), so a message sent again is known and answered with the ACK
    it had. Outbound: the outbox, worked in `id` order per destination."""

    direction = models.CharField(max_length=3, choices=Direction.choices)
    status = models.CharField(max_length=16, choices=Status.choices, db_index=True)
    control_id = models.CharField(max_length=64, db_index=True, help_text="MSH-10.")
    sending_application = models.CharField(max_length=64, blank=True)
    sending_facility = models.CharField(max_length=64, blank=True)
    message_type = models.CharField(max_length=16, blank=True, help_text="e.g. ORM^O01.")
    peer = models.CharField(
        max_length=128, blank=True, help_text="Address it came from, or destination."
    )
    patient_id = models.CharField(max_length=64, blank=True, db_index=True)
    issuer_of_patient_id = models.CharField(max_length=64, blank=True)
    placer_order_number = models.CharField(max_length=64, blank=True, db_index=True)
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="hl7_messages"
    )
    raw = models.TextField(help_text="The message as received or sent (decoded).")
    charset = models.CharField(max_length=16, blank=True, help_text="MSH-18.")
    ack = models.TextField(blank=True, help_text="The acknowledgement sent or received.")
    ack_code = models.CharField(max_length=2, blank=True)
    error = models.CharField(max_length=255, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    # outbound only
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    reapplied = models.PositiveIntegerField(default=0, help_text="Times re-applied by hand.")

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sending_application", "sending_facility", "control_id"],
                condition=models.Q(direction="in"),
                name="hl7_inbound_once",
            )
        ]
        indexes = [
            models.Index(
                fields=["peer", "id"],
                name="hl7_outbox_pending",
                condition=models.Q(direction="out", status="pending"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.message_type} {self.control_id}"
