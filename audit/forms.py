"""Search forms of the review pages: they validate the filters and build an
EventSearch; times are read in local time, a date alone means the whole day."""

from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone

from .codes import Action, Channel, Outcome
from .selectors import EventSearch

DATE_OR_DATETIME = ["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]


def _blank(choices) -> list:
    return [("", "any"), *choices]


class PeriodForm(forms.Form):
    since = forms.DateTimeField(
        required=False, input_formats=DATE_OR_DATETIME, help_text="From (date or date and time)."
    )
    until = forms.DateTimeField(
        required=False, input_formats=DATE_OR_DATETIME, help_text="Up to and including."
    )

    def clean_until(self):
        until = self.cleaned_data.get("until")
        raw = (self.data.get(self.add_prefix("until")) or "").strip()
        if until is not None and len(raw) == len("2026-01-01"):
            until = until + timedelta(days=1)  # a date alone: the whole of that day
        return until

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and until <= since:
            self.add_error("until", "Must be after the start of the period.")
        return cleaned


class EventSearchForm(PeriodForm):
    patient_id = forms.CharField(required=False, max_length=64, label="Patient ID")
    issuer = forms.CharField(
        required=False,
        max_length=64,
        label="Issuer of patient ID",
        help_text="Leave empty for any issuer.",
    )
    user = forms.CharField(required=False, max_length=150)
    ae_title = forms.CharField(required=False, max_length=16, label="AE title")
    action = forms.ChoiceField(required=False, choices=_blank(Action.choices))
    outcome = forms.TypedChoiceField(
        required=False, choices=_blank(Outcome.choices), coerce=int, empty_value=None
    )
    channel = forms.ChoiceField(required=False, choices=_blank(Channel.choices))

    field_order = [
        "patient_id",
        "issuer",
        "user",
        "ae_title",
        "action",
        "outcome",
        "channel",
        "since",
        "until",
    ]

    def search(self) -> EventSearch:
        data = self.cleaned_data
        return EventSearch(
            patient_id=data.get("patient_id", "").strip(),
            issuer=data.get("issuer", "").strip() or None,
            user=data.get("user", "").strip(),
            ae_title=data.get("ae_title", "").strip(),
            action=data.get("action", ""),
            outcome=data.get("outcome"),
            channel=data.get("channel", ""),
            since=data.get("since"),
            until=data.get("until"),
        )


class PatientReportForm(PeriodForm):
    patient_id = forms.CharField(max_length=64, label="Patient ID")
    issuer = forms.CharField(
        required=False,
        max_length=64,
        label="Issuer of patient ID",
        help_text="Leave empty for any issuer.",
    )
    field_order = ["patient_id", "issuer", "since", "until"]

    def search(self) -> EventSearch:
        data = self.cleaned_data
        return EventSearch(
            patient_id=data["patient_id"].strip(),
            issuer=data.get("issuer", "").strip() or None,
            since=data.get("since"),
            until=data.get("until"),
        )


def days_ago(days: int) -> datetime:
    today = timezone.localdate()
    return timezone.make_aware(datetime.combine(today - timedelta(days=days), time(0)))
