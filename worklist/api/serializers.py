"""JSON shapes of the REST API (see shared/CONTRACT.md): snake_case DICOM keywords.

Write serializers only parse and check the VRs; the booking rules are applied by
worklist.services, which the views call.
"""

import copy

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from worklist import vr
from worklist.models import (
    MAX_OPENING_HOURS,
    Modality,
    OpeningHours,
    Order,
    OrderStatus,
    Patient,
    PerformedProcedureStep,
    Priority,
    Procedure,
    RequestedProcedure,
    ScheduledProcedureStep,
    Series,
    Sex,
    Station,
    StepStatus,
    Study,
    StudyDecision,
    StudyDiscrepancy,
    ip_network_list,
)
from worklist.services.booking import (
    ORDER_EDITABLE,
    PROCEDURE_EDITABLE,
    STEP_BOOKING_DETAILS,
    STEP_DESCRIPTIVE,
    StepBooking,
)
from worklist.services.safety import ACKNOWLEDGEABLE


class RefusesUnknownFields:
    """Refuses fields it does not know, so a typo ('patient_birthdate') is a 400
    instead of a value silently dropped (and a PATCH writing the rest)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(
                set(data) - {name for name, f in self.fields.items() if not f.read_only}
            )
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown or read-only field."] for name in unknown}
                )
        return super().to_internal_value(data)


class StrictSerializer(RefusesUnknownFields, serializers.Serializer):
    pass


class BuiltOnceModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer that introspects its model once per class, not once per
    instance: the booking response nests three of them, and rebuilding their fields
    from the model on every request cost more than the booking's own queries."""

    _built_fields: dict = {}

    def get_fields(self):
        cls = type(self)
        if cls not in BuiltOnceModelSerializer._built_fields:
            BuiltOnceModelSerializer._built_fields[cls] = super().get_fields()
        return copy.deepcopy(BuiltOnceModelSerializer._built_fields[cls])


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 date-time that must carry its UTC offset: a booking never guesses the zone."""

    default_error_messages = {
        "naive": "Include the UTC offset, e.g. 2026-11-25T09:00:00+01:00.",
    }

    def to_internal_value(self, value):
        try:
            parsed = parse_datetime(value) if isinstance(value, str) else None
        except ValueError:  # a well-formed 25:00, +25:00, February 30th
            self.fail("invalid", format="ISO 8601 with its UTC offset")
        if parsed is not None and parsed.tzinfo is None:
            self.fail("naive")
        if parsed is not None:
            try:
                vr.validate_date_time(parsed)
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.messages) from exc
        return super().to_internal_value(value)


# Bounds of the collections a request may carry: beyond them it is a mistake or abuse.
MAX_STEPS_PER_ORDER = 50
MAX_CODE_ITEMS = 32


def text(validator, **kwargs):
    kwargs.setdefault("required", False)
    kwargs.setdefault("allow_blank", True)
    kwargs.setdefault("default", "")
    if kwargs["required"]:
        kwargs.pop("default")
    return serializers.CharField(validators=[validator], trim_whitespace=False, **kwargs)


class CodeItemSerializer(StrictSerializer):
    code_value = serializers.CharField(validators=[vr.validate_sh])
    coding_scheme_designator = serializers.CharField(validators=[vr.validate_sh])
    coding_scheme_version = serializers.CharField(
        required=False, allow_blank=True, validators=[vr.validate_sh]
    )
    code_meaning = serializers.CharField(validators=[vr.validate_lo])

    def to_internal_value(self, data):
        item = dict(super().to_internal_value(data))
        if not item.get("coding_scheme_version"):
            item.pop("coding_scheme_version", None)
        return item


def with_model_fields(model, names, **overrides):
    """A class decorator adding write fields `names` typed and checked as the model
    declares them (its VR validators and length, choices; code sequences item by
    item), so a list of editable fields is declared once, in the service that edits
    them. `overrides`: keyword arguments of some fields."""

    def field_for(name):
        field = model._meta.get_field(name)
        kwargs = {"required": False, **overrides.get(name, {})}
        if isinstance(field, models.JSONField):
            return CodeItemSerializer(many=True, max_length=MAX_CODE_ITEMS, **kwargs)
        if field.choices:
            return serializers.ChoiceField(choices=field.choices, **kwargs)
        kwargs.setdefault("allow_blank", field.blank)
        if field.blank:
            kwargs.setdefault("default", "")
        return serializers.CharField(
            validators=list(field.validators), trim_whitespace=False, **kwargs
        )

    def decorate(cls):
        cls._declared_fields = {
            **{name: field_for(name) for name in names},
            **cls._declared_fields,
        }
        return cls

    return decorate


class OpeningHoursSerializer(RefusesUnknownFields, serializers.ModelSerializer):
    class Meta:
        model = OpeningHours
        fields = ["weekday", "opens", "closes"]


class StationSerializer(RefusesUnknownFields, serializers.ModelSerializer):
    opening_hours = OpeningHoursSerializer(many=True, required=False, max_length=MAX_OPENING_HOURS)

    class Meta:
        model = Station
        fields = [
            "id",
            "scheduled_station_ae_title",
            "scheduled_station_name",
            "modality",
            "scheduled_procedure_step_location",
            "active",
            "opening_hours",
        ]


class ProcedureSerializer(RefusesUnknownFields, serializers.ModelSerializer):
    class Meta:
        model = Procedure
        fields = [
            "id",
            "code_value",
            "coding_scheme_designator",
            "coding_scheme_version",
            "code_meaning",
            "modality",
            "duration_minutes",
            "active",
            "uses_contrast",
            "preparation_instructions",
        ]


class PatientSerializer(RefusesUnknownFields, BuiltOnceModelSerializer):
    revision = serializers.DateTimeField(
        write_only=True,
        required=False,
        help_text="On PATCH: the updated_at read; if the patient changed since, the "
        "answer is 409 and nothing is written.",
    )

    class Meta:
        model = Patient
        fields = [
            "id",
            "patient_id",
            "issuer_of_patient_id",
            "patient_name",
            "patient_birth_date",
            "patient_sex",
            "other_patient_ids",
            "medical_alerts",
            "allergies",
            "pregnancy_status",
            "patient_weight",
            "patient_size",
            "additional_patient_history",
            "special_needs",
            "created_at",
            "updated_at",
            "revision",
        ]
        read_only_fields = ["created_at", "updated_at"]
        # Uniqueness of (patient_id, issuer) is checked by the service, naming patient_id.
        validators: list = []


class OrderPatientSerializer(StrictSerializer):
    """The patient part of a booking: identity plus the demographics matched against
    a known patient."""

    patient_id = text(vr.validate_lo, required=True, allow_blank=False)
    issuer_of_patient_id = text(vr.validate_lo)
    patient_name = text(vr.validate_pn)
    patient_birth_date = serializers.DateField(required=False, allow_null=True)
    patient_sex = serializers.ChoiceField(choices=Sex.choices, required=False, allow_blank=True)


class AETitleListField(serializers.ListField):
    """Further values of the multi-valued Scheduled Station AE Title, as a JSON list;
    stored backslash-separated as DICOM encodes them."""

    def __init__(self, **kwargs):
        kwargs.setdefault("child", serializers.CharField(validators=[vr.validate_ae]))
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 16)
        super().__init__(**kwargs)

    def to_representation(self, data):
        return [title for title in (data or "").split("\\") if title]

    def to_internal_value(self, data):
        return "\\".join(title.strip() for title in super().to_internal_value(data))


@with_model_fields(ScheduledProcedureStep, STEP_BOOKING_DETAILS)
class StepBookingSerializer(StrictSerializer):
    scheduled_procedure_step_id = text(vr.validate_sh)
    modality = text(vr.validate_cs)
    scheduled_station_ae_title = text(vr.validate_ae, required=True, allow_blank=False)
    additional_station_ae_titles = AETitleListField(
        help_text="AE titles of further modalities that may perform the step (DICOM "
        "returns them after the station's in Scheduled Station AE Title)."
    )
    scheduled_procedure_step_start_datetime = AwareDateTimeField()
    scheduled_procedure_step_duration_minutes = serializers.IntegerField(
        required=False, min_value=1, max_value=24 * 60
    )

    def to_booking(self, data: dict) -> StepBooking:
        details = {name: data[name] for name in STEP_BOOKING_DETAILS if name in data}
        return StepBooking(
            scheduled_station_ae_title=data["scheduled_station_ae_title"].strip(),
            start=data["scheduled_procedure_step_start_datetime"],
            duration_minutes=data.get("scheduled_procedure_step_duration_minutes"),
            modality=data.get("modality", ""),
            scheduled_procedure_step_id=data.get("scheduled_procedure_step_id", ""),
            details=details,
        )


@with_model_fields(Order, ORDER_EDITABLE)
@with_model_fields(RequestedProcedure, PROCEDURE_EDITABLE)
class OrderDetailsSerializer(StrictSerializer):
    """The descriptive fields of an order: what a booking may send and a PATCH may
    change (booking.ORDER_EDITABLE, booking.PROCEDURE_EDITABLE)."""


def acknowledgement_field(help_text: str) -> serializers.ListField:
    """The codes of the safety alerts acknowledged (services.safety.ACKNOWLEDGEABLE)."""
    return serializers.ListField(
        child=serializers.ChoiceField(choices=ACKNOWLEDGEABLE),
        default=list,
        max_length=len(ACKNOWLEDGEABLE),
        help_text=help_text,
    )


class OrderUpdateSerializer(OrderDetailsSerializer):
    """A PATCH of an order: its descriptive fields, and the acknowledgements a new
    procedure may need."""

    acknowledged_alerts = acknowledgement_field(
        "Safety alerts acknowledged for this change (CONTRAST_ALLERGY, MR_IMPLANT): "
        "another procedure that raises one the order has not acknowledged yet (a "
        "contrast exam for a contrast-allergic patient, MR with an implant) is answered "
        "409 naming it in `acknowledgement_required`, as a booking is."
    )


class OrderCreateSerializer(OrderDetailsSerializer):
    patient = OrderPatientSerializer()
    accession_number = text(vr.validate_sh)
    requested_procedure_id = text(vr.validate_sh)
    requested_procedure_priority = serializers.ChoiceField(
        choices=Priority.choices, default=Priority.ROUTINE
    )
    study_instance_uid = text(vr.validate_ui)
    scheduled_procedure_steps = StepBookingSerializer(
        many=True, allow_empty=False, max_length=MAX_STEPS_PER_ORDER
    )
    allow_patient_overlap = serializers.BooleanField(
        default=False,
        help_text="Book even if the patient has another exam at that time (needs the "
        "worklist.allow_patient_overlap permission; audited).",
    )
    acknowledged_alerts = acknowledgement_field(
        "Safety alerts acknowledged for this booking (CONTRAST_ALLERGY, MR_IMPLANT); a "
        "booking raising one not listed is answered 409 naming it in "
        "`acknowledgement_required`."
    )

    def service_arguments(self) -> dict:
        """validated_data shaped as worklist.services.order_create's keyword arguments."""
        data = dict(self.validated_data)
        step_serializer = self.fields["scheduled_procedure_steps"].child
        data["steps"] = [
            step_serializer.to_booking(step) for step in data.pop("scheduled_procedure_steps")
        ]
        data["patient"] = dict(data["patient"])
        return data


class OrderCancelSerializer(StrictSerializer):
    reason = text(vr.validate_lo)


@with_model_fields(ScheduledProcedureStep, STEP_DESCRIPTIVE, modality={"allow_blank": False})
class StepUpdateSerializer(StrictSerializer):
    scheduled_station_ae_title = text(vr.validate_ae, allow_blank=False)
    scheduled_procedure_step_start_datetime = AwareDateTimeField(required=False)
    scheduled_procedure_step_duration_minutes = serializers.IntegerField(
        required=False, min_value=1, max_value=24 * 60
    )
    scheduled_procedure_step_status = serializers.ChoiceField(
        choices=StepStatus.choices, required=False
    )
    allow_patient_overlap = serializers.BooleanField(
        required=False,
        help_text="Move even if the patient has another exam at the new time (needs the "
        "worklist.allow_patient_overlap permission; audited).",
    )
    acknowledged_alerts = acknowledgement_field(
        "Safety alerts acknowledged for this move (CONTRAST_ALLERGY, MR_IMPLANT): a move "
        "or another modality raising one the order has not acknowledged yet (an allergy "
        "recorded since the booking, MR now) is answered 409 naming it in "
        "`acknowledgement_required`, as a booking is."
    )

    RENAMED = {
        "scheduled_procedure_step_start_datetime": "start",
        "scheduled_procedure_step_duration_minutes": "duration_minutes",
    }

    def service_arguments(self) -> dict:
        return {self.RENAMED.get(k, k): v for k, v in self.validated_data.items()}


