"""The revenue sync: new versions of Leap's monthly revenue reports into our tables.

Reports are monthly, so the sync runs daily and fetches only what is new: one call lists every
version of the last REVENUE_SYNC_MONTHS months, and each version not yet stored complete is
fetched (its report summary, then its meter rows, page by page). A month met for the first time
is fetched at its newest version only (the older ones are recorded as superseded); from then on
every new version of it is fetched, so what changed between versions is known. Domain code: it takes a Leap
client and a RevenueSyncRun and knows nothing of Celery.

- A version's meter rows are written by COPY straight into `revenue_meterrevenue` (a version's
  rows are only ever inserted), page by page, each page in its own transaction with the run's
  heartbeat; a `prefetch` thread fetches and validates the next page meanwhile. A run killed
  mid-version leaves a version in state `fetching`; the next run deletes its rows and fetches it
  again.
- When every page is in, one transaction completes the version: each row gets the same meter's
  total of the version before and its risk (missed ÷ potential where data coverage >= 75%), the
  sums by program, market group, utility, load type, our customer and revenue type are stored,
  what changed from the previous version is recorded, and the month's current version moves to
  it if it is the newest. A finalized version's rows are never touched again.
- Bad input: a report summary that does not validate is kept (raw, with its errors) on the
  version, which stays `invalid` and is tried again by the next run; a meter row that does not
  validate is kept as an InvalidRevenueRecord and the rest of the page is applied.
- The monthly diagnosis of meters that never or rarely respond is fetched for the months whose
  report changed, never fetched, or still preliminary (once a day), and replaces that month's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from leap import LeapBadPayload
from leap.client import MAX_REVENUE_PAGE_SIZE, LeapClient
from leapportal import bulk
from meters.sync.speed import PausedGC, prefetch
from revenue.models import (
    InvalidRevenueRecord,
    MeterResponsiveness,
    MeterRevenue,
    ReportStatus,
    ReportVersion,
    RevenueAggregate,
    RevenueReport,
    RevenueSyncRun,
)
from revenue.rows import COPY_COLUMNS, MISSED, PENALTY, POTENTIAL, TOTAL, copy_row_maker

logger = logging.getLogger(__name__)

UNRESPONSIVE = ("NEVER_RESPONDS", "RARELY_RESPONDS")
DIAGNOSIS_REFRESH = timedelta(hours=20)


def month_text(month: date) -> str:
    return f"{month:%Y-%m}"


def parse_month(text: str) -> date:
    return date(int(text[:4]), int(text[5:7]), 1)


def window(now: datetime, months: int) -> tuple[date, date]:
    """The first and last complete month of the sync's window."""
    index = now.year * 12 + now.month - 1
    last, first = index - 1, index - months
    return date(first // 12, first % 12 + 1, 1), date(last // 12, last % 12 + 1, 1)


def _number(version: str) -> int:
    digits = "".join(ch for ch in version if ch.isdigit())
    return int(digits) if digits else 0


def _heartbeat(run: RevenueSyncRun, **fields: Any) -> None:
    if run.pk is None:
        return
    RevenueSyncRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now(), **fields)


def _keep_invalid(
    run: RevenueSyncRun, version: ReportVersion | None, month: date, what: str, failure: Any
) -> None:
    InvalidRevenueRecord.objects.create(
        run=run if run.pk else None,
        version=version,
        month=month,
        what=what,
        raw=failure.raw if isinstance(failure.raw, dict | list) else {"text": str(failure.raw)},
        errors=list(getattr(failure, "errors", []) or []),
        message=str(failure)[:2000],
    )


# --- one version ---------------------------------------------------------------------------------


def _copy(rows: list[tuple]) -> None:
    """COPY a page of a version's rows straight into its table (JSON cells already JSON text)."""
    bulk.copy_rows(MeterRevenue, COPY_COLUMNS, rows)


