"""Market groups: the list, one group's members on a day, and their CSV export."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Exists, OuterRef, Q
from django.http import (
    HttpRequest,
    HttpResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from dispatch.models import DispatchTimeslot
from leapportal import roles
from leapportal.htmx import render_page
from leapportal.web import csvexport
from leapportal.web.listing import paginate, parse_sort
from meters import choices
from meters.forms import REGIONS
from meters.models import GroupAssignment, MarketGroup, RequiredAction
from ops import groups

GROUP_SORTS = {"name": ["name"], "region": ["region", "name"], "program": ["program_identifier"]}


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
@vary_on_headers("HX-Request")
def group_list(request: HttpRequest) -> HttpResponse:
    """Market groups: members today and the next two trade days, movers, readiness."""
    now = timezone.now()
    sort = parse_sort(request.GET.get("sort"), GROUP_SORTS, default="name")
    region = request.GET.get("region", "")
    q = (request.GET.get("q") or "").strip()[:100]
    found = MarketGroup.objects.all()
    if region:
        found = found.filter(region=region)
    if q:
        found = found.filter(name__icontains=q)
    page = paginate(found.order_by(*sort.order_by), request.GET)
    page.items = groups.figures(page.items, now)
    context = {"page": page, "sort": sort, "region": region, "q": q, "now": now,
               "mapping": groups.mapping_installed(),
               "regions": choices.merged(REGIONS, _group_regions())}  # fmt: skip
    return render_page(request, "ops/group_list.html", context, fragment="group-table")


def _group_regions() -> list[str]:
    """Regions of the groups we hold (a small table), for the region filter."""
    found = MarketGroup.objects.order_by().exclude(region="").values_list("region", flat=True)
    return sorted(set(found.distinct()))


def _group_day(request: HttpRequest, group: MarketGroup) -> tuple[list[Any], int]:
    days = groups.trade_days_for(group.region, timezone.now())
    try:
        index = min(max(int(request.GET.get("day", 0)), 0), groups.DAYS - 1)
    except ValueError:
        index = 0
    return days, index


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
@vary_on_headers("HX-Request")
def group_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    """One group's members on a trade day, movers highlighted, and who leaves that day."""
    group = get_object_or_404(MarketGroup, pk=pk)
    now = timezone.now()
    # The group's own dispatches (Leap's group-level notifications), both ways from now.
    group_slots = (
        DispatchTimeslot.objects.for_ops()
        .filter(level="group")
        .filter(Q(market_group=group) | Q(market_group_uuid=group.pk))
        .defer("raw", "group_meter_ids", "group_partner_references")  # JSON the page never shows
    )
    days, index = _group_day(request, group)
    day = days[index]
    # The page's keys from the group's rows alone, then those rows with their meter and mapping.
    page = paginate(
        groups.by_reference(GroupAssignment.objects.filter(market_group=group, trade_date=day)),
        request.GET,
        rows_from=groups.by_reference(groups.for_member_rows(groups.members(group, day))),
    )
    context = {
        "group": group,
        "fig": groups.figures([group], timezone.now())[0],
        "days": days,
        "index": index,
        "day": day,
        "page": page,
        "leaving": list(groups.leaving(group, day).order_by("meter__partner_reference")[:200])
        if index > 0
        else [],
        "mapping": groups.mapping_installed(),
        "now": now,
        "upcoming": list(group_slots.filter(end_time__gt=now).order_by("start_time")[:20]),
        "past": list(group_slots.filter(end_time__lte=now).order_by("-start_time")[:20]),
        "open_actions": RequiredAction.objects.filter(resolved_at__isnull=True, side="partner")
        .filter(
            Exists(GroupAssignment.objects.filter(meter=OuterRef("meter_id"), market_group=group))
        )
        .count(),
    }
    return render_page(request, "ops/group_detail.html", context, fragment="group-members")


@require_GET
@permission_required(roles.VIEW, raise_exception=True)
def group_members_export(request: HttpRequest, pk: Any) -> StreamingHttpResponse:
    """A group's members on one trade day as CSV (streamed)."""
    group = get_object_or_404(MarketGroup, pk=pk)
    days, index = _group_day(request, group)
    day = days[index]
    mapped = groups.mapping_installed()
    header = ["trade_date", "market_group_id", "market_group_name", "meter_id",
              "partner_reference", "global_enrollment_status", "transmission_region",
              "end_customer_name", "member_day_before", "member_day_after", "source"]  # fmt: skip
    if mapped:
        header += ["our_customer_id", "our_site_id"]

    def rows() -> Any:
        members = groups.members(group, day).order_by("meter__partner_reference", "meter_id")
        for a in members.iterator(chunk_size=2000):
            m = a.meter
            row = [day.isoformat(), group.pk, group.name, m.pk, m.partner_reference,
                   m.global_enrollment_status, m.transmission_region, m.end_customer_name,
                   a.was_member, a.stays, a.source]  # fmt: skip
            if mapped:
                mapping = getattr(m, "mapping", None) if _has_mapping(m) else None
                row += [mapping.customer_id if mapping else "", mapping.site_id if mapping else ""]
            yield row

    return csvexport.stream_csv(f"group-{group.name or group.pk}-{day.isoformat()}", header, rows())


def _has_mapping(meter: Any) -> bool:
    try:
        meter.mapping  # noqa: B018 - the reverse one-to-one raises when there is none
    except ObjectDoesNotExist:  # the mapping app's RelatedObjectDoesNotExist
        return False
    return True
