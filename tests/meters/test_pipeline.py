"""The threaded page writer (meters.sync.speed.PageWriter) leaves exactly what writing inline does.

These tests commit for real (transaction=True): the writer thread has its own connection, which
cannot see a test transaction, so under the ordinary `db` fixture the sync writes inline (every
other sync test covers that path).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.utils import timezone

import leap
from leap.simulator import Simulator
from meters.models import (
    GroupAssignment,
    MarketGroup,
    Meter,
    MeterChange,
    MeterEvent,
    ParticipationPreference,
    ProgramEnrollment,
    ReasonCode,
    RequiredAction,
    SyncRun,
)
from meters.sync import context, engine
from meters.sync.details import plan_details
from meters.sync.snapshot import prepare_details
from meters.sync.speed import PageWriter, prefetch
from meters.sync.speed import writer as page_writer

pytestmark = pytest.mark.django_db(transaction=True)

# Set from the run's clock (differs between two runs of the same portfolio): compared as set or not.
CLOCK = {
    "first_seen_at",
    "last_seen_at",
    "details_synced_at",
    "enrollment_synced_at",
    "updated_at",
    "changed_at",
    "occurred_at",
    "resolved_at",
    "missing_since",
}
MODELS = [
    Meter,
    ProgramEnrollment,
    RequiredAction,
    ParticipationPreference,
    GroupAssignment,
    MarketGroup,
    ReasonCode,
    MeterChange,
    MeterEvent,
]
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def state() -> dict[str, list[tuple]]:
    """Every sync-written table, as sorted rows without ids, run links and the run's clock."""
    tables = {}
    for model in MODELS:
        names = [
            f.attname
            for f in model._meta.concrete_fields
            if not f.primary_key or f.attname == "meter_id"
        ]
        names = [n for n in names if n not in {"sync_run_id"}]
        rows = []
        for row in model.objects.values_list(*names):
            values = dict(zip(names, row, strict=True))
            clock = set(CLOCK)
            if model is MeterChange and values["field"] in CLOCK:
                clock |= {"old", "new"}  # e.g. missing_since: the run's clock again
            rows.append(
                tuple((v is not None) if n in clock else repr(v) for n, v in values.items())
            )
        tables[model._meta.label] = sorted(rows)
    return tables


def wipe(catalogue: set[str]) -> None:
    """Back to the empty portfolio; the reason-code catalogue back to what migrate seeded."""
    tables = ", ".join(m._meta.db_table for m in MODELS + [SyncRun] if m is not ReasonCode)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} CASCADE")  # noqa: S608 - model tables
    ReasonCode.objects.exclude(code__in=catalogue).delete()


def run(kind: str) -> SyncRun:
    sync_run = SyncRun.objects.create(
        kind=kind, status=SyncRun.Status.RUNNING, started_at=timezone.now()
    )
    with leap.get_client() as client:
        return engine.execute(client, sync_run)


def two_syncs(sim: Simulator) -> dict[str, list[tuple]]:
    """A first import, then changes at Leap (an archived and a removed meter) and a full sync;
    the state it leaves, with the second run's counts."""
    first = run(SyncRun.Kind.FULL)
    assert first.status == SyncRun.Status.DONE, first.error
    sim.advance(minutes=30, changes=25)
    ids = sim.meter_ids()
    sim.archive(ids[3])
    sim.remove_meter(ids[4])
    second = run(SyncRun.Kind.FULL)
    assert second.status == SyncRun.Status.DONE, second.error
    result = state()
    result["counts"] = [(second.created, second.updated, second.unchanged, second.missing)]
    return result


def scenario(threaded: bool, monkeypatch, used: list[bool]) -> dict[str, list[tuple]]:
    """`two_syncs` with the page writer threaded or inline."""
    monkeypatch.setattr(page_writer, "PIPELINE", threaded)
    sim = Simulator(meters=60, seed=11, now=NOW)
    with leap.use_transport(sim.transport(), sleep=lambda seconds: None):
        return two_syncs(sim)


