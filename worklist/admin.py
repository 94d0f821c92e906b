"""Admin for every model. Patients, orders, requested procedures and steps are written
only by their services (worklist/services), which the UI, the API, DICOM and HL7 call:
their rules (a finished order cannot change, a change of procedure asks for the
alerts' acknowledgement, a moved step is checked like a booking, a new patient is
checked for duplicates) live there once. The admin shows those records read-only,
links each to its page in the RIS where it is edited, and cancels through the
services. Reference data (rooms, opening hours, procedures, modalities) is edited
here. Pages of patient data read through the audited selectors
(audit.admin.AuditedAdmin)."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.urls import reverse

from audit.admin import AdminAudit, AuditedAdmin
from audit.codes import Action
from ris.errors import Conflict, Invalid
from worklist.services.booking import order_cancel, step_update

from . import audit_subjects, selectors
from .models import (
    IdentifierCounter,
    Instance,
    Modality,
    OpeningHours,
    Order,
    OrderEvent,
    Patient,
    PatientAlias,
    PerformedProcedureStep,
    Procedure,
    RequestedProcedure,
    ScheduledProcedureStep,
    Series,
    Station,
    StepStatus,
    Study,
    StudyDecision,
    StudyDiscrepancy,
)


def _message(exc: Conflict | Invalid) -> str:
    return exc.message if isinstance(exc, Conflict) else str(exc.errors)


class ReadOnlyAdmin:
    """For what only the services write: shown, never added, changed or deleted here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class WrittenByServices:
    """For patient data the services write: listed, opened read-only with a link to
    the RIS page that edits it, never added, changed or deleted here. The list keeps
    its change permission so that its actions (cancel through the service) stay
    available."""

    ris_page: str  # the URL name of the record's page in the RIS

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def view_on_site(self, obj):
        return reverse(self.ris_page, args=[obj.pk])


