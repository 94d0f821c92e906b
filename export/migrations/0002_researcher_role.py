"""The researcher role, and the export permissions of the roles.

As in worklist.0004_roles: pages check permissions, never group names. Researchers
request exports in their own projects and download them; compliance officers see every
export, decide, and alone read pseudonyms (re-identification); administrators see
exports and projects but not pseudonyms.
"""

from django.db import migrations

ROLES = {
    "researcher": [
        "add_export",
        "view_export",
        "add_exportproject",
        "view_exportproject",
    ],
    "compliance officer": [
        "view_export",
        "decide_export",
        "view_exportproject",
        "view_pseudonym",
        "reidentify_pseudonym",
    ],
    "administrator": ["view_export", "view_exportproject"],
}


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations ran; create them now so
    # the groups can hold them on a fresh database.
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("export")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    grant_export_roles(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def grant_export_roles(group_model, permission_model) -> None:
    """Create the export roles missing and give each its permissions (idempotent)."""
    for name, codenames in ROLES.items():
        group, _ = group_model.objects.get_or_create(name=name)
        for codename in codenames:
            group.permissions.add(
                permission_model.objects.get(content_type__app_label="export", codename=codename)
            )


def revoke(apps, schema_editor):
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    perms = permission_model.objects.filter(content_type__app_label="export")
    for group in group_model.objects.filter(name__in=ROLES):
        group.permissions.remove(*perms)
    group_model.objects.filter(name="researcher").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("export", "0001_initial"),
        ("worklist", "0004_roles"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
