"""Auditing for admin pages that show or change patient data (worklist/admin.py).

The audit trail itself has no admin page: it is reviewed at /audit/, where every use
is recorded.

    @admin.register(Patient)
    class PatientAdmin(AuditedAdmin, admin.ModelAdmin):
        audit = AdminAudit(selectors.patient_list, Action.PATIENT_RECORD, patient=lambda p: p)

Lists and change pages read through the audited selector (an event per page shown,
naming its patients); saves and deletions are recorded in the admin's transaction.
"""

from collections.abc import Callable
from dataclasses import dataclass

from . import services
from .codes import Action, Verb


@dataclass(frozen=True)
class AdminAudit:
    selector: Callable
    action: Action
    patient: Callable
    objects: Callable | None = None

    def record(self, verb: Verb, objs) -> None:
        services.record(
            self.action,
            verb=verb,
            patients=[self.patient(obj) for obj in objs],
            objects=[ref for obj in objs for ref in (self.objects(obj) if self.objects else ())],
        )


class AuditedAdmin:
    audit: AdminAudit

    def get_queryset(self, request):
        queryset = self.audit.selector()
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        self.audit.record(Verb.UPDATE if change else Verb.CREATE, [form.instance])

    def delete_model(self, request, obj):
        self.audit.record(Verb.DELETE, [obj])
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        self.audit.record(Verb.DELETE, list(queryset))
        super().delete_queryset(request, queryset)
