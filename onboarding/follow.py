"""Follow-through: each created meter linked to our customer/site, and followed to ACTIVE.

The steps are submitted -> created (Leap made the meter) -> ELIGIBLE -> ACTIVE, read from the
meter's global enrollment status as the meter sync stores it (Leap's global status is the best of
its programs', DIGEST §3.3). Each step's start is stamped when first seen, so the funnel shows the
days spent in each. A meter that has spent more than ONBOARDING_STUCK_DAYS in one step before
ACTIVE is stuck: it is listed, with its open required actions, in the action queue's lane.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef
from django.utils import timezone

from mapping import actions as mapping_actions
from meters.models import Meter, RequiredAction
from onboarding.models import Asset

logger = logging.getLogger("onboarding")
LINK_BATCH = 2000


def stamp_steps(now: datetime | None = None) -> int:
    """Move created/eligible assets on when their meter's status says so; returns how many."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE onboarding_asset a SET
                eligible_at = COALESCE(a.eligible_at, %(now)s),
                active_at = CASE WHEN m.global_enrollment_status = 'ACTIVE'
                                 THEN %(now)s ELSE a.active_at END,
                stage = CASE WHEN m.global_enrollment_status = 'ACTIVE'
                             THEN 'active' ELSE 'eligible' END,
                stage_since = %(now)s
            FROM meters_meter m
            WHERE m.meter_id = a.meter_id
              AND a.stage IN ('created', 'eligible')
              AND (m.global_enrollment_status = 'ACTIVE'
                   OR (m.global_enrollment_status = 'ELIGIBLE' AND a.stage = 'created'))
            """,
            {"now": now},
        )
        return cursor.rowcount


def link_meters(limit: int = LINK_BATCH) -> dict[str, int]:
    """Link created meters the sync has stored to our customer/site (the mapping, audited)."""
    todo = list(
        Asset.objects.filter(
            meter_id__isnull=False, linked_at__isnull=True, link_error="", customer_id__gt=""
        )
        .filter(Exists(Meter.objects.filter(meter_id=OuterRef("meter_id"))))
        .select_related("job__submitted_by")
        .order_by("pk")[:limit]
    )
    done = {"linked": 0, "refused": 0}
    now = timezone.now()
    for asset in todo:
        actor = asset.job.submitted_by
        if actor is None or not actor.is_active:
            Asset.objects.filter(pk=asset.pk).update(
                link_error="the user who submitted the job no longer exists; link it by hand"
            )
            done["refused"] += 1
            continue
        try:
            mapping_actions.set_mapping(
                asset.meter_id,  # type: ignore[arg-type]
                customer_id=asset.customer_id,
                site_id=asset.site_id,
                label=asset.label,
                reason=f"onboarding job #{asset.job_id}, line {asset.line}",
                actor=actor,
                source="onb",
            )
        except mapping_actions.MappingRefused as exc:
            Asset.objects.filter(pk=asset.pk).update(link_error=str(exc)[:500])
            done["refused"] += 1
            continue
        Asset.objects.filter(pk=asset.pk).update(linked_at=now)
        done["linked"] += 1
    return done


def stuck_cutoff(now: datetime) -> datetime:
    """Meters in one step since before this are stuck."""
    return now - timedelta(days=settings.ONBOARDING_STUCK_DAYS)


def stuck_assets(now: datetime) -> Any:
    """Assets whose meter has been in one step before ACTIVE for too long (oldest first)."""
    return (
        Asset.objects.filter(
            stage__in=(Asset.Stage.CREATED, Asset.Stage.ELIGIBLE),
            stage_since__lt=stuck_cutoff(now),
        )
        .select_related("job")
        .order_by("stage_since")
    )


def attach_actions(assets: list[Asset]) -> None:
    """Each asset's open required actions (`asset.actions`), in one query."""
    ids = [a.meter_id for a in assets if a.meter_id]
    by_meter: dict[Any, list[RequiredAction]] = {}
    for action in RequiredAction.objects.filter(
        meter_id__in=ids, resolved_at__isnull=True
    ).order_by("deadline"):
        by_meter.setdefault(action.meter_id, []).append(action)
    for asset in assets:
        asset.actions = by_meter.get(asset.meter_id, [])  # type: ignore[attr-defined]


FUNNEL_SQL = """
SELECT {key} AS key,
       count(*) FILTER (WHERE a.stage <> 'failed') AS submitted,
       count(*) FILTER (WHERE a.stage IN ('created', 'eligible', 'active')) AS created,
       count(*) FILTER (WHERE a.stage IN ('eligible', 'active')) AS eligible,
       count(*) FILTER (WHERE a.stage = 'active') AS active,
       count(*) FILTER (WHERE a.stage = 'failed' AND a.resubmitted_in_id IS NULL) AS failed,
       count(*) FILTER (WHERE a.stage IN ('created', 'eligible')
                        AND a.stage_since < %(cutoff)s) AS stuck,
       avg(extract(epoch FROM a.created_at - a.submitted_at)) / 86400 AS days_to_create,
       avg(extract(epoch FROM a.eligible_at - a.created_at)) / 86400 AS days_to_eligible,
       avg(extract(epoch FROM a.active_at - a.eligible_at)) / 86400 AS days_to_active,
       avg(extract(epoch FROM %(now)s - a.stage_since)) FILTER (
           WHERE a.stage IN ('submitted', 'created', 'eligible')) / 86400 AS days_waiting
FROM onboarding_asset a {join}
{where}
GROUP BY 1 ORDER BY {order}
"""
COLUMNS = (
    "key",
    "submitted",
    "created",
    "eligible",
    "active",
    "failed",
    "stuck",
    "days_to_create",
    "days_to_eligible",
    "days_to_active",
    "days_waiting",
)


def _rows(sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [dict(zip(COLUMNS, row, strict=True)) for row in cursor.fetchall()]


def funnel(now: datetime, *, jobs: int = 25) -> dict[str, Any]:
    """The funnel per program and per job (the most recent `jobs`), plus the totals."""
    params = {"now": now, "cutoff": stuck_cutoff(now), "jobs": jobs}
    per_program = _rows(
        FUNNEL_SQL.format(
            key="p.program",
            join="CROSS JOIN LATERAL jsonb_array_elements_text(a.programs) AS p(program)",
            where="",
            order="2 DESC",
        ),
        params,
    )
    per_job = _rows(
        FUNNEL_SQL.format(
            key="a.job_id",
            join="",
            where="WHERE a.job_id IN (SELECT id FROM onboarding_job ORDER BY submitted_at DESC "
            "LIMIT %(jobs)s)",
            order="1 DESC",
        ),
        params,
    )
    total = _rows(FUNNEL_SQL.format(key="'all'", join="", where="", order="1"), params)
    return {
        "programs": per_program,
        "jobs": per_job,
        "total": total[0] if total else None,
    }
