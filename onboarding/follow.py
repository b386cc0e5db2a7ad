"""Follow-through: each created meter linked to our customer/site, and followed to ACTIVE.

The steps are submitted -> created (Leap made the meter) -> ELIGIBLE -> ACTIVE. ELIGIBLE and
ACTIVE are per program: Leap enrolls a meter in each program on its own (one enrollment per
program and delivery period), so each program the asset was onboarded for has its ProgramStep, read from the meter's enrollment rows of
that program as the meter sync stores them, never from the global status (the best of the
programs': ACTIVE in one program and PENDING in another reads ACTIVE). The asset's own step
(per job and in total) is as far as its slowest program. Each step's start is stamped when first
seen, so the funnel shows the days spent in each. A meter that has spent more than
ONBOARDING_STUCK_DAYS in one step before ACTIVE, in one of its programs, is stuck: it is listed,
with its open required actions, in the action queue's lane.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from mapping import actions as mapping_actions
from meters.models import Meter, RequiredAction
from onboarding.models import Asset, FunnelSum, Job, ProgramStep

logger = logging.getLogger("onboarding")
LINK_BATCH = 2000


# Each open step from its own program's enrollment: the best status over the program's rows (one
# per delivery period), as Leap's global status is the best of the programs'; the
# "" step of a job that named no program follows the global status. A step only moves on.
STAMP_SQL = """
WITH seen AS (
    SELECT s.id, s.stage,
           CASE WHEN s.program = '' THEN m.global_enrollment_status
                ELSE (SELECT CASE WHEN bool_or(e.enrollment_status = 'ACTIVE') THEN 'ACTIVE'
                                  WHEN bool_or(e.enrollment_status = 'ELIGIBLE') THEN 'ELIGIBLE'
                             END
                      FROM meters_programenrollment e
                      WHERE e.meter_id = a.meter_id AND e.program_identifier = s.program)
           END AS status
    FROM onboarding_programstep s
    JOIN onboarding_asset a ON a.id = s.asset_id
    JOIN meters_meter m ON m.meter_id = a.meter_id
    WHERE s.stage IN ('created', 'eligible')
)
UPDATE onboarding_programstep s SET
    eligible_at = COALESCE(s.eligible_at, %(now)s),
    active_at = CASE WHEN seen.status = 'ACTIVE' THEN %(now)s ELSE s.active_at END,
    stage = CASE WHEN seen.status = 'ACTIVE' THEN 'active' ELSE 'eligible' END,
    stage_since = %(now)s
FROM seen
WHERE s.id = seen.id
  AND (seen.status = 'ACTIVE' OR (seen.status = 'ELIGIBLE' AND seen.stage = 'created'))
RETURNING s.asset_id
"""

# The asset is as far as its slowest program: ELIGIBLE once ELIGIBLE (or ACTIVE) in all of them
# (at the last one's time), ACTIVE once ACTIVE in all. Its stage_since is how long its slowest
# program has waited in the asset's step, so the asset is stuck exactly when one of its programs
# is (the stuck lane and its count need no join).
ROLLUP_SQL = """
UPDATE onboarding_asset a SET
    stage = r.stage, stage_since = r.since, eligible_at = r.eligible_at, active_at = r.active_at
FROM (
    SELECT s.asset_id,
           CASE WHEN bool_and(s.stage = 'active') THEN 'active'
                WHEN bool_and(s.stage <> 'created') THEN 'eligible'
                ELSE 'created' END AS stage,
           CASE WHEN bool_and(s.stage = 'active') THEN max(s.active_at)
                WHEN bool_and(s.stage <> 'created') THEN min(s.stage_since)
                                                          FILTER (WHERE s.stage = 'eligible')
                ELSE min(s.stage_since) FILTER (WHERE s.stage = 'created') END AS since,
           CASE WHEN bool_and(s.stage <> 'created') THEN max(s.eligible_at) END AS eligible_at,
           CASE WHEN bool_and(s.stage = 'active') THEN max(s.active_at) END AS active_at
    FROM onboarding_programstep s
    WHERE s.asset_id = ANY(%(assets)s)
    GROUP BY s.asset_id
) r
WHERE a.id = r.asset_id
RETURNING a.job_id
"""


def stamp_steps(now: datetime | None = None) -> int:
    """Move each created asset's program steps on when its meter's enrollment in that program
    says so, then the assets' own steps; returns how many program steps moved."""
    now = now or timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(STAMP_SQL, {"now": now})
        moved = [row[0] for row in cursor.fetchall()]
        if moved:
            cursor.execute(ROLLUP_SQL, {"assets": sorted(set(moved))})
            refresh_funnel(row[0] for row in cursor.fetchall())
    return len(moved)


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


NO_PROGRAM = "(no program)"  # how a job that named no program is shown and filtered


