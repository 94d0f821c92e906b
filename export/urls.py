"""Routes of the export pages (namespace `export`), under /exports/."""

from django.urls import path

from . import views

app_name = "export"

urlpatterns = [
    path("", views.exports, name="list"),
    path("new/", views.export_new, name="new"),
    path("<int:pk>/", views.export_detail, name="detail"),
    path("<int:pk>/progress/", views.export_progress, name="progress"),
    path("<int:pk>/decide/", views.export_decide, name="decide"),
    path("<int:pk>/download/", views.export_download, name="download"),
    path("reidentify/", views.reidentify, name="reidentify"),
]
