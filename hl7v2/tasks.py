"""Celery tasks of the HL7 interface: working the outbox, expiring the message log."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ris import inprocess

from . import outbound
from .models import Direction, Message, Status

logger = logging.getLogger(__name__)


@shared_task(name="hl7.drain_destination", ignore_result=True, acks_late=True)
def drain_destination(key: str) -> dict:
    result = outbound.drain(key)
    if result.retry_in is not None:
        drain_later(key, result.retry_in)
    return {"delivered": result.delivered, "refused": result.refused}


@shared_task(name="hl7.drain_outbox", ignore_result=True)
def drain_outbox() -> int:
    """Every destination with pending messages (the periodic backstop: a drain lost
    with a broker restart, or postponed, is picked up here)."""
    keys = outbound.pending_destinations()
    for key in keys:
        drain_destination(key)
    return len(keys)


@shared_task(name="hl7.expire_messages", ignore_result=True)
def expire_messages() -> int:
    """Messages older than RIS_HL7_KEEP_DAYS go; pending outbound ones never do."""
    if settings.RIS_HL7_KEEP_DAYS <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=settings.RIS_HL7_KEEP_DAYS)
    old = Message.objects.filter(received_at__lt=cutoff).exclude(
        direction=Direction.OUT, status=Status.PENDING
    )
    deleted, _ = old.delete()
    return deleted


def drain_soon(keys) -> None:
    """After the transaction that wrote status messages commits: send them."""
    for key in set(keys):
        transaction.on_commit(lambda key=key: drain_later(key, 0))


def drain_later(key: str, delay: float) -> None:
    if inprocess.call_later(delay, drain_destination.name, key):
        return
    if settings.CELERY_TASK_ALWAYS_EAGER:
        if delay <= 0:
            drain_destination.apply(args=[key])
        return  # the periodic drain_outbox retries it
    try:
        drain_destination.apply_async(args=[key], countdown=max(delay, 0), retry=False)
    except Exception as exc:  # noqa: BLE001 - kept pending in the database for drain_outbox
        logger.warning("Cannot enqueue the HL7 drain of %s: %s", key, exc)
