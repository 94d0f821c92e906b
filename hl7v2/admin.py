from django.contrib import admin

from .models import Message, Sender


@admin.register(Sender)
class SenderAdmin(admin.ModelAdmin):
    list_display = ["sending_application", "sending_facility", "description", "active"]
    list_filter = ["active"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Read-only: the log is written by the interface; the message log page
    (/hl7/messages/) is where it is read and re-applied, audited."""

    list_display = ["received_at", "direction", "message_type", "control_id", "status"]
    list_filter = ["direction", "status", "message_type"]
    fields = ["direction", "status", "message_type", "control_id", "received_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
