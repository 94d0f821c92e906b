"""Forms of the export pages: they parse; the rules are in export.services."""

from django import forms

from worklist.models import OrderStatus, StudyOutcome

from .deid import Option
from .selectors import Cohort


def _list(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in text.replace(";", ",").split(",") if v.strip()))


class ExportRequestForm(forms.Form):
    project = forms.ModelChoiceField(queryset=None, required=False, empty_label="— a new project —")
    project_name = forms.CharField(
        label="New project name",
        max_length=100,
        required=False,
        help_text="Pseudonyms stay the same across the exports of one project.",
    )
    purpose = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The study, teaching file or validation the data is for.",
    )
    since = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Steps scheduled from this day.",
    )
    until = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="… to this day, included.",
    )
    modalities = forms.CharField(required=False, help_text="e.g. CT, MR (empty: all).")
    procedure_codes = forms.CharField(
        required=False,
        help_text="Code values of the requested procedure, e.g. CTHEAD (empty: all).",
    )
    statuses = forms.MultipleChoiceField(
        choices=OrderStatus.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Order status (none ticked: all).",
    )
    outcomes = forms.MultipleChoiceField(
        label="Reconciliation outcome",
        choices=StudyOutcome.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Orders with an arrived study of this outcome (none ticked: any).",
    )
    include_worklist = forms.BooleanField(
        label="Worklist data (orders and scheduled steps)", required=False, initial=True
    )
    include_performed = forms.BooleanField(
        label="Performed procedure steps (MPPS)", required=False, initial=True
    )
    include_images = forms.BooleanField(label="Images (where their files are kept)", required=False)
    formats = forms.MultipleChoiceField(
        choices=[("csv", "CSV"), ("json", "JSON (DICOM JSON model)")],
        required=False,
        initial=["csv"],
        widget=forms.CheckboxSelectMultiple,
    )
    options = forms.MultipleChoiceField(
        label="De-identification options",
        choices=[(o.value, o.label) for o in Option],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Besides the Basic Application Level Confidentiality Profile (PS3.15 Annex E).",
    )

    def __init__(self, *args, projects=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            self.add_error("until", "The period ends before it starts.")
        if not data.get("project") and not (data.get("project_name") or "").strip():
            self.add_error("project_name", "Choose a project or name a new one.")
        return data

    def cohort(self) -> Cohort:
        data = self.cleaned_data
        return Cohort(
            since=data.get("since"),
            until=data.get("until"),
            modalities=tuple(m.upper() for m in _list(data.get("modalities") or "")),
            procedure_codes=_list(data.get("procedure_codes") or ""),
            statuses=tuple(data.get("statuses") or ()),
            outcomes=tuple(data.get("outcomes") or ()),
        )


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("approve", "Approve"), ("refuse", "Refuse")], widget=forms.HiddenInput
    )
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why: the approval reference, or the reason for refusing.",
    )


class ReidentifyForm(forms.Form):
    project = forms.ModelChoiceField(queryset=None)
    pseudonym = forms.CharField(max_length=16)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded in the access audit with the patient.",
    )

    def __init__(self, *args, projects=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects
