from rest_framework.permissions import DjangoModelPermissions


class ModelPermissions(DjangoModelPermissions):
    """Model permissions that also guard reads: listing patients needs `view_patient`.

    Roles are Django groups holding these permissions, so a technologist can be
    given view rights on the worklist without the right to book.
    """

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }


class ChangePermission(ModelPermissions):
    """For POST actions that change an existing object (cancel), not create one."""

    perms_map = {**ModelPermissions.perms_map, "POST": ["%(app_label)s.change_%(model_name)s"]}
