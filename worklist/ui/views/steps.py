"""One scheduled step: its page, rescheduling, cancelling."""

from datetime import date
from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from worklist import selectors
from worklist.models import StepStatus
from worklist.services import booking, safety
from worklist.ui.forms import CancelForm, RescheduleForm
from worklist.ui.grid import exam_text

from .booking import _slot_panel
from .common import _found, _fragment_or_page, _with_defaults, attempt, attempt_slot, requires


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
        outcome, refusal, lost_slot = attempt_slot(
            form,
            booking.step_update,
            renamed={
                "scheduled_procedure_step_start_datetime": "slot",
                "scheduled_station_ae_title": "slot",
            },
            step=step,
            scheduled_station_ae_title=ae_title,
            start=start,
            reason=form.cleaned_data["reason"],
            allow_patient_overlap=form.cleaned_data["allow_patient_overlap"],
            acknowledged_alerts=form.cleaned_data["acknowledged_alerts"],
            user=request.user,
        )
        status = outcome.status
        if outcome.done:
            messages.success(request, f"Moved {exam_text(outcome.result)}.")
            local = timezone.localtime(outcome.result.start)
            return redirect(_calendar_url(ae_title, local.date()))
    elif posted:
        status = 400
    form.is_valid()
    chosen = form.cleaned_data.get("station")
    shown = [s for s in stations if not chosen or s.scheduled_station_ae_title == chosen]
    panel = _slot_panel(
        stations=shown, form=form, duration=step.duration_minutes, exclude_step=step
    )
    order = step.requested_procedure.order
    context = {
        "step": step,
        "form": form,
        "panel": panel,
        "lost_slot": lost_slot,
        "refusal": refusal,
        # asked before the move, as the booking page asks (services.safety)
        "booking_alerts": safety.alerts_to_acknowledge(
            order.patient,
            step.requested_procedure.procedure,
            step.modality,
            order.alert_acknowledgements,
        ),
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
    form = CancelForm(request.POST if request.method == "POST" else None)
    status = 200
    if step.scheduled_procedure_step_status != StepStatus.SCHEDULED:
        messages.error(request, f"This step is {step.scheduled_procedure_step_status}.")
        return redirect("ui:step", pk=step.pk)
    ends_order = booking.cancelling_ends_order(step)
    if request.method == "POST":
        status = 400
        if form.is_valid():
            outcome = attempt(
                form,
                booking.step_update,
                step=step,
                scheduled_procedure_step_status=StepStatus.DISCONTINUED,
                reason=form.cleaned_data["reason"],
                user=request.user,
            )
            status = outcome.status
            if outcome.done:
                messages.success(
                    request,
                    f"Cancelled {exam_text(step)}"
                    + (f" (order {order.accession_number} cancelled)." if ends_order else "."),
                )
                return redirect(
                    _calendar_url(
                        step.station.scheduled_station_ae_title,
                        timezone.localtime(step.start).date(),
                    )
                )
    context = {"step": step, "order": order, "ends_order": ends_order, "form": form}
    return render(request, "ui/steps/cancel.html", context, status=status)