def fetch_version(
    client: LeapClient,
    run: RevenueSyncRun,
    month: date,
    name: str,
    leap_updated_at: datetime | None,
) -> ReportVersion | None:
    """Fetch one version of a month's report and store it; None when Leap's report is invalid."""
    report, _ = RevenueReport.objects.get_or_create(month=month)
    version, _ = ReportVersion.objects.get_or_create(
        report=report, version=name, defaults={"number": _number(name)}
    )
    if version.state == ReportVersion.State.COMPLETE:
        return version
    text = month_text(month)
    try:
        summary = client.get_revenue_report(text, text, version=name)
    except LeapBadPayload as failure:
        _keep_invalid_version(run, version, month, leap_updated_at, failure)
        logger.warning("revenue report %s %s does not validate: kept, not applied", text, name)
        return None
    _start_fetching(version, summary, name, leap_updated_at)
    rows, invalid, totals = _write_rows(client, run, version, month)
    run.rows_written += rows
    run.invalid += invalid
    complete(version, rows=rows, invalid_rows=invalid, totals=totals)
    return version


def _keep_invalid_version(
    run: RevenueSyncRun,
    version: ReportVersion,
    month: date,
    leap_updated_at: datetime | None,
    failure: LeapBadPayload,
) -> None:
    """Leap's summary of the version does not validate: the version is kept as invalid."""
    with transaction.atomic():
        version.state = ReportVersion.State.INVALID
        version.error = str(failure)[:5000]
        version.summary_raw = failure.raw if isinstance(failure.raw, dict) else None
        version.leap_updated_at = leap_updated_at
        version.fetched_at = timezone.now()
        version.save()
        _keep_invalid(run, version, month, "report", failure)


def _start_fetching(
    version: ReportVersion, summary: Any, name: str, leap_updated_at: datetime | None
) -> None:
    """Mark the version as being fetched, with its status and summary, and no rows yet."""
    statuses = [s for s in summary.report_status if (s.version or name) == name] or list(
        summary.report_status
    )
    final = any(s.status == ReportStatus.FINALIZED for s in statuses)
    with transaction.atomic():
        # A run that died mid-version left some of its rows: they are written again.
        MeterRevenue.objects.filter(version=version).delete()
        InvalidRevenueRecord.objects.filter(version=version, what="meter row").delete()
        version.state = ReportVersion.State.FETCHING
        version.status = ReportStatus.FINALIZED if final else ReportStatus.PRELIMINARY
        version.summary_raw = summary.raw
        version.leap_updated_at = leap_updated_at or max(
            (s.updated_at for s in statuses if s.updated_at), default=None
        )
        version.error = ""
        version.save()


def _write_rows(
    client: LeapClient, run: RevenueSyncRun, version: ReportVersion, month: date
) -> tuple[int, int, list[float]]:
    """Copy the version's meter rows in, a page per transaction: (rows, invalid rows, totals)."""
    text = month_text(month)
    rows = invalid = 0
    totals = [0.0, 0.0, 0.0, 0.0]  # earned, potential, missed, penalty
    pages = prefetch(
        client.iter_revenue_pages(
            "meter", text, text, version=version.version, page_size=MAX_REVENUE_PAGE_SIZE,
            lazy=True,
        ),
        prepare=copy_row_maker(version.pk, month),
    )  # fmt: skip
    try:
        # A page of 1,000 validated rows leaves cyclic garbage behind (a few MB): collected
        # every 4 pages, the sync's memory stays flat (bench/revenue.py: at the collector's
        # default of 40 pages the RSS grew 245 MB at 100,000 meters; 18 MB at 20,000 with 4).
        with PausedGC(every=4) as paused:
            for page in pages:
                with transaction.atomic():
                    if page:
                        batch = list(page)
                        _copy(batch)
                        for row in batch:
                            totals[0] += row[TOTAL]
                            totals[1] += row[POTENTIAL] or 0.0
                            totals[2] += row[MISSED] or 0.0
                            totals[3] += row[PENALTY] or 0.0
                    for failure in page.failures:
                        _keep_invalid(run, version, month, "meter row", failure)
                    rows += len(page)
                    invalid += len(page.failures)
                    _heartbeat(
                        run,
                        rows_written=run.rows_written + rows,
                        invalid=run.invalid + invalid,
                    )
                paused.page()
    finally:
        pages.close()
    return rows, invalid, totals


