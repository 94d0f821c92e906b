"""The scheduler web UI. Each view parses a form, calls a selector (every read of
patient data) or a booking service (every write), and renders; with htmx a view
answers the fragment that changed.

Access is by model permission, held through the role groups (see
worklist/migrations/0004_roles.py): a technologist views, a scheduler books.
"""

from datetime import date, timedelta
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import LoginView, redirect_to_login
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from ris.errors import Conflict, Invalid

from . import performed as performed_steps
from . import selectors, services
from .calendar import build_grid, person_name, week_days
from .forms import (
    BoardForm,
    BookingForm,
    CalendarForm,
    CancelForm,
    LoginForm,
    OrderFilterForm,
    PatientForm,
    PatientSearchForm,
    PerformedLinkForm,
    RescheduleForm,
    put_errors,
)
from .models import OrderStatus, PerformedProcedureStep, Priority, StepStatus


def requires(*perms: str):
    """Log in first, then hold every permission named (403 otherwise). An htmx
    request of an expired session (the board refreshing itself) sends the whole page
    to the login, not the login form into the fragment."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                if request.htmx:
                    here = request.htmx.current_url_abs_path or request.get_full_path()
                    return HttpResponseClientRedirect(
                        f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': here})}"
                    )
                return redirect_to_login(request.get_full_path())
            if not request.user.has_perms(perms):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _found(selector, **kwargs):
    try:
        return selector(**kwargs)
    except (ObjectDoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def _with_defaults(data, **defaults):
    """The submitted values, with defaults for the fields left out, so a form bound to
    a bare URL shows the values it acts on (today, ROUTINE...)."""
    data = data.copy()
    for name, value in defaults.items():
        if not data.get(name):
            data[name] = value
    return data


def _fragment_or_page(request, fragment: str, page: str, context: dict, status: int = 200):
    """The fragment alone for an htmx request that targets it, else the whole page."""
    template = fragment if request.htmx and not request.htmx.boosted else page
    return render(request, template, context, status=status)


# --- login --------------------------------------------------------------------------


class Login(LoginView):
    form_class = LoginForm
    template_name = "ui/login.html"
    redirect_authenticated_user = True


# --- patients -----------------------------------------------------------------------


@requires("worklist.view_patient")
def patients(request):
    """Search by name, ID or birth date. The page's form posts, so that names and
    birth dates stay out of URLs, browser history and proxy logs; a link with ?q=
    still works."""
    form = PatientSearchForm(request.POST if request.method == "POST" else request.GET or None)
    result = None
    if form.is_valid():
        result = selectors.patient_search(
            text=form.cleaned_data["q"],
            birth_date=form.cleaned_data["birth_date"],
            user=request.user,
        )
    context = {"form": form, "result": result}
    return _fragment_or_page(
        request, "ui/patients/_results.html", "ui/patients/search.html", context
    )


@requires("worklist.add_patient")
def patient_new(request):
    form = PatientForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            patient = services.patient_create(**form.service_arguments())
        except Invalid as exc:
            put_errors(form, exc, renamed={"patient_name": "family_name"})
        else:
            messages.success(request, f"Patient {patient.patient_id} registered.")
            return redirect("ui:patient", pk=patient.pk)
    return render(request, "ui/patients/new.html", {"form": form})


@requires("worklist.view_patient")
def patient_detail(request, pk: int):
    patient = _found(selectors.patient_get, pk=pk, user=request.user)
    orders = (
        selectors.patient_orders(patient=patient, user=request.user)
        if request.user.has_perm("worklist.view_order")
        else None
    )
    return render(request, "ui/patients/detail.html", {"patient": patient, "orders": orders})


# --- booking ------------------------------------------------------------------------


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
        try:
            order = services.order_create(**form.service_arguments(patient), user=request.user)
        except Conflict as exc:
            # Another scheduler took the slot (or a clash appeared) since the page was
            # drawn: say so, keep what was typed, and show the slots as they are now.
            status = 409
            lost_slot = exc.message
            form.cleaned_data["slot"] = None
            form.data = form.data.copy()
            form.data.pop("slot", None)
        except Invalid as exc:
            status = 400
            put_errors(form, exc, renamed={"scheduled_procedure_step_start_datetime": "slot"})
        else:
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


# --- calendar -----------------------------------------------------------------------


def _calendar_range(request) -> dict:
    """What the calendar shows: the form, the stations, the days and their bounds."""
    all_stations = selectors.stations_for()
    modalities = sorted({s.modality for s in all_stations})
    query = _with_defaults(request.GET, day=timezone.localdate().isoformat(), span="day")
    query.pop(POLL_VERSION, None)
    form = CalendarForm(query, stations=all_stations, modalities=modalities)
    form.is_valid()  # every field is optional; an unreadable one falls back to its default
    data = form.cleaned_data
    ae_title, modality = data.get("station", ""), data.get("modality", "")
    stations = [
        s
        for s in all_stations
        if (not ae_title or s.scheduled_station_ae_title == ae_title)
        and (not modality or s.modality == modality)
    ]
    days = week_days(data["day"]) if data["span"] == "week" else [data["day"]]
    start, _ = selectors.local_day_bounds(days[0])
    _, end = selectors.local_day_bounds(days[-1])
    return {
        "form": form,
        "query": query,
        "stations": stations,
        "days": days,
        "span": data["span"],
        "start": start,
        "end": end,
    }


def _calendar_context(request, shown: dict, version: str) -> dict:
    steps = selectors.calendar_steps(
        stations=shown["stations"], start=shown["start"], end=shown["end"], user=request.user
    )
    grid = build_grid(
        stations=shown["stations"],
        days=shown["days"],
        steps=steps,
        step_url=reverse("ui:step", args=[0])[:-2],
    )
    query = shown["query"].copy()
    links = {"current": "?" + query.urlencode()}
    days = shown["days"]
    shift = timedelta(days=len(days))
    for name, day in (
        ("previous", days[0] - shift),
        ("next", days[0] + shift),
        ("today", timezone.localdate()),
    ):
        query["day"] = day.isoformat()
        links[name] = "?" + query.urlencode()
    return {
        "form": shown["form"],
        "grid": grid,
        "days": days,
        "span": shown["span"],
        "links": links,
        # The grid asks again this often, so a step a modality starts shows without a
        # reload (0: never), naming the version it was drawn from: an unchanged
        # calendar is not sent again, nor are its patients read and audited again.
        "poll_seconds": settings.RIS_UI_POLL_SECONDS,
        "poll": {"name": POLL_VERSION, "version": version},
    }


POLL_VERSION = "drawn"


@requires("worklist.view_scheduledprocedurestep")
def calendar(request):
    """Day or week of one room, or a day of all rooms (of a modality) side by side.

    A poll naming the version it shows gets 204 No Content while nothing on the
    calendar changed, and htmx leaves the page as it is."""
    shown = _calendar_range(request)
    version = selectors.calendar_version(
        stations=shown["stations"], start=shown["start"], end=shown["end"]
    )
    if request.GET.get(POLL_VERSION) == version:
        return HttpResponse(status=204)
    context = _calendar_context(request, shown, version)
    return _fragment_or_page(request, "ui/calendar/_grid.html", "ui/calendar/page.html", context)


@requires("worklist.view_scheduledprocedurestep")
def board(request):
    """Today's steps of one room, in time order, for the technologist at the console."""
    stations = selectors.stations_for()
    form = BoardForm(request.GET or None, stations=stations)
    chosen = form.cleaned_data.get("station") if form.is_valid() else ""
    station = next(
        (s for s in stations if s.scheduled_station_ae_title == chosen),
        stations[0] if stations else None,
    )
    today = timezone.localdate()
    steps = []
    if station is not None:
        start, end = selectors.local_day_bounds(today)
        steps = selectors.calendar_steps(
            stations=[station], start=start, end=end, user=request.user
        )
    context = {"form": form, "station": station, "today": today, "steps": steps}
    return _fragment_or_page(request, "ui/board/_table.html", "ui/board/page.html", context)


