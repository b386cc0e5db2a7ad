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

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery

from leapportal.apps import mapping_installed
from leapportal.timezones import trade_date
from meters.models import EnrollmentStatus, GroupAssignment, MarketGroup, Meter, MeterEvent

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


def figures(groups: list[MarketGroup], now: datetime) -> list[GroupFigures]:
    """Member counts, movers and readiness of `groups`: two aggregate queries per distinct
    "today" among their markets (one, except in the hours when US zones disagree on the date)."""
    result = {g.pk: GroupFigures(group=g, days=trade_days_for(g.region, now)) for g in groups}
    by_today: dict[date, list[UUID]] = defaultdict(list)
    for fig in result.values():
        by_today[fig.days[0]].append(fig.group.pk)
    for today, ids in by_today.items():
        _membership(result, ids, [today + timedelta(days=i) for i in range(DAYS)])
        _readiness(result, ids, today)
    return [result[g.pk] for g in groups]


# Per (meter, group): on which of the three days it is a member; then per group: members per day
# and who joins or leaves between consecutive days. One pass over the three days' rows.
_MEMBERSHIP_SQL = """
SELECT market_group_id,
       count(*) FILTER (WHERE d0), count(*) FILTER (WHERE d1), count(*) FILTER (WHERE d2),
       count(*) FILTER (WHERE d1 AND NOT d0), count(*) FILTER (WHERE d0 AND NOT d1),
       count(*) FILTER (WHERE d2 AND NOT d1), count(*) FILTER (WHERE d1 AND NOT d2)
FROM (
    SELECT market_group_id, meter_id,
           bool_or(trade_date = %s) AS d0, bool_or(trade_date = %s) AS d1,
           bool_or(trade_date = %s) AS d2
    FROM meters_groupassignment
    WHERE market_group_id = ANY(%s) AND trade_date BETWEEN %s AND %s
    GROUP BY market_group_id, meter_id
) AS per_meter
GROUP BY market_group_id
"""


def _membership(result: dict[UUID, GroupFigures], ids: list[UUID], days: list[date]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_MEMBERSHIP_SQL, [*days, ids, days[0], days[-1]])
        for group_id, m0, m1, m2, j1, l1, j2, l2 in cursor.fetchall():
            fig = result[group_id]
            fig.members = [m0, m1, m2]
            fig.joining = [0, j1, j2]
            fig.leaving = [0, l1, l2]


def _readiness(result: dict[UUID, GroupFigures], ids: list[UUID], today: date) -> None:
    readiness: dict[str, Any] = {
        "not_active": Count(
            "pk", filter=~Q(meter__global_enrollment_status=EnrollmentStatus.ACTIVE)
        )
    }
    if mapping_installed():
        readiness["unmapped"] = Count("pk", filter=Q(meter__mapping__isnull=True))
    rows = (
        GroupAssignment.objects.filter(market_group_id__in=ids, trade_date=today)
        .values("market_group_id")
        .annotate(**readiness)
    )
    for row in rows:
        fig = result[row["market_group_id"]]
        fig.not_active = row["not_active"]
        fig.unmapped = row.get("unmapped", 0)


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


def for_member_rows(assignments: QuerySet[GroupAssignment]) -> QuerySet[GroupAssignment]:
    """members() reading only what a group page's member row shows (ops.templatetags.group_rows):
    3 of a meter's 60 columns, and its mapping's customer and site."""
    fields = ["meter_id", "trade_date", "market_group_id", "source", "meter__partner_reference",
              "meter__end_customer_name", "meter__global_enrollment_status"]  # fmt: skip
    if mapping_installed():
        fields += ["meter__mapping__customer_id", "meter__mapping__site_id"]
    return assignments.only(*fields)


def by_reference(assignments: QuerySet[GroupAssignment]) -> QuerySet[GroupAssignment]:
    """`assignments` sorted by their meter's partner reference, then meter id.

    The reference is read per assignment (a primary-key lookup) rather than through the join:
    ordered by the joined column with a LIMIT, PostgreSQL walks the meters' partner_reference
    index and probes each meter for membership (about 16,000 probes for a page of a 700-member
    group, ~110 ms at 100,000 meters); read per member, it sorts only the group's rows (~10 ms).
    """
    reference = Subquery(Meter.objects.filter(pk=OuterRef("meter_id")).values("partner_reference"))
    return assignments.alias(member_reference=reference).order_by("member_reference", "meter_id")


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
    """Groups some meter joins or leaves on the next two trade days (for the overview).

    Read from the sync's group_changing events (meters.MeterEvent: the nearest change of each
    meter, with the groups it leaves and joins), which are few, rather than by comparing every
    assignment of three days.
    """
    changed: set[UUID] = set()
    events = MeterEvent.objects.filter(
        kind=MeterEvent.Kind.GROUP_CHANGING,
        deadline__gt=now,
        deadline__lte=now + timedelta(days=DAYS),
    ).values_list("details", flat=True)
    for details in events:
        for key in ("from", "to"):
            for value in details.get(key) or []:
                try:
                    changed.add(UUID(str(value)))
                except ValueError:
                    continue
    return changed