def complete(version: ReportVersion, *, rows: int, invalid_rows: int, totals: list[float]) -> None:
    """Link the version to the one before, sum it up, record what changed, make it current.

    Each row's risk was computed as it was copied; the totals were added up then too.
    """
    with transaction.atomic():
        report = RevenueReport.objects.select_for_update().get(pk=version.report_id)
        previous = (
            ReportVersion.objects.filter(
                report=report, state=ReportVersion.State.COMPLETE, number__lt=version.number
            )
            .order_by("-number")
            .first()
        )
        if previous is not None:
            table = MeterRevenue._meta.db_table
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} AS r SET previous_total_revenue = p.total "  # noqa: S608
                    f"FROM (SELECT meter_id, program, total_revenue AS total FROM {table} "
                    f"WHERE version_id = %s) AS p "
                    f"WHERE r.version_id = %s AND p.meter_id = r.meter_id AND p.program = r.program",
                    [previous.pk, version.pk],
                )
        write_aggregates(version)
        version.rows = rows
        version.invalid_rows = invalid_rows
        version.earned, version.potential, version.missed, version.penalty = (
            round(t, 2) for t in totals
        )
        version.previous = previous
        version.changes = changes_between(previous, version) if previous else {}
        version.state = ReportVersion.State.COMPLETE
        version.fetched_at = timezone.now()
        version.save()
        current = report.current_version
        if current is None or current.number <= version.number:
            report.current_version = version
            report.status = version.status
        report.updated_at = timezone.now()
        report.save()


def write_aggregates(version: ReportVersion) -> None:
    """The version's sums by each dimension (one scan with grouping sets, one for load types)."""
    table = MeterRevenue._meta.db_table
    aggregates = RevenueAggregate._meta.db_table
    mapping = _mapping_table()
    customer = "coalesce(m.customer_id, '')" if mapping else "''::varchar"
    join = f" LEFT JOIN {mapping} m ON m.meter_id = r.meter_id" if mapping else ""
    sums = (
        "count(*), coalesce(sum(r.total_revenue), 0), coalesce(sum(r.potential_revenue), 0), "
        "coalesce(sum(r.missed_revenue), 0), sum(r.previous_total_revenue)"
    )
    columns = "version_id, dimension, key, meters, earned, potential, missed, previous_earned"
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {aggregates} WHERE version_id = %s", [version.pk])  # noqa: S608
        cursor.execute(
            f"INSERT INTO {aggregates} ({columns}) "  # noqa: S608
            f"SELECT %s, CASE WHEN GROUPING(r.program) = 0 THEN 'program' "
            f"WHEN GROUPING(r.market_group) = 0 THEN 'market_group' "
            f"WHEN GROUPING(r.utility) = 0 THEN 'utility' "
            f"WHEN GROUPING(r.revenue_type) = 0 THEN 'revenue_type' ELSE 'customer' END, "
            f"coalesce(r.program, r.market_group, r.utility, r.revenue_type, {customer}), {sums} "
            f"FROM {table} r{join} WHERE r.version_id = %s "
            f"GROUP BY GROUPING SETS ((r.program), (r.market_group), (r.utility), "
            f"(r.revenue_type), ({customer}))",
            [version.pk, version.pk],
        )
        cursor.execute(
            f"INSERT INTO {aggregates} ({columns}) "  # noqa: S608
            f"SELECT %s, 'load_type', lt.load_type, {sums} FROM {table} r "
            f"CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN "
            f"jsonb_array_length(r.load_types) = 0 THEN '[\"UNASSIGNED_LOAD_TYPE\"]'::jsonb "
            f"ELSE r.load_types END) AS lt(load_type) "
            f"WHERE r.version_id = %s GROUP BY lt.load_type",
            [version.pk, version.pk],
        )


