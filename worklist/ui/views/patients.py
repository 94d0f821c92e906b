"""Patients: search, register, a patient's page with their orders."""

from django.contrib import messages
from django.shortcuts import redirect, render

from worklist import selectors
from worklist.services import patients as patient_services
from worklist.ui.forms import PatientEditForm, PatientForm, PatientSearchForm

from .common import _found, _fragment_or_page, attempt, requires


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
    """Register a patient; possible duplicates already registered are shown, with a
    link to each, before a new record is saved."""
    form = PatientForm(request.POST if request.method == "POST" else None)
    duplicates = []
    if request.method == "POST" and form.is_valid():
        if not form.cleaned_data["register_anyway"]:
            duplicates = selectors.possible_duplicates(
                patient_id=form.cleaned_data["patient_id"],
                issuer_of_patient_id=form.cleaned_data.get("issuer_of_patient_id", ""),
                patient_name=form.patient_name(),
                patient_birth_date=form.cleaned_data["patient_birth_date"],
                user=request.user,
            )
        if duplicates:
            return render(request, "ui/patients/new.html", {"form": form, "duplicates": duplicates})
        outcome = attempt(
            form,
            patient_services.patient_create,
            renamed={"patient_name": "family_name"},
            **form.service_arguments(),
        )
        if outcome.done:
            messages.success(request, f"Patient {outcome.result.patient_id} registered.")
            return redirect("ui:patient", pk=outcome.result.pk)
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


@requires("worklist.change_patient", "worklist.view_patient")
def patient_edit(request, pk: int):
    """Change a patient's demographics and alerts. An edit made by someone else since
    the form was drawn is not overwritten: 409, the typed values kept, the record as
    it is now shown."""
    patient = _found(selectors.patient_get, pk=pk, user=request.user)
    posted = request.method == "POST"
    form = PatientEditForm(request.POST) if posted else PatientEditForm(patient=patient)
    status, conflict = 200, None
    if posted:
        status = 400
        if form.is_valid():
            outcome = attempt(
                form,
                patient_services.patient_edit,
                renamed={"patient_name": "family_name"},
                conflict_on_form=False,
                patient=patient,
                **form.service_arguments(),
            )
            status = outcome.status
            if outcome.conflict:
                conflict = outcome.conflict
                form.data = form.data.copy()
                form.data["revision"] = outcome.conflict_details["revision"]
            elif outcome.done:
                messages.success(request, f"Patient {patient.patient_id} changed.")
                return redirect("ui:patient", pk=patient.pk)
    context = {"form": form, "patient": patient, "conflict": conflict}
    return render(request, "ui/patients/edit.html", context, status=status)