# --- read shapes ---------------------------------------------------------------


class StepSerializer(BuiltOnceModelSerializer):
    scheduled_station_ae_title = serializers.CharField(source="station.scheduled_station_ae_title")
    additional_station_ae_titles = AETitleListField(read_only=True)
    scheduled_procedure_step_start_datetime = serializers.DateTimeField(source="start")
    scheduled_procedure_step_end_datetime = serializers.DateTimeField(source="end")
    scheduled_procedure_step_duration_minutes = serializers.IntegerField(source="duration_minutes")

    class Meta:
        model = ScheduledProcedureStep
        fields = [
            "id",
            "scheduled_procedure_step_id",
            "modality",
            "scheduled_station_ae_title",
            "additional_station_ae_titles",
            "scheduled_station_name",
            "scheduled_procedure_step_location",
            "scheduled_procedure_step_start_datetime",
            "scheduled_procedure_step_end_datetime",
            "scheduled_procedure_step_duration_minutes",
            "scheduled_performing_physician_name",
            "scheduled_procedure_step_description",
            "scheduled_protocol_code_sequence",
            "requested_contrast_agent",
            "pre_medication",
            "comments_on_the_scheduled_procedure_step",
            "scheduled_procedure_step_status",
        ]
        read_only_fields = fields


class WorklistStepSerializer(StepSerializer):
    """A step with the order and patient it belongs to, as /api/procedure-steps/ lists it."""

    order_id = serializers.IntegerField(source="requested_procedure.order_id")
    accession_number = serializers.CharField(source="requested_procedure.order.accession_number")
    requested_procedure_id = serializers.CharField(
        source="requested_procedure.requested_procedure_id"
    )
    requested_procedure_description = serializers.CharField(
        source="requested_procedure.requested_procedure_description"
    )
    study_instance_uid = serializers.CharField(source="requested_procedure.study_instance_uid")
    patient_id = serializers.CharField(source="requested_procedure.order.patient.patient_id")
    issuer_of_patient_id = serializers.CharField(
        source="requested_procedure.order.patient.issuer_of_patient_id"
    )
    patient_name = serializers.CharField(source="requested_procedure.order.patient.patient_name")

    class Meta(StepSerializer.Meta):
        fields = [
            *StepSerializer.Meta.fields,
            "order_id",
            "accession_number",
            "requested_procedure_id",
            "requested_procedure_description",
            "study_instance_uid",
            "patient_id",
            "issuer_of_patient_id",
            "patient_name",
        ]
        read_only_fields = fields


