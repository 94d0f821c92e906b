"""The message log (administrators: hl7.view_message; re-apply: hl7.change_message)
and the order inbox of the schedulers (worklist.add_order)."""

from django import forms
from django.contrib import messages as flash
from django.core.exceptions import ObjectDoesNotExist
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ris.errors import Conflict, Invalid
from worklist.models import Station
from worklist.services.booking import StepBooking, order_schedule
from worklist.ui.views.common import requires

from . import selectors, services
from .models import Direction, Status

VIEW = "hl7.view_message"
REAPPLY = "hl7.change_message"
SCHEDULE = ("worklist.add_order", "worklist.view_order")


class MessageFilter(forms.Form):
    control_id = forms.CharField(required=False, label="Control ID")
    patient_id = forms.CharField(required=False, label="Patient ID")
    order = forms.CharField(required=False, label="Order", help_text="Placer or accession")
    status = forms.ChoiceField(required=False, choices=[("", "Any"), *Status.choices])
    direction = forms.ChoiceField(required=False, choices=[("", "Both"), *Direction.choices])


@requires(VIEW)
def messages(request):
    form = MessageFilter(request.GET or None)
    filters = {k: v for k, v in form.cleaned_data.items() if v} if form.is_valid() else {}
    page = Paginator(selectors.message_list(**filters), 50).get_page(request.GET.get("page"))
    return render(request, "hl7/messages.html", {"form": form, "page": page})


@requires(VIEW)
def message_detail(request, pk: int):
    try:
        message = selectors.message_get(pk=pk)
    except ObjectDoesNotExist as exc:
        raise Http404 from exc
    return render(request, "hl7/message.html", {"message": message})


@require_POST
@requires(VIEW, REAPPLY)
def message_reapply(request, pk: int):
    try:
        message = selectors.message_get(pk=pk)
    except ObjectDoesNotExist as exc:
        raise Http404 from exc
    if message.direction != Direction.IN:
        raise Http404
    message = services.reapply(message)
    if message.status == Status.APPLIED:
        flash.success(request, f"Message {message.control_id} applied.")
    else:
        flash.error(request, f"Message {message.control_id} still fails: {message.error}")
    return redirect("hl7:message", pk=message.pk)


@requires(*SCHEDULE)
def inbox(request):
    page = Paginator(selectors.order_inbox(), 50).get_page(request.GET.get("page"))
    return render(request, "hl7/inbox.html", {"page": page})


class ScheduleForm(forms.Form):
    station = forms.ModelChoiceField(queryset=Station.objects.none())
    start = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    duration_minutes = forms.IntegerField(required=False, min_value=1, max_value=24 * 60)

    def __init__(self, *args, modality: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        stations = Station.objects.filter(active=True)
        if modality and stations.filter(modality=modality).exists():
            stations = stations.filter(modality=modality)
        self.fields["station"].queryset = stations


@requires(*SCHEDULE)
def schedule(request, pk: int):
    """Book the steps of a waiting order: its procedure is the one the HIS asked for."""
    try:
        order = selectors.waiting_order_get(pk=pk)
    except ObjectDoesNotExist as exc:
        raise Http404 from exc
    procedure = order.requested_procedure
    catalogue = procedure.procedure
    form = ScheduleForm(
        request.POST or None,
        modality=catalogue.modality if catalogue else "",
        initial={"duration_minutes": catalogue.duration_minutes if catalogue else 15},
    )
    if request.method == "POST" and form.is_valid():
        start = form.cleaned_data["start"]
        if timezone.is_naive(start):
            start = timezone.make_aware(start)
        try:
            order_schedule(
                order=order,
                steps=[
                    StepBooking(
                        scheduled_station_ae_title=form.cleaned_data[
                            "station"
                        ].scheduled_station_ae_title,
                        start=start,
                        duration_minutes=form.cleaned_data["duration_minutes"],
                    )
                ],
                user=request.user,
            )
        except Invalid as exc:
            form.add_error(None, _flat(exc.errors))
        except Conflict as exc:
            form.add_error(None, exc.message)
        else:
            flash.success(request, f"Order {order.accession_number} scheduled.")
            return redirect("ui:order", order.pk)
    return render(
        request, "hl7/schedule.html", {"order": order, "procedure": procedure, "form": form}
    )


def _flat(errors) -> str:
    if isinstance(errors, dict):
        return "; ".join(_flat(v) for v in errors.values())
    if isinstance(errors, list):
        return "; ".join(str(e) for e in errors)
    return str(errors)
