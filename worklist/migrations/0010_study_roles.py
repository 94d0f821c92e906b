"""Who works arrived studies: schedulers and administrators act on the exceptions
(link, walk-in order, accept, resolve: `change_study`); technologists and
radiologists look at studies, their series and previews. Pages and the API check
these permissions, never the group names (see 0004_roles)."""

from django.db import migrations

STUDY_MODELS = ("study", "series", "instance", "studydecision", "studydiscrepancy")

STUDY_ROLES = {
    "scheduler": {"study": ("view", "change")},
    "administrator": {"study": ("view", "change")},
    "technologist": {},
    "radiologist": {},
}


def study_permissions(role: str) -> list[str]:
    """Codenames a role holds: view on every model of an arrived study, and what
    STUDY_ROLES adds."""
    extra = STUDY_ROLES[role]
    codenames = []
    for model in STUDY_MODELS:
        for action in extra.get(model, ("view",)):
            codenames.append(f"{action}_{model}")
    return codenames


def grant_study_permissions(group_model, permission_model) -> None:
    """Give the role groups that exist their study permissions (idempotent)."""
    for role in STUDY_ROLES:
        group = group_model.objects.filter(name=role).first()
        if group is None:
            continue
        group.permissions.add(
            *permission_model.objects.filter(
                content_type__app_label="worklist", codename__in=study_permissions(role)
            )
        )


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations ran; create them now so
    # the groups can hold them on a fresh database.
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("worklist")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    grant_study_permissions(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def revoke(apps, schema_editor):
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role in STUDY_ROLES:
        group = group_model.objects.filter(name=role).first()
        if group is not None:
            group.permissions.remove(
                *permission_model.objects.filter(
                    content_type__app_label="worklist", codename__in=study_permissions(role)
                )
            )


class Migration(migrations.Migration):
    dependencies = [
        ("worklist", "0009_merge_studies_and_performed_step_follow"),
        ("worklist", "0004_roles"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