class OrderSerializer(BuiltOnceModelSerializer):
    patient = PatientSerializer()
    requested_procedure_id = serializers.CharField(
        source="requested_procedure.requested_procedure_id"
    )
    requested_procedure_description = serializers.CharField(
        source="requested_procedure.requested_procedure_description"
    )
    requested_procedure_code_sequence = serializers.JSONField(
        source="requested_procedure.requested_procedure_code_sequence"
    )
    requested_procedure_priority = serializers.ChoiceField(
        choices=Priority.choices, source="requested_procedure.requested_procedure_priority"
    )
    study_instance_uid = serializers.CharField(source="requested_procedure.study_instance_uid")
    scheduled_procedure_steps = StepSerializer(
        many=True, source="requested_procedure.scheduled_procedure_steps.all"
    )
    status = serializers.ChoiceField(choices=OrderStatus.choices)

    class Meta:
        model = Order
        fields = [
            "id",
            "status",
            "patient",
            "accession_number",
            "referring_physician_name",
            "requesting_physician",
            "requesting_service",
            "reason_for_the_requested_procedure",
            "imaging_service_request_comments",
            "requested_procedure_id",
            "requested_procedure_description",
            "requested_procedure_code_sequence",
            "requested_procedure_priority",
            "study_instance_uid",
            "scheduled_procedure_steps",
            "cancel_reason",
            "alert_acknowledgements",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ModalitySerializer(RefusesUnknownFields, serializers.ModelSerializer):
    """A known modality (/api/modalities/): who may query the worklist, from where, and
    which stations' steps it sees."""

    stations = serializers.SlugRelatedField(
        slug_field="scheduled_station_ae_title",
        queryset=Station.objects.all(),
        many=True,
        required=False,
        help_text="AE titles of the stations whose steps it sees.",
    )
    allowed_addresses = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        max_length=256,
        help_text="IP addresses or networks (CIDR) it may call from; empty: any.",
    )

    class Meta:
        model = Modality
        fields = [
            "id",
            "ae_title",
            "kind",
            "description",
            "allowed_addresses",
            "stations",
            "sees_all_stations",
            "character_set",
            "active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        # AE title uniqueness is checked by the model's validation, naming ae_title.
        validators: list = []
        extra_kwargs = {"ae_title": {"validators": [vr.validate_ae]}}

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["allowed_addresses"] = ip_network_list(instance.allowed_addresses)
        return data

    def to_internal_value(self, data):
        values = super().to_internal_value(data)
        if "allowed_addresses" in values:
            values["allowed_addresses"] = "\n".join(values["allowed_addresses"])
        return values


# --- performed procedure steps (MPPS), read only ---------------------------------


@extend_schema_field(CodeItemSerializer(many=True))
class CodeSequenceField(serializers.JSONField):
    """A code sequence as the modality sent it: items of code_value,
    coding_scheme_designator, code_meaning."""


class PerformedSeriesSerializer(serializers.Serializer):
    """One item of the Performed Series Sequence; documents the stored shape."""

    series_instance_uid = serializers.CharField()
    series_description = serializers.CharField()
    protocol_name = serializers.CharField()
    operators_name = serializers.CharField()
    performing_physician_name = serializers.CharField()
    retrieve_ae_title = serializers.CharField()
    number_of_images = serializers.IntegerField(allow_null=True)
    number_of_non_image_objects = serializers.IntegerField(allow_null=True)


@extend_schema_field(PerformedSeriesSerializer(many=True))
class PerformedSeriesField(serializers.JSONField):
    """The Performed Series Sequence as stored, each item as the modality sent it."""


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {},
        "description": "Radiation Dose module attributes by DICOM keyword, when sent.",
    }
)
class RadiationDoseField(serializers.JSONField):
    pass


