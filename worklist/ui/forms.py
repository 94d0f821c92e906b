"""Forms of the scheduler UI: they parse and check what was typed; the booking rules
are the services', whose errors are put back next to the field they name."""

from datetime import date, datetime, time, timedelta

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils import timezone

from ris.errors import Invalid
from worklist import names, vr
from worklist.models import (
    OCCUPYING_STEP_STATUSES,
    OrderStatus,
    PregnancyStatus,
    Priority,
    Sex,
    StudyOutcome,
)
from worklist.services.booking import StepBooking
from worklist.services.safety import ACKNOWLEDGEABLE

from . import lockout


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


def put_errors(form: forms.Form, invalid: Invalid, renamed: dict | None = None) -> None:
    """Show a service's field errors on the form: next to the field they name (after
    `renamed`), at the top for the others."""
    renamed = renamed or {}

    def flatten(errors, prefix=""):
        for key, value in errors.items():
            if isinstance(value, dict):
                yield from flatten(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", value

    for key, messages in flatten(invalid.errors):
        name = renamed.get(key.rsplit(".", 1)[-1], key.rsplit(".", 1)[-1])
        for message in messages if isinstance(messages, list | tuple) else [messages]:
            form.add_error(name if name in form.fields else None, str(message))


# --- login ------------------------------------------------------------------------


class LoginForm(AuthenticationForm):
    """Django's login form, telling a locked-out user so instead of 'wrong password'."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "locked_out": "Too many failed logins for this user. Try again in %(minutes)s minutes.",
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        if username and lockout.locked_out(username, lockout.client_address(self.request)):
            raise ValidationError(
                self.error_messages["locked_out"],
                code="locked_out",
                params={"minutes": max(1, settings.RIS_LOGIN_LOCKOUT_SECONDS // 60)},
            )
        return super().clean()


# --- patients -----------------------------------------------------------------------


class PatientSearchForm(forms.Form):
    q = forms.CharField(
        label="Name, patient ID or birth date",
        required=False,
        max_length=64,
        help_text="Any part of the name (accents and case ignored; * and ? as wildcards), "
        "part of the patient ID, or a birth date such as 1978-03-04 or 04.03.1978.",
        widget=forms.TextInput(attrs={"type": "search", "autofocus": True}),
    )
    birth_date = forms.DateField(label="Birth date", required=False, widget=DateInput())


class PatientForm(forms.Form):
    """A new patient. The name is typed in parts and stored as a DICOM person name."""

    NAME_PARTS = ("family_name", "given_name", "middle_name", "name_prefix", "name_suffix")

    patient_id = forms.CharField(label="Patient ID", max_length=64, validators=[vr.validate_lo])
    issuer_of_patient_id = forms.CharField(
        label="Issuer of patient ID",
        max_length=64,
        required=False,
        validators=[vr.validate_lo],
        help_text="The assigning authority, e.g. the hospital's code. Optional.",
    )
    family_name = forms.CharField(label="Family name", max_length=64)
    given_name = forms.CharField(label="Given name", max_length=64, required=False)
    middle_name = forms.CharField(label="Middle name", max_length=64, required=False)
    name_prefix = forms.CharField(label="Prefix", max_length=16, required=False)
    name_suffix = forms.CharField(label="Suffix", max_length=16, required=False)
    patient_birth_date = forms.DateField(label="Birth date", widget=DateInput())
    patient_sex = forms.ChoiceField(label="Sex", choices=[("", "—"), *Sex.choices])
    medical_alerts = forms.CharField(max_length=64, required=False, validators=[vr.validate_lo])
    allergies = forms.CharField(max_length=64, required=False, validators=[vr.validate_lo])
    pregnancy_status = forms.TypedChoiceField(
        choices=[("", "—"), *PregnancyStatus.choices],
        coerce=int,
        empty_value=None,
        required=False,
    )
    patient_weight = forms.DecimalField(
        label="Weight (kg)", required=False, min_value=0, max_digits=6, decimal_places=2
    )
    patient_size = forms.DecimalField(
        label="Height (m)", required=False, min_value=0, max_digits=4, decimal_places=2
    )
    special_needs = forms.CharField(max_length=64, required=False, validators=[vr.validate_lo])
    register_anyway = forms.BooleanField(
        label="None of these: register a new patient", required=False
    )

    def clean_patient_birth_date(self):
        born = self.cleaned_data["patient_birth_date"]
        if born > timezone.localdate():
            raise ValidationError("Must not be in the future.")
        if born < date(1880, 1, 1):
            raise ValidationError("Must be after 1880.")
        return born

    def clean(self):
        cleaned = super().clean()
        for name in self.NAME_PARTS:
            if cleaned.get(name):
                try:
                    cleaned[name] = names.component(cleaned[name])
                except ValidationError as exc:
                    self.add_error(name, exc)
        return cleaned

    def patient_name(self) -> str:
        return names.from_components(*(self.cleaned_data.get(n, "") for n in self.NAME_PARTS))

    def service_arguments(self) -> dict:
        """cleaned_data shaped as services.patient_create's keyword arguments."""
        data = {
            k: v
            for k, v in self.cleaned_data.items()
            if k not in self.NAME_PARTS and k != "register_anyway"
        }
        data["patient_name"] = self.patient_name()
        return {k: v for k, v in data.items() if v not in (None, "") or k == "patient_id"}


class PatientEditForm(PatientForm):
    """A registered patient's record changed on their page; `revision` is the record's
    updated_at when the form was drawn, so an edit made meanwhile is not overwritten."""

    revision = forms.DateTimeField(widget=forms.HiddenInput)

    def __init__(self, *args, patient=None, **kwargs):
        if patient is not None and not args and "data" not in kwargs:
            kwargs["initial"] = self.initial_of(patient)
        super().__init__(*args, **kwargs)
        del self.fields["register_anyway"]

    @classmethod
    def initial_of(cls, patient) -> dict:
        parts = names.components(names.alphabetic(patient.patient_name)) + [""] * 5
        initial = {name: parts[i] for i, name in enumerate(cls.NAME_PARTS)}
        for name in (
            "patient_id",
            "issuer_of_patient_id",
            "patient_birth_date",
            "patient_sex",
            "medical_alerts",
            "allergies",
            "pregnancy_status",
            "patient_weight",
            "patient_size",
            "special_needs",
        ):
            initial[name] = getattr(patient, name)
        initial["revision"] = patient.updated_at
        return initial

    def service_arguments(self) -> dict:
        """Every field, blanks included (a value cleared is a change), and revision."""
        data = {
            k: v
            for k, v in self.cleaned_data.items()
            if k not in self.NAME_PARTS and k not in ("register_anyway", "revision")
        }
        data["patient_name"] = self.patient_name()
        for name in ("patient_sex", "medical_alerts", "allergies", "special_needs"):
            data[name] = data.get(name) or ""
        data["issuer_of_patient_id"] = data.get("issuer_of_patient_id") or ""
        return {**data, "revision": self.cleaned_data["revision"]}


# --- booking ------------------------------------------------------------------------

SPANS = [("day", "Day"), ("week", "Week")]


def parse_slot(value: str) -> tuple[str, datetime]:
    """'AE_TITLE|2026-11-25T09:00:00+01:00' (a free-slot radio button) -> (AE, start)."""
    ae_title, _, start_text = value.partition("|")
    start = forms.DateTimeField().clean(start_text)
    if not ae_title or start is None:
        raise ValidationError("Pick a free slot.")
    return ae_title, start


class SlotRangeForm(forms.Form):
    """Which free slots to show: from a day, for a day or a week, in one room or all."""

    day = forms.DateField(
        label="From", required=False, widget=DateInput(), validators=[vr.validate_day]
    )
    span = forms.ChoiceField(choices=SPANS, required=False, initial="day")
    station = forms.ChoiceField(label="Room", required=False)

    def __init__(self, *args, stations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["station"].choices = [("", "All matching rooms")] + [
            (s.scheduled_station_ae_title, f"{s.scheduled_station_ae_title} {s.modality}")
            for s in stations
        ]

    move = forms.ChoiceField(
        choices=[("", ""), ("previous", "Previous"), ("next", "Next"), ("today", "Today")],
        required=False,
    )

    def clean(self):
        cleaned = super().clean()
        day = cleaned.get("day") or timezone.localdate()
        span = cleaned["span"] = cleaned.get("span") or "day"
        step = timedelta(days=7 if span == "week" else 1)
        move = cleaned.pop("move", "")
        if move == "previous":
            day -= step
        elif move == "next":
            day += step
        elif move == "today":
            day = timezone.localdate()
        cleaned["day"] = day
        self.data = self.data.copy()
        self.data["day"] = day.isoformat()
        self.data.pop("move", None)
        return cleaned


class BookingForm(SlotRangeForm):
    """One page books an exam: the procedure (which fills modality and duration), the
    range of free slots to show, the slot picked, and the order's details. Bound to GET
    it only chooses what to show; bound to POST it books, and needs a slot."""

    patient = forms.IntegerField(widget=forms.HiddenInput)
    # an order waiting to be scheduled (the order inbox): booking fills its steps
    order = forms.IntegerField(required=False, widget=forms.HiddenInput)
    procedure = forms.ModelChoiceField(queryset=None, empty_label="Choose a procedure…")
    shown_procedure = forms.IntegerField(required=False, widget=forms.HiddenInput)
    duration = forms.IntegerField(
        label="Duration (min)", min_value=1, max_value=24 * 60, required=False
    )
    slot = forms.CharField(required=False)
    requested_procedure_priority = forms.ChoiceField(
        label="Priority", choices=Priority.choices, required=False, initial=Priority.ROUTINE
    )
    referring_physician_name = forms.CharField(
        label="Referring physician",
        required=False,
        max_length=64,
        help_text="Family^Given, e.g. Smith^John.",
        validators=[vr.validate_pn],
    )
    reason_for_the_requested_procedure = forms.CharField(
        label="Reason for the exam", required=False, max_length=64, validators=[vr.validate_lo]
    )
    imaging_service_request_comments = forms.CharField(
        label="Comments",
        required=False,
        max_length=1024,
        widget=forms.Textarea(attrs={"rows": 2}),
        validators=[vr.validate_lt],
    )

    from_time = forms.TimeField(
        label="Earliest start", required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    to_time = forms.TimeField(
        label="Latest end", required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    acknowledged_alerts = forms.MultipleChoiceField(
        choices=[(code, code) for code in ACKNOWLEDGEABLE],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    allow_patient_overlap = forms.BooleanField(
        label="Book anyway: the patient has another exam at that time", required=False
    )

    ORDER_FIELDS = (
        "requested_procedure_priority",
        "referring_physician_name",
        "reason_for_the_requested_procedure",
        "imaging_service_request_comments",
    )

    def __init__(self, *args, procedures, booking=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.booking = booking
        self.fields["procedure"].queryset = procedures
        self.fields["procedure"].label_from_instance = lambda p: (
            f"{p.modality} · {p.code_meaning} ({p.duration_minutes} min)"
        )

    def clean_slot(self):
        value = self.cleaned_data["slot"]
        if not value:
            if self.booking:
                raise ValidationError("Pick a free slot.")
            return None
        try:
            return parse_slot(value)
        except ValidationError:
            if self.booking:
                raise
            return None

    def clean(self):
        cleaned = super().clean()
        procedure = cleaned.get("procedure")
        if procedure is not None:
            # A newly picked procedure brings its default duration; a duration typed
            # for the procedure already shown is kept.
            if cleaned.get("shown_procedure") != procedure.pk or not cleaned.get("duration"):
                cleaned["duration"] = procedure.duration_minutes
                self.data = self.data.copy()
                self.data["duration"] = str(procedure.duration_minutes)
            self.data = self.data.copy()
            self.data["shown_procedure"] = str(procedure.pk)
        cleaned["requested_procedure_priority"] = (
            cleaned.get("requested_procedure_priority") or Priority.ROUTINE
        )
        start, end = cleaned.get("from_time"), cleaned.get("to_time")
        if start and end and start >= end:
            self.add_error("to_time", "Must be after the start time.")
        return cleaned

    def window(self):
        """The time-of-day window asked for the first free slots, or None."""
        data = self.cleaned_data
        start, end = data.get("from_time"), data.get("to_time")
        if not start and not end:
            return None
        return (start or time(0), end or time(23, 59, 59))

    def service_arguments(self, patient) -> dict:
        """cleaned_data shaped as services.order_create's keyword arguments: one step on
        the slot picked, described by the catalogue procedure."""
        data = self.cleaned_data
        procedure = data["procedure"]
        ae_title, start = data["slot"]
        return {
            "patient": {
                "patient_id": patient.patient_id,
                "issuer_of_patient_id": patient.issuer_of_patient_id,
            },
            "steps": [
                StepBooking(
                    scheduled_station_ae_title=ae_title,
                    start=start,
                    duration_minutes=data["duration"],
                    modality=procedure.modality,
                    details={"scheduled_procedure_step_description": procedure.code_meaning},
                )
            ],
            "requested_procedure_code_sequence": [procedure.as_code_item()],
            "acknowledged_alerts": data.get("acknowledged_alerts") or [],
            "allow_patient_overlap": bool(data.get("allow_patient_overlap")),
            **{name: data[name] for name in self.ORDER_FIELDS},
        }

    def schedule_arguments(self, order) -> dict:
        """cleaned_data shaped as services.order_schedule's keyword arguments: the step
        on the slot picked for `order`, a waiting order whose details the hospital
        system sent."""
        booking = self.service_arguments(order.patient)
        return {
            "order": order,
            "steps": booking["steps"],
            "acknowledged_alerts": booking["acknowledged_alerts"],
            "allow_patient_overlap": booking["allow_patient_overlap"],
        }


class RescheduleForm(SlotRangeForm):
    """A step moved to a free slot, in its room or another of the same modality."""

    slot = forms.CharField(required=False)
    reason = forms.CharField(
        label="Reason (optional)", required=False, max_length=64, validators=[vr.validate_lo]
    )
    allow_patient_overlap = forms.BooleanField(
        label="Move anyway: the patient has another exam at that time", required=False
    )
    acknowledged_alerts = BookingForm.base_fields["acknowledged_alerts"]

    def __init__(self, *args, booking=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.booking = booking
        self.fields["station"].choices = [
            ("", "All rooms of this modality"),
            *list(self.fields["station"].choices)[1:],
        ]

    clean_slot = BookingForm.clean_slot


class CancelForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=64,
        validators=[vr.validate_lo],
        help_text="Shown in the order's history, e.g. 'Patient declined'.",
    )


# --- calendar and lists -------------------------------------------------------------


class CalendarForm(forms.Form):
    day = forms.DateField(required=False, widget=DateInput(), validators=[vr.validate_day])
    span = forms.ChoiceField(choices=SPANS, required=False)
    station = forms.ChoiceField(label="Room", required=False)
    modality = forms.ChoiceField(required=False)

    def __init__(self, *args, stations, modalities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["station"].choices = [("", "All rooms")] + [
            (s.scheduled_station_ae_title, f"{s.scheduled_station_ae_title} {s.modality}")
            for s in stations
        ]
        self.fields["modality"].choices = [("", "All modalities")] + [(m, m) for m in modalities]
        if not (self.data or {}).get("station"):
            # A week is drawn for one room: with all rooms it is not offered.
            self.fields["span"].choices = [("day", "Day")]
            self.fields["span"].help_text = "Week: choose a room first."

    def clean(self):
        cleaned = super().clean()
        cleaned["day"] = cleaned.get("day") or timezone.localdate()
        # A week is shown for one room; several rooms are shown side by side for a day.
        if not cleaned.get("station"):
            cleaned["span"] = "day"
        cleaned["span"] = cleaned.get("span") or "day"
        if cleaned["span"] == "week":
            cleaned["day"] -= timedelta(days=cleaned["day"].weekday())
        return cleaned


class BoardForm(forms.Form):
    station = forms.ChoiceField(label="Room", required=False)

    def __init__(self, *args, stations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["station"].choices = [
            (s.scheduled_station_ae_title, f"{s.scheduled_station_ae_title} {s.modality}")
            for s in stations
        ]


class OrderFilterForm(forms.Form):
    day = forms.DateField(
        label="Date", required=False, widget=DateInput(), validators=[vr.validate_day]
    )
    patient_id = forms.CharField(label="Patient ID", required=False, max_length=64)
    status = forms.ChoiceField(choices=[("", "Any status"), *OrderStatus.choices], required=False)
    modality = forms.ChoiceField(required=False)
    station = forms.ChoiceField(label="Room", required=False)
    accession_number = forms.CharField(label="Accession", required=False, max_length=16)
    sort = forms.ChoiceField(
        label="Sort",
        choices=[("", "By time"), ("urgency", "Most urgent first")],
        required=False,
    )

    def __init__(self, *args, stations, modalities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["station"].choices = [("", "Any room")] + [
            (s.scheduled_station_ae_title, s.scheduled_station_ae_title) for s in stations
        ]
        self.fields["modality"].choices = [("", "Any modality")] + [(m, m) for m in modalities]


# --- unscheduled exams ----------------------------------------------------------------


class PerformedLinkForm(forms.Form):
    """An unscheduled exam linked by hand: the order named by its accession number,
    then which of its open steps (scheduled or under way) the exam performed. The view
    finds the order; bound to GET the form only shows its steps, bound to POST it
    links and needs a step."""

    accession_number = forms.CharField(label="Accession number", max_length=16)
    steps = forms.TypedMultipleChoiceField(
        label="Scheduled steps this exam performed",
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, order=None, linking=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.order = order
        self.linking = linking
        steps = [
            step
            for procedure in (order.requested_procedures.all() if order else [])
            for step in procedure.scheduled_procedure_steps.all()
            if step.scheduled_procedure_step_status in OCCUPYING_STEP_STATUSES
        ]
        self.open_steps = {step.pk: step for step in steps}
        self.fields["steps"].choices = [(step.pk, self.step_label(step)) for step in steps]

    @staticmethod
    def step_label(step) -> str:
        description = (
            step.scheduled_procedure_step_description
            or step.requested_procedure.requested_procedure_description
        )
        parts = [
            step.scheduled_procedure_step_id,
            step.modality,
            step.station.scheduled_station_ae_title,
            f"{timezone.localtime(step.start):%a %d %b %Y %H:%M}",
            step.scheduled_procedure_step_status,
            description,
        ]
        return " · ".join(part for part in parts if part)

    def clean_accession_number(self):
        accession_number = self.cleaned_data["accession_number"].strip()
        if self.order is None:
            raise ValidationError(f"No order has the accession number {accession_number}.")
        if not self.open_steps:
            raise ValidationError(
                f"Order {self.order.accession_number} is {self.order.status}: "
                "it has no step left to perform."
            )
        return accession_number

    def clean_steps(self):
        chosen = self.cleaned_data["steps"]
        if self.linking and not chosen:
            raise ValidationError("Choose the scheduled steps this exam performed.")
        return [self.open_steps[pk] for pk in chosen]


# --- arriving studies: the exceptions page ---------------------------------------------


class StudyExceptionFilterForm(forms.Form):
    outcome = forms.ChoiceField(
        choices=[("", "Any outcome"), *StudyOutcome.choices], required=False
    )


class StudyCandidateSearchForm(forms.Form):
    accession_number = forms.CharField(
        label="Accession number",
        max_length=16,
        required=False,
        help_text="The start of it is enough.",
        widget=forms.TextInput(attrs={"type": "search"}),
    )


class StudyActionForm(forms.Form):
    """What every action on a study exception carries: the revision of the study the
    person saw. When the study changed since (more images, someone else acted), the
    service refuses the action (409) rather than apply it to what nobody looked at."""

    revision = forms.IntegerField(min_value=0, widget=forms.HiddenInput)


class StudyLinkForm(StudyActionForm):
    order = forms.IntegerField(widget=forms.HiddenInput)


class StudyCreateOrderForm(StudyActionForm):
    station = forms.ChoiceField(label="Performed in room")
    requested_procedure_description = forms.CharField(
        label="Requested procedure",
        max_length=64,
        required=False,
        validators=[vr.validate_lo],
        help_text="Left empty: the study's description.",
    )

    def __init__(self, *args, stations, **kwargs):
        super().__init__(*args, **kwargs)
        self.stations = {s.scheduled_station_ae_title: s for s in stations}
        self.fields["station"].choices = [
            (ae, f"{ae} · {s.modality} · {s.scheduled_station_name}")
            for ae, s in self.stations.items()
        ]

    def clean_station(self):
        return self.stations[self.cleaned_data["station"]]


class StudyAcceptForm(StudyActionForm):
    comment = forms.CharField(
        label="Comment",
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="E.g. 'Name misspelt at the modality; archive corrected'.",
    )


class StudyResolveForm(StudyActionForm):
    comment = forms.CharField(
        label="Why is it resolved?",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept with the study and in the order's history, e.g. 'Test images'.",
    )