# --- steps --------------------------------------------------------------------------


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
    status, lost_slot = 200, None
    if posted and form.is_valid():
        ae_title, start = form.cleaned_data["slot"]
        try:
            moved = services.step_update(
                step=step,
                scheduled_station_ae_title=ae_title,
                start=start,
                reason=form.cleaned_data["reason"],
                user=request.user,
            )
        except Conflict as exc:
            status, lost_slot = 409, exc.message
            form.cleaned_data["slot"] = None
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
            messages.success(
                request,
                f"Step {moved.scheduled_procedure_step_id} moved to {ae_title} "
                f"at {local:%a %d %b %Y %H:%M}.",
            )
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
                    services.step_update(
                        step=step,
                        scheduled_procedure_step_status=StepStatus.DISCONTINUED,
                        reason=reason,
                        user=request.user,
                    )
                else:
                    services.order_cancel(order=order, reason=reason, user=request.user)
            except Conflict as exc:
                status = 409
                form.add_error(None, exc.message)
            except Invalid as exc:
                put_errors(form, exc)
            else:
                messages.success(
                    request,
                    f"Step {step.scheduled_procedure_step_id} cancelled."
                    if others_open
                    else f"Order {order.accession_number} cancelled.",
                )
                return redirect(
                    _calendar_url(
                        step.station.scheduled_station_ae_title,
                        timezone.localtime(step.start).date(),
                    )
                )
    context = {"step": step, "order": order, "others_open": others_open, "form": form}
    return render(request, "ui/steps/cancel.html", context, status=status)


