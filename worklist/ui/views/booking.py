"""Booking an exam on a free slot of a room of its procedure's modality."""

from django.contrib import messages
from django.shortcuts import redirect
from django.utils import timezone

from worklist import selectors
from worklist.models import Priority
from worklist.services import booking
from worklist.ui.forms import BookingForm
from worklist.ui.grid import person_name

from .common import _found, _fragment_or_page, _with_defaults, attempt, requires


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


@requires("worklist.add_order", "worklist.view_patient")
def book(request):
    """Pick a procedure, see the free slots of its rooms, pick one, book."""
    source = request.POST if request.method == "POST" else request.GET
    patient_pk = source.get("patient")
    if not patient_pk:
        messages.info(request, "Find the patient first, then book from their page.")
        return redirect("ui:patients")
    patient = _found(selectors.patient_get, pk=patient_pk, user=request.user)
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
                "span": "day",
                "day": timezone.localdate(),
                "requested_procedure_priority": Priority.ROUTINE,
            },
            procedures=procedures,
            stations=all_stations,
        )
    status = 200
    lost_slot = None
    if posted and form.is_valid():
        data = form.cleaned_data
        ae_title = data["slot"][0]
        outcome = attempt(
            form,
            booking.order_create,
            renamed={"scheduled_procedure_step_start_datetime": "slot"},
            conflict_on_form=False,
            user=request.user,
            **form.service_arguments(patient),
        )
        status = outcome.status
        if outcome.conflict:
            # Another scheduler took the slot (or a clash appeared) since the page was
            # drawn: say so, keep what was typed, and show the slots as they are now.
            lost_slot = outcome.conflict
            form.cleaned_data["slot"] = None
            form.data = form.data.copy()
            form.data.pop("slot", None)
        elif outcome.done:
            order = outcome.result
            step = order.requested_procedure.scheduled_procedure_steps.all()[0]
            messages.success(
                request,
                f"Booked {data['procedure'].code_meaning} for "
                f"{person_name(patient.patient_name)} on {ae_title} at "
                f"{timezone.localtime(step.start):%a %d %b %Y %H:%M}, "
                f"accession {order.accession_number}.",
            )
            return redirect("ui:order", pk=order.pk)
    elif posted:
        status = 400

    procedure, panel = None, None
    if form.is_bound:
        form.is_valid()  # bound to GET it only chooses what to show; errors are displayed
        procedure = form.cleaned_data.get("procedure")
    if procedure is not None:
        matching = [s for s in all_stations if s.modality == procedure.modality]
        form.fields["station"].choices = [("", f"All {procedure.modality} rooms")] + [
            (s.scheduled_station_ae_title, s.scheduled_station_ae_title) for s in matching
        ]
        chosen = form.cleaned_data.get("station")
        shown = [s for s in matching if not chosen or s.scheduled_station_ae_title == chosen]
        panel = _slot_panel(stations=shown, form=form, duration=form.cleaned_data["duration"])
    context = {
        "patient": patient,
        "form": form,
        "procedure": procedure,
        "panel": panel,
        "lost_slot": lost_slot,
    }
    return _fragment_or_page(request, "ui/book/_panel.html", "ui/book/page.html", context, status)
