"""Exports and projects in the admin, read-only: requests and decisions go through the
export pages (export.services), so every step is audited. Pseudonyms are not listed
here at all: reading one is a re-identification, done with a reason on its own page."""

from django.contrib import admin

from .models import Export, ExportProject


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ExportProject)
class ExportProjectAdmin(ReadOnly):
    list_display = ("name", "owner", "created_at")
    search_fields = ("name",)
    exclude = ("secret",)


@admin.register(Export)
class ExportAdmin(ReadOnly):
    list_display = ("pk", "project", "requested_by", "requested_at", "status", "expires_at")
    list_filter = ("status",)
    exclude = ("subjects",)
