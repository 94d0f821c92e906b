"""JSON shapes of /api/audit/events/: the event as stored, with the PS3.15 names."""

from rest_framework import serializers

from .codes import Action, Channel, Outcome
from .models import Event


class PatientRefSerializer(serializers.Serializer):
    patient_id = serializers.CharField()
    issuer_of_patient_id = serializers.CharField()


class EventSerializer(serializers.ModelSerializer):
    action_meaning = serializers.CharField(source="get_action_display", read_only=True)
    event_outcome_meaning = serializers.CharField(
        source="get_event_outcome_indicator_display", read_only=True
    )
    user = serializers.CharField(source="username", read_only=True)
    patients = PatientRefSerializer(many=True, read_only=True)
    participant_objects = serializers.SerializerMethodField()

    class Meta:
        model = Event
        fields = [
            "seq",
            "event_date_time",
            "action",
            "action_meaning",
            "event_action_code",
            "event_outcome_indicator",
            "event_outcome_meaning",
            "event_type_code",
            "user",
            "role",
            "ae_title",
            "source_ip",
            "source_port",
            "channel",
            "correlation_id",
            "detail",
            "patients",
            "participant_objects",
            "prev_hash",
            "hash",
        ]

    def get_participant_objects(self, event) -> list[dict[str, str]]:
        return [{"kind": kind, "value": value} for kind, value in event.participant_objects]


class EventQuerySerializer(serializers.Serializer):
    """The filters of GET /api/audit/events/ (see shared/CONTRACT.md)."""

    patient_id = serializers.CharField(required=False, max_length=64)
    issuer_of_patient_id = serializers.CharField(
        required=False, max_length=64, allow_blank=True, help_text="Absent: any issuer."
    )
    user = serializers.CharField(required=False, max_length=150)
    ae_title = serializers.CharField(required=False, max_length=16)
    action = serializers.CharField(
        required=False, help_text="EventID code (110110) or meaning (Patient Record)."
    )
    outcome = serializers.ChoiceField(required=False, choices=Outcome.choices)
    channel = serializers.ChoiceField(required=False, choices=Channel.choices)
    since = serializers.DateTimeField(required=False, help_text="ISO 8601, inclusive.")
    until = serializers.DateTimeField(required=False, help_text="ISO 8601, exclusive.")
    before = serializers.IntegerField(required=False, help_text="Events older than this seq.")
    after = serializers.IntegerField(required=False, help_text="Events newer than this seq.")
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=500)

    def validate_action(self, value):
        action = Action.parse(value)
        if action is None:
            raise serializers.ValidationError("Not a DICOM audit EventID code or meaning.")
        return action.value
