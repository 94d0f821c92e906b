"""The message log (administrators: hl7.view_message; re-apply: hl7.change_message)
and the order inbox of the schedulers (worklist.add_order)."""

from urllib.parse import urlencode

from django import forms
from django.contrib import messages as flash
from django.core.exceptions import ObjectDoesNotExist
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

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


@requires(*SCHEDULE)
def schedule(request, pk: int):
    """Schedule a waiting order: the scheduler's booking page (calendar, free slots,
    safety prompts) with the order's procedure chosen; booking there fills the order's
    steps (worklist.services.booking.order_schedule) instead of creating a second order."""
    try:
        order = selectors.waiting_order_get(pk=pk)
    except ObjectDoesNotExist as exc:
        raise Http404 from exc
    state = {"order": order.pk, "patient": order.patient_id}
    catalogue = order.requested_procedure.procedure
    if catalogue is not None:
        state["procedure"] = catalogue.pk
    return redirect(f"{reverse('ui:book')}?{urlencode(state)}")