def _mapping_table() -> str | None:
    if not apps.is_installed("mapping"):
        return None
    return apps.get_model("mapping", "MeterMapping")._meta.db_table


def changes_between(previous: ReportVersion, version: ReportVersion) -> dict[str, Any]:
    """What changed from `previous` to `version`: totals, meters changed, the largest changes."""
    table = MeterRevenue._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FILTER (WHERE previous_total_revenue IS NULL), "  # noqa: S608
            f"count(*) FILTER (WHERE previous_total_revenue IS NOT NULL "
            f"AND abs(total_revenue - previous_total_revenue) >= 0.005) "
            f"FROM {table} WHERE version_id = %s",
            [version.pk],
        )
        added, changed = cursor.fetchone()
        cursor.execute(
            f"SELECT count(*) FROM {table} p WHERE p.version_id = %s AND NOT EXISTS "  # noqa: S608
            f"(SELECT 1 FROM {table} r WHERE r.version_id = %s AND r.meter_id = p.meter_id "
            f"AND r.program = p.program)",
            [previous.pk, version.pk],
        )
        (removed,) = cursor.fetchone()
        cursor.execute(
            f"SELECT meter_id, program, previous_total_revenue, total_revenue FROM {table} "  # noqa: S608
            f"WHERE version_id = %s AND previous_total_revenue IS NOT NULL "
            f"AND abs(total_revenue - previous_total_revenue) >= 0.005 "
            f"ORDER BY abs(total_revenue - previous_total_revenue) DESC, meter_id LIMIT 20",
            [version.pk],
        )
        largest = [
            {"meter_id": str(m), "program": p, "before": before, "after": after}
            for m, p, before, after in cursor.fetchall()
        ]
    return {
        "from": previous.version,
        "to": version.version,
        "status_from": previous.status,
        "status_to": version.status,
        "earned_before": round(previous.earned, 2),
        "earned_after": round(version.earned, 2),
        "potential_before": round(previous.potential, 2),
        "potential_after": round(version.potential, 2),
        "missed_before": round(previous.missed, 2),
        "missed_after": round(version.missed, 2),
        "meters_changed": changed,
        "meters_added": added,
        "meters_removed": removed,
        "largest": largest,
    }


def supersede(month: date, name: str, leap_updated_at: datetime | None) -> None:
    """Record a version Leap lists that a newer one replaced before we first synced the month."""
    report, _ = RevenueReport.objects.get_or_create(month=month)
    ReportVersion.objects.update_or_create(
        report=report,
        version=name,
        defaults={
            "number": _number(name),
            "state": ReportVersion.State.SUPERSEDED,
            "leap_updated_at": leap_updated_at,
        },
    )


# --- diagnosis -----------------------------------------------------------------------------------


def fetch_diagnosis(client: LeapClient, run: RevenueSyncRun, month: date) -> int:
    """Replace a month's never/rarely-responding meters with Leap's current diagnosis."""
    found: list[MeterResponsiveness] = []
    now = timezone.now()
    failures: list[Any] = []
    for page in client.iter_unresponsive_pages(
        month_text(month), historical_responsiveness=UNRESPONSIVE
    ):
        failures.extend(page.failures)
        for item in page:
            found.append(
                MeterResponsiveness(
                    month=month,
                    meter_id=item.meter_id,
                    program=item.program,
                    transmission_region=item.transmission_region,
                    partner_reference=item.partner_reference or "",
                    customer_name=item.customer_name or "",
                    historical_responsiveness=item.historical_responsiveness,
                    response_percentage=item.response_percentage,
                    events=item.number_of_events,
                    missed_revenue=item.missed_revenue,
                    nomination_w=item.nomination_w,
                    fetched_at=now,
                )
            )
    with transaction.atomic():
        MeterResponsiveness.objects.filter(month=month).delete()
        # Leap may list a meter × program twice across pages: the last one wins.
        unique = {(r.meter_id, r.program): r for r in found}
        MeterResponsiveness.objects.bulk_create(unique.values(), batch_size=2000)
        for failure in failures:
            _keep_invalid(run, None, month, "diagnosis row", failure)
        RevenueReport.objects.filter(month=month).update(diagnosis_fetched_at=now)
    run.invalid += len(failures)
    return len(found)


