"""Who may book a patient into exams that overlap in time (`allow_patient_overlap`):
the administrator role. A department that books back-to-back exams in two rooms
grants it to its lead schedulers (admin, Groups or Users)."""

from django.db import migrations

PERMISSION = "allow_patient_overlap"
ROLES = ("administrator",)


def grant_overlap_permission(group_model, permission_model) -> None:
    permission = permission_model.objects.filter(
        content_type__app_label="worklist", codename=PERMISSION
    ).first()
    if permission is None:
        return
    for group in group_model.objects.filter(name__in=ROLES):
        group.permissions.add(permission)


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("worklist")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    grant_overlap_permission(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def revoke(apps, schema_editor):
    permission = (
        apps.get_model("auth", "Permission")
        .objects.filter(content_type__app_label="worklist", codename=PERMISSION)
        .first()
    )
    if permission is not None:
        for group in apps.get_model("auth", "Group").objects.filter(name__in=ROLES):
            group.permissions.remove(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("worklist", "0012_scheduling_desk"),
        ("worklist", "0004_roles"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
