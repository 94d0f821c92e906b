"""The five roles as Django groups holding model permissions.

Pages and API endpoints check permissions, never group names, so a site may regroup
them. The audit app adds its own permissions to "compliance officer" and
"administrator" in its migrations.
"""

from django.db import migrations

WORKLIST_MODELS = (
    "patient",
    "order",
    "requestedprocedure",
    "scheduledprocedurestep",
    "orderevent",
    "station",
    "openinghours",
    "procedure",
)
BOOKED_MODELS = ("patient", "order", "requestedprocedure", "scheduledprocedurestep")


def worklist_perms(actions, models):
    return [("worklist", f"{action}_{model}") for model in models for action in actions]


ROLES = {
    "scheduler": [
        *worklist_perms(("view", "add", "change"), BOOKED_MODELS),
        *worklist_perms(("view",), ("orderevent", "station", "openinghours", "procedure")),
    ],
    "technologist": worklist_perms(("view",), WORKLIST_MODELS),
    "radiologist": worklist_perms(("view",), WORKLIST_MODELS),
    "compliance officer": worklist_perms(("view",), ("patient", "order")),
    "administrator": [
        *worklist_perms(("view", "add", "change", "delete"), WORKLIST_MODELS),
        *[
            ("auth", f"{action}_{model}")
            for model in ("user", "group")
            for action in ("view", "add", "change", "delete")
        ],
    ],
}


def grant_roles(group_model, permission_model) -> None:
    """Create the role groups missing and give each its permissions (idempotent)."""
    for name, perms in ROLES.items():
        group, _ = group_model.objects.get_or_create(name=name)
        for app_label, codename in perms:
            group.permissions.add(
                permission_model.objects.get(content_type__app_label=app_label, codename=codename)
            )


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations ran; create them now so
    # the groups can hold them on a fresh database.
    from django.contrib.auth.management import create_permissions

    for app_label in ("auth", "worklist"):
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    grant_roles(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("worklist", "0003_order_event"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_roles, remove_roles)]
