"""What the dispatch timeline shows: a day or week window, filtered and grouped, from the URL.

Domain code for dispatch/views.py: it parses the query parameters (anything unknown or malformed
falls back to a default, so a shared link never breaks), builds the queryset, and lays rows out
for the template (group headings, the bar inside the window, the zone each row is shown in).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Prefetch, Q, QuerySet
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from dispatch.models import DispatchTimeslot, DispatchTimeslotVersion
from leapportal.web import timefmt
from meters import choices

VIEWS = ("day", "week", "past")
GROUPINGS = ("group", "program", "meter")
REGIONS = ("CAISO", "ERCOT", "NYISO", "ISONE", "PJM", "SERC", "WECC_SW", "WECC_PC")


def regions() -> list[str]:
    """The regions we know of, plus any new one the sync stored (meters.choices)."""
    return choices.merged(list(REGIONS), choices.stored_values().get("region", []))


@dataclass
class TimelineQuery:
    """The timeline's parameters, cleaned."""

    view: str
    by: str
    day: date
    region: str
    q: str
    include_tests: bool
    include_cancelled: bool
    zone: ZoneInfo
    window_start: datetime
    window_end: datetime

    def shift(self, days: int) -> str:
        """The ISO date of the window `days` away (for previous/next links)."""
        return (self.day + timedelta(days=days)).isoformat()

    @property
    def span_days(self) -> int:
        """Length of the window in days."""
        return 1 if self.view == "day" else 7


def parse(params: Mapping[str, str], *, mode: str, now: datetime) -> TimelineQuery:
    """Clean the URL parameters. Days are the selected market's (or UTC without a region)."""
    view = params.get("view", "")
    view = view if view in VIEWS else "week"
    by = params.get("by", "")
    by = by if by in GROUPINGS else "group"
    region = params.get("region", "")
    region = region if region in regions() else ""
    zone = timefmt.zone_for(region or None, mode)
    try:
        day = date.fromisoformat(params.get("date", ""))
    except ValueError:
        day = timefmt.market_today(zone, now)
    span = 1 if view == "day" else 7
    if view == "past":
        start, _ = timefmt.day_bounds(day - timedelta(days=6), zone)
        _, end = timefmt.day_bounds(day, zone)
        end = min(end, now)
    else:
        start, _ = timefmt.day_bounds(day, zone)
        _, end = timefmt.day_bounds(day + timedelta(days=span - 1), zone)
    return TimelineQuery(
        view=view,
        by=by,
        day=day,
        region=region,
        q=(params.get("q") or "").strip()[:200],
        include_tests=params.get("tests") == "1",
        include_cancelled=params.get("cancelled", "1") != "0",
        zone=zone,
        window_start=start,
        window_end=end,
    )


ORDER = {
    "group": ("market_group_name", "market_group_uuid", "start_time"),
    "program": ("programs", "start_time"),
    "meter": ("meter_reference", "meter_uuid", "start_time"),
}

# JSON columns no row of the timeline shows: not read, not decoded (the meter's raw payloads
# alone were most of the JSON a page decoded).
DEFERRED = ("raw", "group_partner_references", "meter__details_raw", "meter__enrollment_raw")


def timeslots(query: TimelineQuery) -> QuerySet[DispatchTimeslot]:
    """The timeslots of the window, filtered; everything a row shows is joined or prefetched."""
    qs = DispatchTimeslot.objects.for_ops(include_tests=query.include_tests).overlapping(
        query.window_start, query.window_end
    )
    if query.view == "past":
        qs = qs.filter(end_time__lte=query.window_end)
    if not query.include_cancelled:
        qs = qs.filter(cancelled=False)
    if query.region:
        qs = qs.filter(
            Q(meter__transmission_region=query.region) | Q(market_group__region=query.region)
        )
    if query.q:
        text = query.q
        match = (
            Q(partner_reference__icontains=text)
            | Q(market_group_name__icontains=text)
            | Q(programs__icontains=text)
        )
        try:
            ident = uuid.UUID(text)
            match |= Q(event_id=ident) | Q(meter_uuid=ident) | Q(market_group_uuid=ident)
        except ValueError:
            pass
        qs = qs.filter(match)
    order = list(ORDER[query.by])
    if query.view == "past":
        order = ["-end_time", "-start_time"]
    # "meter_reference" and "market_group_name": the meter's present reference and the group's
    # present name, columns kept by PostgreSQL (dispatch migrations 0009, 0012), each with an
    # index in its order, so a page of a busy week is not a meter lookup or a join per timeslot
    # of the window.
    return qs.order_by(*order, "event_id")


