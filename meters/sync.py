"""The meter sync engine: Leap's meter details and enrollments into our tables.

Domain code: it takes a Leap client and a SyncRun, knows nothing of Celery. Pages are streamed
(the next one is fetched while the current one is written) and each page is written in its own
transaction together with the run's progress and heartbeat, so a run killed halfway leaves whole
pages behind and the next run, which rewrites only what differs, ends in exactly the right state.
Leap's pages arrive validated and flattened (meters/search.py: by a separate fetch process for
the full sync's long searches, else by threads), the planner here compares them with what is
stored, and page writers (PageWriter) write them.

- full: every meter (details, then enrollments); meters not seen are marked missing, unless more
  than METERS_MISSING_HOLD_FRACTION of them would be: then the run ends `held` until approved.
- incremental: meters modified or created since the previous good run's start minus an overlap.
- meter / webhook: one meter (GET details + enrollments), or a list of meters (searched by id).
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from leap import LeapBadPayload, LeapClient, LeapNotFound, LeapPageTokenExpired, MeterFilter
from meters import choices, groups
from meters.models import ChangeSource, Meter, MeterEvent, SyncRun
from meters.search import PREPARE, FetchProcess, PausedGC, prefetch, search_pages
from meters.writer import (
    Apply,
    Context,
    SeenSet,
    plan_details,
    plan_enrollments,
    record_failures,
    write_details,
    write_enrollments,
)

logger = logging.getLogger(__name__)

PAGE_TOKEN_RESTARTS = 2  # an expired page token restarts the search; writes are idempotent


class HoldError(Exception):
    """A held run cannot be approved (wrong state)."""


# --- streaming -----------------------------------------------------------------------------------


def _open(
    client: LeapClient,
    stream: str,
    filters: MeterFilter | None,
    size: int,
    *,
    full: bool = False,
    after: Any = None,
) -> Any:
    """One search of `stream` ("details" or "enrollment"), its pages prepared for the writer.

    The full sync's searches (`full`) read every meter: they are fetched by a separate process
    when the client can be rebuilt in one (meters.search.FetchProcess), else by `prefetch`
    threads with lazy pages (Leap builds a page while the last is validated). The incremental's
    and a webhook's few pages are fetched by `prefetch` threads. `after`: start fetching once
    that search has been fetched to its end.
    """
    if full and settings.METERS_SYNC_FETCH_PROCESS and client.portable_config() is not None:
        return FetchProcess(client, stream, filters, size, after=after)
    return prefetch(
        search_pages(client, stream, filters, size, lazy=full),
        after=after,
        prepare=PREPARE[stream],
    )


def _page_size() -> int:
    return min(500, settings.METERS_SYNC_PAGE_SIZE)


# Pages are written by a second thread on its own connection while the next page is planned
# (bench/sync.py: the database's half of a page then overlaps the Python half). Off where that
# cannot work: not on PostgreSQL, or inside a caller's transaction (a second connection would not
# see its rows).
PIPELINE = True
PIPELINE_DEPTH = 2
# Writer threads, each on its own connection: one page's SQL takes longer than planning one
# (bench/sync.py, py-spy with --idle: the planner waited on a single writer a quarter of the
# time, and that writer waited on PostgreSQL more than half of it).
PIPELINE_WRITERS = 2


class PageWriter:
    """Writes planned pages in order, each in its own transaction with the run's heartbeat.

    Inline (`threaded=False`) the caller's thread writes each page as soon as it is submitted.
    Threaded, `PIPELINE_WRITERS` writer threads, each with its own database connection, take
    pages from a queue `PIPELINE_DEPTH` deep, so pages in flight may commit in any order. The
    caller checks `overlaps` before planning a page: a page whose meters are still being written
    must be planned on what those writes leave (`drain` first), and two pages in flight never
    share a meter. An error in a writer is raised in the caller at its next submit or drain.
    Every page submitted before the failed one is still written; a later page is written only if
    the other writer had already started it.
    """

    def __init__(self, ctx: Context, *, threaded: bool) -> None:
        self.ctx = ctx
        self.threaded = threaded
        self.error: BaseException | None = None
        self._failed_at: int | None = None  # submission number of the page that failed
        self._submitted = 0
        self._lock = threading.Lock()
        self._in_flight: list[frozenset] = []
        self._threads: list[threading.Thread] = []
        if threaded:
            self._pages: queue.Queue[Any] = queue.Queue(maxsize=PIPELINE_DEPTH)
            for n in range(PIPELINE_WRITERS):
                thread = threading.Thread(
                    target=self._run, name=f"meter-sync-writer-{n}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def submit(self, apply: Apply | None, meter_ids: frozenset) -> None:
        """Write one planned page (after the ones before it)."""
        self._raise()
        if not self.threaded:
            self._write(self.ctx, apply)
            return
        with self._lock:
            self._in_flight.append(meter_ids)
            self._submitted += 1
            number = self._submitted
        self._pages.put((apply, meter_ids, number))

    def overlaps(self, meter_ids: frozenset) -> bool:
        """Whether a page still being written holds one of these meters."""
        with self._lock:
            return any(meter_ids & ids for ids in self._in_flight)

    def drain(self) -> None:
        """Wait until every submitted page is written; raise the writer's error, if any."""
        if self.threaded:
            self._pages.join()
        self._raise()

    def close(self) -> None:
        """Write what was submitted, then stop the threads."""
        alive = [thread for thread in self._threads if thread.is_alive()]
        if alive:
            self._pages.join()
            for _ in alive:
                self._pages.put(None)
            for thread in alive:
                thread.join()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def _write(self, ctx: Context, apply: Apply | None) -> None:
        # Inline, the caller's page transaction is already open: no savepoint inside it.
        with transaction.atomic(savepoint=False):
            if apply and self.threaded:
                # A page's commit need not wait for its WAL flush. The run's final commit is
                # synchronous and flushes the WAL of every page before it, so a run that says
                # done has all its pages on disk; a server crash mid-run loses at most the last
                # pages of a run that then fails, and the next run writes them again (the pages
                # and their history are derived from Leap's state and the stored one).
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit = off")
            if apply:
                apply(ctx)
            _heartbeat(self.ctx)

    def _run(self) -> None:
        wctx = self.ctx.fork()
        try:
            while True:
                item = self._pages.get()
                try:
                    if item is None:
                        return
                    apply, meter_ids, number = item
                    with self._lock:
                        wanted = self._failed_at is None or number < self._failed_at
                    if wanted:
                        try:
                            self._write(wctx, apply)
                        except BaseException as exc:  # handed over to the planner's thread
                            logger.exception("writing a page of the meter sync failed")
                            with self._lock:
                                if self._failed_at is None or number < self._failed_at:
                                    self._failed_at = number
                                    self.error = exc
                    with self._lock:
                        self._in_flight.remove(meter_ids)
                finally:
                    self._pages.task_done()
        finally:
            connection.close()  # this thread's own connection


