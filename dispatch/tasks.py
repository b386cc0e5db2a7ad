"""Celery tasks of the dispatch app: thin wrappers that take ids and call the domain modules."""

from __future__ import annotations

import uuid
from datetime import timedelta

from celery import shared_task
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

import leap
from dispatch import inbox, outbound, parked, planning, recheck, reconcile, sweep, wakeup
from dispatch.models import DeliverySweep, DispatchTimeslot
from leap.errors import LeapError

# A delivery still "received" this long after receipt lost its task (broker restart, crash).
REQUEUE_AFTER = timedelta(minutes=2)


@shared_task(bind=True, acks_late=True, max_retries=5)
def process_delivery(self, delivery_id: int) -> str | None:
    """Apply one stored notification; safe to run twice (the second run does nothing)."""
    try:
        delivery = inbox.process_delivery(delivery_id)
    except Exception as exc:
        if self.request.retries >= self.max_retries:
            inbox.mark_failed(delivery_id, f"{type(exc).__name__}: {exc}")
            raise
        raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from exc
    return delivery.status if delivery else None


# A drain hands over to a fresh task after this long: under sustained load it would otherwise
# never end and run into CELERY_TASK_SOFT_TIME_LIMIT.
DRAIN_SECONDS = 60


@shared_task(bind=True, acks_late=True, max_retries=None)
def drain_deliveries(self) -> int:
    """Process waiting deliveries in batches until none is left (queued by dispatch.wakeup)."""
    try:
        drained = inbox.process_waiting(
            keep_pending=wakeup.keep_pending,
            clear_pending=wakeup.clear_pending,
            max_seconds=DRAIN_SECONDS,
            # Eager (tests, a broker-less setup) the drain runs inside the receiver's request,
            # one per delivery: lingering would only make Leap wait for the answer.
            linger=0 if self.request.is_eager else None,
        )
    except (OperationalError, InterfaceError) as exc:
        # The database went away (a restart): drop the dead connection and try again soon. The
        # drain flag stays set meanwhile, so receivers count on this retry (it is the next drain).
        connection.close()
        if self.request.is_eager:
            raise
        raise self.retry(exc=exc, countdown=min(2 ** (self.request.retries + 1), 30)) from exc
    for delivery_id in drained.failed:  # one at a time, with process_delivery's retries/backoff
        process_delivery.delay(delivery_id)
    if not drained.finished:  # the flag is still set: receivers count on this next drain
        drain_deliveries.delay()
    return drained.done


@shared_task(acks_late=True)
def reconcile_dispatches() -> dict | None:
    """Every minute (beat): poll Leap's dispatch searches, then sweep what may have been lost."""
    with leap.get_client() as client:
        run = reconcile.reconcile(client, now=timezone.now())
    requeue_stuck_rechecks()
    for message_id in outbound.due_message_ids():
        send_outbound.delay(message_id)
    parked.attach_parked()
    return run.counts if run else None


@shared_task(acks_late=True)
def sweep_deliveries(older_than_seconds: float = REQUEUE_AFTER.total_seconds()) -> dict:
    """Every minute (beat): queue again webhook deliveries whose task was lost (Leap not needed)."""
    found = sweep.sweep(timedelta(seconds=older_than_seconds))
    DeliverySweep.objects.filter(at__lt=timezone.now() - sweep.old_sweeps_cutoff()).delete()
    if found is None:
        return {"dispatch": 0, "meter": 0}
    return {"dispatch": found.dispatch_requeued, "meter": found.meter_requeued}


def requeue_stuck_rechecks() -> int:
    """Queue again the Leap checks of held timeslots whose task never ran."""
    stuck = list(
        DispatchTimeslot.objects.filter(
            recheck="pending", recheck_at__lt=timezone.now() - REQUEUE_AFTER
        ).values_list("pk", flat=True)[:1000]
    )
    for timeslot_id in stuck:
        recheck_timeslot.delay(timeslot_id)
    return len(stuck)


@shared_task(bind=True, acks_late=True, max_retries=5)
def recheck_timeslot(self, timeslot_id: int) -> str:
    """Ask Leap's dispatch search whether a held, cancelled event comes back (dispatch.recheck)."""
    try:
        # One quick try per run: the task's own retries (with countdown) back off without
        # holding a worker that also drains notifications while Leap is down.
        with leap.get_client(max_retries=1, max_total_wait=5) as client:
            return recheck.recheck(timeslot_id, client)
    except LeapError as exc:
        if self.request.retries >= self.max_retries:
            recheck.give_up(timeslot_id, f"{type(exc).__name__}: {exc}")
            return "failed"
        raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 2)) from exc


@shared_task(acks_late=True)
def send_outbound(message_id: int) -> str:
    """One signed delivery attempt of an outbound message; schedules its own retry."""
    delay = outbound.send(message_id)
    if delay is not None:
        send_outbound.apply_async((message_id,), countdown=delay)
        return f"retry in {delay}s"
    return "done"


@shared_task(acks_late=True)
def attach_parked_events(meter_ids: list[str]) -> int:
    """Link parked events to meters that have just arrived."""
    return parked.meter_arrived(meter_ids)


@shared_task(acks_late=True)
def replan_meters(meter_ids: list[str]) -> int:
    """Re-plan the upcoming events of meters whose capability changed, and hand on the changes."""
    with transaction.atomic():
        changed = planning.replan_meters([uuid.UUID(m) for m in meter_ids])
        outbound.hand_on(changed)
    return len(changed)
