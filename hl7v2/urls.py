"""Pages of the HL7 interface (namespace `hl7`), under /hl7/."""

from django.urls import path

from . import views

app_name = "hl7"

urlpatterns = [
    path("messages/", views.messages, name="messages"),
    path("messages/<int:pk>/", views.message_detail, name="message"),
    path("messages/<int:pk>/reapply/", views.message_reapply, name="reapply"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/<int:pk>/schedule/", views.schedule, name="schedule"),
]
