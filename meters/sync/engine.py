"""The meter sync engine: Leap's meter details and enrollments into our tables, step by step.

Domain code: it takes a Leap client and a SyncRun, knows nothing of Celery. A run opens Leap's
searches (`speed.open_search`: their pages arrive validated and flattened, read ahead in the
background), plans each page against what is stored (`details.plan_details`,
`enrollments.plan_enrollments`) and hands the plan to a page writer (`speed.PageWriter`); before
each page it gives way to dispatch deliveries that wait (leapportal/priority.py). Each
page is written in its own transaction together with the run's progress and heartbeat, so a run
killed halfway leaves whole pages behind and the next run, which rewrites only what differs,
ends in exactly the right state. How the reading and writing overlap (threads, a fetch process)
is meters/sync/speed/'s business alone.

- full: every meter (details, then enrollments); meters not seen are marked missing, unless more
  than METERS_MISSING_HOLD_FRACTION of them would be: then the run ends `held` until approved.
- incremental: meters modified or created since the previous good run's start minus an overlap.
- meter / webhook: one meter (GET details + enrollments), or a list of meters (searched by id).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from leap import LeapBadPayload, LeapClient, LeapNotFound, LeapPageTokenExpired, MeterFilter, Page
from leapportal import priority
from meters import choices, groups
from meters.models import ChangeSource, Meter, MeterEvent, SyncRun
from meters.sync.context import Context, PagePlan, SeenSet, record_failures
from meters.sync.details import plan_details, write_details
from meters.sync.enrollments import plan_enrollments, write_enrollments
from meters.sync.snapshot import Prepared
from meters.sync.speed import PageWriter, PausedGC, PreparedPages, open_search, threaded

logger = logging.getLogger(__name__)

PAGE_TOKEN_RESTARTS = 2  # an expired page token restarts the search; writes are idempotent

Planner = Callable[[Context, list[Prepared]], PagePlan | None]


# --- streaming -----------------------------------------------------------------------------------


def _page_size() -> int:
    """Leap's searches take at most 500 a page."""
    return min(500, settings.METERS_SYNC_PAGE_SIZE)


def _stream(
    ctx: Context,
    pages: Callable[[], PreparedPages],
    plan: Planner,
    stream: str,
    *,
    started: PreparedPages | None = None,
    paused: PausedGC | None = None,
) -> None:
    """Plan and write every page of one search; each page is written whole or not at all.

    `pages()` opens the search (see `speed.open_search`); `started`, an already opened one, is
    used first. Inline, a page's planning and writing share its transaction (as `write_details`
    does). Threaded, planning runs outside any transaction (it reads, and creates the market
    groups and reason codes the page names, which stay if its write fails) and the page writer
    commits the rows. Either way the stream is completely written when this returns.
    """
    restarts = 0
    while True:
        writer = PageWriter(ctx, threaded=threaded(), after_page=_heartbeat)
        fetched = started or pages()
        started = None  # a restart searches again
        try:
            for page in fetched:
                ctx.gave_way += priority.give_way()
                if not writer.threaded:
                    with transaction.atomic():
                        writer.submit(_plan_page(ctx, plan, stream, page), frozenset())
                    continue
                meter_ids = frozenset(item.meter_id for item in page)
                if writer.overlaps(meter_ids):
                    writer.drain()  # Leap repeated a meter: plan it on what was written
                writer.submit(_plan_page(ctx, plan, stream, page), meter_ids)
                if paused is not None:
                    paused.page()
            writer.drain()
            return
        except LeapPageTokenExpired:
            restarts += 1
            if restarts > PAGE_TOKEN_RESTARTS:
                raise
            logger.warning("page token expired during the %s search: restarting it", stream)
        finally:
            fetched.close()
            writer.close()


def _plan_page(ctx: Context, plan: Planner, stream: str, page: Page[Prepared]) -> PagePlan | None:
    """One page compared with what is stored; the objects that did not validate are kept."""
    planned = plan(ctx, list(page))
    record_failures(ctx, stream, page.failures)
    return planned


def _heartbeat(ctx: Context) -> None:
    """The run's progress, written with every page (fail_stale_runs watches it)."""
    if ctx.run is None or ctx.run.pk is None:
        return
    now = timezone.now()
    SyncRun.objects.filter(pk=ctx.run.pk).update(
        progress_done=ctx.processed,
        failed=ctx.failed,
        created=ctx.created,
        gave_way_seconds=ctx.gave_way,
        unvalidated=ctx.unvalidated,
        heartbeat_at=now,
    )


# --- runs ----------------------------------------------------------------------------------------


def _context(run: SyncRun, source: str) -> Context:
    """The run's context, its clock started now."""
    return Context(run=run, source=source, now=timezone.now())


