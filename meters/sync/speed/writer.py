"""The page writer: planned pages written inline, or by writer threads on their own connections."""

from __future__ import annotations

import copy
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.db import connection, transaction

from meters.sync.context import Context, PagePlan

logger = logging.getLogger(__name__)

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

    def __init__(
        self,
        ctx: Context,
        *,
        threaded: bool,
        after_page: Callable[[Context], None] = lambda ctx: None,
    ) -> None:
        self.ctx = ctx
        self.threaded = threaded
        self._after_page = after_page
        self.error: BaseException | None = None
        self._failed_at: int | None = None  # submission number of the page that failed
        self._submitted = 0
        self._lock = threading.Lock()
        self._in_flight: list[frozenset[UUID]] = []
        self._threads: list[threading.Thread] = []
        if threaded:
            self._pages: queue.Queue[Any] = queue.Queue(maxsize=PIPELINE_DEPTH)
            for n in range(PIPELINE_WRITERS):
                thread = threading.Thread(
                    target=self._run, name=f"meter-sync-writer-{n}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def submit(self, plan: PagePlan | None, meter_ids: frozenset[UUID]) -> None:
        """Write one planned page (after the ones before it)."""
        self._raise()
        if not self.threaded:
            self._write(self.ctx, plan)
            return
        with self._lock:
            self._in_flight.append(meter_ids)
            self._submitted += 1
            number = self._submitted
        self._pages.put((plan, meter_ids, number))

    def overlaps(self, meter_ids: frozenset[UUID]) -> bool:
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

    def _write(self, ctx: Context, plan: PagePlan | None) -> None:
        # Inline, the caller's page transaction is already open: no savepoint inside it.
        with transaction.atomic(savepoint=False):
            if plan and self.threaded:
                # A page's commit need not wait for its WAL flush. The run's final commit is
                # synchronous and flushes the WAL of every page before it, so a run that says
                # done has all its pages on disk; a server crash mid-run loses at most the last
                # pages of a run that then fails, and the next run writes them again (the pages
                # and their history are derived from Leap's state and the stored one).
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit = off")
            if plan:
                plan.write(ctx)
            self._after_page(self.ctx)  # the run's own context: its counters are the planner's

    def _run(self) -> None:
        # The run's context with this thread's own history queues (a page's history is queued
        # and flushed by the thread that writes it).
        own = copy.copy(self.ctx)
        own.changes, own.events = [], []
        try:
            while True:
                item = self._pages.get()
                try:
                    if item is None:
                        return
                    plan, meter_ids, number = item
                    with self._lock:
                        wanted = self._failed_at is None or number < self._failed_at
                    if wanted:
                        try:
                            self._write(own, plan)
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


def threaded() -> bool:
    """Whether pages are written by writer threads (see PIPELINE)."""
    return PIPELINE and not connection.in_atomic_block