def test_threaded_and_inline_writes_leave_the_same_state(monkeypatch, settings):
    settings.METERS_SYNC_PAGE_SIZE = 7  # many pages, several in flight at once
    used: list[bool] = []
    original = PageWriter.__init__

    def spy(self, ctx, *, threaded, **kw):
        used.append(threaded)
        original(self, ctx, threaded=threaded, **kw)

    monkeypatch.setattr(PageWriter, "__init__", spy)

    catalogue = set(ReasonCode.objects.values_list("code", flat=True))
    threaded = scenario(True, monkeypatch, used)
    assert used and all(used), "the writer thread was not used"
    wipe(catalogue)
    used.clear()
    inline = scenario(False, monkeypatch, used)
    assert used and not any(used)

    assert threaded["counts"] == inline["counts"]
    assert threaded["counts"][0][1] > 0, "the second sync should have seen changes"
    for label, rows in inline.items():
        assert threaded[label] == rows, f"{label} differs between threaded and inline writing"
    assert Meter.objects.filter(missing_since__isnull=False).count() == 1
    assert MeterChange.objects.exists()


def test_a_page_that_fails_to_write_fails_the_run_and_earlier_pages_stay(monkeypatch, settings):
    settings.METERS_SYNC_PAGE_SIZE = 10
    calls = {"n": 0}
    plan = plan_details

    class Broken:
        def __init__(self, planned):
            self.planned = planned

        def write(self, wctx):
            self.planned.write(wctx)  # the page's rows are written, then the transaction fails
            raise RuntimeError("disk full")

    def failing_plan(ctx, items):
        calls["n"] += 1
        planned = plan(ctx, items)
        if calls["n"] != 3:
            return planned
        return Broken(planned)

    monkeypatch.setattr(engine, "plan_details", failing_plan)
    sim = Simulator(meters=50, seed=3, now=NOW)
    with leap.use_transport(sim.transport(), sleep=lambda seconds: None):
        sync_run = SyncRun.objects.create(kind=SyncRun.Kind.FULL, status=SyncRun.Status.RUNNING)
        with leap.get_client() as client, pytest.raises(RuntimeError, match="disk full"):
            engine.execute(client, sync_run)
    ids = [uuid.UUID(m) for m in sim.meter_ids()]
    stored = set(Meter.objects.values_list("meter_id", flat=True))
    # Pages 1 and 2 (submitted before it) are committed, page 3 rolled back whole. A later page
    # the other writer had already started may have committed too.
    assert set(ids[:20]) <= stored
    assert not stored & set(ids[20:30])
    assert not Meter.objects.filter(enrollment_hash__gt="").exists()


def test_a_meter_repeated_on_the_next_page_is_planned_on_what_was_written(monkeypatch):
    sim = Simulator(meters=12, seed=5, now=NOW)
    with leap.use_transport(sim.transport(), sleep=lambda seconds: None):
        with leap.get_client() as client:
            details = [d for page in client.iter_meter_pages(None, 6) for d in page]
    Meter.objects.create(meter_id=uuid.uuid4())  # not a first import: new meters get events
    first, second = details[:6], details[5:]  # details[5] on both pages
    sync_run = SyncRun.objects.create(kind=SyncRun.Kind.FULL, status=SyncRun.Status.RUNNING)
    ctx = context.Context(run=sync_run, now=NOW)
    drained: list[bool] = []
    original = PageWriter.drain

    def spy(self):
        drained.append(True)
        original(self)

    monkeypatch.setattr(PageWriter, "drain", spy)
    engine._stream(
        ctx,
        lambda: prefetch([first, second], prepare=prepare_details),
        plan_details,
        "details",
    )

    assert len(drained) >= 2  # before planning the second page, and at the end
    assert ctx.created == 12
    new = MeterEvent.objects.filter(kind=MeterEvent.Kind.NEW_METER)
    assert new.count() == 12
    assert new.filter(meter_id=details[5].meter_id).count() == 1
    assert not MeterChange.objects.filter(meter_id=details[5].meter_id).exists()
