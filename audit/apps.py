from django.apps import AppConfig
from django.db.models.signals import post_migrate

COMPLIANCE_GROUP = "compliance officer"
# The roles that see the audit pages (issue 3: compliance officers and administrators).
REVIEW_GROUPS = (COMPLIANCE_GROUP, "administrator")
REVIEW_PERMISSION = "view_event"


def grant_review_to_compliance_officers(sender, using="default", **kwargs):
    """Compliance officers and administrators (groups made by the roles migration) may
    review the audit trail. Only granted where the group exists: creating it is not ours."""
    from django.contrib.auth.models import Group, Permission

    permission = (
        Permission.objects.using(using)
        .filter(content_type__app_label="audit", codename=REVIEW_PERMISSION)
        .first()
    )
    if permission is None:
        return
    for group in Group.objects.using(using).filter(name__in=REVIEW_GROUPS):
        group.permissions.add(permission)


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Access audit"

    def ready(self):
        from . import signals

        signals.connect()
        post_migrate.connect(
            grant_review_to_compliance_officers, sender=self, dispatch_uid="audit.grant_review"
        )