def stuck_assets(now: datetime, program: str | None = None) -> Any:
    """Assets stuck before ACTIVE (oldest first): in one of their programs, or in `program`."""
    query = Asset.objects.filter(
        stage__in=(Asset.Stage.CREATED, Asset.Stage.ELIGIBLE), stage_since__lt=stuck_cutoff(now)
    )
    if program:
        query = query.filter(
            Exists(
                ProgramStep.objects.filter(
                    asset=OuterRef("pk"),
                    program="" if program == NO_PROGRAM else program,
                    stage__in=(Asset.Stage.CREATED, Asset.Stage.ELIGIBLE),
                    stage_since__lt=stuck_cutoff(now),
                )
            )
        )
    return query.select_related("job").order_by("stage_since")


def attach_actions(assets: list[Asset]) -> None:
    """Each asset's program steps (`asset.program_steps`) and open required actions
    (`asset.actions`), in two queries."""
    steps: dict[int, list[ProgramStep]] = {}
    for step in ProgramStep.objects.filter(asset__in=[a.pk for a in assets]).order_by("program"):
        steps.setdefault(step.asset_id, []).append(step)
    ids = [a.meter_id for a in assets if a.meter_id]
    by_meter: dict[Any, list[RequiredAction]] = {}
    for action in RequiredAction.objects.filter(
        meter_id__in=ids, resolved_at__isnull=True
    ).order_by("deadline"):
        by_meter.setdefault(action.meter_id, []).append(action)
    for asset in assets:
        asset.program_steps = steps.get(asset.pk, [])  # type: ignore[attr-defined]
        asset.actions = by_meter.get(asset.meter_id, [])  # type: ignore[attr-defined]


# The sums of some jobs, from their assets (grouped by job: the per-job and total rows, and the
# steps that do not depend on the program: submitted, created, failed, days to create, waiting to
# be created) and their program steps (grouped by job and program: ELIGIBLE and ACTIVE in each
# program, from its own enrollment status). The jobs' rows are replaced in one transaction.
REFRESH_SQL = """
INSERT INTO onboarding_funnelsum (job_id, program, submitted, created, eligible, active, failed,
    create_seconds, create_n, eligible_seconds, eligible_n, active_seconds, active_n,
    waiting_submitted_n, waiting_submitted_epochs, waiting_open_n, waiting_open_epochs)
SELECT a.job_id, NULL,
       count(*) FILTER (WHERE a.stage <> 'failed'),
       count(*) FILTER (WHERE a.stage IN ('created', 'eligible', 'active')),
       count(*) FILTER (WHERE a.stage IN ('eligible', 'active')),
       count(*) FILTER (WHERE a.stage = 'active'),
       count(*) FILTER (WHERE a.stage = 'failed' AND a.resubmitted_in_id IS NULL),
       COALESCE(extract(epoch FROM sum(a.created_at - a.submitted_at)), 0),
       count(a.created_at - a.submitted_at),
       COALESCE(extract(epoch FROM sum(a.eligible_at - a.created_at)), 0),
       count(a.eligible_at - a.created_at),
       COALESCE(extract(epoch FROM sum(a.active_at - a.eligible_at)), 0),
       count(a.active_at - a.eligible_at),
       count(*) FILTER (WHERE a.stage = 'submitted'),
       COALESCE(sum(extract(epoch FROM a.stage_since)) FILTER (WHERE a.stage = 'submitted'), 0),
       count(*) FILTER (WHERE a.stage IN ('created', 'eligible')),
       COALESCE(sum(extract(epoch FROM a.stage_since))
                FILTER (WHERE a.stage IN ('created', 'eligible')), 0)
FROM onboarding_asset a
WHERE a.job_id = ANY(%(jobs)s)
GROUP BY a.job_id
UNION ALL
SELECT a.job_id, s.program, 0, 0,
       count(*) FILTER (WHERE s.stage IN ('eligible', 'active')),
       count(*) FILTER (WHERE s.stage = 'active'),
       0, 0, 0,
       COALESCE(extract(epoch FROM sum(s.eligible_at - s.created_at)), 0),
       count(s.eligible_at - s.created_at),
       COALESCE(extract(epoch FROM sum(s.active_at - s.eligible_at)), 0),
       count(s.active_at - s.eligible_at),
       0, 0,
       count(*) FILTER (WHERE s.stage IN ('created', 'eligible')),
       COALESCE(sum(extract(epoch FROM s.stage_since))
                FILTER (WHERE s.stage IN ('created', 'eligible')), 0)
FROM onboarding_programstep s
JOIN onboarding_asset a ON a.id = s.asset_id
WHERE a.job_id = ANY(%(jobs)s)
GROUP BY a.job_id, s.program
"""


