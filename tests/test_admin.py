"""An administrator can open every model in the admin and cancel orders there."""

import pytest
from django.contrib import admin
from django.urls import reverse

from worklist.models import Order, OrderStatus, ScheduledProcedureStep, Station

from .factories import order_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_with_order(admin_user, client, api, station):
    api.post("/api/orders/", order_payload(), format="json")
    client.force_login(admin_user)
    return client


def test_every_model_has_a_working_changelist_and_change_page(admin_client_with_order):
    for model in admin.site._registry:
        if model._meta.app_label != "worklist":
            continue
        opts = model._meta
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        assert admin_client_with_order.get(changelist).status_code == 200, changelist
        first = model.objects.first()
        if first is not None:
            change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[first.pk])
            assert admin_client_with_order.get(change).status_code == 200, change


def test_all_worklist_models_are_registered():
    from django.apps import apps

    for model in apps.get_app_config("worklist").get_models():
        assert model in admin.site._registry, model


def test_cancel_action_cancels_through_the_booking_service(admin_client_with_order):
    order = Order.objects.get()
    response = admin_client_with_order.post(
        reverse("admin:worklist_order_changelist"),
        {"action": "cancel_orders", "_selected_action": [order.pk]},
    )
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED


def test_cancelling_the_only_step_in_admin_cancels_its_order(admin_client_with_order):
    step = ScheduledProcedureStep.objects.get()
    response = admin_client_with_order.post(
        reverse("admin:worklist_scheduledprocedurestep_changelist"),
        {"action": "cancel_steps", "_selected_action": [step.pk]},
    )
    assert response.status_code == 302
    assert Order.objects.get().status == OrderStatus.CANCELLED


def test_station_added_in_admin_with_opening_hours(admin_client_with_order):
    response = admin_client_with_order.post(
        reverse("admin:worklist_station_add"),
        {
            "scheduled_station_ae_title": "MG1",
            "scheduled_station_name": "Mammo 1",
            "modality": "MG",
            "scheduled_procedure_step_location": "Breast unit",
            "active": "on",
            "opening_hours-TOTAL_FORMS": "1",
            "opening_hours-INITIAL_FORMS": "0",
            "opening_hours-0-weekday": "0",
            "opening_hours-0-opens": "08:00",
            "opening_hours-0-closes": "16:00",
        },
    )
    assert response.status_code == 302
    from worklist.models import Station

    assert Station.objects.get(scheduled_station_ae_title="MG1").opening_hours.count() == 1


def test_invalid_ae_title_in_admin_is_shown_as_a_field_error(admin_client_with_order):
    response = admin_client_with_order.post(
        reverse("admin:worklist_station_add"),
        {
            "scheduled_station_ae_title": "BAD\\AE",
            "modality": "mg",
            "opening_hours-TOTAL_FORMS": "0",
            "opening_hours-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "scheduled_station_ae_title" in errors
    assert "modality" in errors


def test_a_performed_procedure_step_is_shown_read_only(admin_user, client, station):
    from django.urls import reverse
    from pydicom.uid import generate_uid

    from tests.dicom.mpps_messages import create, n_create

    created = create(n_create(), uid=generate_uid()).performed_step
    client.force_login(admin_user)
    page = client.get(reverse("admin:worklist_performedprocedurestep_change", args=[created.pk]))
    assert page.status_code == 200
    assert created.performed_procedure_step_id in page.content.decode()
    assert b'name="_save"' not in page.content


def _station_form(**hours) -> dict:
    data = {
        "scheduled_station_ae_title": "MG1",
        "scheduled_station_name": "Mammo 1",
        "modality": "MG",
        "scheduled_procedure_step_location": "Breast unit",
        "active": "on",
        "opening_hours-TOTAL_FORMS": str(len(hours)),
        "opening_hours-INITIAL_FORMS": "0",
    }
    for index, (opens, closes) in enumerate(hours.values()):
        data[f"opening_hours-{index}-weekday"] = "0"
        data[f"opening_hours-{index}-opens"] = opens
        data[f"opening_hours-{index}-closes"] = closes
    return data


def test_admin_refuses_opening_hours_closing_before_they_open(admin_client_with_order):
    response = admin_client_with_order.post(
        reverse("admin:worklist_station_add"), _station_form(first=("18:00", "08:00"))
    )
    assert response.status_code == 200
    assert "Must be after" in response.content.decode()
    assert not Station.objects.filter(scheduled_station_ae_title="MG1").exists()


def test_admin_refuses_overlapping_opening_hours(admin_client_with_order):
    response = admin_client_with_order.post(
        reverse("admin:worklist_station_add"),
        _station_form(first=("08:00", "12:00"), second=("11:00", "13:00")),
    )
    assert response.status_code == 200
    assert "Overlaps" in response.content.decode()
    assert not Station.objects.filter(scheduled_station_ae_title="MG1").exists()


def test_admin_opening_hours_page_refuses_an_overlap_with_a_stored_interval(
    admin_client_with_order,
):
    admin_client_with_order.post(
        reverse("admin:worklist_station_add"), _station_form(first=("08:00", "12:00"))
    )
    station = Station.objects.get(scheduled_station_ae_title="MG1")
    response = admin_client_with_order.post(
        reverse("admin:worklist_openinghours_add"),
        {"station": station.pk, "weekday": "0", "opens": "11:00", "closes": "13:00"},
    )
    assert response.status_code == 200
    assert "Overlaps" in response.content.decode()
    assert station.opening_hours.count() == 1
