"""Routes of the audit review pages (namespace `audit`), under /audit/."""

from django.urls import path

from . import views

app_name = "audit"

urlpatterns = [
    path("", views.events, name="events"),
    path("messages.xml", views.events_xml, name="events_xml"),
    path("report/", views.patient_report, name="report"),
    path("report.csv", views.patient_report_csv, name="report_csv"),
    path("unusual/", views.unusual, name="unusual"),
]