class PerformedPatientSerializer(serializers.Serializer):
    """The patient as the modality sent it, whatever record it was matched to."""

    patient_name = serializers.CharField()
    patient_id = serializers.CharField()
    issuer_of_patient_id = serializers.CharField()
    patient_birth_date = serializers.DateField(allow_null=True)
    patient_sex = serializers.CharField()


class PerformedScheduledStepSerializer(BuiltOnceModelSerializer):
    """A scheduled step a performed step is linked to, with its order."""

    accession_number = serializers.CharField(source="requested_procedure.order.accession_number")
    order = serializers.IntegerField(source="requested_procedure.order_id")

    class Meta:
        model = ScheduledProcedureStep
        fields = ["id", "scheduled_procedure_step_id", "accession_number", "order"]
        read_only_fields = fields


class PerformedStepSerializer(BuiltOnceModelSerializer):
    """A performed procedure step (MPPS instance) as /api/performed-steps/ lists it;
    the raw DICOM attributes are not part of it."""

    performed_procedure_step_start_datetime = serializers.DateTimeField(
        source="start", allow_null=True, read_only=True
    )
    performed_procedure_step_end_datetime = serializers.DateTimeField(
        source="end", allow_null=True, read_only=True
    )
    procedure_code_sequence = CodeSequenceField(read_only=True)
    performed_protocol_code_sequence = CodeSequenceField(read_only=True)
    performed_procedure_step_discontinuation_reason_code_sequence = CodeSequenceField(
        read_only=True
    )
    performed_series_sequence = PerformedSeriesField(read_only=True)
    radiation_dose = RadiationDoseField(read_only=True)
    patient = PerformedPatientSerializer(source="*", read_only=True)
    scheduled_procedure_steps = PerformedScheduledStepSerializer(many=True, read_only=True)

    class Meta:
        model = PerformedProcedureStep
        fields = [
            "id",
            "sop_instance_uid",
            "performed_procedure_step_id",
            "performed_procedure_step_status",
            "calling_ae_title",
            "performed_station_ae_title",
            "performed_station_name",
            "performed_location",
            "modality",
            "study_id",
            "performed_procedure_step_start_datetime",
            "performed_procedure_step_end_datetime",
            "performed_procedure_step_description",
            "performed_procedure_type_description",
            "comments_on_the_performed_procedure_step",
            "procedure_code_sequence",
            "performed_protocol_code_sequence",
            "performed_procedure_step_discontinuation_reason_code_sequence",
            "performed_series_sequence",
            "radiation_dose",
            "patient",
            "matched_patient",
            "study_instance_uid",
            "accession_number",
            "scheduled_procedure_steps",
            "unscheduled",
            "match_note",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


# --- arrived studies (/api/studies/) ----------------------------------------------------


class StudySeriesSerializer(BuiltOnceModelSerializer):
    """A series of an arrived study: its attributes as the images carry them, the
    instances here (and as the PACS reported them), and when they arrived."""

    class Meta:
        model = Series
        fields = [
            "series_instance_uid",
            "series_number",
            "modality",
            "series_description",
            "body_part_examined",
            "protocol_name",
            "station_name",
            "series_date",
            "series_time",
            "performed_procedure_step_id",
            "number_of_series_related_instances",
            "reported_instances",
            "sending_ae_title",
            "first_received_at",
            "last_received_at",
        ]
        read_only_fields = fields


class StudyDiscrepancySerializer(BuiltOnceModelSerializer):
    class Meta:
        model = StudyDiscrepancy
        fields = [
            "sop_instance_uid",
            "kind",
            "attribute",
            "recorded",
            "received",
            "sending_ae_title",
            "received_at",
            "acknowledged",
        ]
        read_only_fields = fields


class StudyDecisionSerializer(BuiltOnceModelSerializer):
    """The latest reconciliation of a study: outcome and evidence (how the order was
    found, each demographic difference, series counts beside what MPPS reported), and
    how a person worked it."""

    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    resolved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    evidence = serializers.JSONField(read_only=True)

    class Meta:
        model = StudyDecision
        fields = [
            "revision",
            "outcome",
            "order",
            "evidence",
            "decided_at",
            "decided_by",
            "resolution",
            "resolution_comment",
            "resolved_at",
            "resolved_by",
        ]
        read_only_fields = fields


class StudySerializer(BuiltOnceModelSerializer):
    """An arrived study as /api/studies/ shows it: the patient and study attributes of
    its images, counts, arrival, its order and reconciliation outcome. `revision` goes
    back with an action so that one taken on a study changed since is refused (409)."""

    patient = PerformedPatientSerializer(source="*", read_only=True)
    modalities_in_study = serializers.ListField(
        source="modalities", child=serializers.CharField(), read_only=True
    )
    series = StudySeriesSerializer(many=True, read_only=True)
    decision = StudyDecisionSerializer(read_only=True, allow_null=True)
    discrepancies = StudyDiscrepancySerializer(many=True, read_only=True)
    viewer_url = serializers.SerializerMethodField(
        help_text="The study in the image viewer (RIS_VIEWER_URL); empty without one."
    )

    class Meta:
        model = Study
        fields = [
            "id",
            "study_instance_uid",
            "patient",
            "accession_number",
            "study_id",
            "study_date",
            "study_time",
            "study_description",
            "referring_physician_name",
            "modalities_in_study",
            "number_of_study_related_series",
            "number_of_study_related_instances",
            "reported_instances",
            "source",
            "sending_ae_title",
            "first_received_at",
            "last_received_at",
            "revision",
            "outcome",
            "exception_open",
            "order",
            "linked_by_hand",
            "decision",
            "series",
            "discrepancies",
            "viewer_url",
        ]
        read_only_fields = fields

    def get_viewer_url(self, study) -> str:
        from worklist.services.images import viewer_url

        return viewer_url(study.study_instance_uid)


class StudyActionSerializer(StrictSerializer):
    revision = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text="The study's revision as you last read it: if the study changed since "
        "(more images, someone else acted) the action is refused with 409. Without it, "
        "only an exception someone already closed is refused.",
    )


