"""The inbox step: take stored webhook deliveries that wait, parse them, apply them in batches.

dispatch/webhooks.py stores each delivery raw (`DispatchDelivery`, status `received`) and wakes
the drain (dispatch/wakeup.py). Here the drain task's body (`process_waiting`) and the one-delivery
path (`process_delivery`: the sweep, the admin, a batch that failed) lock waiting deliveries,
parse each into `Incoming` timeslots (dispatch/incoming.py) and hand them to the apply step
(dispatch/apply.py) in one transaction per batch; each delivery keeps its own outcome.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from pydantic import ValidationError

from dispatch.apply import apply_all
from dispatch.bulk import update_rows
from dispatch.incoming import Incoming, incoming_from_notification, short_errors
from dispatch.models import DispatchDelivery
from leap.schemas import LenientNotification

log = logging.getLogger(__name__)

# Saved after processing; never the body, which is large and must stay as received.
_OUTCOME_FIELDS = ["status", "error", "processed_at", "attempts"]


def process_delivery(delivery_id: int, *, batch_size: int | None = None) -> DispatchDelivery | None:
    """Parse and apply a stored delivery; a no-op when it was already handled.

    Under load the task takes up to `batch_size` (settings.DISPATCH_PROCESS_BATCH) other waiting
    deliveries along, oldest first and skipping any another worker holds, and applies them in one
    transaction: a dozen queries for the lot instead of a dozen each. If that fails, it processes
    its own delivery alone, so that one bad neighbour cannot hold the others up.
    """
    size = batch_size or settings.DISPATCH_PROCESS_BATCH
    try:
        return _process(delivery_id, size)
    except Exception:
        if size == 1:
            raise
        log.exception("batch around delivery %s failed; processing it alone", delivery_id)
        return _process(delivery_id, 1)


def _process(delivery_id: int, size: int) -> DispatchDelivery | None:
    """process_delivery's work, in one transaction."""
    with transaction.atomic():
        own = DispatchDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if own is None or own.status != DispatchDelivery.Status.RECEIVED:
            return own
        batch = [own]
        if size > 1:
            batch += _waiting(size - 1, exclude=[own.pk])
        _apply_deliveries(batch)
        return own


def _waiting(limit: int, *, exclude: Iterable[int] = ()) -> list[DispatchDelivery]:
    """Up to `limit` waiting deliveries, oldest first, locked; skips those another worker holds."""
    waiting = DispatchDelivery.objects.select_for_update(skip_locked=True).filter(
        status=DispatchDelivery.Status.RECEIVED
    )
    if exclude:
        waiting = waiting.exclude(pk__in=list(exclude))
    return list(waiting.order_by("received_at", "pk")[:limit])


def oldest_waiting() -> datetime | None:
    """When the oldest delivery still waiting to be processed arrived, or None.

    One look at the (status, received_at) index; `oldest_due` is what the meter sync gives way to.
    """
    return (
        DispatchDelivery.objects.filter(status=DispatchDelivery.Status.RECEIVED)
        .order_by("received_at")
        .values_list("received_at", flat=True)
        .first()
    )


def oldest_due() -> datetime | None:
    """Since when the oldest waiting delivery has been due: its arrival plus the drain's linger.

    The probe the meter sync gives way to (leapportal/priority.py, registered in apps.py). Under
    a steady stream a delivery waits up to DISPATCH_DRAIN_LINGER_SECONDS for the drain's next look
    on purpose (process_waiting), so only the time beyond that is dispatch falling behind. Measured
    from arrival instead, a longer linger read as "behind" all the time: bench/mixed_load.py run 49
    (linger 0.4 s, give way after 0.5 s from arrival) gave way 26.7 s of a 40.7 s sync while up to
    a third of a core stood idle, and the sync took 3.59x its solo time.
    """
    oldest = oldest_waiting()
    if oldest is None:
        return None
    return oldest + timedelta(seconds=settings.DISPATCH_DRAIN_LINGER_SECONDS)


class Drained(NamedTuple):
    """What one drain did: deliveries handled, those whose batch failed, and whether it ended."""

    done: int
    failed: list[int]
    finished: bool  # False: stopped at max_seconds with the flag still set; drain again


