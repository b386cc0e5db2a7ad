"""The evaluation pass: raise an alert for every live cause, resolve those whose cause is gone.

Every cause is computed by one set-based query into a temporary table `alert_cause` (kind, key,
what it is about); three statements then raise the new ones (INSERT ... ON CONFLICT DO NOTHING on
the one-unresolved-alert-per-cause index), refresh changed titles, and resolve the alerts whose
cause is no longer listed, each writing its AlertChange rows in the same statement. So one pass
costs a handful of queries whatever the number of meters, actions or users (bench/alerts.py).

Causes:
- new_action: an open partner action first seen within ALERTS_NEW_ACTION_HOURS nobody worked yet;
- deadline_7d / deadline_1d / overdue: an open partner action (not marked done) by its deadline;
- dispatch_unready: a group dispatch starting within ALERTS_DISPATCH_LOOKAHEAD_HOURS with members
  that are not ACTIVE, not mapped to our customers, or unknown to us;
- unknown_meter: a dispatch event (not ended, not cancelled) for a meter we do not have;
- meter_missing: a meter a full sync no longer saw;
- sync_problem / reconcile_problem: the last run failed, is held, or the last good one is stale;
- webhook_spike: ALERTS_WEBHOOK_SPIKE_COUNT refused requests within ALERTS_WEBHOOK_SPIKE_MINUTES.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from alerts.models import Alert, AlertChange, CounterSample
from dispatch.models import DispatchDelivery, ReconcileRun
from leapportal.models import WebhookAuthFailure
from meters.models import SyncRun, WebhookDelivery

# pg_advisory_xact_lock key: two passes never interleave (beat and a manual run, say).
_LOCK_KEY = 0x41_4C_45_52  # "ALER"

K = Alert.Kind

_CAUSE_TABLE = """
CREATE TEMP TABLE alert_cause (
    kind text NOT NULL, key text NOT NULL, severity text NOT NULL, title text NOT NULL,
    details jsonb NOT NULL DEFAULT '{}', meter_id uuid, action_id bigint, timeslot_id bigint,
    due_at timestamptz
) ON COMMIT DROP
"""

_ACTION_BASE = """
FROM meters_requiredaction ra
JOIN meters_meter m ON m.meter_id = ra.meter_id
LEFT JOIN ops_actionworkitem w ON w.action_id = ra.id
WHERE ra.side = 'partner' AND ra.resolved_at IS NULL
  AND m.missing_since IS NULL AND NOT m.is_archived
"""

_ACTION_TITLE = "ra.code || ' on ' || COALESCE(NULLIF(m.partner_reference, ''), m.meter_id::text)"

_SQL_CAUSES: dict[str, str] = {
    # new partner actions nobody has worked yet
    "new_action": f"""
INSERT INTO alert_cause (kind, key, severity, title, details, meter_id, action_id, due_at)
SELECT 'new_action', 'a' || ra.id, 'info', 'New action ' || {_ACTION_TITLE},
       jsonb_build_object('code', ra.code, 'description', left(ra.description, 300)),
       ra.meter_id, ra.id, ra.deadline
{_ACTION_BASE}
  AND ra.first_seen_at > %(new_since)s AND COALESCE(w.state, 'new') = 'new'
""",
    # deadlines within 7 days, within 1 day, passed (one of the three per action)
    "deadline": f"""
INSERT INTO alert_cause (kind, key, severity, title, details, meter_id, action_id, due_at)
SELECT CASE WHEN ra.deadline <= %(now)s THEN 'overdue'
            WHEN ra.deadline <= %(now)s + interval '1 day' THEN 'deadline_1d'
            ELSE 'deadline_7d' END,
       'a' || ra.id,
       CASE WHEN ra.deadline <= %(now)s + interval '1 day' THEN 'critical' ELSE 'warning' END,
       CASE WHEN ra.deadline <= %(now)s THEN 'Overdue: ' ELSE 'Due soon: ' END || {_ACTION_TITLE},
       jsonb_build_object('code', ra.code, 'state', COALESCE(w.state, 'new')),
       ra.meter_id, ra.id, ra.deadline
{_ACTION_BASE}
  AND ra.deadline IS NOT NULL AND ra.deadline <= %(now)s + interval '7 days'
  AND COALESCE(w.state, 'new') <> 'done'