class StudyLinkSerializer(StudyActionSerializer):
    """The order a study belongs to, by its id or its accession number."""

    order = serializers.IntegerField(required=False, help_text="The order's id.")
    accession_number = text(vr.validate_sh, max_length=16, help_text="Or its accession number.")
    comment = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=1000,
        default="",
        validators=[vr.validate_lt],
    )

    def validate(self, data):
        data["accession_number"] = data.get("accession_number", "").strip()
        if (data.get("order") is None) == (not data["accession_number"]):
            raise serializers.ValidationError(
                {"order": ["Name the order by its id or by its accession_number (one of them)."]}
            )
        return data


class StudyResolveSerializer(StudyActionSerializer):
    comment = serializers.CharField(
        max_length=1000,
        validators=[vr.validate_lt],
        help_text="Why the exception is closed, e.g. 'Test images'.",
    )


# --- possible duplicate patients ------------------------------------------------


class PossibleDuplicatesQuerySerializer(StrictSerializer):
    """GET /api/patients/duplicates/: the patient about to be registered, as typed."""

    patient_id = text(vr.validate_lo, max_length=64, help_text="The ID about to be used.")
    issuer_of_patient_id = text(vr.validate_lo, max_length=64)
    patient_name = text(
        vr.validate_pn, max_length=194, help_text="DICOM PN form, e.g. Vivaldi^Antonio."
    )
    patient_birth_date = serializers.DateField(required=False, allow_null=True, default=None)
    exclude = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The id of a patient not to list (the one being edited).",
    )

    def validate(self, data):
        named = data["patient_name"].strip() and data["patient_birth_date"] is not None
        if not data["patient_id"].strip() and not named:
            raise serializers.ValidationError(
                {
                    "patient_id": [
                        "Send patient_id, or patient_name with patient_birth_date (or all)."
                    ]
                }
            )
        return data