def refresh_funnel(job_ids: Any) -> None:
    """Recompute the funnel sums of these jobs (after anything changed their assets or steps)."""
    jobs = sorted({int(j) for j in job_ids})
    if jobs:
        with transaction.atomic(), connection.cursor() as cursor:
            # One refresh of a job at a time (the next one's DELETE then sees these rows).
            cursor.execute(
                "SELECT 1 FROM onboarding_job WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE",
                [jobs],
            )
            cursor.execute("DELETE FROM onboarding_funnelsum WHERE job_id = ANY(%s)", [jobs])
            cursor.execute(REFRESH_SQL, {"jobs": jobs})


# Stuck depends on now: counted live, from the (stage, stage_since) indexes.
STUCK_SQL = """
SELECT a.job_id, NULL, count(*) FROM onboarding_asset a
WHERE a.stage IN ('created', 'eligible') AND a.stage_since < %(cutoff)s GROUP BY a.job_id
UNION ALL
SELECT NULL, s.program, count(*) FROM onboarding_programstep s
WHERE s.stage IN ('created', 'eligible') AND s.stage_since < %(cutoff)s GROUP BY s.program
"""
COUNTS = ("submitted", "created", "eligible", "active", "failed", "stuck")
# waiting_open: waiting in created or ELIGIBLE; waiting_submitted: waiting to be created.
SUMS = ("create", "eligible", "active", "waiting_submitted", "waiting_open")
# What a program row takes from its jobs' asset rows; the rest comes from its steps.
FROM_JOBS = (("submitted", "created", "failed"), ("create", "waiting_submitted"))


class _Row:
    """Counts and (seconds, n) sums of one funnel row; merges by adding."""

    def __init__(self, key: Any) -> None:
        self.key = key
        self.counts = dict.fromkeys(COUNTS, 0)
        self.sums = {d: [0.0, 0] for d in SUMS}

    def add(self, row: Any, now: float, counts: Any = COUNTS, sums: Any = SUMS) -> None:
        for name in counts:
            if name != "stuck":
                self.counts[name] += getattr(row, name)
        for name in sums:
            if name.startswith("waiting"):
                n = getattr(row, f"{name}_n")
                total = now * n - getattr(row, f"{name}_epochs")
            else:
                n = getattr(row, f"{name}_n")
                total = getattr(row, f"{name}_seconds")
            self.sums[name][0] += total
            self.sums[name][1] += n

    def as_dict(self) -> dict[str, Any]:
        def days(*names: str) -> float | None:
            total = sum(self.sums[n][0] for n in names)
            n = sum(self.sums[n][1] for n in names)
            return total / n / 86400 if n else None

        return {
            "key": self.key,
            **self.counts,
            "days_to_create": days("create"),
            "days_to_eligible": days("eligible"),
            "days_to_active": days("active"),
            "days_waiting": days("waiting_submitted", "waiting_open"),
        }


def funnel(now: datetime, *, jobs: int = 25) -> dict[str, Any]:
    """The funnel per program (each program's own steps) and per job (the most recent `jobs`),
    plus the totals; per job and in total an asset is as far as its slowest program."""
    epoch = now.timestamp()
    fields = [f.attname for f in FunnelSum._meta.concrete_fields if f.attname != "id"]
    rows = list(FunnelSum.objects.values_list(*fields, named=True))  # no model instances
    programs_of = dict(
        Job.objects.filter(pk__in={r.job_id for r in rows}).values_list("pk", "programs")
    )
    total = _Row("all")
    per_program: dict[str, _Row] = {}
    per_job: dict[int, _Row] = {}
    job_counts, job_sums = FROM_JOBS
    for row in rows:
        if row.program is None:
            total.add(row, epoch)
            per_job.setdefault(row.job_id, _Row(row.job_id)).add(row, epoch)
            for program in dict.fromkeys(programs_of.get(row.job_id) or [NO_PROGRAM]):
                per_program.setdefault(program, _Row(program)).add(row, epoch, job_counts, job_sums)
        else:
            key = row.program or NO_PROGRAM
            per_program.setdefault(key, _Row(key)).add(
                row, epoch, ("eligible", "active"), ("eligible", "active", "waiting_open")
            )
    with transaction.atomic(), connection.cursor() as cursor:
        # Two index-only scans of ~30,000 entries at 100,000 meters: parallel workers cost more
        # to start than they save (EXPLAIN ANALYZE: 22-30 ms with them, 12-18 ms without).
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        cursor.execute(STUCK_SQL, {"cutoff": stuck_cutoff(now)})
        for job_id, program, n in cursor.fetchall():
            if job_id is not None:
                total.counts["stuck"] += n
                if job_id in per_job:
                    per_job[job_id].counts["stuck"] += n
            else:
                key = program or NO_PROGRAM
                per_program.setdefault(key, _Row(key)).counts["stuck"] += n
    recent = sorted(per_job, reverse=True)[:jobs]
    return {
        "programs": sorted(
            (r.as_dict() for r in per_program.values()), key=lambda r: (-r["submitted"], r["key"])
        ),
        "jobs": [per_job[j].as_dict() for j in recent],
        "total": total.as_dict() if per_job else None,
    }