""",
    # a group dispatch soon whose members are not all ACTIVE, mapped and known
    "dispatch_unready": """
INSERT INTO alert_cause (kind, key, severity, title, details, timeslot_id, due_at)
SELECT 'dispatch_unready', 't' || ts.id, 'critical',
       format('%%s of %%s members not ready for the dispatch of %%s',
              count(*) FILTER (WHERE m.meter_id IS NULL
                               OR m.global_enrollment_status <> 'ACTIVE'
                               OR mm.meter_id IS NULL),
              count(*), COALESCE(NULLIF(g.name, ''), ts.market_group_uuid::text, 'a group')),
       jsonb_build_object(
           'members', count(*),
           'not_active', count(*) FILTER (WHERE m.global_enrollment_status <> 'ACTIVE'),
           'unmapped', count(*) FILTER (WHERE mm.meter_id IS NULL),
           'unknown', count(*) FILTER (WHERE m.meter_id IS NULL),
           'group', COALESCE(NULLIF(g.name, ''), ts.market_group_uuid::text),
           'event_id', ts.event_id::text),
       ts.id, ts.start_time
FROM dispatch_dispatchtimeslot ts
JOIN dispatch_dispatchallocation al ON al.timeslot_id = ts.id
LEFT JOIN meters_marketgroup g ON g.market_group_id = ts.market_group_id
LEFT JOIN meters_meter m ON m.meter_id = al.meter_id
LEFT JOIN mapping_metermapping mm ON mm.meter_id = al.meter_uuid
WHERE ts.level = 'group' AND NOT ts.cancelled AND NOT ts.integration_test
  AND ts.start_time > %(now)s AND ts.start_time <= %(dispatch_until)s
GROUP BY ts.id, g.name
HAVING count(*) FILTER (WHERE m.meter_id IS NULL OR m.global_enrollment_status <> 'ACTIVE'
                        OR mm.meter_id IS NULL) > 0
""",
    # dispatch events (not ended, not cancelled) naming a meter we do not have
    "unknown_meter": """
INSERT INTO alert_cause (kind, key, severity, title, details, meter_id, timeslot_id, due_at)
SELECT 'unknown_meter', 'm' || u.meter_uuid, 'warning',
       'Dispatch events for a meter we do not know: ' || u.meter_uuid,
       jsonb_build_object('events', count(DISTINCT u.ts_id)),
       u.meter_uuid, min(u.ts_id), min(u.start_time)
FROM (
    SELECT al.meter_uuid, ts.id AS ts_id, ts.start_time
    FROM dispatch_dispatchallocation al
    JOIN dispatch_dispatchtimeslot ts ON ts.id = al.timeslot_id
    WHERE al.meter_id IS NULL AND NOT ts.cancelled AND NOT ts.integration_test
      AND ts.end_time > %(now)s
    UNION
    SELECT ts.meter_uuid, ts.id, ts.start_time
    FROM dispatch_dispatchtimeslot ts
    WHERE ts.level = 'meter' AND ts.meter_id IS NULL AND ts.meter_uuid IS NOT NULL
      AND NOT ts.cancelled AND NOT ts.integration_test AND ts.end_time > %(now)s
) u
GROUP BY u.meter_uuid
""",
    # meters a full sync no longer saw
    "meter_missing": """
INSERT INTO alert_cause (kind, key, severity, title, details, meter_id, due_at)
SELECT 'meter_missing', 'm' || m.meter_id, 'warning',
       COALESCE(NULLIF(m.partner_reference, ''), m.meter_id::text)
           || ' went missing from Leap''s portfolio',
       jsonb_build_object('customer', COALESCE(m.end_customer_name, '')),
       m.meter_id, m.missing_since