def _threaded() -> bool:
    return PIPELINE and not connection.in_atomic_block


def _stream(
    ctx: Context,
    pages: Callable[[], Iterator[Any]],
    plan: Callable[[Context, list[Any]], Apply | None],
    stream: str,
    *,
    started: Iterator[Any] | None = None,
    paused: PausedGC | None = None,
) -> None:
    """Plan and write every page of one search; each page is written whole or not at all.

    `pages()` opens the search (see `_open`); `started`, an already opened one, is used first.
    Inline, a page's planning and writing share its transaction (as `write_details` does).
    Threaded, planning runs outside any transaction (it reads, and creates the market groups and
    reason codes the page names, which stay if its write fails) and the page writer commits the
    rows. Either way the stream is completely written when this returns.
    """
    restarts = 0
    while True:
        writer = PageWriter(ctx, threaded=_threaded())
        fetched = started or pages()
        started = None  # a restart searches again
        try:
            for page in fetched:
                items = list(page)
                failures = getattr(page, "failures", [])
                if not writer.threaded:
                    with transaction.atomic():
                        apply = plan(ctx, items)
                        record_failures(ctx, stream, failures)
                        writer.submit(apply, frozenset())
                    continue
                meter_ids = frozenset(item.meter_id for item in items)
                if writer.overlaps(meter_ids):
                    writer.drain()  # Leap repeated a meter: plan it on what was written
                apply = plan(ctx, items)
                record_failures(ctx, stream, failures)
                writer.submit(apply, meter_ids)
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


