"""Onboarding tasks: send a job's batches, the beat's poll of open Leap jobs, the follow-through."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

import leap
from onboarding import follow, jobs
from onboarding.models import Batch


@shared_task(bind=True, acks_late=True, max_retries=None)
def send_job(self, job_id: int) -> dict[str, int]:
    """Send every waiting batch of a job; a batch Leap could not take waits for the beat."""
    done: dict[str, int] = {}
    pending = list(
        Batch.objects.filter(
            job_id=job_id, status__in=(Batch.Status.PENDING, Batch.Status.UNSURE)
        ).values_list("pk", flat=True)
    )
    with leap.get_client(
        max_retries=settings.ONBOARDING_POLL_RETRIES, max_total_wait=30.0
    ) as client:
        for number, batch_id in enumerate(pending):
            try:
                outcome = jobs.send_batch(batch_id, client)
            except leap.LeapUnavailable:
                # Recorded on the batch; poll_open_jobs sends it (and the rest) later.
                done["deferred"] = len(pending) - number
                break
            done[outcome] = done.get(outcome, 0) + 1
    jobs.refresh_job(job_id)
    return done


@shared_task(acks_late=True)
def poll_open_jobs() -> dict[str, int]:
    """The beat: one read per open Leap job per ONBOARDING_POLL_SECONDS (and waiting sends)."""
    return jobs.poll_due()


@shared_task(acks_late=True)
def follow_meters() -> dict[str, int]:
    """Stamp funnel steps from the synced meters and link created meters to the mapping."""
    moved = follow.stamp_steps()
    return {"moved": moved, **follow.link_meters()}
