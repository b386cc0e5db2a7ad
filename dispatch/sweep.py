"""The sweep: stored webhook deliveries whose task never ran are queued again; failed ones can be.

A receiver answers 2xx once a delivery has committed, whether or not the broker took the task
that processes it (Redis down, a worker killed between the commit and the publish, a purged
queue). The sweep runs every minute (beat: "webhook-sweep"), without calling Leap, so it runs
even when Leap is down, and queues again every delivery still "received" after a grace period.
Each sweep that re-queued something leaves a DeliverySweep row, shown on sync health.

A delivery that failed all its retries stays "failed" (shown on sync health); "Process again"
(`process_again`) puts it back to "received" and queues it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from dispatch import enqueue
from dispatch.models import DeliverySweep, DispatchDelivery
from leapportal import receivers
from meters import enqueue as meters_enqueue
from meters.models import WebhookDelivery

log = logging.getLogger(__name__)

# A delivery still "received" this long after receipt lost its task (its own task or a drain
# would have taken it within seconds).
GRACE = timedelta(minutes=2)
BATCH = 1000


def stuck_dispatch(older_than: timedelta) -> list[int]:
    """Dispatch deliveries waiting longer than `older_than`, oldest first."""
    cutoff = timezone.now() - older_than
    return list(
        DispatchDelivery.objects.filter(
            status=DispatchDelivery.Status.RECEIVED, received_at__lte=cutoff
        )
        .order_by("received_at")
        .values_list("pk", flat=True)[:BATCH]
    )


def stuck_meter_events(older_than: timedelta) -> list[int]:
    """Meter webhook deliveries waiting longer than `older_than`, oldest first."""
    cutoff = timezone.now() - older_than
    return list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.RECEIVED, received_at__lte=cutoff
        )
        .order_by("received_at")
        .values_list("pk", flat=True)[:BATCH]
    )


def sweep(older_than: timedelta = GRACE) -> DeliverySweep | None:
    """Queue again what waits too long; record and log how many (None: nothing was waiting)."""
    dispatch_ids = stuck_dispatch(older_than)
    meter_ids = stuck_meter_events(older_than)
    if not dispatch_ids and not meter_ids:
        return None
    # The dispatch drain applies every waiting delivery in batches: one drain task covers them
    # all (the per-delivery task would apply them one transaction each).
    enqueue.drain_deliveries()
    for delivery_id in meter_ids:
        meters_enqueue.process_meter_webhook(delivery_id)
    record = DeliverySweep.objects.create(
        dispatch_requeued=len(dispatch_ids), meter_requeued=len(meter_ids)
    )
    log.warning(
        "sweep re-queued %d dispatch and %d meter webhook deliveries waiting over %s",
        len(dispatch_ids), len(meter_ids), older_than,
    )  # fmt: skip
    return record


def process_again(kind: str, delivery_id: int, *, by: str) -> bool:
    """Put one failed delivery back to "received" and queue it; False if it was not failed."""
    note = f"\n[{timezone.now():%Y-%m-%d %H:%M}Z] processed again by {by}"
    model: type[DispatchDelivery] | type[WebhookDelivery]
    if kind == "dispatch":
        model, publish = DispatchDelivery, enqueue.process_delivery
    elif kind == "meter":
        model, publish = WebhookDelivery, meters_enqueue.process_meter_webhook
    else:
        raise ValueError(f"unknown delivery kind {kind!r}")
    with transaction.atomic():
        row = model.objects.select_for_update().filter(pk=delivery_id, status="failed").first()
        if row is None:
            return False
        row.status = "received"
        row.error = (row.error + note)[-5000:]
        row.processed_at = None
        row.save(update_fields=["status", "error", "processed_at"])
    transaction.on_commit(
        lambda: receivers.publish_quietly(publish, delivery_id, what=f"{kind} {delivery_id}")
    )
    return True


def failed(kind: str, limit: int = 20) -> list:
    """The latest failed deliveries of a kind, without their bodies."""
    model = DispatchDelivery if kind == "dispatch" else WebhookDelivery
    return list(
        model.objects.filter(status="failed")
        .defer("body", "headers")
        .order_by("-received_at")[:limit]
    )


def failed_count(kind: str) -> int:
    """How many deliveries of a kind are failed."""
    model = DispatchDelivery if kind == "dispatch" else WebhookDelivery
    return model.objects.filter(status="failed").count()


def failed_with_count(kind: str, limit: int = 20) -> tuple[list, int]:
    """`failed` and `failed_count` together: a list shorter than `limit` is every failed one,
    so it is counted without a second query (sync health shows both; most days none failed)."""
    rows = failed(kind, limit)
    return rows, len(rows) if len(rows) < limit else failed_count(kind)


def recent_sweeps(limit: int = 5) -> list[DeliverySweep]:
    """The latest sweeps that re-queued something."""
    return list(DeliverySweep.objects.order_by("-at")[:limit])


def old_sweeps_cutoff() -> timedelta:
    """Sweep rows are kept this long."""
    return timedelta(days=30)
