"""Order status changes into the outbox: every line an order's history gets is a
status change the services made; those the hospital system hears of become outbound
messages in the same transaction (hl7.outbound)."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from worklist.models import OrderEvent

from . import outbound, tasks


@receiver(post_save, sender=OrderEvent, dispatch_uid="hl7-order-status")
def order_status_changed(sender, instance: OrderEvent, created: bool, raw: bool = False, **kw):
    if not created or raw:
        return
    written = outbound.enqueue_status(instance)
    if written:
        tasks.drain_soon(m.peer for m in written)
