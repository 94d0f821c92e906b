"""Orders: the filtered list, an order's page with its history and performed steps, cancelling."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from worklist import selectors
from worklist.models import OrderStatus, PerformedProcedureStep
from worklist.services import booking
from worklist.ui.forms import CancelForm, OrderFilterForm
from worklist.ui.grid import person_name

from .common import _found, _fragment_or_page, attempt, requires
from .studies import order_study_panels


@requires("worklist.view_order")
def orders(request):
    stations = selectors.stations_for()
    modalities = sorted({s.modality for s in stations})
    # A bare /orders/ opens on today; an emptied date field lists every day.
    query = request.GET if request.GET else {"day": timezone.localdate().isoformat()}
    form = OrderFilterForm(query, stations=stations, modalities=modalities)
    form.is_valid()
    # A value that cannot be read is said so next to its field and ignored; the other
    # filters still apply.
    filters = {k: v for k, v in form.cleaned_data.items() if k not in form.errors}
    page = selectors.order_search(
        patient_id=filters.get("patient_id", ""),
        day=filters.get("day"),
        status=filters.get("status", ""),
        modality=filters.get("modality", ""),
        ae_title=filters.get("station", ""),
        accession_number=filters.get("accession_number", ""),
        sort=filters.get("sort", ""),
        page=request.GET.get("page", 1),
        user=request.user,
    )
    context = {"form": form, "page": page}
    return _fragment_or_page(request, "ui/orders/_table.html", "ui/orders/list.html", context)


# Radiation Dose module attributes (PS3.3 C.4.16) as the order page names them, with
# the units the standard gives them.
DOSE_LABELS = {
    "CTDIvol": "CTDIvol (mGy)",
    "TotalTimeOfFluoroscopy": "Total fluoroscopy time (s)",
    "TotalNumberOfExposures": "Number of exposures",
    "EntranceDose": "Entrance dose (dGy)",
    "EntranceDoseInmGy": "Entrance dose (mGy)",
    "ExposedArea": "Exposed area (cm²)",
    "ImageAndFluoroscopyAreaDoseProduct": "Dose area product (dGy·cm²)",
    "DistanceSourceToDetector": "Source to detector distance (mm)",
    "DistanceSourceToEntrance": "Source to entrance distance (mm)",
    "CommentsOnRadiationDose": "Comments on radiation dose",
    "ExposureDoseSequence": "Exposure dose items",
}


def _values(value: str) -> list[str]:
    """The values of a multi-valued DICOM text (backslash-separated), without blanks."""
    return [item.strip() for item in (value or "").split("\\") if item.strip()]


def _performed_summary(performed: PerformedProcedureStep) -> dict:
    """A performed step as the order page shows it: who performed it with which
    protocols, each series and its instance counts, the dose values sent."""
    series = [
        {
            **item,
            "operators": "; ".join(person_name(n) for n in _values(item.get("operators_name"))),
            "performing_physicians": "; ".join(
                person_name(n) for n in _values(item.get("performing_physician_name"))
            ),
        }
        for item in performed.performed_series_sequence or []
    ]

    def distinct(key: str, *, names: bool = False) -> list[str]:
        found = dict.fromkeys(v for item in series for v in _values(item.get(key)))
        return [person_name(v) for v in found] if names else list(found)

    dose = [
        (
            DOSE_LABELS.get(keyword, keyword),
            ", ".join(map(str, value)) if isinstance(value, list) else value,
        )
        for keyword, value in (performed.radiation_dose or {}).items()
    ]
    return {
        "step": performed,
        "series": series,
        "operators": distinct("operators_name", names=True),
        "performing_physicians": distinct("performing_physician_name", names=True),
        "protocol_names": distinct("protocol_name"),
        "images": sum(item.get("number_of_images") or 0 for item in series),
        "non_images": sum(item.get("number_of_non_image_objects") or 0 for item in series),
        "dose": dose,
    }


def _order_page(request, order, *, cancel_form=None, status: int = 200):
    performed = selectors.order_performed_steps(order=order, user=request.user)
    context = {
        "order": order,
        "procedure": order.requested_procedure,
        "cancellable": order.status == OrderStatus.SCHEDULED,
        "cancel_form": cancel_form or CancelForm(),
        "performed_steps": [_performed_summary(p) for p in performed],
        "study_panels": order_study_panels(request, order),
    }
    return render(request, "ui/orders/detail.html", context, status=status)


@requires("worklist.view_order")
def order_detail(request, pk: int):
    order = _found(selectors.order_detail, pk=pk, user=request.user)
    return _order_page(request, order)


@require_POST
@requires("worklist.change_order", "worklist.view_order")
def order_cancel(request, pk: int):
    order = _found(selectors.order_detail, pk=pk, user=request.user)
    form = CancelForm(request.POST)
    status = 400
    if form.is_valid():
        outcome = attempt(
            form,
            booking.order_cancel,
            order=order,
            reason=form.cleaned_data["reason"],
            user=request.user,
        )
        if outcome.done:
            messages.success(request, f"Order {order.accession_number} cancelled.")
            return redirect("ui:order", pk=order.pk)
        status = outcome.status
    return _order_page(request, order, cancel_form=form, status=status)


@requires("worklist.view_order", "worklist.view_patient")
def order_letter(request, pk: int):
    """The appointment letter of an order, to print (its own print stylesheet): when
    and where, and how to prepare (from the procedure catalogue)."""
    order = _found(selectors.order_detail, pk=pk, user=request.user)
    procedure = order.requested_procedure
    steps = list(procedure.scheduled_procedure_steps.all()) if procedure else []
    context = {
        "order": order,
        "procedure": procedure,
        "steps": steps,
        "catalogue": procedure.procedure if procedure else None,
    }
    return render(request, "ui/orders/letter.html", context)
