"""Security events from Django itself: logins, failed logins, logouts, changes to
users, roles (groups) and permissions; and the audit context of Celery tasks."""

from celery.signals import task_postrun, task_prerun
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed, post_delete, post_save

from . import context, services
from .codes import Action, EventType, ObjectKind, Outcome, Verb


def on_login(sender, request, user, **kwargs):
    services.record(
        Action.USER_AUTHENTICATION,
        verb=Verb.EXECUTE,
        event_type=EventType.LOGIN,
        user=user.get_username(),
    )


def on_login_failed(sender, credentials, request=None, **kwargs):
    """The username tried is kept (to see guessing); the password never reaches here:
    Django replaces it before sending the signal."""
    username = str(
        credentials.get(get_user_model().USERNAME_FIELD) or credentials.get("username") or ""
    )
    services.record(
        Action.USER_AUTHENTICATION,
        verb=Verb.EXECUTE,
        outcome=Outcome.MINOR_FAILURE,
        event_type=EventType.LOGIN,
        user=username,
    )


def on_logout(sender, request, user, **kwargs):
    services.record(
        Action.USER_AUTHENTICATION,
        verb=Verb.EXECUTE,
        event_type=EventType.LOGOUT,
        user=user.get_username() if user is not None else "",
    )


def _user_changed(verb: Verb, user, extra=()) -> None:
    services.record(
        Action.SECURITY_ALERT,
        verb=verb,
        event_type=EventType.USER_SECURITY_ATTRIBUTES_CHANGED,
        objects=[(ObjectKind.USER, user.get_username()), *extra],
    )


def _roles_changed(verb: Verb, objects) -> None:
    services.record(
        Action.SECURITY_ALERT,
        verb=verb,
        event_type=EventType.SECURITY_ROLES_CHANGED,
        objects=objects,
    )


def on_user_saved(sender, instance, created, update_fields=None, **kwargs):
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # every login stamps last_login; the login itself is recorded
    _user_changed(Verb.CREATE if created else Verb.UPDATE, instance)


def on_user_deleted(sender, instance, **kwargs):
    _user_changed(Verb.DELETE, instance)


def on_group_saved(sender, instance, created, **kwargs):
    _roles_changed(Verb.CREATE if created else Verb.UPDATE, [(ObjectKind.GROUP, instance.name)])


def on_group_deleted(sender, instance, **kwargs):
    _roles_changed(Verb.DELETE, [(ObjectKind.GROUP, instance.name)])


M2M_VERBS = {"post_add": Verb.CREATE, "post_remove": Verb.DELETE, "post_clear": Verb.DELETE}


def _named(model, pks) -> list[str]:
    if model is Permission:
        rows = model.objects.filter(pk__in=pks).values_list("content_type__app_label", "codename")
        return sorted(f"{app}.{codename}" for app, codename in rows)
    field = get_user_model().USERNAME_FIELD if model is get_user_model() else "name"
    return sorted(model.objects.filter(pk__in=pks).values_list(field, flat=True))


def _kind(model) -> str:
    if model is Permission:
        return ObjectKind.PERMISSION
    return ObjectKind.GROUP if model is Group else ObjectKind.USER


def _own_ref(instance) -> tuple[str, str]:
    if isinstance(instance, Group):
        return (ObjectKind.GROUP, instance.name)
    return (ObjectKind.USER, instance.get_username())


def on_membership_changed(sender, instance, action, model, pk_set, **kwargs):
    """A user put in or taken out of a group (either side of the relation), or
    permissions given to or taken from a user or a group."""
    if action not in M2M_VERBS:
        return
    objects = [_own_ref(instance)]
    objects += [(_kind(model), name) for name in _named(model, pk_set or ())]
    user_permissions = sender is get_user_model().user_permissions.through
    if user_permissions:
        _user_changed(M2M_VERBS[action], instance, objects[1:])
    else:
        _roles_changed(M2M_VERBS[action], objects)


# --- Celery tasks ----------------------------------------------------------------

_task_contexts: dict[str, object] = {}


def bind_task_context(task_id=None, task=None, **kwargs):
    """Every task runs with an audit context naming it, unless it runs in-process
    inside a request or command that already set one (which then stays the actor)."""
    if context.is_bound() or task is None:
        return
    manager = context.task(task.name, task_id or "")
    manager.__enter__()
    _task_contexts[task_id] = manager


def unbind_task_context(task_id=None, **kwargs):
    manager = _task_contexts.pop(task_id, None)
    if manager is not None:
        manager.__exit__(None, None, None)


def connect() -> None:
    user_model = get_user_model()
    user_logged_in.connect(on_login, dispatch_uid="audit.login")
    user_login_failed.connect(on_login_failed, dispatch_uid="audit.login_failed")
    user_logged_out.connect(on_logout, dispatch_uid="audit.logout")
    post_save.connect(on_user_saved, sender=user_model, dispatch_uid="audit.user_saved")
    post_delete.connect(on_user_deleted, sender=user_model, dispatch_uid="audit.user_deleted")
    post_save.connect(on_group_saved, sender=Group, dispatch_uid="audit.group_saved")
    post_delete.connect(on_group_deleted, sender=Group, dispatch_uid="audit.group_deleted")
    for through in (
        user_model.groups.through,
        user_model.user_permissions.through,
        Group.permissions.through,
    ):
        m2m_changed.connect(
            on_membership_changed, sender=through, dispatch_uid=f"audit.m2m.{through.__name__}"
        )
    task_prerun.connect(bind_task_context, dispatch_uid="audit.task_prerun", weak=False)
    task_postrun.connect(unbind_task_context, dispatch_uid="audit.task_postrun", weak=False)