def _heartbeat(ctx: Context) -> None:
    if ctx.run is None or ctx.run.pk is None:
        return
    now = timezone.now()
    SyncRun.objects.filter(pk=ctx.run.pk).update(
        progress_done=ctx.processed, failed=ctx.failed, created=ctx.created, heartbeat_at=now
    )


# --- runs ----------------------------------------------------------------------------------------


def _context(run: SyncRun, source: str) -> Context:
    return Context(run=run, source=source, now=timezone.now())


def _finish(ctx: Context, run: SyncRun, status: str, **fields: Any) -> SyncRun:
    seen, changed = ctx.seen.counts() if ctx.seen else (ctx.processed, 0)
    run.created = ctx.created
    run.updated = max(changed - ctx.created, 0)
    run.unchanged = max(seen - changed, 0)
    run.failed = ctx.failed
    run.progress_done = ctx.processed
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
    size = _page_size()
    # Enrollments are asked for as soon as Leap has sent the last page of details.
    with PausedGC() as paused:
        details = _open(client, "details", None, size, full=True)
        enrollment = _open(client, "enrollment", None, size, full=True, after=details)
        try:
            for stream, plan, started in (
                ("details", plan_details, details),
                ("enrollment", plan_enrollments, enrollment),
            ):
                _stream(
                    ctx,
                    lambda s=stream: _open(client, s, None, size, full=True),
                    plan,
                    stream,
                    started=started,
                    paused=paused,
                )
        finally:
            details.close()
            enrollment.close()
    groups.refresh_horizon(ctx)

    unseen = ctx.seen.unseen_present_meters()
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
    if previous is None:
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
    searches = [("details", f, plan_details) for f in filters] + [
        ("enrollment", f, plan_enrollments) for f in filters
    ]
    # A few pages each: each search is asked for as soon as Leap has answered the one before,
    # so the later ones arrive while the earlier ones are written (details are still written
    # before enrollments). Asked all at once, Leap answered each of them later.
    started: list[Any] = []
    for stream, filter_, _ in searches:
        started.append(_open(client, stream, filter_, size, after=started[-1] if started else None))
    try:
        for (stream, filter_, plan), fetched in zip(searches, started, strict=True):
            _stream(
                ctx,
                lambda s=stream, f=filter_: _open(client, s, f, size),
                plan,
                stream,
                started=fetched,
            )
    finally:
        for fetched in started:
            fetched.close()
    groups.refresh_horizon(ctx)
    return _finish(ctx, run, SyncRun.Status.DONE)


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
        _stream(ctx, lambda: _open(client, "details", filter_, size), plan_details, "details")
        _stream(
            ctx,
            lambda: _open(client, "enrollment", filter_, size),
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


# --- holds and stale runs ------------------------------------------------------------------------


def approve_held(run: SyncRun, *, approved_by: Any = None) -> SyncRun:
    """Apply a held run's missing part: mark those meters missing that no sync has seen since."""
    with transaction.atomic():
        run = SyncRun.objects.select_for_update().get(pk=run.pk)
        if run.status != SyncRun.Status.HELD:
            raise HoldError(f"sync run {run.pk} is {run.status}, not held")
        ctx = Context(run=run, source=ChangeSource.POLL, now=timezone.now())
        ids = [uuid.UUID(m) for m in run.held_meter_ids]
        # A meter a later sync wrote (last_seen_at after this run started) is not missing.
        marked = mark_missing(ctx, ids, since=run.started_at or run.created_at)
        run.status = SyncRun.Status.DONE
        run.missing = marked
        run.approved_by = approved_by if getattr(approved_by, "pk", None) else None
        run.approved_at = ctx.now
        run.error = f"held part approved: {marked} of {len(ids)} meters marked missing"
        run.save()
    return run


def fail_stale_runs(now: datetime | None = None) -> int:
    """Fail running runs whose heartbeat stopped (their worker died); returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.METERS_SYNC_STALE_SECONDS)
    stale = SyncRun.objects.filter(status=SyncRun.Status.RUNNING, heartbeat_at__lt=cutoff)
    count = 0
    for run in stale:
        count += SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update(
            status=SyncRun.Status.FAILED,
            finished_at=now,
            error=(
                f"no heartbeat since {run.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC: the worker "
                f"died mid-run; a new run takes over (pages already written are kept)"
            ),
            attempts=F("attempts"),
        )
    return count
