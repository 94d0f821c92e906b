"""Export tasks: thin, the work is in export.services. `export.build` is sent when an
export is approved; `export.expire` runs every hour (celery beat) and deletes the files
past their expiry."""

from celery import shared_task

from ris.errors import Conflict

from . import services


@shared_task(name="export.build", acks_late=True)
def build_export(export_id: int) -> dict:
    try:
        export = services.export_build(export_id=export_id)
    except Conflict as exc:
        return {"export": export_id, "status": "not built", "reason": exc.message}
    return {"export": export.pk, "status": export.status, "counts": export.counts}


@shared_task(name="export.expire")
def expire_exports() -> dict:
    return {"expired": services.expire_exports()}