# --- the run -------------------------------------------------------------------------------------


def run_sync(client: LeapClient, run: RevenueSyncRun) -> RevenueSyncRun:
    """List the window's versions, fetch the new ones, refresh the diagnosis; finish the run."""
    now = timezone.now()
    first, last = window(now, settings.REVENUE_SYNC_MONTHS)
    listed = client.list_report_versions(month_text(first), month_text(last))
    held = ReportVersion.objects.filter(report__month__range=(first, last))
    known_months = set(
        held.filter(state=ReportVersion.State.COMPLETE).values_list("report__month", flat=True)
    )
    # Complete or superseded: nothing more to fetch. Invalid or half-fetched: tried again.
    complete_ones = set(
        held.filter(
            state__in=[ReportVersion.State.COMPLETE, ReportVersion.State.SUPERSEDED]
        ).values_list("report__month", "version")
    )
    listed_new = sorted(
        (
            (parse_month(v.settlement_period.period_start), v.version, v.updated_at)
            for v in listed
            if (parse_month(v.settlement_period.period_start), v.version) not in complete_ones
        ),
        key=lambda t: (t[0], _number(t[1])),
    )
    # A month seen for the first time: only its newest version is fetched; the older ones are
    # recorded as superseded. A month we hold: every new version, oldest first.
    newest: dict[date, int] = {}
    for month, name, _ in listed_new:
        newest[month] = max(newest.get(month, 0), _number(name))
    todo = []
    for month, name, updated_at in listed_new:
        if month not in known_months and _number(name) < newest[month]:
            supersede(month, name, updated_at)
        else:
            todo.append((month, name, updated_at))
    run.versions_found = len(todo)
    RevenueSyncRun.objects.filter(pk=run.pk).update(
        versions_found=len(todo), progress_total=len(todo) + 1
    )
    changed_months: set[date] = set()
    for number, (month, name, updated_at) in enumerate(todo, start=1):
        version = fetch_version(client, run, month, name, updated_at)
        if version is not None:
            run.versions_fetched += 1
            changed_months.add(month)
        _heartbeat(
            run,
            progress_done=number,
            versions_fetched=run.versions_fetched,
            rows_written=run.rows_written,
            invalid=run.invalid,
        )
    stale = now - DIAGNOSIS_REFRESH
    for report in RevenueReport.objects.filter(month__range=(first, last)).exclude(
        current_version=None
    ):
        if (
            report.month in changed_months
            or report.diagnosis_fetched_at is None
            or (report.status == ReportStatus.PRELIMINARY and report.diagnosis_fetched_at < stale)
        ):
            fetch_diagnosis(client, run, report.month)
    if run.versions_fetched:
        # 100,000 new rows a version: the planner needs fresh statistics to read the pages'
        # rankings from their indexes (bench/revenue.py: page 40 of the at-risk ranking went
        # from a 200 ms sort to an index scan).
        with connection.cursor() as cursor:
            for model in (MeterRevenue, MeterResponsiveness):
                cursor.execute(f"ANALYZE {model._meta.db_table}")  # noqa: S608 - our table names
    run.status = RevenueSyncRun.Status.DONE
    run.progress_done = run.progress_total = len(todo) + 1
    run.finished_at = run.heartbeat_at = timezone.now()
    run.save()
    return run


def months_of(reports: Iterable[RevenueReport]) -> list[str]:
    return [month_text(r.month) for r in reports]
