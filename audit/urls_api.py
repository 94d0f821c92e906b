"""/api/audit/ routes."""

from django.urls import path

from . import apis

urlpatterns = [path("events/", apis.EventList.as_view(), name="audit-events")]