def process_waiting(
    *,
    batch_size: int | None = None,
    keep_pending: Callable[[], None] = lambda: None,
    clear_pending: Callable[[], None] = lambda: None,
    max_seconds: float | None = None,
    linger: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Drained:
    """Process every waiting delivery, a batch per transaction, until a look finds none.

    The drain task's body (dispatch.wakeup explains the flag): `keep_pending` is called before each
    batch, `clear_pending` once the waiting deliveries seem gone, and then one more look is taken;
    only a look after the clearing that finds nothing ends the drain. A batch that fails is not
    retried here: its deliveries are returned for the caller to hand to process_delivery, which
    retries one delivery at a time with backoff. After `max_seconds` (under sustained load a
    drain would otherwise never end, and run into the task time limit) it stops between batches
    without clearing the flag, and the caller must start another drain.

    Lingering (`linger`, default settings.DISPATCH_DRAIN_LINGER_SECONDS): after a batch that
    emptied the queue (smaller than `batch_size`), the next look waits until `linger` seconds
    after the last one began. Under a steady stream each transaction then carries what arrived
    meanwhile (at 200 notifications/s and 0.1 s, ~20) instead of one or two: every batch's
    fixed cost (the transaction, the lookups, the COPYs, each meter's re-planning) is shared,
    for at most `linger` more seconds before a notification is visible. A lone notification is
    not delayed (the first look does not wait), a backlog is not either (full batches go on at
    once), and the flag stays set meanwhile: receivers rely on the look that follows.
    """
    size = batch_size or settings.DISPATCH_PROCESS_BATCH
    pause = settings.DISPATCH_DRAIN_LINGER_SECONDS if linger is None else linger
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    done = 0
    failed: list[int] = []
    cleared = False
    while True:
        looked = time.monotonic()
        if not cleared:
            keep_pending()
        batch: list[DispatchDelivery] = []
        try:
            with transaction.atomic():
                batch = _waiting(size, exclude=failed)
                if batch:
                    _apply_deliveries(batch)
        except Exception:
            if not batch:
                # Nothing was even read: the database itself failed (restarting, say). Looping
                # would spin; the task retries with backoff instead.
                raise
            log.exception("batch of %d deliveries failed; handing them on one by one", len(batch))
            failed += [d.pk for d in batch]
            continue
        done += len(batch)
        if batch:
            cleared = False
            if deadline is not None and time.monotonic() >= deadline:
                keep_pending()  # receivers keep relying on the next drain
                return Drained(done, failed, finished=False)
            wait = pause - (time.monotonic() - looked)
            if len(batch) < size and wait > 0:
                sleep(wait)
        elif cleared:
            return Drained(done, failed, finished=True)
        else:
            clear_pending()
            cleared = True


def _apply_deliveries(batch: list[DispatchDelivery]) -> None:
    """Apply these locked, waiting deliveries in the caller's transaction, each keeping its outcome.

    Redeliveries are found per event, not per body: a timeslot whose content equals the event's
    current state changes nothing, and one that differs is applied, whatever older version it
    repeats (Leap reverting a change, A -> B -> A). A delivery whose every timeslot was unchanged
    is marked `duplicate`.
    """
    batch.sort(key=lambda d: (d.received_at, d.pk))
    incoming: list[Incoming] = []
    applied: list[DispatchDelivery] = []
    for delivery in batch:
        delivery.attempts += 1
        try:
            notification = LenientNotification.model_validate_json(bytes(delivery.body))
        except ValidationError as exc:
            delivery.status = DispatchDelivery.Status.REJECTED
            delivery.error = f"not a valid dispatch notification: {short_errors(exc)}"
            continue
        for inc in incoming_from_notification(notification):
            inc.delivery = delivery
            inc.received_at = delivery.received_at
            inc.source = delivery.source
            incoming.append(inc)
        applied.append(delivery)
    first = batch[0]
    result = apply_all(incoming, source=first.source, received_at=first.received_at)
    # When the batch's work is done, just before its outcome is written and committed: the time
    # its timeslots become visible. Taken before apply_all, a batch of hundreds under load looked
    # visible up to its whole apply earlier than it was (bench/mixed_load.py runs 1-58 measured
    # receipt-to-visible that way; the sync's give-way probe saw them waiting meanwhile).
    done = timezone.now()
    for delivery in batch:
        delivery.processed_at = done
    for delivery in applied:
        mine = result.for_delivery(delivery)
        counts = mine.counts
        if counts and set(counts) == {"unchanged"}:
            delivery.status = DispatchDelivery.Status.DUPLICATE
            if mine.same_as != delivery.pk:
                delivery.duplicate_of_id = mine.same_as
        else:
            delivery.status = DispatchDelivery.Status.PROCESSED
        delivery.summary = mine.summary()
        delivery.error = "; ".join(mine.errors)
    update_rows(batch, [*_OUTCOME_FIELDS, "summary", "duplicate_of"])


def mark_failed(delivery_id: int, error: str) -> None:
    """Record that processing kept failing (shown; a human can requeue it)."""
    DispatchDelivery.objects.filter(pk=delivery_id, status=DispatchDelivery.Status.RECEIVED).update(
        status=DispatchDelivery.Status.FAILED, error=error[:5000], processed_at=timezone.now()
    )
