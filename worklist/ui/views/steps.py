"""One scheduled step: its page, rescheduling, cancelling."""

from datetime import date
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from ris.errors import Conflict, Invalid
from worklist import selectors
from worklist.models import StepStatus
from worklist.services import booking, safety
from worklist.ui.forms import (
    CancelForm,
    RescheduleForm,
    put_errors,
)
from worklist.ui.grid import exam_text

from .booking import _slot_panel
from .common import _found, _fragment_or_page, _with_defaults, requires


@requires("worklist.view_scheduledprocedurestep")
def step_detail(request, pk: int):
    step = _found(selectors.step_get, pk=pk, user=request.user)
    return render(request, "ui/steps/detail.html", {"step": step})


def _calendar_url(ae_title: str, day: date) -> str:
    return reverse("ui:calendar") + "?" + urlencode({"station": ae_title, "day": day.isoformat()})


@requires("worklist.change_scheduledprocedurestep", "worklist.view_scheduledprocedurestep")
def step_reschedule(request, pk: int):
    """Move a scheduled step to a free slot of a room of its modality."""
    step = _found(selectors.step_get, pk=pk, user=request.user)
    if step.scheduled_procedure_step_status != StepStatus.SCHEDULED:
        messages.error(request, f"This step is {step.scheduled_procedure_step_status}.")
        return redirect("ui:step", pk=step.pk)
    stations = selectors.stations_for(modality=step.modality or step.station.modality)
    posted = request.method == "POST"
    source = request.POST if posted else request.GET
    initial_day = timezone.localtime(step.start).date()
    data = _with_defaults(
        source, day=max(initial_day, timezone.localdate()).isoformat(), span="day"
    )
    form = RescheduleForm(data, stations=stations, booking=posted)
    status, lost_slot, refusal = 200, None, None
    if posted and form.is_valid():
        ae_title, start = form.cleaned_data["slot"]
        try:
            moved = booking.step_update(
                step=step,
                scheduled_station_ae_title=ae_title,
                start=start,
                reason=form.cleaned_data["reason"],
                allow_patient_overlap=form.cleaned_data["allow_patient_overlap"],
                user=request.user,
            )
        except Conflict as exc:
            status = 409
            if exc.details.get("rule"):
                refusal = exc  # a patient safety rule: the slot is kept, the rule named
            else:
                lost_slot = exc.message
                form.cleaned_data["slot"] = None
        except PermissionDenied:
            status = 403
            form.add_error("allow_patient_overlap", "You may not book overlapping exams.")
        except Invalid as exc:
            status = 400
            put_errors(
                form,
                exc,
                renamed={
                    "scheduled_procedure_step_start_datetime": "slot",
                    "scheduled_station_ae_title": "slot",
                },
            )
        else:
            local = timezone.localtime(moved.start)
            messages.success(request, f"Moved {exam_text(moved)}.")
            return redirect(_calendar_url(ae_title, local.date()))
    elif posted:
        status = 400
    form.is_valid()
    chosen = form.cleaned_data.get("station")
    shown = [s for s in stations if not chosen or s.scheduled_station_ae_title == chosen]
    panel = _slot_panel(
        stations=shown, form=form, duration=step.duration_minutes, exclude_step=step
    )
    context = {
        "step": step,
        "form": form,
        "panel": panel,
        "lost_slot": lost_slot,
        "refusal": refusal,
        "may_overlap": request.user.has_perm(safety.OVERLAP_PERMISSION),
    }
    return _fragment_or_page(
        request, "ui/steps/_reschedule_panel.html", "ui/steps/reschedule.html", context, status
    )


@requires("worklist.change_scheduledprocedurestep", "worklist.change_order")
def step_cancel(request, pk: int):
    """Cancel an exam with a reason: the order when this is its last open step,
    else this step alone (discontinued)."""
    step = _found(selectors.step_get, pk=pk, user=request.user)
    order = step.requested_procedure.order
    others_open = [
        other
        for procedure in order.requested_procedures.all()
        for other in procedure.scheduled_procedure_steps.all()
        if other.pk != step.pk and other.scheduled_procedure_step_status == StepStatus.SCHEDULED
    ]
    form = CancelForm(request.POST if request.method == "POST" else None)
    status = 200
    if step.scheduled_procedure_step_status != StepStatus.SCHEDULED:
        messages.error(request, f"This step is {step.scheduled_procedure_step_status}.")
        return redirect("ui:step", pk=step.pk)
    if request.method == "POST":
        status = 400
        if form.is_valid():
            reason = form.cleaned_data["reason"]
            try:
                if others_open:
                    booking.step_update(
                        step=step,
                        scheduled_procedure_step_status=StepStatus.DISCONTINUED,
                        reason=reason,
                        user=request.user,
                    )
                else:
                    booking.order_cancel(order=order, reason=reason, user=request.user)
            except Conflict as exc:
                status = 409
                form.add_error(None, exc.message)
            except Invalid as exc:
                put_errors(form, exc)
            else:
                messages.success(
                    request,
                    f"Cancelled {exam_text(step)}"
                    + ("." if others_open else f" (order {order.accession_number} cancelled)."),
                )
                return redirect(
                    _calendar_url(
                        step.station.scheduled_station_ae_title,
                        timezone.localtime(step.start).date(),
                    )
                )
    context = {"step": step, "order": order, "others_open": others_open, "form": form}
    return render(request, "ui/steps/cancel.html", context, status=status)
