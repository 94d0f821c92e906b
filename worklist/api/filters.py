import django_filters
from django.db.models import Q
from django_filters.rest_framework import BooleanFilter

from worklist import vr
from worklist.models import (
    Order,
    OrderStatus,
    Patient,
    PerformedProcedureStep,
    PerformedStepStatus,
    ScheduledProcedureStep,
    StepStatus,
    Study,
    StudyOutcome,
)
from worklist.selectors import by_urgency, local_day_bounds, patient_name_q


class PatientFilter(django_filters.FilterSet):
    patient_id = django_filters.CharFilter()
    issuer_of_patient_id = django_filters.CharFilter()
    patient_name = django_filters.CharFilter(
        method="filter_name", help_text="Part of the name, case- and accent-insensitive."
    )
    patient_birth_date = django_filters.DateFilter()

    class Meta:
        model = Patient
        fields = ["patient_id", "issuer_of_patient_id", "patient_name", "patient_birth_date"]

    def filter_name(self, queryset, name, value):
        return queryset.filter(patient_name_q(value))


class OrderFilter(django_filters.FilterSet):
    accession_number = django_filters.CharFilter()
    status = django_filters.ChoiceFilter(choices=OrderStatus.choices)
    patient_id = django_filters.CharFilter(field_name="patient__patient_id")
    ordering = django_filters.ChoiceFilter(
        choices=[("urgency", "urgency")],
        method="order_by",
        help_text="`urgency`: STAT first, then HIGH, ROUTINE, LOW; within each by the "
        "first step's start (orders waiting for their steps last), then oldest first. "
        "Without it: newest first.",
    )

    class Meta:
        model = Order
        fields = ["accession_number", "status", "patient_id", "ordering"]

    def order_by(self, queryset, name, value):
        return by_urgency(queryset) if value == "urgency" else queryset


def started_on(queryset, name, value):
    """Rows whose `start` falls on that day in local time (23 or 25 hours on DST days)."""
    start, end = local_day_bounds(value)
    return queryset.filter(start__gte=start, start__lt=end)


class StepFilter(django_filters.FilterSet):
    date = django_filters.DateFilter(
        method=started_on,
        validators=[vr.validate_day],
        help_text="Steps starting on this day, in local time.",
    )
    scheduled_station_ae_title = django_filters.CharFilter(
        field_name="station__scheduled_station_ae_title"
    )
    modality = django_filters.CharFilter()
    status = django_filters.ChoiceFilter(
        field_name="scheduled_procedure_step_status", choices=StepStatus.choices
    )

    class Meta:
        model = ScheduledProcedureStep
        fields = ["date", "scheduled_station_ae_title", "modality", "status"]


class PerformedStepFilter(django_filters.FilterSet):
    date = django_filters.DateFilter(
        method=started_on,
        validators=[vr.validate_day],
        help_text="Performed steps started on this day, in local time.",
    )
    performed_procedure_step_status = django_filters.ChoiceFilter(
        choices=PerformedStepStatus.choices
    )
    modality = django_filters.CharFilter()
    performed_station_ae_title = django_filters.CharFilter()
    unscheduled = BooleanFilter()
    accession_number = django_filters.CharFilter()
    patient_id = django_filters.CharFilter(
        method="filter_patient_id",
        help_text="As the modality sent it, or of the patient it was matched to.",
    )
    study_instance_uid = django_filters.CharFilter()

    class Meta:
        model = PerformedProcedureStep
        fields = [
            "date",
            "performed_procedure_step_status",
            "modality",
            "performed_station_ae_title",
            "unscheduled",
            "accession_number",
            "patient_id",
            "study_instance_uid",
        ]

    def filter_patient_id(self, queryset, name, value):
        return queryset.filter(Q(patient_id=value) | Q(matched_patient__patient_id=value))


class StudyFilter(django_filters.FilterSet):
    outcome = django_filters.ChoiceFilter(
        choices=StudyOutcome.choices, help_text="The reconciliation outcome."
    )
    accession_number = django_filters.CharFilter()
    patient_id = django_filters.CharFilter(
        method="filter_patient_id",
        help_text="As the images carry it, or of the patient of the study's order.",
    )
    study_instance_uid = django_filters.CharFilter()
    since = django_filters.IsoDateTimeFilter(
        field_name="last_received_at",
        lookup_expr="gte",
        validators=[vr.validate_date_time],
        help_text="Studies with images received at or after this time (ISO 8601).",
    )
    exception_open = BooleanFilter(help_text="Waiting for a person (a study exception).")

    class Meta:
        model = Study
        fields = [
            "outcome",
            "accession_number",
            "patient_id",
            "study_instance_uid",
            "since",
            "exception_open",
        ]

    def filter_patient_id(self, queryset, name, value):
        return queryset.filter(Q(patient_id=value) | Q(order__patient__patient_id=value))
