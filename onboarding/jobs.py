"""Sending onboarding batches to Leap and reading their outcome.

Never a duplicate at Leap (Leap has no idempotency keys):
- each batch has its own file_name, stable across retries; a send whose answer was lost (timeout,
  5xx after the body went out) marks the batch UNSURE, and the next attempt first asks Leap for a
  job of that file_name (`find_meter_jobs`) and adopts it instead of sending again;
- a batch is claimed by a conditional UPDATE before it is sent, so two workers never send it;
- `update_existing` is false unless a person chose to update the meters that already hold the
  references (a DUPLICATE outcome they resubmit on purpose).

Reading: one GET per open Leap job per interval (`poll_due`, the beat task), never per asset.
A job whose status cannot be read keeps its last known state, shows the error and is read again
later with backoff: it is never dropped.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

import leap
from leap.schemas import MeterJobDetail
from leapportal import bulk
from onboarding import enqueue, follow
from onboarding.models import Asset, Batch, Draft, DraftRow, Job, ProgramStep

logger = logging.getLogger("onboarding")
MAX_BACKOFF = timedelta(minutes=15)
STALE_SENDING = timedelta(minutes=5)


# --- submitting ----------------------------------------------------------------------------------


def submit_draft(draft: Draft, *, user: Any) -> Job:
    """Turn a checked draft's sendable lines into a job of batches; the sending is queued."""
    size = settings.ONBOARDING_BATCH_SIZE
    with transaction.atomic():
        draft = Draft.objects.select_for_update().get(pk=draft.pk)
        if draft.status != Draft.Status.PREVIEWED:
            raise ValueError(f"draft {draft.pk} is {draft.get_status_display()}, not sendable")
        rows = list(
            draft.rows.filter(verdict__in=(DraftRow.Verdict.OK, DraftRow.Verdict.WARNING))
            .order_by("line")
            .values("pk", "line", "partner_reference", "customer_id", "site_id", "label", "asset",
                    "fixes_asset_id")
        )  # fmt: skip
        if not rows:
            raise ValueError("no line of this draft can be sent")
        now = timezone.now()
        job = Job.objects.create(
            draft=draft,
            parent=draft.parent_job,
            submitted_by=user,
            submitted_by_name=user.get_username(),
            submitted_at=now,
            region=draft.region,
            meter_type=draft.meter_type,
            programs=draft.programs,
            update_existing=draft.update_existing,
            counts={"assets": len(rows), "waiting": len(rows)},
        )
        batches = Batch.objects.bulk_create(
            Batch(
                job=job,
                number=n + 1,
                file_name=f"leapportal-onboarding-{job.pk}-{n + 1:03d}.json",
                update_existing=draft.update_existing,
                size=len(rows[n * size : (n + 1) * size]),
                next_poll_at=now,
            )
            for n in range(math.ceil(len(rows) / size))
        )
        Asset.objects.bulk_create(
            (
                Asset(
                    job=job,
                    batch=batches[i // size],
                    line=row["line"],
                    position=i % size,
                    partner_reference=row["partner_reference"],
                    customer_id=row["customer_id"],
                    site_id=row["site_id"],
                    label=row["label"],
                    payload=row["asset"],
                    programs=draft.programs,
                    stage_since=now,
                )
                for i, row in enumerate(rows)
            ),
            batch_size=2000,
        )
        fixed = [r["fixes_asset_id"] for r in rows if r["fixes_asset_id"]]
        if fixed:
            Asset.objects.filter(pk__in=fixed).update(resubmitted_in=job)
        fixed_jobs = Asset.objects.filter(pk__in=fixed).values_list("job_id", flat=True)
        follow.refresh_funnel([job.pk, *fixed_jobs])
        draft.status = Draft.Status.SUBMITTED
        draft.save(update_fields=["status"])
        enqueue.send_job_on_commit(job.pk)
    return job


def _claim_for_sending(batch_id: int) -> Batch | None:
    """The batch, moved to SENDING if it was waiting (None if someone else has it)."""
    now = timezone.now()
    claimed = Batch.objects.filter(
        Q(status__in=(Batch.Status.PENDING, Batch.Status.UNSURE))
        | Q(status=Batch.Status.SENDING, sending_since__lt=now - STALE_SENDING),
        pk=batch_id,
    )
    with transaction.atomic():
        batch = claimed.select_for_update(skip_locked=True).first()
        if batch is None:
            return None
        # A batch left SENDING by a dead worker may have reached Leap: treat it as UNSURE.
        was_unsure = batch.status in (Batch.Status.UNSURE, Batch.Status.SENDING)
        batch.status = Batch.Status.SENDING
        batch.sending_since = now
        batch.send_attempts += 1
        batch.save(update_fields=["status", "sending_since", "send_attempts"])
    batch.was_unsure = was_unsure  # type: ignore[attr-defined]
    return batch


def send_batch(batch_id: int, client: leap.LeapClient) -> str:
    """Send one batch (or adopt the job Leap already has for it); returns what happened.

    Raises LeapUnavailable after recording it (the batch waits, UNSURE or PENDING).
    """
    batch = _claim_for_sending(batch_id)
    if batch is None:
        return "not claimed"
    now = timezone.now()
    try:
        if batch.was_unsure:  # type: ignore[attr-defined]
            found = client.find_meter_jobs(batch.file_name)
            if found:
                _accepted(batch, found[0].job_id, adopted=True)
                return "adopted"
        assets = list(batch.assets.order_by("position").values_list("payload", flat=True))
        job_id = client.create_meter_job(
            assets, update_existing=batch.update_existing, file_name=batch.file_name
        )
    except leap.LeapRejected as exc:
        _rejected(batch, exc)
        return "rejected"
    except leap.LeapUnavailable as exc:
        # Did Leap get it? Only a refused connection or a "not processed" status proves not.
        unsure = not (exc.status in (408, 425, 429, 503) or "connection error" in exc.message)
        Batch.objects.filter(pk=batch.pk).update(
            status=Batch.Status.UNSURE if unsure or batch.was_unsure else Batch.Status.PENDING,  # type: ignore[attr-defined]
            last_error=f"sending: {exc}",
            last_error_at=now,
            next_poll_at=now + _backoff(batch.send_attempts),
        )
        refresh_job(batch.job_id)
        raise
    except leap.LeapBadPayload as exc:
        Batch.objects.filter(pk=batch.pk).update(
            status=Batch.Status.UNSURE,
            last_error=f"sending: Leap's answer did not validate: {exc}",
            last_error_at=now,
            next_poll_at=now + _backoff(batch.send_attempts),
        )
        refresh_job(batch.job_id)
        return "unsure"
    _accepted(batch, job_id, adopted=False)
    return "sent"


def _accepted(batch: Batch, job_id: Any, *, adopted: bool) -> None:
    now = timezone.now()
    with transaction.atomic():
        Batch.objects.filter(pk=batch.pk).update(
            status=Batch.Status.PROCESSING,
            leap_job_id=job_id,
            sent_at=now,
            next_poll_at=now + timedelta(seconds=settings.ONBOARDING_POLL_SECONDS),
            last_error="" if not adopted else "found at Leap after a lost answer (not sent twice)",
            last_error_at=None if not adopted else now,
        )
        batch.assets.update(status=Asset.Status.PROCESSING, submitted_at=now, stage_since=now)
    refresh_job(batch.job_id)


def _rejected(batch: Batch, exc: leap.LeapRejected) -> None:
    """Leap refused the whole batch: each asset gets the problems Leap gave for its index."""
    now = timezone.now()
    details = exc.details or [{"message": exc.message}]
    per_index: dict[int, dict[str, str]] = {}
    general = []
    for item in details:
        index = item.get("json_index")
        message = str(item.get("message") or item.get("description") or "refused")
        field = str(item.get("problem_field") or item.get("field") or "")
        if isinstance(index, int):
            fields = per_index.setdefault(index, {})
            key = field or "(asset)"
            fields[key] = f"{fields[key]}; {message}" if key in fields else message
        else:
            general.append(f"{field}: {message}" if field else message)
    with transaction.atomic():
        Batch.objects.filter(pk=batch.pk).update(
            status=Batch.Status.REJECTED,
            rejection=details,
            last_error=f"Leap refused the batch: {exc}",
            last_error_at=now,
            finished_at=now,
            next_poll_at=None,
        )
        for asset in batch.assets.all().only("pk", "batch", "position"):
            own = per_index.get(asset.position, {})
            text = "Leap refused the whole batch (400)"
            if own:
                text += ": this asset has " + "; ".join(f"{k}: {v}" for k, v in own.items())
            elif general:
                text += ": " + "; ".join(general)
            else:
                text += " because of other assets in it; this one was not processed"
            Asset.objects.filter(pk=asset.pk).update(
                status=Asset.Status.REJECTED,
                detail_name="REJECTED",
                detail_description=text[:4000],
                failed_fields=own,
                stage=Asset.Stage.FAILED,
                stage_since=now,
            )
    refresh_job(batch.job_id)


# --- reading outcomes ----------------------------------------------------------------------------


def _backoff(failures: int) -> timedelta:
    base = timedelta(seconds=settings.ONBOARDING_POLL_SECONDS)
    return min(MAX_BACKOFF, base * (2 ** max(0, failures - 1)))


def apply_job(batch: Batch, job: MeterJobDetail) -> None:
    """Store what Leap says about a batch's job and each of its assets."""
    now = timezone.now()
    ours = list(
        batch.assets.all().only(
            "pk", "batch", "position", "partner_reference", "status", "detail_name", "meter_id",
            "failed_fields", "detail_description", "stage", "stage_since", "created_at",
            "programs",
        )
    )  # fmt: skip
    by_position = {a.position: a for a in ours}
    by_reference = {a.partner_reference: a for a in ours}
    same_order = len(job.assets) == len(ours) and all(
        (theirs.partner_reference or "") == by_position[i].partner_reference
        for i, theirs in enumerate(job.assets)
        if i in by_position
    )
    changed: list[Asset] = []
    created: list[Asset] = []
    for i, theirs in enumerate(job.assets):
        asset = (
            by_position.get(i) if same_order else by_reference.get(theirs.partner_reference or "")
        )
        if asset is None:
            continue
        detail = theirs.status_detail
        new = (theirs.status, detail.name or "", detail.description or "", detail.failed_fields,
               theirs.meter_id if theirs.status == "COMPLETED" else asset.meter_id)  # fmt: skip
        old = (asset.status, asset.detail_name, asset.detail_description, asset.failed_fields,
               asset.meter_id)  # fmt: skip
        if new == old:
            continue  # nothing new: no write (a round over processing jobs writes nothing)
        if theirs.status == "COMPLETED" and asset.status != Asset.Status.COMPLETED:
            asset.stage, asset.stage_since, asset.created_at = Asset.Stage.CREATED, now, now
            created.append(asset)
        elif theirs.status in Asset.FAILED_STATUSES and asset.status not in Asset.FAILED_STATUSES:
            asset.stage, asset.stage_since = Asset.Stage.FAILED, now
        (asset.status, asset.detail_name, asset.detail_description, asset.failed_fields,
         asset.meter_id) = new  # fmt: skip
        changed.append(asset)
    with transaction.atomic():
        _write_outcomes(changed)
        _start_steps(created, now)
        status = Batch.LEAP_STATUS.get(job.status, Batch.Status.PROCESSING)
        finished = status != Batch.Status.PROCESSING
        # While processing, the next read is when the round's claim put it (one per interval).
        timing = {"finished_at": now, "next_poll_at": None} if finished else {}
        Batch.objects.filter(pk=batch.pk).update(
            **timing,
            status=status,
            leap_counts={
                "assets": job.assets_count,
                "created": job.assets_created_count,
                "updated": job.assets_updated_count,
                "failed": job.assets_failed_count,
                "leap_status": job.status,
            },
            polls=batch.polls + 1,
            poll_failures=0,
            last_polled_at=now,
            last_error="",
            last_error_at=None,
        )
    refresh_job(batch.job_id)


# What a poll of Leap's job writes of each changed asset.
OUTCOME_FIELDS = (
    "status", "detail_name", "detail_description", "failed_fields", "meter_id", "stage",
    "stage_since", "created_at",
)  # fmt: skip


def _write_outcomes(assets: list[Asset]) -> None:
    """Write the changed assets' outcome columns in one UPDATE from a COPY'd staging table
    (Django's bulk_update builds a CASE per column and row, ten times slower here)."""
    bulk.update_objects(assets, OUTCOME_FIELDS, model=Asset)


def _start_steps(assets: list[Asset], now: datetime) -> None:
    """Each newly created asset starts its way to ACTIVE in each of its programs (or one "" step,
    followed by the meter's global status, when its job named none)."""
    ProgramStep.objects.bulk_create(
        (
            ProgramStep(
                asset_id=asset.pk, program=program, stage=Asset.Stage.CREATED,
                stage_since=now, created_at=now,
            )
            for asset in assets
            for program in dict.fromkeys(asset.programs or [""])
        ),
        batch_size=2000,
        ignore_conflicts=True,
    )  # fmt: skip


def poll_batch(batch: Batch, client: leap.LeapClient) -> str:
    """Read one Leap job and store it; failures are recorded and raised (LeapUnavailable)."""
    now = timezone.now()
    try:
        job = client.get_meter_job(batch.leap_job_id)  # type: ignore[arg-type]
    except (leap.LeapUnavailable, leap.LeapBadPayload, leap.LeapRejected) as exc:
        failures = batch.poll_failures + 1
        Batch.objects.filter(pk=batch.pk).update(
            polls=batch.polls + 1,
            poll_failures=failures,
            last_polled_at=now,
            last_error=f"reading the job: {exc}",
            last_error_at=now,
            next_poll_at=now + _backoff(failures + 1),
        )
        raise
    apply_job(batch, job)
    return job.status


def poll_due(*, now: datetime | None = None, limit: int = 1000) -> dict[str, int]:
    """One round of the beat: each open batch whose time has come is read (or sent) once.

    The claim is a conditional UPDATE of next_poll_at, so overlapping rounds never read the same
    job twice in one interval. When Leap is unreachable the round stops at the first failure: the
    other jobs keep their turn for the next round instead of each waiting out its own retries.
    """
    now = now or timezone.now()
    interval = timedelta(seconds=settings.ONBOARDING_POLL_SECONDS)
    due = list(
        Batch.objects.filter(
            Q(status__in=Batch.OPEN), next_poll_at__isnull=False, next_poll_at__lte=now
        )
        .order_by("next_poll_at")
        .values_list("pk", "next_poll_at")[:limit]
    )
    outcome = {"polled": 0, "sent": 0, "failed": 0, "deferred": 0}
    with leap.get_client(
        max_retries=settings.ONBOARDING_POLL_RETRIES, max_total_wait=10.0
    ) as client:
        for number, (pk, when) in enumerate(due):
            claimed = Batch.objects.filter(pk=pk, next_poll_at=when).update(
                next_poll_at=now + interval
            )
            if not claimed:
                continue
            batch = Batch.objects.get(pk=pk)
            try:
                if batch.status == Batch.Status.PROCESSING and batch.leap_job_id:
                    poll_batch(batch, client)
                    outcome["polled"] += 1
                else:
                    send_batch(batch.pk, client)
                    outcome["sent"] += 1
            except leap.LeapUnavailable:
                outcome["failed"] += 1
                outcome["deferred"] = len(due) - number - 1
                logger.warning("onboarding: Leap unavailable, %d job(s) wait", outcome["deferred"])
                break
            except (leap.LeapRejected, leap.LeapBadPayload):
                outcome["failed"] += 1
    return outcome


def refresh_job(job_id: int) -> None:
    """Recount a job's assets and batches into its status, and its funnel sums."""
    counts = dict(Asset.objects.filter(job_id=job_id).values_list("status").annotate(n=Count("pk")))
    total = sum(counts.values())
    open_batches = Batch.objects.filter(job_id=job_id, status__in=Batch.OPEN)
    sending = open_batches.exclude(status=Batch.Status.PROCESSING).exists()
    processing = open_batches.filter(status=Batch.Status.PROCESSING).exists()
    failed = sum(counts.get(s, 0) for s in Asset.FAILED_STATUSES)
    if sending:
        status = Job.Status.SENDING
    elif processing:
        status = Job.Status.PROCESSING
    elif failed == total:
        status = Job.Status.FAILED
    elif failed:
        status = Job.Status.DONE_WITH_ERRORS
    else:
        status = Job.Status.DONE
    finished = status not in (Job.Status.SENDING, Job.Status.PROCESSING)
    Job.objects.filter(pk=job_id).update(
        status=status,
        counts={"assets": total, **counts, "failed": failed},
        finished_at=timezone.now() if finished else None,
    )
    follow.refresh_funnel([job_id])