def with_rows(keys: QuerySet[DispatchTimeslot]) -> QuerySet[DispatchTimeslot]:
    """`timeslots()` with what each row shows: meter, group and versions, raw JSON left out.

    Apart, so a page's keys are found from the timeslots alone (leapportal.web.listing.paginate's
    rows_from; an index holds what the filters and sorts need) and only the page's rows are
    joined and read.
    """
    return (
        keys.select_related("meter", "market_group")
        .defer(*DEFERRED)
        .prefetch_related(
            Prefetch(
                "versions",
                # each version's snapshot (the whole timeslot as it was) is not shown here
                queryset=DispatchTimeslotVersion.objects.defer("snapshot").order_by(
                    "-version", "-pk"
                ),
            )
        )
    )


def slot_region(slot: DispatchTimeslot) -> str:
    """The market of a timeslot: its meter's region, or its group's ("" when unknown)."""
    if slot.meter is not None:
        return slot.meter.transmission_region
    if slot.market_group is not None:
        return slot.market_group.region
    return ""


def row_zone(slot: DispatchTimeslot, mode: str) -> ZoneInfo:
    """The zone a timeslot is shown in: its meter's or its group's market (or UTC)."""
    return timefmt.zone_for(slot_region(slot) or None, mode)


def row_window(query: TimelineQuery, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The window's days in a row's own zone, so a bar sits under the times its row shows."""
    first = query.day - timedelta(days=6) if query.view == "past" else query.day
    last = query.day if query.view == "past" else query.day + timedelta(days=query.span_days - 1)
    return timefmt.day_bounds(first, zone)[0], timefmt.day_bounds(last, zone)[1]


def axis(query: TimelineQuery) -> list[dict[str, Any]]:
    """The window bar's ticks: hours for a day, days for a week (in each row's own days)."""
    if query.view == "day":
        return [{"left": h / 24 * 100, "label": f"{h:02d}:00"} for h in (0, 6, 12, 18)]
    first = query.day - timedelta(days=6) if query.view == "past" else query.day
    return [
        {"left": i / 7 * 100, "label": (first + timedelta(days=i)).strftime("%a %d")}
        for i in range(7)
    ]


def axis_ticks(ticks: list[dict[str, Any]]) -> SafeString:
    """The window bar's tick lines (every tick but the first), built once for all rows."""
    return format_html_join(
        "",
        '<span class="tl-tick" style="left: {}%"></span>',
        ((f"{t['left']:.2f}",) for t in ticks[1:]),
    )


def layout(
    slots: list[DispatchTimeslot], query: TimelineQuery, mode: str = "market"
) -> list[dict[str, Any]]:
    """Rows with their group heading and the bar's position within the window (percent).

    Each bar is placed on the window's days in its own row's zone (the zone its times are shown
    in): a 14:00 PT dispatch sits at 14:00 on the axis, not at 22:00 of a UTC day.
    """
    windows: dict[str, tuple[datetime, datetime]] = {}
    rows = []
    for slot in slots:
        slot.region = slot_region(slot)
        zone = row_zone(slot, mode)
        if zone.key not in windows:
            windows[zone.key] = row_window(query, zone)
        start, end = windows[zone.key]
        total = (end - start).total_seconds() or 1
        left = max(0.0, (slot.start_time - start).total_seconds() / total)
        right = min(1.0, (slot.end_time - start).total_seconds() / total)
        if query.by == "group":
            heading = (
                (slot.market_group.name if slot.market_group else str(slot.market_group_uuid))
                if slot.level == "group"
                else "Meter-level dispatches"
            )
        elif query.by == "program":
            heading = ", ".join(slot.programs) or "No program"
        else:
            heading = (
                # a parked timeslot (a meter we do not have yet) has no meter: its uuid heads it
                str((slot.meter.partner_reference if slot.meter else None) or slot.meter_uuid)
                if slot.level == "meter"
                else f"Group {slot.market_group.name if slot.market_group else slot.market_group_uuid}"
            )
        rows.append(
            {
                "slot": slot,
                "heading": heading,
                "bar_left": round(left * 100, 2),
                "bar_width": round(max(0.4, (right - left) * 100), 2),
                "versions": list(slot.versions.all()),
            }
        )
    previous = None
    for row in rows:
        row["new_heading"] = row["heading"] != previous
        previous = row["heading"]
    return rows


def next_start(now: datetime, *, include_tests: bool = False) -> DispatchTimeslot | None:
    """The next live, not cancelled timeslot to start."""
    slot = (
        DispatchTimeslot.objects.for_ops(include_tests=include_tests)
        .filter(cancelled=False, start_time__gt=now)
        .select_related("meter", "market_group")
        .order_by("start_time")
        .first()
    )
    if slot is not None:
        slot.region = slot_region(slot)
    return slot
