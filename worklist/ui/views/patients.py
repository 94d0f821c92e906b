"""Patients: search, register, a patient's page with their orders."""

from django.contrib import messages
from django.shortcuts import redirect, render

from worklist import selectors
from worklist.services import patients as patient_services
from worklist.ui.forms import PatientForm, PatientSearchForm

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
    form = PatientForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
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
