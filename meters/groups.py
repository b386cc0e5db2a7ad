"""Group assignment by trade day: which market group each meter is in today and the next two days.

Two sources: the enrollment rows (a group per program x delivery period, turned into
trade days in the market's time zone) and Leap's group-centric `meter.enrollment.group.updated`
events. An enrollment re-derives its meter's enrollment-sourced rows; it leaves webhook rows alone
unless it now says the same (then the row is confirmed as enrollment-sourced). A group event sets
that group's membership on the days of its window to exactly the meters it lists.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, datetime
from typing import Any

from django.db.models import Q

from leapportal import timezones
from meters.bulk import select, write_rows
from meters.models import GroupAssignment, MarketGroup, Meter, MeterEvent, ProgramEnrollment
from meters.sync.context import Context

Window = tuple[datetime | None, datetime | None, uuid.UUID | None]


def _covers(start: datetime | None, end: datetime | None, day_start: datetime) -> bool:
    """A delivery period (or event window) holds the trade day that starts at day_start."""
    return start is not None and end is not None and start <= day_start < end


def derive_from_enrollments(
    ctx: Context, meters: dict[uuid.UUID, tuple[str, list[Window]]]
) -> None:
    """Re-derive the enrollment-sourced assignments of these meters for their horizon."""
    if not meters:
        return
    desired: set[tuple[uuid.UUID, date, uuid.UUID]] = set()
    horizon: dict[uuid.UUID, list[date]] = {}
    region_days: dict[str, list[tuple[date, datetime]]] = {}  # a page has a handful of regions
    region_dates: dict[str, list[date]] = {}
    for meter_id, (region, windows) in meters.items():
        days = region_days.get(region)
        if days is None:
            days = region_days[region] = [
                (day, timezones.trade_day_bounds(region, day)[0])
                for day in timezones.trade_days(region, ctx.now)
            ]
            region_dates[region] = [day for day, _ in days]
        horizon[meter_id] = region_dates[region]
        for day, day_start in days:
            for start, end, group_id in windows:
                if group_id and _covers(start, end, day_start):
                    desired.add((meter_id, day, group_id))
    first_day = min(days[0][0] for days in region_days.values())
    existing = _assignments(
        list(meters), first_day, ["id", "meter_id", "trade_date", "market_group_id", "source"]
    )
    have: set[tuple[uuid.UUID, date, uuid.UUID]] = set()
    deletes, confirms = [], []
    for pk, meter_id, day, group_id, source in existing:
        if day not in horizon[meter_id]:
            continue
        key = (meter_id, day, group_id)
        have.add(key)
        if key in desired:
            if source != GroupAssignment.Source.ENROLLMENT:
                confirms.append(pk)
        elif source == GroupAssignment.Source.ENROLLMENT:
            deletes.append(pk)
    if deletes:
        GroupAssignment.objects.filter(pk__in=deletes).delete()
    if confirms:
        GroupAssignment.objects.filter(pk__in=confirms).update(
            source=GroupAssignment.Source.ENROLLMENT, updated_at=ctx.now
        )
    inserts = [
        {
            "meter_id": meter_id,
            "trade_date": day,
            "market_group_id": group_id,
            "source": GroupAssignment.Source.ENROLLMENT,
            "updated_at": ctx.now,
        }
        for meter_id, day, group_id in desired - have
    ]
    write_rows(GroupAssignment, inserts, ignore_conflicts=True)
    # The first import writes no events (Context.event), so there is nothing to work out.
    if (deletes or confirms or inserts) and not ctx.initial:
        record_group_changes(ctx, list(meters))


def _assignments(meter_ids: list[uuid.UUID], first_day: date, fields: list[str]) -> list[tuple]:
    """`fields` of these meters' assignments from `first_day` on."""
    by_attname = {f.attname: f.column for f in GroupAssignment._meta.concrete_fields if f.column}
    columns = ", ".join(by_attname[f] for f in fields)
    # Names are ours (model metadata), never input.
    sql = (
        f"SELECT {columns} FROM {GroupAssignment._meta.db_table} "  # noqa: S608
        f"WHERE meter_id = ANY(%b) AND trade_date >= %b"
    )
    return select(sql, [meter_ids, first_day])


