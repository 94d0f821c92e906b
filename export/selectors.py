"""Reads for exports: the cohort an export covers (the orders filters), the rows the
builder streams, and which exports and projects a user may see.

The rows read here leave the RIS only de-identified, and the build and every download
record one Export event naming each patient (export.services): these reads are audited
by that event, not row by row.
"""

from dataclasses import asdict, dataclass
from datetime import date

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from worklist.models import (
    Instance,
    Order,
    PerformedProcedureStep,
    RequestedProcedure,
    ScheduledProcedureStep,
    Study,
)
from worklist.selectors import local_day_bounds

from .models import Export, ExportProject, Pseudonym

DECIDE = "export.decide_export"


@dataclass(frozen=True)
class Cohort:
    """The orders an export covers: a step scheduled from `since` to `until` (local
    days, both included), of one of the `modalities`, a requested procedure with one
    of the `procedure_codes` (code value), an order in one of the `statuses`, a study
    reconciled to it with one of the `outcomes`. An empty filter does not filter."""

    since: date | None = None
    until: date | None = None
    modalities: tuple[str, ...] = ()
    procedure_codes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()

    def to_json(self) -> dict:
        data = asdict(self)
        for name in ("since", "until"):
            data[name] = data[name].isoformat() if data[name] else None
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_json(cls, data: dict) -> "Cohort":
        def day(value):
            return date.fromisoformat(value) if value else None

        return cls(
            since=day(data.get("since")),
            until=day(data.get("until")),
            modalities=tuple(data.get("modalities") or ()),
            procedure_codes=tuple(data.get("procedure_codes") or ()),
            statuses=tuple(data.get("statuses") or ()),
            outcomes=tuple(data.get("outcomes") or ()),
        )

    def describe(self) -> str:
        parts = []
        if self.since or self.until:
            parts.append(f"{self.since or '…'} to {self.until or '…'}")
        for name in ("modalities", "procedure_codes", "statuses", "outcomes"):
            if getattr(self, name):
                parts.append(f"{name.replace('_', ' ')} {', '.join(getattr(self, name))}")
        return "; ".join(parts) or "all orders"


def cohort_orders(cohort: Cohort) -> QuerySet[Order]:
    """The orders matching the cohort's filters, as the order search reads them: a
    date or modality selects the orders with a step there."""
    steps = Q()
    if cohort.since:
        steps &= Q(start__gte=local_day_bounds(cohort.since)[0])
    if cohort.until:
        steps &= Q(start__lt=local_day_bounds(cohort.until)[1])
    if cohort.modalities:
        steps &= Q(modality__in=cohort.modalities)
    orders = Order.objects.all()
    if steps:
        matching = ScheduledProcedureStep.objects.filter(steps).values(
            "requested_procedure__order_id"
        )
        orders = orders.filter(pk__in=matching)
    if cohort.procedure_codes:
        codes = list(cohort.procedure_codes)
        procedures = RequestedProcedure.objects.filter(
            Q(requested_procedure_code_sequence__0__code_value__in=codes)
            | Q(procedure__code_value__in=codes)
        ).values("order_id")
        orders = orders.filter(pk__in=procedures)
    if cohort.statuses:
        orders = orders.filter(status__in=cohort.statuses)
    if cohort.outcomes:
        studies = Study.objects.filter(outcome__in=cohort.outcomes).values("order_id")
        orders = orders.filter(pk__in=studies)
    return orders


def cohort_patients(cohort: Cohort) -> list[tuple[str, str]]:
    """(patient ID, issuer) of every patient of the cohort, once each: what an approval
    freezes."""
    return list(
        cohort_orders(cohort)
        .order_by()
        .values_list("patient__patient_id", "patient__issuer_of_patient_id")
        .distinct()
    )


def cohort_size(cohort: Cohort) -> dict[str, int]:
    """What a compliance officer sees before deciding: how many orders and patients."""
    orders = cohort_orders(cohort)
    return {
        "orders": orders.count(),
        "patients": orders.order_by().values("patient_id").distinct().count(),
    }


def export_orders(export: Export) -> QuerySet[Order]:
    """The orders an approved export writes: the cohort's, of the patients frozen at
    approval, booked before the approval (nothing enters after the decision)."""
    frozen = Pseudonym.objects.filter(
        exports=export,
        patient_id=OuterRef("patient__patient_id"),
        issuer_of_patient_id=OuterRef("patient__issuer_of_patient_id"),
    )
    orders = cohort_orders(Cohort.from_json(export.cohort)).filter(Exists(frozen))
    if export.decided_at:
        orders = orders.filter(created_at__lte=export.decided_at)
    return orders


def export_steps(export: Export) -> QuerySet[ScheduledProcedureStep]:
    """One row per scheduled procedure step of the export's orders, with everything
    the worklist item is made of, in start order; streamed by the builder."""
    return (
        ScheduledProcedureStep.objects.filter(
            requested_procedure__order__in=export_orders(export).values("pk")
        )
        .select_related("station", "requested_procedure__order__patient")
        .order_by("start", "pk")
    )


def export_performed_steps(export: Export) -> QuerySet[PerformedProcedureStep]:
    """The performed procedure steps (MPPS) linked to the export's orders."""
    linked = ScheduledProcedureStep.objects.filter(
        performed_procedure_steps=OuterRef("pk"),
        requested_procedure__order__in=export_orders(export).values("pk"),
    )
    steps = ScheduledProcedureStep.objects.select_related("requested_procedure__order__patient")
    return (
        PerformedProcedureStep.objects.filter(Exists(linked))
        .prefetch_related(Prefetch("scheduled_procedure_steps", queryset=steps.order_by("pk")))
        .order_by("created_at", "pk")
    )


def performed_step_patient(performed_step: PerformedProcedureStep) -> tuple[str, str]:
    """The patient an MPPS belongs to as the export knows them: the patient of the
    order of its first linked step (read from the prefetched steps)."""
    patient = performed_step.scheduled_procedure_steps.all()[0].requested_procedure.order.patient
    return (patient.patient_id, patient.issuer_of_patient_id)


def export_instances(export: Export) -> QuerySet[Instance]:
    """The stored instances (their file kept under RIS_DATA_DIR) of the studies
    reconciled to the export's orders."""
    return Instance.objects.filter(
        series__study__order__in=export_orders(export).values("pk")
    ).exclude(file="")


def export_images(export: Export):
    """(file, patient ID, issuer) of each stored instance to export, the patient being
    the RIS's (the order's), streamed in study, series, instance order."""
    rows = (
        export_instances(export)
        .order_by("series__study_id", "series_id", "instance_number", "pk")
        .values_list(
            "file",
            "series__study__order__patient__patient_id",
            "series__study__order__patient__issuer_of_patient_id",
        )
    )
    return rows.iterator(chunk_size=2000)


# --- what a user sees -------------------------------------------------------------


def exports_for(user) -> QuerySet[Export]:
    """Compliance officers see every export, anyone else their own requests."""
    exports = Export.objects.select_related("project", "requested_by", "decided_by")
    if user.has_perm(DECIDE):
        return exports
    return exports.filter(requested_by=user)


def export_for(*, pk: int, user) -> Export:
    return exports_for(user).get(pk=pk)


def projects_for(user) -> QuerySet[ExportProject]:
    """The projects a user may request exports in: their own."""
    return ExportProject.objects.filter(owner=user)


def waiting_for_decision() -> QuerySet[Export]:
    return Export.objects.filter(status="requested").select_related("project", "requested_by")