FROM meters_meter m
WHERE m.missing_since IS NOT NULL AND NOT m.is_archived
""",
}

_RAISE = """
WITH raised AS (
    INSERT INTO alerts_alert (kind, key, status, severity, title, details, meter_id, action_id,
                              timeslot_id, due_at, raised_at, updated_at)
    SELECT kind, key, 'open', severity, title, details, meter_id, action_id, timeslot_id, due_at,
           %(now)s, %(now)s
    FROM alert_cause ORDER BY kind, due_at NULLS LAST, key
    ON CONFLICT (kind, key) WHERE resolved_at IS NULL DO NOTHING
    RETURNING id
)
INSERT INTO alerts_alertchange (alert_id, at, from_status, to_status, note)
SELECT id, %(now)s, '', 'open', 'raised' FROM raised
"""

_REFRESH = """
UPDATE alerts_alert a
SET title = c.title, details = c.details, due_at = c.due_at, severity = c.severity,
    updated_at = %(now)s
FROM alert_cause c
WHERE a.resolved_at IS NULL AND a.kind = c.kind AND a.key = c.key
  AND (a.title, a.details, a.due_at, a.severity)
      IS DISTINCT FROM (c.title, c.details, c.due_at, c.severity)
"""

_RESOLVE = """
WITH gone AS (
    SELECT a.id, a.status FROM alerts_alert a
    WHERE a.resolved_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM alert_cause c WHERE c.kind = a.kind AND c.key = a.key)
    FOR UPDATE OF a
), resolved AS (
    UPDATE alerts_alert a
    SET status = 'resolved', resolved_at = %(now)s, updated_at = %(now)s, snoozed_until = NULL
    FROM gone WHERE a.id = gone.id
    RETURNING a.id, gone.status AS old
)
INSERT INTO alerts_alertchange (alert_id, at, from_status, to_status, note)
SELECT id, %(now)s, old, 'resolved', 'cause gone' FROM resolved
"""

_WAKE = """
WITH woken AS (
    UPDATE alerts_alert SET status = 'open', snoozed_until = NULL, updated_at = %(now)s
    WHERE status = 'snoozed' AND snoozed_until <= %(now)s
    RETURNING id
)
INSERT INTO alerts_alertchange (alert_id, at, from_status, to_status, note)
SELECT id, %(now)s, 'snoozed', 'open', 'snooze ended' FROM woken
"""


@dataclass
class PassResult:
    """What one evaluation pass did."""

    raised: int = 0
    resolved: int = 0
    refreshed: int = 0
    woken: int = 0
    causes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def evaluate(now: datetime | None = None) -> PassResult:
    """Run one pass: raise, refresh and resolve every kind of alert; wake ended snoozes."""
    started = timezone.now()
    now = now or started
    result = PassResult()
    params = {
        "now": now,
        "new_since": now - timedelta(hours=settings.ALERTS_NEW_ACTION_HOURS),
        "dispatch_until": now + timedelta(hours=settings.ALERTS_DISPATCH_LOOKAHEAD_HOURS),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        cursor.execute(_CAUSE_TABLE)
        for sql in _SQL_CAUSES.values():
            cursor.execute(sql, params)
        rows = _run_causes(now) + _webhook_causes(now)
        if rows:
            cursor.executemany(
                "INSERT INTO alert_cause (kind, key, severity, title, details, due_at) "
                "VALUES (%s, %s, %s, %s, %s::jsonb, %s)",
                [
                    (r["kind"], r["key"], r["severity"], r["title"], json.dumps(r["details"]),
                     r.get("due_at"))
                    for r in rows
                ],
            )  # fmt: skip
        cursor.execute("CREATE INDEX ON alert_cause (kind, key)")
        cursor.execute("ANALYZE alert_cause")
        cursor.execute("SELECT kind, count(*) FROM alert_cause GROUP BY kind")
        result.causes = dict(cursor.fetchall())
        cursor.execute(_RAISE, params)
        result.raised = cursor.rowcount
        cursor.execute(_REFRESH, params)
        result.refreshed = cursor.rowcount
        cursor.execute(_RESOLVE, params)
        result.resolved = cursor.rowcount
        cursor.execute(_WAKE, params)
        result.woken = cursor.rowcount
        # ON COMMIT DROP drops it at the commit; inside an outer transaction (tests) there is none.
        cursor.execute("DROP TABLE alert_cause")
    result.seconds = (timezone.now() - started).total_seconds()
    return result


# --- causes computed from a few rows -------------------------------------------------------------


def _age(now: datetime, then: datetime) -> str:
    minutes = int((now - then).total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // 1440} days"


def _run_causes(now: datetime) -> list[dict[str, Any]]:
    """The meter sync and the dispatch reconcile: failed, held, or stale."""
    rows: list[dict[str, Any]] = []
    syncs = SyncRun.objects.filter(kind__in=["full", "incremental"])
    last = syncs.exclude(finished_at=None).order_by("-finished_at").first()
    if last is not None and last.status == SyncRun.Status.FAILED:
        rows.append({
            "kind": K.SYNC_PROBLEM, "key": "meter-sync-failed", "severity": "critical",
            "title": f"The {last.kind} meter sync #{last.pk} failed: {last.error[:200]}",
            "details": {"run": last.pk}, "due_at": last.finished_at,
        })  # fmt: skip
    held = syncs.filter(status=SyncRun.Status.HELD).order_by("-created_at").first()
    if held is not None:
        rows.append({
            "kind": K.SYNC_PROBLEM, "key": "meter-sync-held", "severity": "warning",
            "title": f"Sync #{held.pk} would mark {len(held.held_meter_ids)} meters missing: "
                     "it waits for an admin's approval",
            "details": {"run": held.pk}, "due_at": held.finished_at,
        })  # fmt: skip
    good = (
        syncs.filter(status__in=["done", "held"])
        .exclude(finished_at=None)
        .order_by("-finished_at")
        .first()
    )
    stale_after = timedelta(minutes=settings.DASHBOARD_SYNC_STALE_MINUTES)
    if good is None or now - good.finished_at > stale_after:
        rows.append({
            "kind": K.SYNC_PROBLEM, "key": "meter-sync-stale", "severity": "warning",
            "title": "No meter sync has finished yet" if good is None else
                     f"Meter data is stale: the last good sync finished "
                     f"{_age(now, good.finished_at)} ago",
            "details": {}, "due_at": good.finished_at if good else None,
        })  # fmt: skip

    last_rec = ReconcileRun.objects.exclude(finished_at=None).order_by("-finished_at").first()
    if last_rec is not None and last_rec.status == ReconcileRun.Status.FAILED:
        rows.append({
            "kind": K.RECONCILE_PROBLEM, "key": "reconcile-failed", "severity": "critical",
            "title": f"The dispatch reconcile failed: {last_rec.error[:200]}",
            "details": {"run": last_rec.pk}, "due_at": last_rec.finished_at,
        })  # fmt: skip
    good_rec = (
        ReconcileRun.objects.filter(status=ReconcileRun.Status.DONE)
        .exclude(finished_at=None)
        .order_by("-finished_at")
        .first()
    )
    rec_after = timedelta(minutes=settings.DASHBOARD_DISPATCH_STALE_MINUTES)
    if good_rec is not None and now - good_rec.finished_at > rec_after:
        rows.append({
            "kind": K.RECONCILE_PROBLEM, "key": "reconcile-stale", "severity": "warning",
            "title": f"Dispatches were last reconciled with Leap "
                     f"{_age(now, good_rec.finished_at)} ago",
            "details": {}, "due_at": good_rec.finished_at,
        })  # fmt: skip
    return rows


_AUTH_COUNTER = "dispatch_auth_failures"


def _refused_dispatch_auth(now: datetime, since: datetime) -> int:
    """Dispatch requests refused for their secret since `since`, from the daily counters.

    The counters only say how many per day, so each pass samples their total: the increase since
    the latest sample at or before `since` is the count within the window.
    """
    total = WebhookAuthFailure.objects.aggregate(n=Sum("count"))["n"] or 0
    samples = CounterSample.objects.filter(name=_AUTH_COUNTER)
    baseline = (
        samples.filter(at__lte=since).order_by("-at").first() or samples.order_by("at").first()
    )
    CounterSample.objects.create(name=_AUTH_COUNTER, at=now, value=total)
    if baseline is None:
        return 0
    samples.filter(at__lt=baseline.at).delete()  # the baseline stays for the next pass
    return max(0, total - baseline.value)


def _webhook_causes(now: datetime) -> list[dict[str, Any]]:
    """A spike of refused requests (bad secret, bad body) at either webhook receiver."""
    window = settings.ALERTS_WEBHOOK_SPIKE_MINUTES
    since = now - timedelta(minutes=window)
    counts = {
        "meter": WebhookDelivery.objects.filter(
            received_at__gt=since,
            status__in=[WebhookDelivery.Status.UNAUTHORIZED, WebhookDelivery.Status.REJECTED],
        ).count(),
        "dispatch": DispatchDelivery.objects.filter(
            received_at__gt=since, status=DispatchDelivery.Status.REJECTED
        ).count()
        + _refused_dispatch_auth(now, since),
    }
    rows = []
    for receiver, count in counts.items():
        if count >= settings.ALERTS_WEBHOOK_SPIKE_COUNT:
            rows.append({
                "kind": K.WEBHOOK_SPIKE, "key": f"webhooks-{receiver}", "severity": "critical",
                "title": f"The {receiver} webhook receiver refused {count} requests "
                         f"in {window} min",
                "details": {"refused": count, "minutes": window},
            })  # fmt: skip
    return rows


# --- people's changes ----------------------------------------------------------------------------


@transaction.atomic
def change_status(
    alert: Alert, to_status: str, *, by: Any, until: datetime | None = None, note: str = ""
) -> bool:
    """Acknowledge, snooze (until a time) or reopen a live alert; recorded. False: nothing to do.

    Resolving is the pass's job (the cause is gone); a resolved alert cannot be changed.
    """
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.resolved_at is not None:
        raise ValueError("this alert is resolved: its cause is gone")
    if to_status not in (Alert.Status.OPEN, Alert.Status.ACKNOWLEDGED, Alert.Status.SNOOZED):
        raise ValueError(f"cannot move an alert to {to_status!r}")
    if to_status == Alert.Status.SNOOZED and (until is None or until <= timezone.now()):
        raise ValueError("a snooze needs a time in the future")
    if alert.status == to_status and alert.snoozed_until == until:
        return False
    now = timezone.now()
    AlertChange.objects.create(
        alert=alert, at=now, by=by, from_status=alert.status, to_status=to_status, note=note
    )
    alert.status = to_status
    alert.snoozed_until = until if to_status == Alert.Status.SNOOZED else None
    alert.updated_at = now
    alert.save(update_fields=["status", "snoozed_until", "updated_at"])
    return True


def acknowledge_all(alerts: Any, *, by: Any) -> int:
    """Acknowledge every open alert of a queryset at once (one statement), each change recorded."""
    ids = alerts.filter(status=Alert.Status.OPEN, resolved_at__isnull=True).values("id")
    sql, params = ids.query.sql_with_params()
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH acked AS (
                UPDATE alerts_alert SET status = 'acknowledged', updated_at = %s
                WHERE id IN ({sql}) AND status = 'open' AND resolved_at IS NULL
                RETURNING id
            )
            INSERT INTO alerts_alertchange (alert_id, at, by_id, from_status, to_status, note)
            SELECT id, %s, %s, 'open', 'acknowledged', 'acknowledged with all matching' FROM acked
            """,  # noqa: S608 - the inner SELECT is the ORM's, with its parameters
            [now, *params, now, getattr(by, "pk", None)],
        )
        return cursor.rowcount