# --- first available -------------------------------------------------------------


class FirstAvailableQuerySerializer(StrictSerializer):
    """GET /api/procedures/{id}/first-available/: from which day, within which hours."""

    after = serializers.DateField(required=False, help_text="First day to search (local).")
    from_time = serializers.TimeField(required=False, help_text="Earliest start, local (HH:MM).")
    to_time = serializers.TimeField(required=False, help_text="Latest end, local (HH:MM).")
    count = serializers.IntegerField(required=False, min_value=1, max_value=50, default=5)

    def validate(self, data):
        given = [name for name in ("from_time", "to_time") if name in data]
        if len(given) == 1:
            raise serializers.ValidationError({given[0]: ["Give both from_time and to_time."]})
        if given and data["from_time"] >= data["to_time"]:
            raise serializers.ValidationError({"to_time": ["Must be after from_time."]})
        return data

    def service_arguments(self) -> dict:
        data = dict(self.validated_data)
        window = (data.pop("from_time"), data.pop("to_time")) if "from_time" in data else None
        return {**data, "window": window}


class FreeSlotSerializer(serializers.Serializer):
    scheduled_station_ae_title = serializers.CharField(source="station.scheduled_station_ae_title")
    scheduled_procedure_step_start_datetime = serializers.DateTimeField(source="start")
    scheduled_procedure_step_end_datetime = serializers.DateTimeField(source="end")


class FirstAvailableSerializer(serializers.Serializer):
    procedure = serializers.IntegerField(source="procedure.pk")
    first_day = serializers.DateField()
    slots = FreeSlotSerializer(many=True)
    reason = serializers.CharField(
        help_text="Why the first day searched has no slot ('closed on Sunday', "
        "'full until 14 Dec'); empty when it has one."
    )
