"""Follow-through: each created meter linked to our customer/site, and followed to ACTIVE.

The steps are submitted -> created (Leap made the meter) -> ELIGIBLE -> ACTIVE, read from the
meter's global enrollment status as the meter sync stores it (Leap's global status is the best of
its programs'). Each step's start is stamped when first seen, so the funnel shows the
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


# One pass over the assets, grouped by job: every asset of a job was onboarded for the job's
# programs, so the per-program and total rows are sums of job rows (merged in Python). Averages
# are carried as (sum, count) so they merge exactly.
FUNNEL_SQL = """
SELECT a.job_id,
       count(*) FILTER (WHERE a.stage <> 'failed') AS submitted,
       count(*) FILTER (WHERE a.stage IN ('created', 'eligible', 'active')) AS created,
       count(*) FILTER (WHERE a.stage IN ('eligible', 'active')) AS eligible,
       count(*) FILTER (WHERE a.stage = 'active') AS active,
       count(*) FILTER (WHERE a.stage = 'failed' AND a.resubmitted_in_id IS NULL) AS failed,
       count(*) FILTER (WHERE a.stage IN ('created', 'eligible')
                        AND a.stage_since < %(cutoff)s) AS stuck,
       sum(extract(epoch FROM a.created_at - a.submitted_at)),
       count(a.created_at - a.submitted_at),
       sum(extract(epoch FROM a.eligible_at - a.created_at)),
       count(a.eligible_at - a.created_at),
       sum(extract(epoch FROM a.active_at - a.eligible_at)),
       count(a.active_at - a.eligible_at),
       sum(extract(epoch FROM %(now)s - a.stage_since))
           FILTER (WHERE a.stage IN ('submitted', 'created', 'eligible')),
       count(*) FILTER (WHERE a.stage IN ('submitted', 'created', 'eligible'))
FROM onboarding_asset a
GROUP BY a.job_id
"""
COUNTS = ("submitted", "created", "eligible", "active", "failed", "stuck")
DURATIONS = ("days_to_create", "days_to_eligible", "days_to_active", "days_waiting")


class _Row:
    """Counts and (seconds, n) sums of one funnel row; merges by adding."""

    def __init__(self, key: Any) -> None:
        self.key = key
        self.counts = dict.fromkeys(COUNTS, 0)
        self.sums = {d: [0.0, 0] for d in DURATIONS}

    def add(self, counts: tuple[int, ...], sums: tuple[Any, ...]) -> None:
        for name, value in zip(COUNTS, counts, strict=True):
            self.counts[name] += value
        for i, name in enumerate(DURATIONS):
            total, n = sums[2 * i], sums[2 * i + 1]
            if n:
                self.sums[name][0] += float(total or 0)
                self.sums[name][1] += n

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, **self.counts}
        for name, (total, n) in self.sums.items():
            out[name] = total / n / 86400 if n else None
        return out


def funnel(now: datetime, *, jobs: int = 25) -> dict[str, Any]:
    """The funnel per program and per job (the most recent `jobs`), plus the totals."""
    from onboarding.models import Job

    with connection.cursor() as cursor:
        cursor.execute(FUNNEL_SQL, {"now": now, "cutoff": stuck_cutoff(now)})
        per_job_rows = {row[0]: row[1:] for row in cursor.fetchall()}
    programs_of = dict(Job.objects.filter(pk__in=list(per_job_rows)).values_list("pk", "programs"))
    total = _Row("all")
    per_program: dict[str, _Row] = {}
    per_job: dict[int, _Row] = {}
    for job_id, values in per_job_rows.items():
        counts, sums = values[: len(COUNTS)], values[len(COUNTS) :]
        total.add(counts, sums)
        for program in programs_of.get(job_id) or ["(no program)"]:
            per_program.setdefault(program, _Row(program)).add(counts, sums)
        per_job[job_id] = _Row(job_id)
        per_job[job_id].add(counts, sums)
    recent = sorted(per_job, reverse=True)[:jobs]
    return {
        "programs": sorted(
            (r.as_dict() for r in per_program.values()), key=lambda r: (-r["submitted"], r["key"])
        ),
        "jobs": [per_job[j].as_dict() for j in recent],
        "total": total.as_dict() if per_job_rows else None,
    }