def _finish(ctx: Context, run: SyncRun, status: str, **fields: Any) -> SyncRun:
    """Record the run's counts and outcome; the filters offer what the run brought at once."""
    seen, changed = ctx.seen.counts() if ctx.seen else (ctx.processed, 0)
    run.created = ctx.created
    run.updated = max(changed - ctx.created, 0)
    run.unchanged = max(seen - changed, 0)
    run.failed = ctx.failed
    run.progress_done = ctx.processed
    run.gave_way_seconds = ctx.gave_way
    run.unvalidated = ctx.unvalidated
    run.status = status
    run.finished_at = timezone.now()
    run.heartbeat_at = run.finished_at
    for name, value in fields.items():
        setattr(run, name, value)
    run.save()
    if ctx.seen:
        ctx.seen.drop()
    choices.forget()  # the filters offer any new region, status, load type or program at once
    return run


def run_full(client: LeapClient, run: SyncRun) -> SyncRun:
    """Every meter, then the missing ones; see the module docstring."""
    ctx = _context(run, ChangeSource.POLL)
    present_before = Meter.objects.present().count()
    ctx.initial = not Meter.objects.exists()
    # Leap gives no totals: the portfolio we know, once per stream, is the estimate.
    SyncRun.objects.filter(pk=run.pk).update(progress_total=2 * present_before or None)
    ctx.seen = SeenSet(f"meters_seen_{run.pk}")
    _write_every_meter(client, ctx)
    groups.refresh_horizon(ctx)
    return _mark_unseen_missing(ctx, run, present_before)


def _write_every_meter(client: LeapClient, ctx: Context) -> None:
    """The full searches of details, then of enrollments, every page planned and written."""
    size = _page_size()

    def search(stream: str) -> PreparedPages:
        return open_search(client, stream, None, size, full=True)

    # Enrollments are asked for as soon as Leap has sent the last page of details.
    with PausedGC() as paused:
        details = search("details")
        enrollment = open_search(client, "enrollment", None, size, full=True, after=details)
        try:
            _stream(
                ctx,
                lambda: search("details"),
                plan_details,
                "details",
                started=details,
                paused=paused,
            )
            _stream(
                ctx,
                lambda: search("enrollment"),
                plan_enrollments,
                "enrollment",
                started=enrollment,
                paused=paused,
            )
        finally:
            details.close()
            enrollment.close()


def _mark_unseen_missing(ctx: Context, run: SyncRun, present_before: int) -> SyncRun:
    """Mark the present meters the run did not see missing, or hold the run when too many are."""
    unseen = ctx.seen.unseen_present_meters() if ctx.seen else []
    limit = settings.METERS_MISSING_HOLD_FRACTION * present_before
    if unseen and len(unseen) > limit:
        logger.warning(
            "full sync %s would mark %d of %d meters missing (limit %.0f): held for approval",
            run.pk,
            len(unseen),
            present_before,
            limit,
        )
        return _finish(
            ctx,
            run,
            SyncRun.Status.HELD,
            missing=len(unseen),
            held_meter_ids=[str(m) for m in unseen],
            error=(
                f"{len(unseen)} of {present_before} meters were not seen (more than "
                f"{settings.METERS_MISSING_HOLD_FRACTION:.0%}): not marked missing until an "
                f"admin approves"
            ),
        )
    marked = mark_missing(ctx, unseen, since=run.started_at or ctx.now)
    return _finish(ctx, run, SyncRun.Status.DONE, missing=marked)


def mark_missing(ctx: Context, meter_ids: list[uuid.UUID], *, since: datetime) -> int:
    """Mark present meters missing (never delete), with history; returns how many were marked."""
    marked = 0
    for start in range(0, len(meter_ids), 1000):
        chunk = meter_ids[start : start + 1000]
        with transaction.atomic():
            ids = list(
                Meter.objects.select_for_update()
                .filter(meter_id__in=chunk, missing_since__isnull=True, last_seen_at__lt=since)
                .values_list("meter_id", flat=True)
            )
            Meter.objects.filter(meter_id__in=ids).update(missing_since=ctx.now)
            for meter_id in ids:
                ctx.change(meter_id, "missing_since", None, ctx.now)
                ctx.event(meter_id, MeterEvent.Kind.WENT_MISSING)
            ctx.flush()
            marked += len(ids)
    return marked


def incremental_since(run: SyncRun) -> datetime | None:
    """Start of the window: the previous good full/incremental run's start minus the overlap."""
    previous = (
        SyncRun.objects.filter(
            kind__in=[SyncRun.Kind.FULL, SyncRun.Kind.INCREMENTAL],
            status__in=[SyncRun.Status.DONE, SyncRun.Status.HELD],
            started_at__isnull=False,
        )
        .exclude(pk=run.pk)
        .order_by("-started_at")
        .first()
    )
    if previous is None or previous.started_at is None:
        return None
    return previous.started_at - timedelta(minutes=settings.METERS_INCREMENTAL_OVERLAP_MINUTES)


