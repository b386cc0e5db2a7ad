"""Market groups as ops see them: members today and on the next two trade days, movers, readiness.

Trade days are the market's (leapportal.timezones): a CAISO group's "today" starts at midnight in
Los Angeles. Every figure is computed in a fixed number of aggregate queries, whatever the
number of groups or meters.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from django.apps import apps
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from leapportal.timezones import trade_date
from meters.models import EnrollmentStatus, GroupAssignment, MarketGroup

DAYS = 3  # today and the next two trade days


@dataclass
class GroupFigures:
    """What the group list shows for one group."""

    group: MarketGroup
    days: list[date]
    members: list[int] = field(default_factory=lambda: [0] * DAYS)
    joining: list[int] = field(default_factory=lambda: [0] * DAYS)
    leaving: list[int] = field(default_factory=lambda: [0] * DAYS)
    not_active: int = 0
    unmapped: int = 0

    @property
    def movers(self) -> int:
        """Meters joining or leaving on the next two trade days."""
        return sum(self.joining[1:]) + sum(self.leaving[1:])

    @property
    def ready(self) -> bool:
        """Every member today is ACTIVE and mapped: safe to dispatch at group level."""
        return self.members[0] > 0 and not self.not_active and not self.unmapped

    @property
    def day_rows(self) -> list[dict[str, Any]]:
        """Per trade day: the date, members, joining and leaving (for the template)."""
        return [
            {"day": d, "members": m, "joining": j, "leaving": le}
            for d, m, j, le in zip(self.days, self.members, self.joining, self.leaving, strict=True)
        ]


def trade_days_for(region: str, now: datetime) -> list[date]:
    """Today and the next two trade days in the region's market."""
    today = trade_date(region or None, now)
    return [today + timedelta(days=i) for i in range(DAYS)]


def mapping_installed() -> bool:
    """Whether our customer/site mapping (the mapping app) is part of this project."""
    return apps.is_installed("mapping")


def figures(groups: list[MarketGroup], now: datetime) -> list[GroupFigures]:
    """Member counts, movers and readiness of `groups` (three aggregate queries)."""
    result = {g.pk: GroupFigures(group=g, days=trade_days_for(g.region, now)) for g in groups}
    if not result:
        return []
    all_days = {d for f in result.values() for d in f.days}
    rows = GroupAssignment.objects.filter(market_group_id__in=list(result), trade_date__in=all_days)

    for row in rows.values("market_group_id", "trade_date").annotate(n=Count("pk")):
        fig = result[row["market_group_id"]]
        if row["trade_date"] in fig.days:
            fig.members[fig.days.index(row["trade_date"])] = row["n"]

    # Joining on day d: in the group on d but not on d-1; leaving on d: on d-1 but not on d.
    # `prev` marks whether the same meter was in the same group the previous trade day.
    prev_day = GroupAssignment.objects.filter(
        meter_id=OuterRef("meter_id"),
        market_group_id=OuterRef("market_group_id"),
        trade_date=OuterRef("trade_date") - timedelta(days=1),
    )
    next_day = GroupAssignment.objects.filter(
        meter_id=OuterRef("meter_id"),
        market_group_id=OuterRef("market_group_id"),
        trade_date=OuterRef("trade_date") + timedelta(days=1),
    )
    moves = rows.annotate(had=Exists(prev_day), keeps=Exists(next_day)).values(
        "market_group_id", "trade_date", "had", "keeps"
    )
    for row in moves.annotate(n=Count("pk")):
        fig = result[row["market_group_id"]]
        if row["trade_date"] not in fig.days:
            continue
        i = fig.days.index(row["trade_date"])
        if i > 0 and not row["had"]:
            fig.joining[i] += row["n"]
        if i + 1 < DAYS and not row["keeps"]:
            fig.leaving[i + 1] += row["n"]

    readiness: dict[str, Any] = {
        "not_active": Count(
            "pk", filter=~Q(meter__global_enrollment_status=EnrollmentStatus.ACTIVE)
        )
    }
    if mapping_installed():
        readiness["unmapped"] = Count("pk", filter=Q(meter__mapping__isnull=True))
    for row in (
        rows.filter(trade_date__in={f.days[0] for f in result.values()})
        .values("market_group_id", "trade_date")
        .annotate(**readiness)
    ):
        fig = result[row["market_group_id"]]
        if row["trade_date"] == fig.days[0]:
            fig.not_active = row["not_active"]
            fig.unmapped = row.get("unmapped", 0)
    return [result[g.pk] for g in groups]


def members(group: MarketGroup, day: date) -> QuerySet[GroupAssignment]:
    """The group's members on a trade day, with whether each is there the day before and after."""
    before = GroupAssignment.objects.filter(
        meter_id=OuterRef("meter_id"), market_group=group, trade_date=day - timedelta(days=1)
    )
    after = GroupAssignment.objects.filter(
        meter_id=OuterRef("meter_id"), market_group=group, trade_date=day + timedelta(days=1)
    )
    qs = (
        GroupAssignment.objects.filter(market_group=group, trade_date=day)
        .annotate(was_member=Exists(before), stays=Exists(after))
        .select_related("meter")
        .defer("meter__details_raw", "meter__enrollment_raw")
    )
    if mapping_installed():
        qs = qs.select_related("meter__mapping")
    return qs


def leaving(group: MarketGroup, day: date) -> QuerySet[GroupAssignment]:
    """Members of the day before who are no longer members on `day`."""
    still = GroupAssignment.objects.filter(
        meter_id=OuterRef("meter_id"), market_group=group, trade_date=day
    )
    return (
        GroupAssignment.objects.filter(market_group=group, trade_date=day - timedelta(days=1))
        .annotate(still=Exists(still))
        .filter(still=False)
        .select_related("meter")
        .defer("meter__details_raw", "meter__enrollment_raw")
    )


def group_ids_with_movers(now: datetime) -> set[UUID]:
    """Groups that some meter joins or leaves on the next two trade days (for the overview)."""
    changed: set[UUID] = set()
    by_day: dict[date, set[UUID]] = defaultdict(set)
    for g in MarketGroup.objects.only("pk", "region"):
        for d in trade_days_for(g.region, now)[1:]:
            by_day[d].add(g.pk)
    for day, ids in by_day.items():
        before = GroupAssignment.objects.filter(
            meter_id=OuterRef("meter_id"),
            market_group_id=OuterRef("market_group_id"),
            trade_date=day - timedelta(days=1),
        )
        after = GroupAssignment.objects.filter(
            meter_id=OuterRef("meter_id"),
            market_group_id=OuterRef("market_group_id"),
            trade_date=day,
        )
        joining = GroupAssignment.objects.filter(trade_date=day, market_group_id__in=ids).exclude(
            Exists(before)
        )
        leaving_ = GroupAssignment.objects.filter(
            trade_date=day - timedelta(days=1), market_group_id__in=ids
        ).exclude(Exists(after))
        changed |= set(joining.values_list("market_group_id", flat=True).distinct())
        changed |= set(leaving_.values_list("market_group_id", flat=True).distinct())
    return changed
