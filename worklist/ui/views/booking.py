"""Booking an exam on a free slot of a room of its procedure's modality."""

from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django_htmx.http import push_url

from worklist import selectors
from worklist.models import OrderStatus, Priority
from worklist.services import availability, booking, safety
from worklist.ui.forms import BookingForm
from worklist.ui.grid import exam_text

from .common import _found, _fragment_or_page, _with_defaults, attempt_slot, requires


def _slot_panel(*, stations, form, duration, exclude_step=None) -> list[dict]:
    """Free slots of `stations` for the form's range, shaped for ui/_slots.html."""
    data = form.cleaned_data
    days = 7 if data["span"] == "week" else 1
    found = selectors.free_slots(
        stations=stations,
        first_day=data["day"],
        days=days,
        duration_minutes=duration,
        not_before=timezone.now(),
        exclude_step=exclude_step,
    )
    chosen = data.get("slot")
    chosen_value = f"{chosen[0]}|{chosen[1].isoformat()}" if chosen else ""
    panel = []
    for station in stations:
        ae_title = station.scheduled_station_ae_title
        station_days = []
        for day, starts in found[station.pk].items():
            slots = []
            for start in starts:
                value = f"{ae_title}|{start.isoformat()}"
                slots.append(
                    {"value": value, "text": f"{start:%H:%M}", "checked": value == chosen_value}
                )
            station_days.append({"day": day, "slots": slots})
        panel.append({"station": station, "days": station_days})
    return panel


def _first_free(form, procedure):
    """The earliest free slots for the procedure from the day shown on, across its rooms
    (services.availability); the day shown moves to the first of them."""
    data = form.cleaned_data
    found = availability.first_available(
        procedure=procedure,
        after=data["day"],
        window=form.window(),
        duration_minutes=data["duration"],
        count=6,
    )
    if found.slots:
        day = timezone.localtime(found.slots[0].start).date()
        data["day"] = day
        form.data = form.data.copy()
        form.data["day"] = day.isoformat()
    return found


def _booked(request, patient, order, *, done="Booked", number="accession"):
    step = order.requested_procedure.scheduled_procedure_steps.all()[0]
    messages.success(
        request,
        f"{done} {exam_text(step, patient=patient)}, {number} {order.accession_number}.",
    )
    return redirect("ui:order", pk=order.pk)


def _scheduled(request, order):
    return _booked(request, order.patient, order, done="Scheduled", number="order")


def _waiting_order(request, source):
    """The order waiting to be scheduled named by `order` (from the order inbox), or
    None; one that is no longer waiting answers with its own page instead."""
    if not source.get("order"):
        return None, None
    order = _found(selectors.order_to_schedule, pk=source["order"], user=request.user)
    if order.status != OrderStatus.REQUESTED:
        messages.info(request, f"Order {order.accession_number} is {order.status}.")
        return order, redirect("ui:order", pk=order.pk)
    return order, None


