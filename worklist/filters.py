import django_filters

from .models import Order, OrderStatus, Patient, ScheduledProcedureStep, StepStatus, name_search_key
from .selectors import local_day_bounds


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
        return queryset.filter(patient_name_search__contains=name_search_key(value))


class OrderFilter(django_filters.FilterSet):
    accession_number = django_filters.CharFilter()
    status = django_filters.ChoiceFilter(choices=OrderStatus.choices)
    patient_id = django_filters.CharFilter(field_name="patient__patient_id")

    class Meta:
        model = Order
        fields = ["accession_number", "status", "patient_id"]


class StepFilter(django_filters.FilterSet):
    date = django_filters.DateFilter(
        method="filter_date", help_text="Steps starting on this day, in local time."
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

    def filter_date(self, queryset, name, value):
        start, end = local_day_bounds(value)
        return queryset.filter(start__gte=start, start__lt=end)
