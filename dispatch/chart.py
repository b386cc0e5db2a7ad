"""The plan as a step chart per meter (kW over time, each event's share), drawn as server-side SVG.

For one event, each meter it addresses gets a chart of the window around it: every interval the
meter runs an event (DispatchAllocation.segments) is a bar as tall as that event's planned kW,
so the outline is the meter's kW over time and the colours say which event holds each interval.
No JavaScript: the template draws rects from the geometry computed here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils.dateparse import parse_datetime

from dispatch.models import DispatchAllocation, DispatchTimeslot

WIDTH, HEIGHT = 600, 150
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 26  # margins for the axes' labels
MAX_METERS = 12  # a group dispatch may name hundreds: the chart shows the first ones
PALETTE = ("#8a94a6", "#c98b2e", "#5f8f5a", "#9b6bb3", "#b85c5c", "#4f8fa8")
THIS = "#2563eb"


@dataclass
class Bar:
    x: float
    y: float
    w: float
    h: float
    color: str
    label: str


@dataclass
class Chart:
    """One meter's chart."""

    meter_uuid: uuid.UUID
    label: str
    bars: list[Bar] = field(default_factory=list)
    legend: list[tuple[str, str, str]] = field(default_factory=list)  # (color, text, event id)
    ticks: list[tuple[float, str]] = field(default_factory=list)  # x, time label
    max_kw: float = 0.0
    note: str = ""
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = LEFT
    plot_bottom: int = HEIGHT - BOTTOM
    plot_right: int = WIDTH - RIGHT


def _parse(text: str) -> datetime | None:
    return parse_datetime(text)


def charts_for(slot: DispatchTimeslot, zone: ZoneInfo) -> list[Chart]:
    """Step charts for the meters of one event (at most MAX_METERS)."""
    mine = list(slot.allocations.select_related("meter").order_by("meter_uuid")[:MAX_METERS])
    if not mine:
        return []
    lo, hi = slot.start_time, slot.end_time
    others = (
        DispatchAllocation.objects.filter(
            meter_uuid__in=[a.meter_uuid for a in mine],
            timeslot__start_time__lt=hi,
            timeslot__end_time__gt=lo,
            timeslot__integration_test=slot.integration_test,
        )
        .exclude(timeslot=slot)
        .select_related("timeslot")
    )
    by_meter: dict[uuid.UUID, list[DispatchAllocation]] = {}
    for alloc in others:
        by_meter.setdefault(alloc.meter_uuid, []).append(alloc)
    return [_chart(slot, a, by_meter.get(a.meter_uuid, []), zone) for a in mine]


def _chart(
    slot: DispatchTimeslot,
    own: DispatchAllocation,
    others: list[DispatchAllocation],
    zone: ZoneInfo,
) -> Chart:
    label = str(own.meter) if own.meter else str(own.meter_uuid)
    chart = Chart(own.meter_uuid, label)
    allocs = [own, *sorted(others, key=lambda a: (a.timeslot.start_time, str(a.timeslot.event_id)))]
    lo = min(a.timeslot.start_time for a in allocs)
    hi = max(a.timeslot.end_time for a in allocs)
    span = (hi - lo).total_seconds() or 1.0
    inner_w = WIDTH - LEFT - RIGHT
    inner_h = HEIGHT - TOP - BOTTOM
    chart.max_kw = max([a.planned_kw or 0.0 for a in allocs if a.segments] + [1.0])
    colors = {}
    for i, a in enumerate(allocs):
        color = THIS if a is own else PALETTE[i % len(PALETTE)]
        colors[a.pk] = color
        ts = a.timeslot
        state = "runs" if a.followed else ("cancelled" if ts.cancelled else "does not run")
        kw_text = "no kW figure" if a.planned_kw is None else f"{a.planned_kw:g} kW"
        who = "this event" if a is own else f"priority {ts.priority} event"
        text = f"{who}: {kw_text}, {state}"
        chart.legend.append((color, text, str(ts.event_id)))
    for a in allocs:
        for start_text, end_text in a.segments or []:
            start, end = _parse(start_text), _parse(end_text)
            if start is None or end is None:
                continue
            x0 = LEFT + (start - lo).total_seconds() / span * inner_w
            x1 = LEFT + (end - lo).total_seconds() / span * inner_w
            kw = a.planned_kw or 0.0
            h = kw / chart.max_kw * inner_h
            when = f"{start.astimezone(zone):%H:%M}–{end.astimezone(zone):%H:%M}"
            chart.bars.append(
                Bar(
                    round(x0, 2),
                    round(TOP + inner_h - h, 2),
                    round(max(x1 - x0, 0.5), 2),
                    round(h, 2),
                    colors[a.pk],
                    f"{when}: {kw:g} kW (event {str(a.timeslot.event_id)[:8]})",
                )
            )
    if not own.segments:
        chart.note = own.reason or "this event does not run on this meter"
    steps = 4
    for i in range(steps + 1):
        at = lo + timedelta(seconds=span * i / steps)
        chart.ticks.append((round(LEFT + inner_w * i / steps, 2), f"{at.astimezone(zone):%H:%M}"))
    return chart