# --- orders -------------------------------------------------------------------------


@requires("worklist.view_order")
def orders(request):
    stations = selectors.stations_for()
    modalities = sorted({s.modality for s in stations})
    form = OrderFilterForm(request.GET or None, stations=stations, modalities=modalities)
    filters = form.cleaned_data if form.is_valid() else {}
    page = selectors.order_search(
        day=filters.get("day"),
        status=filters.get("status", ""),
        modality=filters.get("modality", ""),
        ae_title=filters.get("station", ""),
        accession_number=filters.get("accession_number", ""),
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
    if form.is_valid():
        try:
            services.order_cancel(
                order=order, reason=form.cleaned_data["reason"], user=request.user
            )
        except Conflict as exc:
            form.add_error(None, exc.message)
        except Invalid as exc:
            put_errors(form, exc)
        else:
            messages.success(request, f"Order {order.accession_number} cancelled.")
            return redirect("ui:order", pk=order.pk)
    return _order_page(request, order, cancel_form=form, status=400)


# --- unscheduled exams --------------------------------------------------------------
# An exam a modality reported (MPPS) that matched no scheduled step waits here until a
# scheduler links it to an order; linking needs what rescheduling needs.

UNSCHEDULED_PER_PAGE = 50


def _link_form_id(performed) -> str:
    return f"exam{performed.pk}_%s"


@requires("worklist.change_scheduledprocedurestep", "worklist.view_scheduledprocedurestep")
def unscheduled_exams(request):
    """The unscheduled exams, oldest first, each with what the modality sent, a form
    to find its order by accession number and the open orders of its patient ID."""
    page = Paginator(selectors.unscheduled_performed_steps(), UNSCHEDULED_PER_PAGE).get_page(
        request.GET.get("page", 1)
    )
    exams = list(page.object_list)
    candidates = selectors.link_candidates(
        patient_ids=[exam.patient_id for exam in exams], user=request.user
    )
    items = [
        {
            "performed": exam,
            "form": PerformedLinkForm(auto_id=_link_form_id(exam)),
            "candidates": [o for o in candidates if o.patient.patient_id == exam.patient_id],
        }
        for exam in exams
    ]
    return render(request, "ui/exams/unscheduled.html", {"page": page, "items": items})


def _order_with_accession(accession_number: str, *, user):
    if not accession_number:
        return None
    found = selectors.order_search(accession_number=accession_number, per_page=1, user=user)
    return next(iter(found), None)


@requires("worklist.change_scheduledprocedurestep", "worklist.view_scheduledprocedurestep")
def performed_link(request, pk: int):
    """Link an unscheduled exam to an order: find the order by its accession number,
    tick the steps the exam performed; the steps and the order then follow the exam."""
    performed = _found(selectors.performed_step_get, pk=pk, user=request.user)
    posted = request.method == "POST"
    if not posted and not performed.unscheduled:
        messages.info(request, f"Exam {performed.performed_procedure_step_id} is linked already.")
        return redirect("ui:unscheduled")
    source = request.POST if posted else request.GET
    accession_number = source.get("accession_number", "").strip()
    order = _order_with_accession(accession_number, user=request.user)
    form = PerformedLinkForm(
        source if posted or accession_number else None,
        order=order,
        linking=posted,
        auto_id=_link_form_id(performed),
    )
    status = 200
    if posted:
        status = 400
        if form.is_valid():
            try:
                performed_steps.performed_step_link(
                    performed_step=performed, steps=form.cleaned_data["steps"], user=request.user
                )
            except Conflict as exc:
                status = 409
                form.add_error(None, exc.message)
            except Invalid as exc:
                put_errors(form, exc, renamed={"scheduled_procedure_steps": "steps"})
            else:
                messages.success(
                    request,
                    f"Exam {performed.performed_procedure_step_id} from "
                    f"{performed.performed_station_ae_title} linked to order "
                    f"{order.accession_number}.",
                )
                return redirect("ui:order", pk=order.pk)
    elif form.is_bound:
        form.is_valid()  # bound to GET it shows the order's steps, or why there are none
    context = {"performed": performed, "form": form, "order": order}
    return _fragment_or_page(request, "ui/exams/_link.html", "ui/exams/link.html", context, status)
