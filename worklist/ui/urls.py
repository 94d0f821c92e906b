"""Routes of the scheduler web UI (namespace `ui`)."""

from django.contrib.auth.views import LogoutView
from django.urls import path

from .views import booking, calendars, exams, login, orders, patients, steps, studies

app_name = "ui"

urlpatterns = [
    path("login/", login.Login.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("patients/", patients.patients, name="patients"),
    path("patients/new/", patients.patient_new, name="patient_new"),
    path("patients/<int:pk>/", patients.patient_detail, name="patient"),
    path("patients/<int:pk>/edit/", patients.patient_edit, name="patient_edit"),
    path("book/", booking.book, name="book"),
    path("calendar/", calendars.calendar, name="calendar"),
    path("board/", calendars.board, name="board"),
    path("steps/<int:pk>/", steps.step_detail, name="step"),
    path("steps/<int:pk>/reschedule/", steps.step_reschedule, name="step_reschedule"),
    path("steps/<int:pk>/cancel/", steps.step_cancel, name="step_cancel"),
    path("orders/", orders.orders, name="orders"),
    path("orders/<int:pk>/", orders.order_detail, name="order"),
    path("orders/<int:pk>/cancel/", orders.order_cancel, name="order_cancel"),
    path("orders/<int:pk>/letter/", orders.order_letter, name="order_letter"),
    path("exams/unscheduled/", exams.unscheduled_exams, name="unscheduled"),
    path("exams/<int:pk>/link/", exams.performed_link, name="performed_link"),
    path("studies/exceptions/", studies.study_exceptions, name="study_exceptions"),
    path("studies/<int:pk>/", studies.study_detail, name="study"),
    path("studies/<int:pk>/link/", studies.study_link, name="study_link"),
    path("studies/<int:pk>/create-order/", studies.study_create_order, name="study_create_order"),
    path("studies/<int:pk>/accept/", studies.study_accept, name="study_accept"),
    path("studies/<int:pk>/resolve/", studies.study_resolve, name="study_resolve"),
    path("studies/<int:pk>/viewer/", studies.study_viewer, name="study_viewer"),
    path("series/<int:pk>/preview.png", studies.series_preview, name="series_preview"),
]
