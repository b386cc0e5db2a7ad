"""Follow-through: each created meter linked to our customer/site, and followed to ACTIVE.

The steps are submitted -> created (Leap made the meter) -> ELIGIBLE -> ACTIVE. ELIGIBLE and
ACTIVE are per program: Leap enrolls a meter in each program on its own (DIGEST §3.2), so each
program the asset was onboarded for has its ProgramStep, read from the meter's enrollment rows of
that program as the meter sync stores them, never from the global status (the best of the
programs', §3.3: ACTIVE in one program and PENDING in another reads ACTIVE). The asset's own step
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
from onboarding.models import Asset, ProgramStep

logger = logging.getLogger("onboarding")
LINK_BATCH = 2000


# Each open step from its own program's enrollment: the best status over the program's rows (one
# per delivery period), as Leap's global status is the best of the programs' (DIGEST §3.3); the
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


# Two passes. The assets, grouped by job: the per-job and total rows, and the steps that do not
# depend on the program (submitted, created, failed, days to create, waiting to be created),
# merged per program in Python (the assets of a job were onboarded for the job's programs).
# The program steps, grouped by program: ELIGIBLE and ACTIVE in each program, from its own
# enrollment status. Durations are summed as intervals (an epoch per row made numeric sums) and
# carried as (seconds, n) so they merge exactly.
ASSETS_SQL = """
SELECT a.job_id,
       count(*) FILTER (WHERE a.stage <> 'failed') AS submitted,
       count(*) FILTER (WHERE a.stage IN ('created', 'eligible', 'active')) AS created,
       count(*) FILTER (WHERE a.stage IN ('eligible', 'active')) AS eligible,
       count(*) FILTER (WHERE a.stage = 'active') AS active,
       count(*) FILTER (WHERE a.stage = 'failed' AND a.resubmitted_in_id IS NULL) AS failed,
       count(*) FILTER (WHERE a.stage IN ('created', 'eligible')
                        AND a.stage_since < %(cutoff)s) AS stuck,
       extract(epoch FROM sum(a.created_at - a.submitted_at)),
       count(a.created_at - a.submitted_at),
       extract(epoch FROM sum(a.eligible_at - a.created_at)),
       count(a.eligible_at - a.created_at),
       extract(epoch FROM sum(a.active_at - a.eligible_at)),
       count(a.active_at - a.eligible_at),
       extract(epoch FROM sum(%(now)s - a.stage_since) FILTER (WHERE a.stage = 'submitted')),
       count(*) FILTER (WHERE a.stage = 'submitted'),
       extract(epoch FROM sum(%(now)s - a.stage_since)
                          FILTER (WHERE a.stage IN ('created', 'eligible'))),
       count(*) FILTER (WHERE a.stage IN ('created', 'eligible'))
FROM onboarding_asset a
GROUP BY a.job_id
"""
STEPS_SQL = """
SELECT s.program,
       count(*) FILTER (WHERE s.stage IN ('eligible', 'active')) AS eligible,
       count(*) FILTER (WHERE s.stage = 'active') AS active,
       count(*) FILTER (WHERE s.stage IN ('created', 'eligible')
                        AND s.stage_since < %(cutoff)s) AS stuck,
       extract(epoch FROM sum(s.eligible_at - s.created_at)),
       count(s.eligible_at - s.created_at),
       extract(epoch FROM sum(s.active_at - s.eligible_at)),
       count(s.active_at - s.eligible_at),
       extract(epoch FROM sum(%(now)s - s.stage_since)
                          FILTER (WHERE s.stage IN ('created', 'eligible'))),
       count(*) FILTER (WHERE s.stage IN ('created', 'eligible'))
FROM onboarding_programstep s
GROUP BY s.program
"""
COUNTS = ("submitted", "created", "eligible", "active", "failed", "stuck")
# waiting_open: waiting in created or ELIGIBLE; waiting_submitted: waiting to be created.
SUMS = ("create", "eligible", "active", "waiting_submitted", "waiting_open")
# What a program row takes from its jobs' rows; the rest comes from its steps.
FROM_JOBS = ({"submitted", "created", "failed"}, {"create", "waiting_submitted"})
STEP_COUNTS = ("eligible", "active", "stuck")
STEP_SUMS = ("eligible", "active", "waiting_open")


class _Row:
    """Counts and (seconds, n) sums of one funnel row; merges by adding."""

    def __init__(self, key: Any) -> None:
        self.key = key
        self.counts = dict.fromkeys(COUNTS, 0)
        self.sums = {d: [0.0, 0] for d in SUMS}

    def add(
        self,
        counts: dict[str, int],
        sums: dict[str, tuple[Any, int]],
    ) -> None:
        for name, value in counts.items():
            self.counts[name] += value
        for name, (total, n) in sums.items():
            if n:
                self.sums[name][0] += float(total or 0)
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


def _split(values: tuple[Any, ...], counts: tuple[str, ...], sums: tuple[str, ...]) -> Any:
    n = len(counts)
    return (
        dict(zip(counts, values[:n], strict=True)),
        {name: (values[n + 2 * i], values[n + 2 * i + 1]) for i, name in enumerate(sums)},
    )


def funnel(now: datetime, *, jobs: int = 25) -> dict[str, Any]:
    """The funnel per program (each program's own steps) and per job (the most recent `jobs`),
    plus the totals; per job and in total an asset is as far as its slowest program."""
    from onboarding.models import Job

    params = {"now": now, "cutoff": stuck_cutoff(now)}
    with connection.cursor() as cursor:
        cursor.execute(ASSETS_SQL, params)
        per_job_rows = {row[0]: _split(row[1:], COUNTS, SUMS) for row in cursor.fetchall()}
        cursor.execute(STEPS_SQL, params)
        per_step_rows = {row[0]: _split(row[1:], STEP_COUNTS, STEP_SUMS) for row in cursor}
    programs_of = dict(Job.objects.filter(pk__in=list(per_job_rows)).values_list("pk", "programs"))
    total = _Row("all")
    per_program: dict[str, _Row] = {}
    per_job: dict[int, _Row] = {}
    job_counts, job_sums = FROM_JOBS
    for job_id, (counts, sums) in per_job_rows.items():
        total.add(counts, sums)
        per_job[job_id] = _Row(job_id)
        per_job[job_id].add(counts, sums)
        shared = (
            {k: v for k, v in counts.items() if k in job_counts},
            {k: v for k, v in sums.items() if k in job_sums},
        )
        for program in dict.fromkeys(programs_of.get(job_id) or [NO_PROGRAM]):
            per_program.setdefault(program, _Row(program)).add(*shared)
    for program, (counts, sums) in per_step_rows.items():
        key = program or NO_PROGRAM
        per_program.setdefault(key, _Row(key)).add(counts, sums)
    recent = sorted(per_job, reverse=True)[:jobs]
    return {
        "programs": sorted(
            (r.as_dict() for r in per_program.values()), key=lambda r: (-r["submitted"], r["key"])
        ),
        "jobs": [per_job[j].as_dict() for j in recent],
        "total": total.as_dict() if per_job_rows else None,
    }