@admin.register(Patient)
class PatientAdmin(WrittenByServices, AuditedAdmin, admin.ModelAdmin):
    ris_page = "ui:patient"
    audit = AdminAudit(selectors.patient_list, Action.PATIENT_RECORD, patient=lambda p: p)
    list_display = ["patient_id", "issuer_of_patient_id", "patient_name", "patient_birth_date"]
    search_fields = ["patient_id", "patient_name", "patient_name_search"]
    list_filter = ["patient_sex", "issuer_of_patient_id"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(Procedure)
class ProcedureAdmin(admin.ModelAdmin):
    list_display = [
        "code_value",
        "coding_scheme_designator",
        "code_meaning",
        "modality",
        "duration_minutes",
        "active",
    ]
    list_filter = ["modality", "active", "coding_scheme_designator"]
    search_fields = ["code_value", "code_meaning"]


class OpeningHoursFormSet(BaseInlineFormSet):
    """A station's opening hours checked as a whole, by the model's rule
    (OpeningHours.errors_of), each error shown on its row."""

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        form.instance.checked_as_a_whole = True
        return form

    def clean(self):
        super().clean()
        kept = [
            form
            for form in self.forms
            if form.is_valid() and form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        errors = OpeningHours.errors_of([form.instance for form in kept])
        if "__all__" in errors:
            raise ValidationError(errors["__all__"])
        for index, fields in errors.items():
            for name, messages_ in fields.items():
                kept[int(index)].add_error(name, messages_)


class OpeningHoursInline(admin.TabularInline):
    model = OpeningHours
    formset = OpeningHoursFormSet
    extra = 0


@admin.register(Station)
class StationAdmin(admin.ModelAdmin):
    list_display = [
        "scheduled_station_ae_title",
        "scheduled_station_name",
        "modality",
        "scheduled_procedure_step_location",
        "active",
    ]
    list_filter = ["modality", "active"]
    search_fields = ["scheduled_station_ae_title", "scheduled_station_name"]
    inlines = [OpeningHoursInline]


SLOT_FIELDS = ["station", "start", "end", "duration_minutes", "scheduled_procedure_step_status"]


class ScheduledProcedureStepInline(ReadOnlyAdmin, admin.StackedInline):
    model = ScheduledProcedureStep
    extra = 0


@admin.register(RequestedProcedure)
class RequestedProcedureAdmin(WrittenByServices, AuditedAdmin, admin.ModelAdmin):
    audit = AdminAudit(
        selectors.requested_procedure_list,
        Action.PROCEDURE_RECORD,
        patient=audit_subjects.procedure_patient,
        objects=audit_subjects.procedure_objects,
    )
    list_display = [
        "requested_procedure_id",
        "order",
        "requested_procedure_description",
        "requested_procedure_priority",
    ]
    search_fields = ["requested_procedure_id", "study_instance_uid", "order__accession_number"]
    readonly_fields = ["order", "study_instance_uid"]
    inlines = [ScheduledProcedureStepInline]

    def view_on_site(self, obj):
        return reverse("ui:order", args=[obj.order_id])


class RequestedProcedureInline(ReadOnlyAdmin, admin.StackedInline):
    model = RequestedProcedure
    extra = 0
    show_change_link = True


@admin.register(Order)
class OrderAdmin(WrittenByServices, AuditedAdmin, admin.ModelAdmin):
    ris_page = "ui:order"
    audit = AdminAudit(
        selectors.order_list,
        Action.ORDER_RECORD,
        patient=lambda order: order.patient,
        objects=audit_subjects.order_objects,
    )
    list_display = ["accession_number", "patient", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["accession_number", "patient__patient_id", "patient__patient_name"]
    readonly_fields = [
        "patient",
        "accession_number",
        "status",
        "cancel_reason",
        "created_at",
        "updated_at",
    ]
    inlines = [RequestedProcedureInline]
    actions = ["cancel_orders"]

    @admin.action(description="Cancel selected orders", permissions=["change"])
    def cancel_orders(self, request, queryset):
        for order in queryset:
            try:
                order_cancel(order=order, reason="Cancelled in admin", user=request.user)
            except Conflict as exc:
                self.message_user(request, exc.message, level=messages.ERROR)


@admin.register(ScheduledProcedureStep)
class ScheduledProcedureStepAdmin(WrittenByServices, AuditedAdmin, admin.ModelAdmin):
    ris_page = "ui:step"
    audit = AdminAudit(
        selectors.step_list,
        Action.PROCEDURE_RECORD,
        patient=audit_subjects.step_patient,
        objects=audit_subjects.step_objects,
    )
    list_display = [
        "scheduled_procedure_step_id",
        "station",
        "start",
        "modality",
        "scheduled_procedure_step_status",
    ]
    list_filter = ["scheduled_procedure_step_status", "modality", "station"]
    search_fields = ["scheduled_procedure_step_id", "requested_procedure__order__accession_number"]
    date_hierarchy = "start"
    readonly_fields = ["requested_procedure", "scheduled_procedure_step_id", *SLOT_FIELDS]
    actions = ["cancel_steps"]

    @admin.action(description="Cancel selected steps", permissions=["change"])
    def cancel_steps(self, request, queryset):
        """Through the booking service: the order's last step to be done cancels the
        order, any other step is discontinued alone."""
        for step in queryset:
            try:
                step_update(
                    step=step,
                    scheduled_procedure_step_status=StepStatus.DISCONTINUED,
                    reason="Cancelled in admin",
                    user=request.user,
                )
            except (Conflict, Invalid) as exc:
                self.message_user(request, _message(exc), level=messages.ERROR)


@admin.register(OpeningHours)
class OpeningHoursAdmin(admin.ModelAdmin):
    list_display = ["station", "weekday", "opens", "closes"]
    list_filter = ["weekday", "station"]


@admin.register(PatientAlias)
class PatientAliasAdmin(ReadOnlyAdmin, AuditedAdmin, admin.ModelAdmin):
    """Written by the patient merge (HL7 A40) only: read-only here."""

    audit = AdminAudit(
        selectors.patient_alias_list,
        Action.PATIENT_RECORD,
        patient=lambda alias: alias.survivor,
    )
    list_display = ["patient_id", "issuer_of_patient_id", "survivor", "merged_at"]
    search_fields = ["patient_id", "survivor__patient_id"]


@admin.register(IdentifierCounter)
class IdentifierCounterAdmin(admin.ModelAdmin):
    list_display = ["name", "value"]
    readonly_fields = ["name"]


@admin.register(OrderEvent)
class OrderEventAdmin(ReadOnlyAdmin, AuditedAdmin, admin.ModelAdmin):
    """The order history is written by the booking services only: read-only here."""

    audit = AdminAudit(
        selectors.order_event_list,
        Action.ORDER_RECORD,
        patient=lambda event: event.order.patient,
        objects=lambda event: audit_subjects.order_objects(event.order),
    )

    list_display = ["order", "at", "kind", "user"]
    list_filter = ["kind"]
    search_fields = ["order__accession_number"]


@admin.register(Modality)
class ModalityAdmin(admin.ModelAdmin):
    """Known modalities: who may query the worklist, from where, seeing which stations."""

    list_display = [
        "ae_title",
        "kind",
        "description",
        "sees_all_stations",
        "character_set",
        "active",
    ]
    list_filter = ["active", "kind", "sees_all_stations", "character_set"]
    search_fields = ["ae_title", "description"]
    filter_horizontal = ["stations"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(PerformedProcedureStep)
class PerformedProcedureStepAdmin(ReadOnlyAdmin, AuditedAdmin, admin.ModelAdmin):
    """What modalities reported (MPPS): read-only; the modality changes it by N-SET and
    a scheduler links an unscheduled exam on the Unscheduled exams page."""

    audit = AdminAudit(
        selectors.performed_step_list,
        Action.PROCEDURE_RECORD,
        patient=audit_subjects.performed_patient,
        objects=audit_subjects.performed_objects,
    )
    list_display = [
        "performed_procedure_step_id",
        "performed_station_ae_title",
        "start",
        "modality",
        "performed_procedure_step_status",
        "unscheduled",
    ]
    list_filter = ["performed_procedure_step_status", "unscheduled", "modality"]
    search_fields = ["sop_instance_uid", "accession_number", "patient_id"]
    date_hierarchy = "start"


# --- arriving studies: written by intake and reconciliation, worked on the exceptions
# page; shown here read-only.


class SeriesInline(admin.TabularInline):
    model = Series
    extra = 0
    can_delete = False
    show_change_link = True
    fields = [
        "series_number",
        "modality",
        "series_description",
        "number_of_series_related_instances",
        "reported_instances",
        "first_received_at",
        "last_received_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Study)
class StudyAdmin(ReadOnlyAdmin, AuditedAdmin, admin.ModelAdmin):
    audit = AdminAudit(
        selectors.study_list,
        Action.PROCEDURE_RECORD,
        patient=audit_subjects.study_patient,
        objects=audit_subjects.study_objects,
    )
    list_display = [
        "study_instance_uid",
        "accession_number",
        "patient_id",
        "study_date",
        "modalities_in_study",
        "number_of_study_related_instances",
        "outcome",
        "exception_open",
        "last_received_at",
    ]
    list_filter = ["outcome", "exception_open", "source"]
    search_fields = ["study_instance_uid", "accession_number", "patient_id"]
    date_hierarchy = "last_received_at"
    inlines = [SeriesInline]


@admin.register(Series)
class SeriesAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["series_instance_uid", "modality", "series_description", "study"]
    search_fields = ["series_instance_uid"]


@admin.register(Instance)
class InstanceAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["sop_instance_uid", "sop_class_uid", "transfer_syntax_uid", "source"]
    search_fields = ["sop_instance_uid"]


@admin.register(StudyDecision)
class StudyDecisionAdmin(ReadOnlyAdmin, AuditedAdmin, admin.ModelAdmin):
    audit = AdminAudit(
        selectors.study_decision_list,
        Action.PROCEDURE_RECORD,
        patient=lambda decision: audit_subjects.study_patient(decision.study),
    )
    list_display = ["study", "revision", "outcome", "order", "decided_at", "resolution"]
    list_filter = ["outcome", "resolution"]


@admin.register(StudyDiscrepancy)
class StudyDiscrepancyAdmin(ReadOnlyAdmin, AuditedAdmin, admin.ModelAdmin):
    audit = AdminAudit(
        selectors.study_discrepancy_list,
        Action.PROCEDURE_RECORD,
        patient=lambda discrepancy: audit_subjects.study_patient(discrepancy.study),
    )
    list_display = ["study", "sop_instance_uid", "kind", "attribute", "acknowledged"]
    list_filter = ["kind", "acknowledged"]