@requires("worklist.add_order", "worklist.view_patient")
def book(request):
    """Pick a procedure, see the free slots of its rooms, pick one, book. With `order`
    (Schedule in the order inbox) the page books the steps of that waiting order, its
    procedure chosen, instead of a new order."""
    source = request.POST if request.method == "POST" else request.GET
    waiting, answered = _waiting_order(request, source)
    if answered is not None:
        return answered
    patient_pk = waiting.patient_id if waiting else source.get("patient")
    if not patient_pk:
        messages.info(request, "Find the patient first, then book from their page.")
        return redirect("ui:patients")
    patient = _found(selectors.patient_get, pk=patient_pk, user=request.user)
    if waiting is not None:
        source = source.copy()
        source["patient"] = str(patient.pk)
        requested = waiting.requested_procedure.procedure
        if requested is not None and not source.get("procedure"):
            source["procedure"] = str(requested.pk)
    all_stations = selectors.stations_for()
    procedures = selectors.procedure_catalogue()
    posted = request.method == "POST"
    if posted or "procedure" in source:
        data = _with_defaults(
            source,
            day=timezone.localdate().isoformat(),
            span="day",
            requested_procedure_priority=Priority.ROUTINE,
        )
        form = BookingForm(data, procedures=procedures, stations=all_stations, booking=posted)
    else:
        form = BookingForm(
            initial={
                "patient": patient.pk,
                "order": waiting.pk if waiting else None,
                "span": "day",
                "day": source.get("day") or timezone.localdate(),
                "requested_procedure_priority": Priority.ROUTINE,
                # a free gap clicked on the calendar: kept until a procedure is chosen
                "slot": source.get("slot", ""),
                "station": source.get("station", ""),
            },
            procedures=procedures,
            stations=all_stations,
        )
    status = 200
    lost_slot = None
    refusal = None
    if posted and form.is_valid():
        service, arguments = (
            (booking.order_schedule, form.schedule_arguments(waiting))
            if waiting
            else (booking.order_create, form.service_arguments(patient))
        )
        outcome, refusal, lost_slot = attempt_slot(
            form,
            service,
            renamed={"scheduled_procedure_step_start_datetime": "slot"},
            user=request.user,
            **arguments,
        )
        status = outcome.status
        if lost_slot:
            # Another scheduler took the slot (or a clash appeared) since the page was
            # drawn: the slots are shown as they are now, none chosen.
            form.data = form.data.copy()
            form.data.pop("slot", None)
        elif outcome.done and waiting:
            return _scheduled(request, outcome.result)
        elif outcome.done:
            return _booked(request, patient, outcome.result)
    elif posted:
        status = 400

    procedure, panel, first = None, None, None
    if form.is_bound:
        form.is_valid()  # bound to GET it only chooses what to show; errors are displayed
        procedure = form.cleaned_data.get("procedure")
    if procedure is not None:
        matching = [s for s in all_stations if s.modality == procedure.modality]
        form.fields["station"].choices = [("", f"All {procedure.modality} rooms")] + [
            (s.scheduled_station_ae_title, s.scheduled_station_ae_title) for s in matching
        ]
        if source.get("first") and form.cleaned_data.get("duration"):
            first = _first_free(form, procedure)
        chosen = form.cleaned_data.get("station")
        shown = [s for s in matching if not chosen or s.scheduled_station_ae_title == chosen]
        panel = _slot_panel(stations=shown, form=form, duration=form.cleaned_data["duration"])
    context = {
        "patient": patient,
        "waiting": waiting,
        "form": form,
        "procedure": procedure,
        "panel": panel,
        "lost_slot": lost_slot,
        "refusal": refusal,
        "first": first,
        "booking_alerts": _alerts(patient, procedure, waiting),
        "may_overlap": request.user.has_perm(safety.OVERLAP_PERMISSION),
    }
    response = _fragment_or_page(
        request, "ui/book/_panel.html", "ui/book/page.html", context, status
    )
    if request.htmx and not posted:
        push_url(response, _state_url(form))
    return response


def _alerts(patient, procedure, waiting) -> list:
    """The alerts to acknowledge before booking, as the service will ask for them: for
    a waiting order, those of its own requested procedure (services.safety)."""
    if procedure is None:
        return []
    if waiting is None:
        return safety.alerts_to_acknowledge(patient, procedure)
    return safety.alerts_to_acknowledge(
        patient,
        waiting.requested_procedure.procedure,
        procedure.modality,
        waiting.alert_acknowledgements,
    )


STATE_FIELDS = (
    "patient",
    "order",
    "procedure",
    "day",
    "span",
    "station",
    "duration",
    "from_time",
    "to_time",
)


def _state_url(form) -> str:
    """The booking page's address for what is shown (procedure, day, room...), so a
    reload or a shared link shows the same; one-off actions (move, first) left out."""
    state = {name: form.data.get(name) for name in STATE_FIELDS if form.data.get(name)}
    return f"{reverse('ui:book')}?{urlencode(state)}"