def run_incremental(client: LeapClient, run: SyncRun) -> SyncRun:
    """Meters modified or created since the last good run (all of them, the first time)."""
    ctx = _context(run, ChangeSource.POLL)
    ctx.initial = not Meter.objects.exists()
    since = incremental_since(run)
    SyncRun.objects.filter(pk=run.pk).update(window_start=since)
    run.window_start = since
    ctx.seen = SeenSet(f"meters_seen_{run.pk}")
    _write_changed_meters(client, ctx, since)
    groups.refresh_horizon(ctx)
    return _finish(ctx, run, SyncRun.Status.DONE)


def _write_changed_meters(client: LeapClient, ctx: Context, since: datetime | None) -> None:
    """The searches of meters changed since `since` (details, then enrollments), written."""
    size = _page_size()
    # Leap does not say whether enrollment-only changes bump last_modified: the nightly
    # full sync and the webhooks cover those; the created window catches new meters.
    filters = (
        [
            MeterFilter(last_modified_date_time=since),
            MeterFilter(created_after_date_time=since),
        ]
        if since
        else [None]
    )
    searches: list[tuple[str, MeterFilter | None, Planner]] = [
        ("details", f, plan_details) for f in filters
    ] + [("enrollment", f, plan_enrollments) for f in filters]
    # A few pages each: each search is asked for as soon as Leap has answered the one before,
    # so the later ones arrive while the earlier ones are written (details are still written
    # before enrollments). Asked all at once, Leap answered each of them later.
    started: list[PreparedPages] = []
    for stream, filter_, _ in searches:
        after = started[-1] if started else None
        started.append(open_search(client, stream, filter_, size, after=after))
    try:
        for (stream, filter_, plan), fetched in zip(searches, started, strict=True):
            _stream(
                ctx,
                partial(open_search, client, stream, filter_, size),
                plan,
                stream,
                started=fetched,
            )
    finally:
        for fetched in started:
            fetched.close()


def resync_meter(client: LeapClient, run: SyncRun, meter_id: uuid.UUID, *, source: str) -> SyncRun:
    """Fetch one meter's current details and enrollment and store them."""
    ctx = _context(run, source)
    ctx.seen = SeenSet(f"meters_seen_{run.pk}")
    fetched: dict[str, Any] = {}
    try:
        for stream, fetch in (("details", client.get_meter), ("enrollment", client.get_enrollment)):
            try:
                fetched[stream] = fetch(meter_id)
            except LeapBadPayload as failure:
                with transaction.atomic():
                    record_failures(ctx, stream, [failure])
    except LeapNotFound:
        # Leap no longer has it: one meter is never a mass disappearance, so no hold.
        marked = mark_missing(ctx, [meter_id], since=ctx.now + timedelta(seconds=1))
        return _finish(ctx, run, SyncRun.Status.DONE, missing=marked)
    with transaction.atomic():
        if "details" in fetched:
            write_details(ctx, [fetched["details"]])
        if "enrollment" in fetched:
            write_enrollments(ctx, [fetched["enrollment"]])
    return _finish(ctx, run, SyncRun.Status.DONE)


def resync_meters(
    client: LeapClient, run: SyncRun, meter_ids: Iterable[uuid.UUID], *, source: str
) -> SyncRun:
    """Fetch a list of meters through the searches (the client splits long id lists)."""
    ids = sorted(set(meter_ids))
    ctx = _context(run, source)
    ctx.seen = SeenSet(f"meters_seen_{run.pk}")
    if ids:
        filter_ = MeterFilter(meter_ids=ids)
        size = _page_size()
        _stream(ctx, lambda: open_search(client, "details", filter_, size), plan_details, "details")
        _stream(
            ctx,
            lambda: open_search(client, "enrollment", filter_, size),
            plan_enrollments,
            "enrollment",
        )
    return _finish(ctx, run, SyncRun.Status.DONE)


def execute(client: LeapClient, run: SyncRun) -> SyncRun:
    """Run a claimed SyncRun by its kind."""
    if run.kind == SyncRun.Kind.FULL:
        return run_full(client, run)
    if run.kind == SyncRun.Kind.INCREMENTAL:
        return run_incremental(client, run)
    if run.kind == SyncRun.Kind.METER and run.meter_id:
        return resync_meter(client, run, run.meter_id, source=ChangeSource.RESYNC)
    raise ValueError(f"sync run {run.pk} of kind {run.kind} cannot be executed on its own")
