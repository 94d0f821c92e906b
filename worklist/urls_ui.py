"""Routes of the scheduler web UI (namespace `ui`)."""

from django.contrib.auth.views import LogoutView
from django.urls import path

from . import views

app_name = "ui"

urlpatterns = [
    path("login/", views.Login.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("patients/", views.patients, name="patients"),
    path("patients/new/", views.patient_new, name="patient_new"),
    path("patients/<int:pk>/", views.patient_detail, name="patient"),
    path("book/", views.book, name="book"),
    path("calendar/", views.calendar, name="calendar"),
    path("board/", views.board, name="board"),
    path("steps/<int:pk>/", views.step_detail, name="step"),
    path("steps/<int:pk>/reschedule/", views.step_reschedule, name="step_reschedule"),
    path("steps/<int:pk>/cancel/", views.step_cancel, name="step_cancel"),
    path("orders/", views.orders, name="orders"),
    path("orders/<int:pk>/", views.order_detail, name="order"),
    path("orders/<int:pk>/cancel/", views.order_cancel, name="order_cancel"),
    path("exams/unscheduled/", views.unscheduled_exams, name="unscheduled"),
    path("exams/<int:pk>/link/", views.performed_link, name="performed_link"),
]