def record_group_changes(
    ctx: Context, meter_ids: list[uuid.UUID], *, regions: dict[uuid.UUID, str] | None = None
) -> None:
    """A group_changing event for each meter whose group set on a coming day differs from today's.

    Deduplicated on (meter, day, new groups): deriving the same future again writes nothing.
    `regions` (meter -> transmission region) saves reading them when the caller knows them.
    """
    if regions is None:
        regions = dict(
            Meter.objects.filter(meter_id__in=meter_ids).values_list(
                "meter_id", "transmission_region"
            )
        )
    by_day: dict[uuid.UUID, dict[date, set[str]]] = defaultdict(lambda: defaultdict(set))
    first_day = min(
        (timezones.trade_date(region, ctx.now) for region in regions.values()), default=None
    )
    if first_day is None:
        return
    for meter_id, day, group_id in _assignments(
        meter_ids, first_day, ["meter_id", "trade_date", "market_group_id"]
    ):
        by_day[meter_id][day].add(str(group_id))
    for meter_id, region in regions.items():
        today, *coming = timezones.trade_days(region, ctx.now)
        current = by_day[meter_id][today]
        for day in coming:
            groups = by_day[meter_id][day]
            if groups != current:
                day_start, _ = timezones.trade_day_bounds(region, day)
                ctx.event(
                    meter_id,
                    MeterEvent.Kind.GROUP_CHANGING,
                    deadline=day_start,
                    details={
                        "trade_date": day,
                        "from": sorted(current),
                        "to": sorted(groups),
                    },
                    dedupe_key=f"group:{meter_id}:{day}:{','.join(sorted(groups)) or '-'}",
                )
                break  # the nearest change is the one to act on


def refresh_horizon(ctx: Context, *, chunk: int = 2000) -> int:
    """Roll assignments forward when a market's trade day turned over; returns meters derived.

    Enrollment rows only change when Leap changes them, but "today + 2" moves every night. A
    region needs work when some grouped enrollment covers its last horizon day and no assignment
    exists for that day yet.
    """
    derived = 0
    regions = (
        Meter.objects.live().values_list("transmission_region", flat=True).distinct().order_by()
    )
    for region in list(regions):
        days = timezones.trade_days(region, ctx.now)
        first_start, _ = timezones.trade_day_bounds(region, days[0])
        last_start, _ = timezones.trade_day_bounds(region, days[-1])
        rows = ProgramEnrollment.objects.filter(
            meter__transmission_region=region,
            meter__missing_since__isnull=True,
            market_group__isnull=False,
            delivery_period_start__lte=last_start,
            delivery_period_end__gt=first_start,
        )
        if not rows.exists():
            continue
        if GroupAssignment.objects.filter(
            meter__transmission_region=region, trade_date=days[-1]
        ).exists():
            continue
        windows: dict[uuid.UUID, list[Window]] = defaultdict(list)
        for meter_id, start, end, group_id in (
            rows.order_by("meter_id")
            .values_list(
                "meter_id", "delivery_period_start", "delivery_period_end", "market_group_id"
            )
            .iterator(chunk_size=chunk)
        ):
            if meter_id not in windows and len(windows) >= chunk:
                derive_from_enrollments(ctx, {m: (region, w) for m, w in windows.items()})
                ctx.flush()
                derived += len(windows)
                windows = defaultdict(list)
            windows[meter_id].append((start, end, group_id))
        if windows:
            derive_from_enrollments(ctx, {m: (region, w) for m, w in windows.items()})
            ctx.flush()
            derived += len(windows)
    return derived


def apply_group_event(ctx: Context, payload: Any) -> list[uuid.UUID]:
    """Apply a group.updated event's membership; returns the meters whose assignment it touched."""
    group_id: uuid.UUID = payload.market_group_id
    listed = set(payload.meter_ids)
    group, _ = MarketGroup.objects.get_or_create(
        market_group_id=group_id,
        defaults={"name": payload.market_group_name or "", "first_seen_at": ctx.now},
    )
    if payload.market_group_name and group.name != payload.market_group_name:
        group.name = payload.market_group_name
        group.updated_at = ctx.now
        group.save(update_fields=["name", "updated_at"])
    known = set(Meter.objects.filter(meter_id__in=listed).values_list("meter_id", flat=True))
    region = group.region or _common_region(known)
    days = [
        day
        for day in timezones.trade_days(region, ctx.now)
        if _covers(
            payload.start_date_time,
            payload.end_date_time,
            timezones.trade_day_bounds(region, day)[0],
        )
    ]
    touched: set[uuid.UUID] = set()
    for day in days:
        current = set(
            GroupAssignment.objects.filter(market_group_id=group_id, trade_date=day).values_list(
                "meter_id", flat=True
            )
        )
        removed = current - listed
        added = (known & listed) - current
        if removed:
            GroupAssignment.objects.filter(
                Q(meter_id__in=removed), market_group_id=group_id, trade_date=day
            ).delete()
        if added:
            GroupAssignment.objects.bulk_create(
                [
                    GroupAssignment(
                        meter_id=meter_id,
                        trade_date=day,
                        market_group_id=group_id,
                        source=GroupAssignment.Source.WEBHOOK,
                        updated_at=ctx.now,
                    )
                    for meter_id in added
                ],
                ignore_conflicts=True,
            )
        touched |= removed | added
    if touched:
        record_group_changes(ctx, list(touched))
        ctx.flush()
    return sorted(touched)


def _common_region(meter_ids: set[uuid.UUID]) -> str:
    """The region most of these meters are in (a group event names none)."""
    counts: dict[str, int] = defaultdict(int)
    for region in Meter.objects.filter(meter_id__in=meter_ids).values_list(
        "transmission_region", flat=True
    ):
        counts[region] += 1
    return max(counts, key=counts.__getitem__) if counts else ""
